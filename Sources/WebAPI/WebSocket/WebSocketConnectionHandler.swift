import NIOCore
import NIOWebSocket

/// The WebSocket protocol of one connection, in its pipeline after NIO's frame codec.
///
/// Joins fragmented messages up to the frame size limit, answers pings, pings the client every
/// ``WebSocketLimits/pingInterval`` and closes it when a pong does not come back by the next one,
/// answers a close, and hands whole text messages to the session. Everything runs on the
/// channel's event loop as the frames are read.
final class WebSocketConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let session: WebSocketSession
    private let limits: WebSocketLimits
    /// A fragmented message being joined, and whether it is text.
    private var message: (buffer: ByteBuffer, text: Bool)?
    private var awaitingPong = false
    private var pinger: Scheduled<Void>?
    private var opened = false

    init(session: WebSocketSession, limits: WebSocketLimits) {
        self.session = session
        self.limits = limits
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { open(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        open(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        pinger?.cancel()
        pinger = nil
        session.sink.channelClosed()
        session.end()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        pinger?.cancel()
        session.end()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard frame.maskKey != nil else {
            // RFC 6455 §5.1: a client masks every frame; an unmasked one ends the connection.
            session.sink.close(.protocolError, reason: "client frames must be masked")
            return
        }
        switch frame.opcode {
        case .text, .binary:
            guard message == nil else {
                session.sink.close(.protocolError, reason: "a new message began before the last one ended")
                return
            }
            message = (frame.unmaskedData, frame.opcode == .text)
            if frame.fin { deliver() } else { checkSize() }
        case .continuation:
            guard var joined = message else {
                session.sink.close(.protocolError, reason: "a continuation frame without a message")
                return
            }
            var data = frame.unmaskedData
            joined.buffer.writeBuffer(&data)
            message = joined
            if frame.fin { deliver() } else { checkSize() }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .pong:
            awaitingPong = false
        case .connectionClose:
            session.sink.close(.normal, reason: "")
        default:
            session.sink.close(.protocolError, reason: "unknown opcode")
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        session.sink.writabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func open(_ context: ChannelHandlerContext) {
        guard !opened else { return }
        opened = true
        session.sink.upgraded()
        session.open()
        schedulePing(context)
    }

    private func checkSize() {
        if let message, message.buffer.readableBytes > limits.maxFrameSize {
            self.message = nil
            session.sink.close(.tooBig, reason: "messages are limited to \(limits.maxFrameSize) bytes")
        }
    }

    private func deliver() {
        guard let whole = message else { return }
        message = nil
        guard whole.buffer.readableBytes <= limits.maxFrameSize else {
            session.sink.close(.tooBig, reason: "messages are limited to \(limits.maxFrameSize) bytes")
            return
        }
        guard whole.text else {
            session.reject("binary frames are not supported; send JSON text")
            return
        }
        guard let text = String(validating: whole.buffer.readableBytesView, as: UTF8.self) else {
            session.reject("text frames must be UTF-8")
            return
        }
        session.receive(text: text)
    }

    private func schedulePing(_ context: ChannelHandlerContext) {
        let interval = TimeAmount(limits.pingInterval)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        pinger = context.eventLoop.scheduleTask(in: interval) {
            let (handler, context) = loopBound.value
            handler.ping(context)
        }
    }

    private func ping(_ context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        if awaitingPong {
            session.sink.close(.goingAway, reason: "no pong within \(limits.pingInterval)")
            return
        }
        awaitingPong = true
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer())), promise: nil)
        schedulePing(context)
    }
}
