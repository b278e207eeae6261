import ChainfeedCore
import Logging
import ServiceLifecycle

/// The REST reads and the event log from one PostgreSQL server (a read replica, or the primary), over a small
/// pool of read-only sessions. It never writes (invariant 8); pair it with the `chainfeed_reader` role
/// (deploy/readonly-role.sql) to have the server enforce that too.
public final class PostgresEventReader: EventReader, Service {
    /// How the reader connects.
    public struct Configuration: Sendable, Equatable {
        /// Applied to every session; `readOnly` is forced on.
        public var connection: PGConnection.Configuration
        /// Sessions used round-robin.
        public var connections: Int

        /// - Parameters:
        ///   - schema: The schema to read; `nil` for the server's default.
        ///   - connections: Sessions used round-robin, each on its own thread.
        ///   - statementTimeout: The budget of one read.
        ///   - connectTimeout: The budget of opening a session.
        ///   - applicationName: The name the server shows for the sessions.
        ///   - preparedStatements: Prepare each query once per session.
        public init(
            schema: String? = nil, connections: Int = 2, statementTimeout: Duration? = .seconds(10),
            connectTimeout: Duration = .seconds(5), applicationName: String = "chainfeed-reader",
            preparedStatements: Bool = true
        ) {
            self.connection = PGConnection.Configuration(
                schema: schema, statementTimeout: statementTimeout, connectTimeout: connectTimeout,
                applicationName: applicationName, readOnly: true, preparedStatements: preparedStatements)
            self.connections = connections
        }
    }

    private let pool: PGConnectionPool
    private let logger: Logger

    /// Connects and checks that the schema is at least this build's version.
    ///
    /// - Parameters:
    ///   - databaseURL: The server to read from.
    ///   - configuration: Schema, pool size and time budgets.
    ///   - logger: Where session resets are logged.
    public init(databaseURL: String, configuration: Configuration = Configuration(), logger: Logger = PGConnection.noLogger) async throws {
        var connection = configuration.connection
        connection.readOnly = true
        self.logger = logger
        self.pool = try await PGConnectionPool.connect(
            url: databaseURL, size: configuration.connections, configuration: connection, logger: logger)
        do {
            try await pool.withConnection { c in try Migrations.check(c, forWriting: false) }
        } catch {
            await pool.close()
            throw error
        }
    }

    // MARK: EventReader

    public func block(hash: String) async throws -> Block? {
        try await pool.withConnection { c in try ReadQueries.block(hash: hash, on: c) }
    }

    public func blocks(_ page: PageRequest) async throws -> Page<Block> {
        try await pool.withConnection { c in try ReadQueries.blocks(page, on: c) }
    }

    public func deploy(hash: String) async throws -> Deploy? {
        try await pool.withConnection { c in try ReadQueries.deploy(hash: hash, on: c) }
    }

    public func accountDeploys(account: String, _ page: PageRequest) async throws -> Page<Deploy> {
        try await pool.withConnection { c in try ReadQueries.accountDeploys(account: account, page, on: c) }
    }

    public func events(after: Seq, limit: Int, filter: EventFilter) async throws -> [StoredEvent] {
        try await pool.withConnection { c in try ReadQueries.events(after: after, limit: limit, filter: filter, on: c) }
    }

    public func status() async throws -> StoreStatus {
        try await pool.withConnection { c in try ReadQueries.status(on: c) }
    }

    /// The saved resume point of a node stream, if any.
    public func checkpoint(stream: String) async throws -> NodeCheckpoint? {
        try await pool.withConnection { c in try ReadQueries.checkpoint(stream: stream, on: c) }
    }

    /// The stored block at a height, for the writer's parent check (not part of `EventReader`).
    public func block(height: UInt64) async throws -> Block? {
        try await pool.withConnection { c in try ReadQueries.block(height: height, on: c) }
    }

    // MARK: Replica state

    /// The highest `seq` this server has applied, for `?minSeq=` and lag checks: one counter row.
    public func appliedSeq() async throws -> Seq { try await headSeq() }

    /// The highest `seq` this server has (applied), for `?minSeq=` and gap fills: one counter row.
    public func headSeq() async throws -> Seq {
        try await pool.withConnection { c in
            try c.query("SELECT value FROM counters WHERE name = 'seq'").scalar.flatMap { Seq($0) } ?? 0
        }
    }

    /// How far a streaming replica's replay trails the primary's last commit; `nil` on a primary.
    ///
    /// Measured as now minus the replayed commit's timestamp, so an idle primary also reads as lag: compare
    /// ``headSeq()`` with the writer's head before skipping a replica for it.
    public func replicationLag() async throws -> Duration? {
        try await pool.withConnection { c in
            let row = try c.query("""
                SELECT pg_is_in_recovery(),
                       coalesce((extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000000)::bigint, 0)
                """).rows.first
            guard let row, try row.bool(0, "pg_is_in_recovery") else { return nil }
            return .microseconds(max(0, try row.int(1, "replay_lag")))
        }
    }

    // MARK: Lifecycle

    /// Closes every session; later reads throw ``PostgresError/closed``.
    public func close() async {
        await pool.close()
    }

    /// Holds the sessions open until graceful shutdown, then closes them.
    public func run() async throws {
        await waitForGracefulShutdown()
        await close()
    }
}

/// Suspends until the service group shuts down gracefully (or the task is cancelled: the same to a store).
func waitForGracefulShutdown() async {
    do {
        try await gracefulShutdown()
    } catch {
        // Cancelled: the group is going down without a graceful phase; close all the same.
    }
}
