import Hummingbird
import Logging

/// Builds the simulator's HTTP application on `configuration.host`/`configuration.port`: the node's SSE
/// paths, `GET /status` and `POST /rpc`, with block production running as one of its services.
///
/// The application is a swift-service-lifecycle `Service`; on graceful shutdown every open SSE stream
/// gets `"Shutdown"` and ends, so shutdown does not wait on subscribers.
/// - Parameters:
///   - configuration: Chain, stream, misbehaviour and bind options.
///   - logger: The application's logger.
public func buildSimulatorApplication(
    configuration: SimulatedNode.Configuration,
    logger: Logger
) throws(NodeSimulatorError) -> some ApplicationProtocol {
    buildSimulatorApplication(node: try SimulatedNode(configuration: configuration, logger: logger))
}

/// Builds the application around an existing node, so tests can produce blocks and inspect the stream.
/// - Parameters:
///   - node: The simulated node to serve; its configuration gives the bind address.
public func buildSimulatorApplication(node: SimulatedNode) -> some ApplicationProtocol {
    Application(
        responder: NodeResponder(node: node),
        configuration: ApplicationConfiguration(
            address: .hostname(node.configuration.host, port: node.configuration.port),
            serverName: "casper-node-simulator"
        ),
        services: [BlockProducer(node: node)],
        logger: node.logger
    )
}
