import NIOCore
import NIOWebSocket

/// Writes frames straight to a WebSocket channel on its own event loop: no task per frame.
///
/// Its bound is the channel's write-buffer high watermark, set to the limit: once the bytes handed to
/// NIO and not yet written to the socket pass it, the channel turns unwritable and the next live frame
/// closes the connection with 4008 instead of being queued. The hub calls ``sendOnLoop(_:)`` for all
/// sinks of one event loop in one hop.
final class WebSocketSink: EventSink {
    let sinkID = SinkIDs.make()
    let format = SinkFormat.webSocket
    private let channel: any Channel
    private let maxPendingBytes: Int
    private let metrics: SinkMetrics
    private let state: NIOLoopBoundBox<State>

    private struct State {
        /// Past the high watermark: NIO holds more unwritten bytes than the limit.
        var unwritable = false
        var closed = false
        /// Closed for falling behind: event frames still coming from the hub are counted as dropped.
        var slow = false
        /// Frames written by ``sendOnLoop(_:)`` and not flushed yet.
        var unflushed = false
        /// NIO's frame encoder's context, found by ``upgraded()``: whole frames written from it skip the encoder.
        var encoder: ChannelHandlerContext?
    }

    init(channel: any Channel, maxPendingBytes: Int, metrics: SinkMetrics) {
        self.channel = channel
        self.maxPendingBytes = maxPendingBytes
        self.metrics = metrics
        self.state = .makeBoxSendingValue(State(), eventLoop: channel.eventLoop)
    }

    var eventLoop: (any EventLoop)? { channel.eventLoop }

    func send(_ frame: ByteBuffer) {
        onLoop { self.write(frame, bounded: true) }
    }

    func sendOnLoop(_ frame: ByteBuffer) {
        write(frame, bounded: true, flush: false)
    }

    func flushOnLoop() {
        guard state.value.unflushed else { return }
        state.value.unflushed = false
        // From the encoder's context the flush goes straight to the socket, past the handlers above it.
        if let encoder = state.value.encoder { encoder.flush() } else { channel.flush() }
    }

    func sendReplay(_ frames: [ByteBuffer]) async -> Bool {
        let promise = channel.eventLoop.makePromise(of: Bool.self)
        onLoop {
            guard !self.state.value.closed, !frames.isEmpty else {
                promise.succeed(!self.state.value.closed)
                return
            }
            var last: EventLoopFuture<Void>?
            for frame in frames { last = self.write(frame, bounded: false) }
            (last ?? self.channel.eventLoop.makeSucceededVoidFuture()).whenComplete { result in
                promise.succeed((try? result.get()) != nil && !self.state.value.closed)
            }
        }
        return (try? await promise.futureResult.get()) ?? false
    }

    /// Writes a text frame; on the channel's event loop only.
    ///
    /// A live frame (`bounded`) costs no future and no callback: the bound is the channel's writability,
    /// which NIO keeps for the bytes it holds unwritten. Replays and control frames return their future,
    /// which paces a replay.
    @discardableResult
    private func write(_ payload: ByteBuffer, bounded: Bool, flush: Bool = true) -> EventLoopFuture<Void>? {
        guard !state.value.closed else {
            if bounded && state.value.slow { metrics.droppedMessages.increment() }
            return nil
        }
        guard bounded else {
            return channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, data: payload))
        }
        if state.value.unwritable {
            metrics.slowConsumerClosed()  // counts this frame as dropped, as the SSE sink does
            state.value.slow = true
            closeOnLoop(.slowConsumer, reason: "slow consumer: resume with fromSeq")
            return nil
        }
        if let encoder = state.value.encoder, let whole = WebSocketWire.wholeFrame(payload) {
            // The hub's frames carry their header: the same bytes for every connection, written past the encoder.
            encoder.write(NIOAny(IOData.byteBuffer(whole)), promise: nil)
        } else {
            channel.write(WebSocketFrame(fin: true, opcode: .text, data: payload), promise: nil)
        }
        state.value.unflushed = true
        if flush { flushOnLoop() }
        return nil
    }

    /// The connection is upgraded and its frame codec in place (on the event loop): makes the bound the
    /// channel's high watermark, and finds the frame encoder that whole frames are written past.
    func upgraded() {
        let high = max(maxPendingBytes, 2)
        try? channel.syncOptions?.setOption(.writeBufferWaterMark, value: .init(low: high / 2, high: high))
        state.value.encoder = try? channel.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
    }

    /// The channel's writability changed (its unwritten bytes crossed a watermark); on the event loop.
    func writabilityChanged(isWritable: Bool) {
        state.value.unwritable = !isWritable
    }

    /// The channel is closed: frames still coming from the hub are dropped; on the event loop.
    func channelClosed() {
        state.value.closed = true
    }

    func close(_ code: CloseCode, reason: String) {
        onLoop { self.closeOnLoop(code, reason: reason) }
    }

    private func closeOnLoop(_ code: CloseCode, reason: String) {
        guard !state.value.closed else { return }
        state.value.closed = true
        var data = channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        data.writeInteger(code.rawValue)
        data.writeString(reason)
        let channel = self.channel
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    /// Frames a control or reply message (subscribed, error) in order with the events.
    func sendControl(_ json: String) {
        onLoop { self.write(ByteBuffer(string: json), bounded: false) }
    }

    private func onLoop(_ body: @escaping @Sendable () -> Void) {
        if channel.eventLoop.inEventLoop {
            body()
        } else {
            channel.eventLoop.execute(body)
        }
    }
}
