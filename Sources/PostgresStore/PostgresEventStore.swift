import ChainfeedCore
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// The writer's store on a PostgreSQL primary: every event once, a gap-free `seq`, checkpoints with the data.
///
/// Writes go through one session, one transaction per batch; reads through a small pool. Writing needs the
/// writer lock (``acquireWriterLock(wait:)``): a second writer against the same database and schema waits
/// as a hot standby and takes over when the first one's session ends (invariant 7).
public final class PostgresEventStore: EventStore, Service {
    /// How the store connects.
    public struct Configuration: Sendable, Equatable {
        /// Applied to every session (the writer's, the lock's and the readers').
        public var connection: PGConnection.Configuration
        /// Read sessions, used round-robin.
        public var readConnections: Int
        /// How often a standby asks for the writer lock.
        public var writerLockPollInterval: Duration

        /// - Parameters:
        ///   - schema: The schema to use; `nil` for the server's default (`public`).
        ///   - readConnections: Read sessions, used round-robin, each on its own thread.
        ///   - statementTimeout: The budget of one statement.
        ///   - connectTimeout: The budget of opening a session.
        ///   - applicationName: The name the server shows for the sessions.
        ///   - writerLockPollInterval: How often a standby asks for the writer lock.
        ///   - preparedStatements: Prepare each query once per session.
        public init(
            schema: String? = nil, readConnections: Int = 2, statementTimeout: Duration? = .seconds(30),
            connectTimeout: Duration = .seconds(5), applicationName: String = "chainfeed-writer",
            writerLockPollInterval: Duration = .milliseconds(500), preparedStatements: Bool = true
        ) {
            self.connection = PGConnection.Configuration(
                schema: schema, statementTimeout: statementTimeout, connectTimeout: connectTimeout,
                applicationName: applicationName, preparedStatements: preparedStatements)
            self.readConnections = readConnections
            self.writerLockPollInterval = writerLockPollInterval
        }
    }

    /// The schema the store writes, as the server resolved it.
    public let schema: String
    private let configuration: Configuration
    private let writer: PGConnection
    private let reader: PostgresEventReader
    let lock: WriterLock
    private let logger: Logger
    private let metrics = StoreMetrics()
    /// Whether the last batch held only new events. Following one node, nearly every batch does, and the
    /// next one is written without first reading which of its dedup keys are stored (the unique index still
    /// guards; a batch that trips it is written again the careful way).
    private let lastBatchWasNew = Mutex(false)

    /// Connects and checks that the schema is exactly this build's version; does not take the writer lock.
    ///
    /// - Parameters:
    ///   - databaseURL: The primary.
    ///   - configuration: Schema, pool size, time budgets and the standby's poll interval.
    ///   - logger: Where lock changes and session resets are logged.
    public init(databaseURL: String, configuration: Configuration = Configuration(), logger: Logger = PGConnection.noLogger) async throws {
        self.configuration = configuration
        self.logger = logger
        let writer = try await PGConnection.connect(url: databaseURL, configuration: configuration.connection, logger: logger)
        do {
            self.schema = try await writer.withSession { c in
                try Migrations.check(c, forWriting: true)
                return try Migrations.currentSchema(c)
            }
            var read = PostgresEventReader.Configuration(connections: configuration.readConnections)
            read.connection = configuration.connection
            self.reader = try await PostgresEventReader(databaseURL: databaseURL, configuration: read, logger: logger)
        } catch {
            await writer.close()
            throw error
        }
        self.writer = writer
        self.lock = WriterLock(url: databaseURL, schema: schema, connection: configuration.connection, logger: logger)
    }

    // MARK: Writer lock

    /// Takes the writer lock of this database and schema.
    ///
    /// - Parameter wait: Wait as a hot standby until the lock is free (polling; cancel the task to stop),
    ///   rather than answering at once.
    /// - Returns: Whether this store now holds the lock (always `true` when waiting, unless it throws).
    @discardableResult
    public func acquireWriterLock(wait: Bool) async throws -> Bool {
        try await lock.acquire(wait: wait, pollInterval: configuration.writerLockPollInterval)
    }

