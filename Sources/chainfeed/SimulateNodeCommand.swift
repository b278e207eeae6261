import ArgumentParser
import Logging
import NodeSimulator

/// A Casper-compatible node for development and tests: SSE paths, `/status` and JSON-RPC on one port.
struct SimulateNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate-node",
        abstract: "Run a deterministic Casper node simulator (SSE, /status, JSON-RPC /rpc)."
    )

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on (env: CHAINFEED_PORT).")
    var port: Int?

    @OptionGroup var simulator: SimulatorOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let port = try Env.int(port, "CHAINFEED_PORT", default: 9999, range: 0...65_535)
        try requireListenable(host: host, port: port)
        let configuration = try simulator.configuration(host: host, port: port)
        Observability.bootstrap(logLevel: try common.resolvedLogLevel())
        let logger = Logger(label: "chainfeed.simulator")
        let app = try buildSimulatorApplication(configuration: configuration, logger: logger)
        logger.info("simulated node listening", metadata: ["http.address": "\(host):\(port)", "chain.seed": "\(configuration.seed)"])
        try await runServices([app], logger: logger)
    }
}
