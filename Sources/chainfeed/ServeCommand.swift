import ArgumentParser
import ChainfeedCore
import Logging
import PostgresStore
import RedisBus
import ServiceLifecycle
import WebAPI

/// A web replica: REST and the event log from PostgreSQL read replicas; never writes (invariant 8).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a web replica: REST and the event log from PostgreSQL read replicas."
    )

    @Option(help: "A read database, 'postgresql://… [zone=Z]'; repeatable, tried by --replica-strategy (env: CHAINFEED_READ_DATABASE_URLS, comma-separated).")
    var readDatabaseURL: [String] = []

    @Option(help: "How to pick among the read databases: \(ReplicaStrategy.allCases.map(\.rawValue).joined(separator: ", ")) (env: CHAINFEED_REPLICA_STRATEGY).")
    var replicaStrategy: String?

    @Option(help: "This web replica's zone, for the zone strategies (env: CHAINFEED_ZONE).")
    var zone: String?

    @Option(help: "Replay lag in ms past which a read replica that is behind is skipped while others are healthy (env: CHAINFEED_MAX_REPLICA_LAG_MS; default 10000).")
    var maxReplicaLagMs: Int?

    @Option(help: "How long in ms a `?minSeq=` read waits for a replica that has applied the seq before 503 (env: CHAINFEED_MIN_SEQ_WAIT_MS; default 2000).")
    var minSeqWaitMs: Int?

    @OptionGroup var redis: RedisOptions
    @OptionGroup var postgres: PostgresOptions

    @Option(help: "Largest WebSocket client frame in bytes.")
    var maxFrameSize: Int = 16 << 10

    @Option(help: "Subscriptions one WebSocket connection may hold.")
    var maxSubscriptions: Int = 32

    @Option(help: "Connections (WebSocket and SSE) this replica accepts.")
    var maxConnections: Int = 10_000

    @OptionGroup var pending: PendingBytesOption

    @Option(help: "Address to serve HTTP on (env: CHAINFEED_HOST).")
    var host: String?

    @Option(help: "Port to serve HTTP on (env: CHAINFEED_PORT).")
    var port: Int?

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let urls = Env.list(readDatabaseURL, "CHAINFEED_READ_DATABASE_URLS")
        guard !urls.isEmpty else { throw CLIError("serve needs at least one --read-database-url (or CHAINFEED_READ_DATABASE_URLS)") }
        let strategyName = replicaStrategy ?? Env.string("CHAINFEED_REPLICA_STRATEGY") ?? ReplicaStrategy.preferZoneSingle.rawValue
        guard let strategy = ReplicaStrategy(rawValue: strategyName) else {
            throw CLIError("--replica-strategy must be one of \(ReplicaStrategy.allCases.map(\.rawValue).joined(separator: ", ")), got '\(strategyName)'")
        }
        let replicas = try urls.map(Self.parseReplica)
        let readConfiguration = PostgresEventReader.Configuration(preparedStatements: try postgres.preparedStatements())
        let host = host ?? Env.string("CHAINFEED_HOST") ?? "127.0.0.1"
        let port = try Env.int(port, "CHAINFEED_PORT", default: 8080, range: 0...65_535)
        try requireListenable(host: host, port: port)
        let limits = try webSocketLimits()
        Observability.bootstrap(logLevel: try common.resolvedLogLevel())  // before the bus makes its metric handles
        let bus = try redis.bus()
        let logger = Logger(label: "chainfeed.serve")

        let maxLag = try Env.int(maxReplicaLagMs, "CHAINFEED_MAX_REPLICA_LAG_MS", default: 10_000, range: 0...3_600_000)
        let minSeqWait = try Env.int(minSeqWaitMs, "CHAINFEED_MIN_SEQ_WAIT_MS", default: 2_000, range: 0...60_000)

        // Databases that answer now are used at once; the others join when they come up (DeferredEventReader).
        // With none answering there is nothing to serve: a clear error, and the orchestrator restarts us.
        var lifecycles: [any Service] = []
        var members: [ReplicaSet.Member] = []
        var usable = 0
        for replica in replicas {
            let pgLogger = Logger(label: "chainfeed.postgres")
            do {
                let reader = try await PostgresEventReader(databaseURL: replica.url, configuration: readConfiguration, logger: pgLogger)
                lifecycles.append(reader)
                members.append(.init(reader: reader, zone: replica.zone, replayLag: { try await reader.replicationLag() }))
                usable += 1
            } catch {
                logger.warning("read database not usable at start; retried in the background", metadata: ["zone": "\(replica.zone ?? "-")", "error.message": "\(error)"])
                let reader = DeferredEventReader(databaseURL: replica.url, configuration: readConfiguration, logger: pgLogger)
                lifecycles.append(reader)
                members.append(.init(reader: reader, zone: replica.zone, replayLag: { try await reader.replicationLag() }))
            }
        }
        guard usable > 0 else { throw CLIError("no read database is usable: check --read-database-url and that `chainfeed migrate` ran") }
        let reader = ReplicaSet(
            members: members, strategy: strategy, ownZone: zone ?? Env.string("CHAINFEED_ZONE"), maxLag: .milliseconds(maxLag),
            isInfrastructureError: { error in
                if let pg = error as? PostgresError { return pg.isConnectionError }
                return false
            })
        let fanOut = FanOut(reader: reader, bus: bus, logger: Logger(label: "chainfeed.fanout"))
        let web = buildApplication(
            WebServices(
                role: "serve", reader: reader, metricsText: Observability.metricsText,
                readinessChecks: bus.map { b in [{ b.isSubscribed ? nil : "redis: not subscribed" }] } ?? [],
                fanOut: fanOut, webSocketLimits: limits, minSeqWait: .milliseconds(minSeqWait)),
            host: host, port: port, logger: Logger(label: "chainfeed.web"))
        // Stopped in reverse: the hub closes its clients first, so the HTTP server drains at once.
        let monitor = ReplicaMonitor(replicas: reader, knownHead: { fanOut.headSeq })
        let services: [any Service] = lifecycles + [monitor] + (bus.map { [$0] } ?? []) + [web, fanOut]
        try await runServices(services, logger: logger)
    }

    private func webSocketLimits() throws -> WebSocketLimits {
        var limits = WebSocketLimits()
        guard (1...(16 << 20)).contains(maxFrameSize) else { throw CLIError("--max-frame-size must be in 1…16777216") }
        guard (1...10_000).contains(maxSubscriptions) else { throw CLIError("--max-subscriptions must be in 1…10000") }
        guard (1...1_000_000).contains(maxConnections) else { throw CLIError("--max-connections must be in 1…1000000") }
        limits.maxFrameSize = maxFrameSize
        limits.maxSubscriptionsPerConnection = maxSubscriptions
        limits.maxConnections = maxConnections
        limits.maxPendingBytes = try pending.validated()
        return limits
    }

    /// `URL` or `URL zone=Z`.
    static func parseReplica(_ text: String) throws -> (url: String, zone: String?) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let url = parts.first else { throw CLIError("--read-database-url is empty") }
        _ = try Env.postgresURL(url, "CHAINFEED_READ_DATABASE_URL")
        var zone: String?
        for extra in parts.dropFirst() {
            guard extra.hasPrefix("zone="), extra.count > 5 else {
                throw CLIError("--read-database-url '\(text)': expected 'URL' or 'URL zone=NAME'")
            }
            zone = String(extra.dropFirst(5))
        }
        return (url, zone)
    }
}

/// Refreshes the read databases' health every second: applied heads, replay lag, reachability.
struct ReplicaMonitor: Service {
    let replicas: ReplicaSet
    let knownHead: @Sendable () async -> Seq

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await replicas.monitor(every: .seconds(1), knownHead: knownHead)
        }
    }
}