    /// Whether this store believes it holds the writer lock (``checkWriterLock()`` asks the server).
    public var holdsWriterLock: Bool {
        get async { await lock.isHeld }
    }

    /// Throws ``PostgresError/writerLockLost`` if the lock's session ended, ``PostgresError/writerLockNotHeld``
    /// if it was never taken; a writer calls this between batches to stop writing promptly.
    public func checkWriterLock() async throws {
        try await lock.check()
    }

    /// Lets a standby take over.
    public func releaseWriterLock() async {
        await lock.release()
    }

    // MARK: EventStore

    public func store(_ batch: [IngestEvent], checkpoints: [NodeCheckpoint]) async throws -> StoreResult {
        let token = try await lock.heldToken()
        guard !batch.isEmpty || !checkpoints.isEmpty else { return StoreResult(stored: [], duplicates: 0) }
        let start = ContinuousClock.now
        let assumeNew = lastBatchWasNew.withLock { $0 }
        let result: StoreResult
        do {
            do {
                result = try await writer.transaction { c in
                    try BatchWriter.store(batch, checkpoints: checkpoints, lock: token, assumeNew: assumeNew, on: c)
                }
            } catch PostgresError.server(sqlState: "23505", _, _) where assumeNew {
                // A stored event after all (a replay, a second node): read the stored keys this time.
                logger.debug("batch held stored events; storing it again with its dedup keys read")
                metrics.rewrites.increment()
                result = try await writer.transaction { c in
                    try BatchWriter.store(batch, checkpoints: checkpoints, lock: token, on: c)
                }
            }
        } catch PostgresError.writerLockLost {
            await lock.markLost()
            throw PostgresError.writerLockLost
        }
        lastBatchWasNew.withLock { $0 = result.duplicates == 0 && !result.stored.isEmpty }
        metrics.record(result, duration: ContinuousClock.now - start)
        return result
    }

    public func checkpoint(stream: String) async throws -> NodeCheckpoint? {
        try await reader.checkpoint(stream: stream)
    }

    /// The stored block at a height, for the writer's parent check (not part of `EventReader`).
    public func block(height: UInt64) async throws -> Block? {
        try await reader.block(height: height)
    }

    // MARK: EventReader

    public func block(hash: String) async throws -> Block? {
        try await reader.block(hash: hash)
    }

    public func blocks(_ page: PageRequest) async throws -> Page<Block> {
        try await reader.blocks(page)
    }

    public func deploy(hash: String) async throws -> Deploy? {
        try await reader.deploy(hash: hash)
    }

    public func accountDeploys(account: String, _ page: PageRequest) async throws -> Page<Deploy> {
        try await reader.accountDeploys(account: account, page)
    }

    public func events(after: Seq, limit: Int, filter: EventFilter) async throws -> [StoredEvent] {
        try await reader.events(after: after, limit: limit, filter: filter)
    }

    public func status() async throws -> StoreStatus {
        try await reader.status()
    }

    // MARK: Lifecycle

    /// Releases the writer lock and closes every session. Calling it again does nothing.
    public func close() async {
        await lock.release()
        await writer.close()
        await reader.close()
    }

    /// Holds the sessions open until graceful shutdown, then releases the lock and closes them.
    public func run() async throws {
        await waitForGracefulShutdown()
        await close()
    }
}

/// The store's metric handles, made once.
struct StoreMetrics: Sendable {
    let batches = Counter(label: "chainfeed_store_batches_total")
    let stored = Counter(label: "chainfeed_store_events_stored_total")
    let duplicates = Counter(label: "chainfeed_store_events_duplicate_total")
    let duration = Metrics.Timer(label: "chainfeed_store_batch_duration_seconds")
    /// Batches written a second time, their dedup keys read, because one event assumed new was stored.
    let rewrites = Counter(label: "chainfeed_store_batch_rewrites_total")

    func record(_ result: StoreResult, duration elapsed: Duration) {
        batches.increment()
        stored.increment(by: result.stored.count)
        duplicates.increment(by: result.duplicates)
        duration.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
