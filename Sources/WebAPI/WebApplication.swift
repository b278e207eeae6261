import ChainfeedCore
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// The one router that `chainfeed` and the tests share.
public func buildRouter(_ services: WebServices) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: RouteMetricsMiddleware())
    let stream = services.fanOut.map { StreamController(hub: $0, limits: services.webSocketLimits) }
    let reads = Reads(reader: services.reader, minSeqWait: services.minSeqWait)
    BlocksController(reads: reads).addRoutes(to: router)
    DeploysController(reads: reads).addRoutes(to: router)
    EventLogController(reads: reads, stream: stream).addRoutes(to: router)
    StatusController(services: services).addRoutes(to: router)
    stream?.addRoutes(to: router)
    router.get("/ws") { request, _ -> Response in
        // Reached only when the request was not upgraded: say why.
        _ = try WebSocketEndpoint.shortcut(request.uri)
        guard services.fanOut != nil else { throw APIError.badRequest("this process serves no live streams") }
        guard request.headers[.upgrade]?.lowercased() == "websocket" else { throw APIError.badRequest("/ws needs a WebSocket upgrade request") }
        throw APIError.badRequest("a WebSocket upgrade must be the first request on its connection; open a new connection")
    }
    return router
}

/// The HTTP application of a process, on `host:port`, with `/ws` when it has a hub.
///
/// - Parameters:
///   - services: what the routes serve from.
///   - onServerRunning: called with the bound port once listening (port 0 picks a free one).
public func buildApplication(
    _ services: WebServices, host: String, port: Int, logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let configuration = ApplicationConfiguration(address: .hostname(host, port: port), serverName: "chainfeed", backlog: 4096)
    let running: @Sendable (any Channel) async -> Void = { channel in await onServerRunning(channel.localAddress?.port ?? port) }
    let router = buildRouter(services)
    let endpoint = services.fanOut.map { WebSocketEndpoint(hub: $0, limits: services.webSocketLimits, logger: logger) }
    return Application(
        router: router,
        server: HTTPServerBuilder { responder in LiveHTTPChannel(responder: responder, endpoint: endpoint) },
        configuration: configuration,
        onServerRunning: running,
        logger: logger)
}
