import ArgumentParser
import AsyncHTTPClient
import ChainfeedCore
import Foundation
import Ingest
import Logging
import NodeSimulator
import PostgresStore
import RedisBus
import ServiceLifecycle
import WebAPI

/// The all-in-one: a simulated node (or a real one), the writer and the web replica in one process.
struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Run everything in one process on the embedded default (the default command)."
    )

    @Option(help: "Address to serve HTTP on (env: CHAINFEED_HOST).")
    var host: String?

    @Option(help: "Port to serve HTTP on (env: CHAINFEED_PORT).")
    var port: Int?

    @Option(help: "Follow this node instead of the built-in simulator: URL or sse=URL,rest=URL,rpc=URL; repeatable (env: CHAINFEED_NODES, comma-separated).")
    var node: [String] = []

    @Option(help: "Use this PostgreSQL instead of the in-memory store; the schema is migrated at start (env: CHAINFEED_DATABASE_URL).")
    var databaseURL: String?

    @OptionGroup var redis: RedisOptions
    @OptionGroup var postgresOptions: PostgresOptions

    @OptionGroup var pending: PendingBytesOption

    @OptionGroup var simulator: SimulatorOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let host = host ?? Env.string("CHAINFEED_HOST") ?? "127.0.0.1"
        let port = try Env.int(port, "CHAINFEED_PORT", default: 8080, range: 0...65_535)
        try requireListenable(host: host, port: port)
        var nodes = try Env.nodes(node)
        let logLevel = try common.resolvedLogLevel()
        let databaseURL = try Env.postgresURL(databaseURL, "CHAINFEED_DATABASE_URL")
        let storeConfiguration = PostgresEventStore.Configuration(preparedStatements: try postgresOptions.preparedStatements())
        // Backends first: the bus makes its metric handles and logger when created.
        Observability.bootstrap(logLevel: logLevel)
        let redisBus = try redis.bus()
        var limits = WebSocketLimits()
        limits.maxPendingBytes = try pending.validated()
        var simulatorConfiguration: SimulatedNode.Configuration?
        if nodes.isEmpty {
            let simulatorPort = try freeLoopbackPort()
            simulatorConfiguration = try simulator.configuration(host: "127.0.0.1", port: simulatorPort)
            nodes = [try! NodeAddress.parse("http://127.0.0.1:\(simulatorPort)")]
        }
        let logger = Logger(label: "chainfeed.dev")

        var services: [any Service] = []
        if let simulatorConfiguration {
            services.append(try buildSimulatorApplication(configuration: simulatorConfiguration, logger: Logger(label: "chainfeed.simulator")))
        }
        let store: any EventStore
        if let databaseURL {
            do {
                _ = try await Migrations.migrate(databaseURL: databaseURL, logger: logger)
                let postgres = try await PostgresEventStore(
                    databaseURL: databaseURL, configuration: storeConfiguration,
                    logger: Logger(label: "chainfeed.postgres"))
                guard try await postgres.acquireWriterLock(wait: false) else {
                    throw CLIError("another writer holds this database's writer lock; stop it or use another database")
                }
                services.append(postgres)
                store = postgres
            } catch let error as CLIError {
                throw error
            } catch {
                throw CLIError("cannot use the database: \(error)")
            }
        } else {
            store = InMemoryEventStore()
        }
        let bus: any EventBus = redisBus ?? InMemoryEventBus()
        if let redisBus { services.append(redisBus) }
        let writer = Writer(store: store, bus: bus, logger: Logger(label: "chainfeed.writer"))
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .nodeStreams)
        let follower = NodeFollower(nodes: nodes, httpClient: httpClient, writer: writer, store: store, logger: Logger(label: "chainfeed.follower"))
        let fanOut = FanOut(reader: store, bus: bus, logger: Logger(label: "chainfeed.fanout"))
        let welcome = Self.welcome(nodes: nodes, simulated: simulatorConfiguration != nil)
        let web = buildApplication(
            WebServices(role: "dev", reader: store, followerStatus: { follower.status }, metricsText: Observability.metricsText, fanOut: fanOut,
                webSocketLimits: limits),
            host: host, port: port, logger: Logger(label: "chainfeed.web"),
            onServerRunning: { [welcome] bound in
                // Straight to the file descriptor: stdout may be a pipe, where print() would sit in a buffer.
                FileHandle.standardOutput.write(Data((welcome("http://\(host):\(bound)") + "\n").utf8))
            })
        // Stopped in reverse: the hub first closes its clients, so the HTTP server drains at once.
        services += [writer, follower, web, fanOut]
        try await runServices(services, logger: logger) {
            try? await httpClient.shutdown()
        }
    }

    /// The lines printed once the server listens: what it follows and the URLs to try.
    private static func welcome(nodes: [NodeAddress], simulated: Bool) -> @Sendable (String) -> String {
        let source = simulated ? "the built-in simulated node at \(nodes[0].sse)" : nodes.map(\.sse).joined(separator: ", ")
        return { base in """
            Chainfeed all-in-one is serving on \(base)
            following \(source).
            Try:
              \(base)/blocks?limit=2
              \(base)/events?after=0&limit=5
              ws://\(base.dropFirst("http://".count))/ws?topics=blocks&fromSeq=0
              curl -N \(base)/events/stream
              \(base)/status
              \(base)/metrics
            Stop with Ctrl-C.
            """ }
    }
}

extension HTTPClient.Configuration {
    /// Long-lived SSE streams: a connect timeout, no read timeout (idle streams are the follower's call).
    static var nodeStreams: HTTPClient.Configuration {
        var c = HTTPClient.Configuration()
        c.timeout = .init(connect: .seconds(5), read: nil)
        c.decompression = .disabled
        // The follower backs off by itself; a refused node should fail at once, not inside the pool.
        c.connectionPool.retryConnectionEstablishment = false
        return c
    }
}

/// Runs the services of one subcommand until SIGINT/SIGTERM, then stops them within the time bound.
func runServices(_ services: [any Service], logger: Logger, afterwards: () async -> Void = {}) async throws {
    var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    configuration.maximumGracefulShutdownDuration = .seconds(8)
    configuration.maximumCancellationDuration = .seconds(1)
    let group = ServiceGroup(configuration: configuration)
    do {
        try await group.run()
    } catch {
        await afterwards()
        throw CLIError("stopped: \(error)")
    }
    await afterwards()
}
