import NIOCore

/// A RESP2 value, as much of it as the bench needs (pub/sub pushes and command replies).
enum RESPValue: Sendable {
    case simple(String)
    case error(String)
    case integer(Int)
    case bulk(ByteBuffer?)
    case array([RESPValue]?)

    /// `*n $len arg …`: a command in RESP.
    static func command(_ args: [ByteBuffer], into buffer: inout ByteBuffer) {
        buffer.writeString("*\(args.count)\r\n")
        for arg in args {
            buffer.writeString("$\(arg.readableBytes)\r\n")
            buffer.writeImmutableBuffer(arg)
            buffer.writeString("\r\n")
        }
    }

    /// One whole value from the front of `buffer`, or `nil` (and `buffer` untouched) when it is incomplete.
    static func parse(_ buffer: inout ByteBuffer) -> RESPValue? {
        var copy = buffer
        guard let value = parseValue(&copy) else { return nil }
        buffer = copy
        return value
    }

    private static func line(_ buffer: inout ByteBuffer) -> String? {
        guard let cr = buffer.readableBytesView.firstIndex(of: 13),
            buffer.getInteger(at: cr + 1, as: UInt8.self) == 10
        else { return nil }
        let text = buffer.readString(length: cr - buffer.readerIndex)
        buffer.moveReaderIndex(forwardBy: 2)
        return text
    }

    private static func parseValue(_ buffer: inout ByteBuffer) -> RESPValue? {
        guard let type = buffer.readInteger(as: UInt8.self), let head = line(&buffer) else { return nil }
        switch type {
        case UInt8(ascii: "+"): return .simple(head)
        case UInt8(ascii: "-"): return .error(head)
        case UInt8(ascii: ":"): return .integer(Int(head) ?? 0)
        case UInt8(ascii: "$"):
            guard let length = Int(head) else { return nil }
            if length < 0 { return .bulk(nil) }
            guard buffer.readableBytes >= length + 2, let body = buffer.readSlice(length: length) else { return nil }
            buffer.moveReaderIndex(forwardBy: 2)
            return .bulk(body)
        case UInt8(ascii: "*"):
            guard let count = Int(head) else { return nil }
            if count < 0 { return .array(nil) }
            var items: [RESPValue] = []
            items.reserveCapacity(count)
            for _ in 0..<count {
                guard let item = parseValue(&buffer) else { return nil }
                items.append(item)
            }
            return .array(items)
        default:
            return nil
        }
    }
}

/// Reads RESP values off a Redis connection and hands each to `onValue` (on the channel's loop).
final class RESPHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private var pending: ByteBuffer?
    private let onValue: (RESPValue) -> Void

    init(onValue: @escaping (RESPValue) -> Void) {
        self.onValue = onValue
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if pending == nil { pending = incoming } else { pending!.writeBuffer(&incoming) }
        while pending != nil, let value = RESPValue.parse(&pending!) {
            onValue(value)
        }
        if pending?.readableBytes == 0 { pending = nil } else { pending?.discardReadBytes() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Drops whatever the peer answers (the nchan publisher's HTTP responses), so they never pile up.
final class DiscardingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var bytes = 0
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bytes += unwrapInboundIn(data).readableBytes
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
