import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// HTTP/1.1 with `/ws` upgraded to a WebSocket that lives in the channel pipeline alone.
///
/// Hummingbird's WebSocket channel keeps an async channel and a task per connection (about 30 KiB
/// each when idle). Here an upgraded connection is NIO's frame codec plus one
/// ``WebSocketConnectionHandler``: no task, no async stream, nothing but the socket and the
/// subscriptions, so idle connections stay small and the hub writes to them without a hop.
struct LiveHTTPChannel: ServerChildChannel, HTTPChannelHandler {
    enum Connection: Sendable {
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// Served by its pipeline from now on.
        case webSocket
    }

    struct Value: ServerChildChannelValue {
        let connection: EventLoopFuture<Connection>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    /// `nil` in a process that serves no live streams: every upgrade is refused.
    let endpoint: WebSocketEndpoint?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let endpoint = self.endpoint
            let keeper = UpgradeRequestKeeper()
            let keeperOnLoop = NIOLoopBound(keeper, eventLoop: channel.eventLoop)  // the callbacks run on this loop
            let upgrader = NIOTypedWebSocketServerUpgrader<Connection>(
                maxFrameSize: endpoint?.limits.maxFrameSize ?? 1 << 14,
                shouldUpgrade: { channel, head in
                    channel.eventLoop.makeSucceededFuture(endpoint?.accepts(uri: head.uri) == true ? HTTPHeaders() : nil)
                },
                upgradePipelineHandler: { channel, head in
                    channel.eventLoop.makeCompletedFuture {
                        guard let endpoint else { throw NIOWebSocketUpgradeError.unsupportedWebSocketTarget }
                        channel.pipeline.syncOperations.removeHandler(keeperOnLoop.value, promise: nil)
                        try endpoint.open(channel, uri: head.uri)
                        return .webSocket
                    }
                }
            )
            let upgrade = NIOTypedHTTPServerUpgradeConfiguration<Connection>(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        try keeperOnLoop.value.restore(in: pipeline, after: pipeline.context(handlerType: NIOTypedHTTPServerUpgradeHandler<Connection>.self))
                        return .http(http)
                    }
                }
            )
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration(upgradeConfiguration: upgrade)
            configuration.enablePipelining = false  // the async channel reads one request at a time
            configuration.enableErrorHandling = false  // Hummingbird answers parse errors
            configuration.enableResponseHeaderValidation = false  // HTTPTypes validated them
            let connection = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            let upgradeHandler = try channel.pipeline.syncOperations.handler(type: NIOTypedHTTPServerUpgradeHandler<Connection>.self)
            try channel.pipeline.syncOperations.addHandler(keeper, position: .before(upgradeHandler))
            return Value(connection: connection, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.connection.get() {
            case .http(let channel): await handleHTTP(asyncChannel: channel, logger: logger)
            case .webSocket: return
            }
        } catch {
            logger.debug("connection ended before its first request was served", metadata: ["error.message": "\(error)"])
            try? await value.channel.close()
        }
    }
}

/// Keeps the head of a request that asks to upgrade, which NIO's upgrade handler consumes.
///
/// When the upgrade does not happen (a `/ws` URL with a bad shortcut, another path, `h2c`), NIO passes
/// on the rest of the request but not its head; putting the head back lets the router answer it
/// (400 with the reason on `/ws`, the resource elsewhere) instead of the connection closing unanswered.
final class UpgradeRequestKeeper: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    private var head: HTTPRequestHead?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data), head.headers.contains(name: "upgrade") {
            self.head = head
        }
        context.fireChannelRead(data)
    }

    /// Fires the kept head (if any) from `context` onwards, then leaves the pipeline.
    func restore(in pipeline: ChannelPipeline.SynchronousOperations, after context: ChannelHandlerContext) throws {
        if let head {
            self.head = nil
            context.fireChannelRead(wrapInboundOut(.head(head)))
        }
        pipeline.removeHandler(self, promise: nil)
    }
}
