import NIOCore

/// Receipts of the connections of one event loop; touched only on that loop.
final class LoopSamples {
    /// `seq` of each event frame received, beside its receipt time (monotonic ns).
    private(set) var seqs: [UInt64] = []
    private(set) var times: [UInt64] = []
    /// Data frames without a `seq` (the `subscribed` acknowledgement, errors).
    var otherFrames = 0
    /// Connections closed by the server or the network before the bench stopped them.
    var disconnects = 0
    var closeCodes: [UInt16: Int] = [:]
    var stopping = false
    let maxSamples: Int

    init(maxSamples: Int) {
        self.maxSamples = maxSamples
        seqs.reserveCapacity(min(maxSamples, 1 << 20))
        times.reserveCapacity(min(maxSamples, 1 << 20))
    }

    @inline(__always)
    func record(seq: UInt64, at time: UInt64) {
        guard seqs.count < maxSamples else { return }
        seqs.append(seq)
        times.append(time)
    }

    struct Snapshot: Sendable {
        var seqs: [UInt64]
        var times: [UInt64]
        var disconnects: Int
        var closeCodes: [UInt16: Int]
    }

    var snapshot: Snapshot { Snapshot(seqs: seqs, times: times, disconnects: disconnects, closeCodes: closeCodes) }
}

/// When a connection counts as ready: after the HTTP upgrade (nchan subscribes on upgrade), or after the
/// server's `subscribed` frame (Chainfeed's `/ws?topics=…` shortcut).
enum ReadyOn: String, Sendable {
    case upgrade, subscribed
}

struct WebSocketHandshakeError: Error, CustomStringConvertible {
    var description: String
}

/// A raw WebSocket client: writes the upgrade request, then reads server frames straight from the socket
/// bytes and stamps each event frame's `seq` with its receipt time. No frame objects, no per-frame
/// allocation on the common path (a read holding whole frames).
final class WebSocketClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let request: ByteBuffer
    private let samples: LoopSamples
    private let readyOn: ReadyOn
    private let ready: EventLoopPromise<Void>
    private var upgraded = false
    private var isReady = false
    private var pending: ByteBuffer?

    init(request: ByteBuffer, samples: LoopSamples, readyOn: ReadyOn, ready: EventLoopPromise<Void>) {
        self.request = request
        self.samples = samples
        self.readyOn = readyOn
        self.ready = ready
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(request), promise: nil)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if isReady {
            if !samples.stopping { samples.disconnects += 1 }
        } else {
            isReady = true
            ready.fail(WebSocketHandshakeError(description: upgraded ? "closed before subscribed" : "closed during the upgrade"))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let now = monotonicNanos()
        var incoming = unwrapInboundIn(data)
        if pending == nil {
            pending = incoming
        } else {
            pending!.writeBuffer(&incoming)
        }
        if !upgraded {
            guard let headerEnd = pending!.readableBytesView.firstRange(of: [13, 10, 13, 10]) else {
                if pending!.readableBytes > 16_384 { failHandshake(context, "response header too large") }
                return
            }
            let headerLength = headerEnd.upperBound - pending!.readerIndex
            let header = pending!.readString(length: headerLength) ?? ""
            guard header.hasPrefix("HTTP/1.1 101") else {
                failHandshake(context, String(header.prefix(while: { $0 != "\r" })))
                return
            }
            upgraded = true
            if readyOn == .upgrade { markReady() }
        }
        parseFrames(context: context, now: now)
        if pending?.readableBytes == 0 {
            pending = nil
        } else if let p = pending, p.readerIndex > 65_536 {
            pending!.discardReadBytes()
        }
    }

    private func markReady() {
        guard !isReady else { return }
        isReady = true
        ready.succeed(())
    }

    private func failHandshake(_ context: ChannelHandlerContext, _ reason: String) {
        if !isReady {
            isReady = true
            ready.fail(WebSocketHandshakeError(description: reason))
        }
        context.close(promise: nil)
    }

    // MARK: Frames (RFC 6455 §5.2; server frames are unmasked)

    private func parseFrames(context: ChannelHandlerContext, now: UInt64) {
        while var buffer = pending {
            let start = buffer.readerIndex
            guard buffer.readableBytes >= 2, let b0 = buffer.getInteger(at: start, as: UInt8.self),
                let b1 = buffer.getInteger(at: start + 1, as: UInt8.self)
            else { return }
            var header = 2
            var length = Int(b1 & 0x7F)
            if length == 126 {
                guard let l = buffer.getInteger(at: start + 2, as: UInt16.self) else { return }
                length = Int(l)
                header = 4
            } else if length == 127 {
                guard let l = buffer.getInteger(at: start + 2, as: UInt64.self) else { return }
                length = Int(l)
                header = 10
            }
            if b1 & 0x80 != 0 { header += 4 }
            guard buffer.readableBytes >= header + length else { return }
            let payload = start + header
            switch b0 & 0x0F {
            case 0, 1, 2: dataFrame(buffer, at: payload, length: length, now: now, context: context)
            case 8:
                if length >= 2, let code = buffer.getInteger(at: payload, as: UInt16.self) {
                    samples.closeCodes[code, default: 0] += 1
                }
                context.close(promise: nil)
            case 9: pong(buffer, at: payload, length: length, context: context)
            default: break
            }
            buffer.moveReaderIndex(forwardBy: header + length)
            pending = buffer
        }
    }

    private func dataFrame(_ buffer: ByteBuffer, at offset: Int, length: Int, now: UInt64, context: ChannelHandlerContext) {
        // `{"type":"event","subscription":"…","seq":N,…`: the seq is near the start; search a bounded prefix.
        let window = min(length, 200)
        let seq: UInt64? = buffer.withUnsafeReadableBytes { raw in
            let base = offset - buffer.readerIndex
            return Self.findSeq(raw, from: base, count: window)
        }
        if let seq {
            samples.record(seq: seq, at: now)
            return
        }
        samples.otherFrames += 1
        if !isReady, readyOn == .subscribed {
            let text = buffer.getString(at: offset, length: window) ?? ""
            if text.contains("\"type\":\"subscribed\"") {
                markReady()
            } else {
                failHandshake(context, "server answered: \(text)")
            }
        }
    }

    /// The number after the first `"seq":` in `count` bytes from `base`.
    @inline(__always)
    static func findSeq(_ raw: UnsafeRawBufferPointer, from base: Int, count: Int) -> UInt64? {
        // "seq":  = 22 115 101 113 22 58
        let end = base + count
        var i = base
        while i + 6 <= end {
            if raw[i] == 0x22, raw[i + 1] == 0x73, raw[i + 2] == 0x65, raw[i + 3] == 0x71, raw[i + 4] == 0x22, raw[i + 5] == 0x3A {
                var j = i + 6
                var value: UInt64 = 0
                var digits = 0
                while j < end, raw[j] >= 0x30, raw[j] <= 0x39 {
                    value = value &* 10 &+ UInt64(raw[j] - 0x30)
                    j += 1
                    digits += 1
                }
                return digits > 0 ? value : nil
            }
            i += 1
        }
        return nil
    }

    private func pong(_ buffer: ByteBuffer, at offset: Int, length: Int, context: ChannelHandlerContext) {
        guard length <= 125 else { return }
        var frame = context.channel.allocator.buffer(capacity: 6 + length)
        frame.writeInteger(UInt8(0x8A))
        frame.writeInteger(UInt8(0x80) | UInt8(length))
        frame.writeInteger(UInt32(0))  // a zero mask key: the payload goes as is
        if let body = buffer.getSlice(at: offset, length: length) { frame.writeImmutableBuffer(body) }
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }
}
