import ChainfeedCore
import ChainfeedTestSupport
import Logging
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing
@testable import WebAPI

/// The protocol side of one `/ws` connection (fragments, pings, close, masking) on an embedded channel,
/// with the real hub behind it; the socket side is covered end to end by `WebSocketLimitsTests`.
@Suite struct WebSocketConnectionTests {
    /// A channel that has been upgraded: the connection handler on it, the hub on the in-memory store.
    final class Connection {
        let channel = EmbeddedChannel()
        let hub = FanOut(reader: InMemoryEventStore(), bus: nil, logger: Logger(label: "test"))
        let sink: WebSocketSink

        init(limits: WebSocketLimits = WebSocketLimits(), shortcut: (filter: EventFilter, fromSeq: Seq?)? = nil) throws {
            sink = WebSocketSink(channel: channel, maxPendingBytes: limits.maxPendingBytes, metrics: hub.sinkMetrics(.webSocket))
            let session = WebSocketSession(hub: hub, sink: sink, limits: limits, logger: Logger(label: "test"), shortcut: shortcut)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            try channel.pipeline.syncOperations.addHandler(WebSocketConnectionHandler(session: session, limits: limits))
        }

        func send(_ opcode: WebSocketOpcode, _ text: String, fin: Bool = true, masked: Bool = true) throws {
            var frame = WebSocketFrame(fin: fin, opcode: opcode, data: ByteBuffer(string: text))
            if masked {
                let key: WebSocketMaskingKey = [7, 1, 9, 4]
                frame = WebSocketFrame(fin: fin, opcode: opcode, maskKey: key, data: frame.data)
                frame.data.webSocketMask(key)
            }
            try channel.writeInbound(frame)
        }

        /// Every frame the server wrote since the last call.
        func written() throws -> [WebSocketFrame] {
            channel.embeddedEventLoop.run()
            var frames: [WebSocketFrame] = []
            while let frame = try channel.readOutbound(as: WebSocketFrame.self) { frames.append(frame) }
            return frames
        }

        func texts() throws -> [String] {
            try written().filter { $0.opcode == .text }.map { String(buffer: $0.unmaskedData) }
        }

        func closeCode(_ frames: [WebSocketFrame]) -> UInt16? {
            frames.first { $0.opcode == .connectionClose }.flatMap { $0.unmaskedData.getInteger(at: $0.unmaskedData.readerIndex, as: UInt16.self) }
        }
    }

