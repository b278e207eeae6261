import ArgumentParser
import AsyncHTTPClient
import ChainfeedCore
import Ingest
import Logging
import PostgresStore
import RedisBus
import ServiceLifecycle
import Synchronization
import WebAPI

/// The writer: follows nodes, stores each event once in PostgreSQL, serves its own health and status.
struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Run the writer: follow nodes and store their events in PostgreSQL."
    )

    @Option(help: "A node to follow: URL or sse=URL,rest=URL,rpc=URL; repeatable (env: CHAINFEED_NODES, comma-separated).")
    var node: [String] = []

    @Option(help: "PostgreSQL primary, postgresql://user@host:port/db (env: CHAINFEED_DATABASE_URL).")
    var databaseURL: String?

    @OptionGroup var redis: RedisOptions
    @OptionGroup var postgres: PostgresOptions

    @Option(help: "Address for /health, /ready, /status, /metrics (env: CHAINFEED_HOST).")
    var host: String?

    @Option(help: "Port for /health, /ready, /status, /metrics (env: CHAINFEED_PORT).")
    var port: Int?

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let nodes = try Env.nodes(node)
        guard !nodes.isEmpty else { throw CLIError("ingest needs at least one --node URL (or CHAINFEED_NODES)") }
        guard let databaseURL = try Env.postgresURL(databaseURL, "CHAINFEED_DATABASE_URL") else {
            throw CLIError("ingest needs --database-url (or CHAINFEED_DATABASE_URL)")
        }
        let storeConfiguration = PostgresEventStore.Configuration(preparedStatements: try postgres.preparedStatements())
        let host = host ?? Env.string("CHAINFEED_HOST") ?? "127.0.0.1"
        let port = try Env.int(port, "CHAINFEED_PORT", default: 8081, range: 0...65_535)
        try requireListenable(host: host, port: port)
        // Backends first: the bus makes its metric handles and logger when created.
        Observability.bootstrap(logLevel: try common.resolvedLogLevel())
        let bus = try redis.bus()
        let logger = Logger(label: "chainfeed.ingest")

        let store: PostgresEventStore
        do {
            store = try await PostgresEventStore(
                databaseURL: databaseURL, configuration: storeConfiguration,
                logger: Logger(label: "chainfeed.postgres"))
        } catch {
            throw CLIError("cannot use the database: \(error)")
        }
        let writer = Writer(store: store, bus: bus, logger: Logger(label: "chainfeed.writer"))
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .nodeStreams)
        let follower = NodeFollower(nodes: nodes, httpClient: httpClient, writer: writer, store: store, logger: Logger(label: "chainfeed.follower"))
        let leader = LeaderService(store: store, writer: writer, follower: follower, logger: logger)
        let web = buildApplication(
            WebServices(role: "ingest", reader: store, followerStatus: { leader.status }, metricsText: Observability.metricsText),
            host: host, port: port, logger: Logger(label: "chainfeed.web"))
        let services: [any Service] = [store] + (bus.map { [$0] } ?? []) + [leader, web]
        try await runServices(services, logger: logger) {
            try? await httpClient.shutdown()
        }
    }
}

/// Holds the writer lock, then runs the writer and the follower; waits as a hot standby until then.
final class LeaderService: Service {
    private let store: PostgresEventStore
    private let writer: Writer
    private let follower: NodeFollower
    private let logger: Logger
    private let leading = Synchronization.Atomic<Bool>(false)

    init(store: PostgresEventStore, writer: Writer, follower: NodeFollower, logger: Logger) {
        self.store = store
        self.writer = writer
        self.follower = follower
        self.logger = logger
    }

    var status: FollowerStatus {
        guard leading.load(ordering: .relaxed) else { return FollowerStatus(state: .standby) }
        return follower.status
    }

    func run() async throws {
        var announced = false
        while try await !store.acquireWriterLock(wait: false) {
            if !announced {
                logger.info("another writer holds the lock; waiting as a hot standby")
                announced = true
            }
            do {
                try await gracefulShutdownAwareSleep(.seconds(1))
            } catch {
                return
            }
        }
        leading.store(true, ordering: .relaxed)
        logger.info("writer lock held; writing")
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.writer.run() }
            group.addTask { try await self.follower.run() }
            group.addTask {
                // Losing the lock (its session died) ends this writer: a standby has taken over, and
                // the supervisor restarts this process as the next standby (invariant 7).
                while true {
                    do {
                        try await gracefulShutdownAwareSleep(.seconds(1))
                    } catch {
                        return
                    }
                    try await self.store.checkWriterLock()
                }
            }
        }
    }
}

/// Sleeps, ending early with an error when the service is asked to shut down.
func gracefulShutdownAwareSleep(_ duration: Duration) async throws {
    try await cancelWhenGracefulShutdown {
        try await Task.sleep(for: duration)
    }
}
