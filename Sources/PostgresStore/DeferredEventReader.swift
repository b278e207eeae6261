import ChainfeedCore
import Logging
import ServiceLifecycle

/// A read database that did not answer when the web replica started: it is connected on a later use, with
/// backoff between attempts, so the replica serves from the others meanwhile and uses this one once it is up.
///
/// Until then every read fails with ``PostgresError/connectionFailed(message:)``, an infrastructure error, so a
/// ``ReplicaSet`` moves on to the next database.
public actor DeferredEventReader: EventReader, Service {
    private let databaseURL: String
    private let configuration: PostgresEventReader.Configuration
    private let logger: Logger
    private var backoff = Backoff(minimum: .milliseconds(500), maximum: .seconds(30), multiplier: 2, jitter: 0.2)
    private var reader: PostgresEventReader?
    private var connecting: Task<PostgresEventReader, any Error>?
    private var nextAttempt = ContinuousClock.now
    private var closed = false

    public init(databaseURL: String, configuration: PostgresEventReader.Configuration = .init(), logger: Logger) {
        self.databaseURL = databaseURL
        self.configuration = configuration
        self.logger = logger
    }

    /// The connected reader, connecting now if the backoff allows.
    func current() async throws -> PostgresEventReader {
        if let reader { return reader }
        guard !closed else { throw PostgresError.closed }
        if let connecting { return try await connecting.value }
        guard ContinuousClock.now >= nextAttempt else {
            throw PostgresError.connectionFailed(message: "not connected yet; the next attempt is due later")
        }
        let task = Task { [databaseURL, configuration, logger] in
            try await PostgresEventReader(databaseURL: databaseURL, configuration: configuration, logger: logger)
        }
        connecting = task
        defer { connecting = nil }
        do {
            let connected = try await task.value
            if closed {
                await connected.close()
                throw PostgresError.closed
            }
            reader = connected
            logger.info("read database reachable again; in use")
            return connected
        } catch {
            nextAttempt = ContinuousClock.now + backoff.nextDelay()
            logger.debug("read database still not usable", metadata: ["error.message": "\(error)"])
            throw error
        }
    }

    public func block(hash: String) async throws -> Block? { try await current().block(hash: hash) }
    public func blocks(_ page: PageRequest) async throws -> Page<Block> { try await current().blocks(page) }
    public func deploy(hash: String) async throws -> Deploy? { try await current().deploy(hash: hash) }
    public func accountDeploys(account: String, _ page: PageRequest) async throws -> Page<Deploy> {
        try await current().accountDeploys(account: account, page)
    }
    public func events(after: Seq, limit: Int, filter: EventFilter) async throws -> [StoredEvent] {
        try await current().events(after: after, limit: limit, filter: filter)
    }
    public func status() async throws -> StoreStatus { try await current().status() }
    public func appliedSeq() async throws -> Seq { try await current().headSeq() }
    public func replicationLag() async throws -> Duration? { try await current().replicationLag() }

    /// Closes the sessions, if connected; later reads throw ``PostgresError/closed``.
    public func close() async {
        closed = true
        await reader?.close()
        reader = nil
    }

    /// Closes the sessions, once connected, at graceful shutdown.
    public func run() async throws {
        await waitForGracefulShutdown()
        await close()
    }
}