    @Test("a message sent in fragments is joined and acted on; binary and non-UTF-8 text get error frames and the connection stays")
    func fragmentsAndRejects() throws {
        let c = try Connection()
        try c.send(.text, #"{"action":"subscribe","id":"a","#, fin: false)
        try c.send(.continuation, #""topics":["blocks"]}"#)
        #expect(try c.texts() == [#"{"type":"subscribed","id":"a","headSeq":0}"#])
        #expect(c.hub.subscriptionCount(of: c.sink) == 1)

        try c.send(.binary, "x")
        var bad = ByteBuffer(bytes: [0xFF, 0xFE])
        let key: WebSocketMaskingKey = [1, 2, 3, 4]
        bad.webSocketMask(key)
        try c.channel.writeInbound(WebSocketFrame(fin: true, opcode: .text, maskKey: key, data: bad))
        let errors = try c.texts()
        #expect(errors.count == 2)
        #expect(errors.allSatisfy { $0.contains(#""code":"bad_request""#) })
        #expect(c.channel.isActive)
    }

    @Test("a ping gets its pong; the server pings, and closes a client whose pong does not come back")
    func pings() throws {
        var limits = WebSocketLimits()
        limits.pingInterval = .seconds(10)
        let c = try Connection(limits: limits)
        try c.send(.ping, "hello")
        let pong = try c.written()
        #expect(pong.map(\.opcode) == [.pong])
        #expect(pong.first.map { String(buffer: $0.unmaskedData) } == "hello")

        c.channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(try c.written().map(\.opcode) == [.ping])
        try c.send(.pong, "")
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(try c.written().map(\.opcode) == [.ping], "answered, so pinged again")
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        let last = try c.written()
        #expect(c.closeCode(last) == CloseCode.goingAway.rawValue)
    }

    @Test("a close is answered with a close; an unmasked frame and a message over the size limit close with 1002 and 1009")
    func closes() throws {
        let polite = try Connection()
        try polite.send(.connectionClose, "")
        #expect(polite.closeCode(try polite.written()) == CloseCode.normal.rawValue)

        let unmasked = try Connection()
        try unmasked.send(.text, #"{"action":"unsubscribe","id":"a"}"#, masked: false)
        #expect(unmasked.closeCode(try unmasked.written()) == CloseCode.protocolError.rawValue)

        var limits = WebSocketLimits()
        limits.maxFrameSize = 64
        let big = try Connection(limits: limits)
        try big.send(.text, String(repeating: "x", count: 40), fin: false)
        try big.send(.continuation, String(repeating: "x", count: 40), fin: false)
        #expect(big.closeCode(try big.written()) == CloseCode.tooBig.rawValue)
    }

    @Test("a connection past its unwritten-bytes bound is closed with 4008 at the next live frame, which is not queued")
    func slowConsumer() throws {
        let c = try Connection()
        c.sink.sendOnLoop(WebSocketWire.textFrame("one"))
        c.sink.flushOnLoop()
        #expect(try c.texts() == ["one"])
        // NIO turns the channel unwritable once its unwritten bytes pass the high watermark (the bound).
        c.channel.isWritable = false
        c.channel.pipeline.fireChannelWritabilityChanged()
        c.sink.sendOnLoop(WebSocketWire.textFrame("two"))
        let frames = try c.written()
        #expect(!frames.contains { $0.opcode == .text }, "the frame over the bound is dropped, not queued")
        #expect(c.closeCode(frames) == CloseCode.slowConsumer.rawValue)
    }

    @Test("the connection counts against the replica while open and not after; the shortcut subscribes at once")
    func lifecycle() throws {
        let c = try Connection(shortcut: (filter: EventFilter(topics: [.deploys]), fromSeq: nil))
        #expect(c.hub.connectionCount == 1)
        #expect(try c.texts() == [#"{"type":"subscribed","id":"default","headSeq":0}"#])
        try c.channel.close().wait()
        #expect(c.hub.connectionCount == 0)

        var limits = WebSocketLimits()
        limits.maxConnections = 0
        let refused = try Connection(limits: limits)
        #expect(refused.closeCode(try refused.written()) == CloseCode.tryAgainLater.rawValue)
    }
}

/// Event frames are encoded once with their header, and written whole below NIO's frame encoder.
@Suite struct WebSocketWireTests {
    @Test("a text frame carries its header before the payload, for every length form; wholeFrame gives the frame back", arguments: [5, 125, 126, 300, 65_535, 70_000])
    func frames(length: Int) throws {
        let payload = String(repeating: "a", count: length)
        let frame = WebSocketWire.textFrame(payload)
        #expect(String(buffer: frame) == payload)
        let whole = try #require(WebSocketWire.wholeFrame(frame))
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)))
        try channel.writeInbound(whole)
        let decoded = try #require(try channel.readInbound(as: WebSocketFrame.self))
        #expect(decoded.fin && decoded.opcode == .text)
        #expect(String(buffer: decoded.data) == payload)
        #expect(WebSocketWire.wholeFrame(ByteBuffer(string: payload)) == nil, "a plain buffer has no header to give back")
    }

    @Test("the sink writes the hub's frames whole, past the encoder, and the bytes are the frame")
    func sinkWritesWholeFrames() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(WebSocketFrameEncoder())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let hub = FanOut(reader: InMemoryEventStore(), bus: nil, logger: Logger(label: "test"))
        let sink = WebSocketSink(channel: channel, maxPendingBytes: 1 << 20, metrics: hub.sinkMetrics(.webSocket))
        sink.upgraded()
        let frame = WebSocketWire.textFrame(#"{"type":"event"}"#)
        sink.sendOnLoop(frame)
        sink.flushOnLoop()
        let written = try #require(try channel.readOutbound(as: IOData.self))
        guard case .byteBuffer(let bytes) = written else { Issue.record("not a byte buffer"); return }
        #expect(bytes == WebSocketWire.wholeFrame(frame))
        #expect(try channel.readOutbound(as: IOData.self) == nil, "one write: header and payload together")
    }
}
