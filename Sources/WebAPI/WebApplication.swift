import ChainfeedCore
import Hummingbird
import Logging

/// The one router that `chainfeed` and the tests share.
public func buildRouter(_ services: WebServices) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: MetricsMiddleware())
    BlocksController(reader: services.reader).addRoutes(to: router)
    DeploysController(reader: services.reader).addRoutes(to: router)
    EventLogController(reader: services.reader).addRoutes(to: router)
    StatusController(services: services).addRoutes(to: router)
    return router
}

/// The HTTP application of a process, on `host:port`.
///
/// - Parameters:
///   - services: what the routes serve from.
///   - onServerRunning: called with the bound port once listening (port 0 picks a free one).
public func buildApplication(
    _ services: WebServices, host: String, port: Int, logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    Application(
        router: buildRouter(services),
        configuration: .init(address: .hostname(host, port: port), serverName: "chainfeed"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
        logger: logger)
}
