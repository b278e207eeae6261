import Logging

/// The writer's PostgreSQL advisory lock, held by a dedicated session for as long as it lives (invariant 7).
///
/// The session never reconnects on its own: a lost session is a lost lock, which a standby may already have
/// taken. The server frees the lock when the holder's session ends (a crashed or killed writer's socket
/// closes at once; a vanished host's within ~25 s, by the session's TCP keepalives).
actor WriterLock {
    private let url: String
    private let configuration: PGConnection.Configuration
    private let logger: Logger
    let key: Int64
    private var session: PGConnection?
    private var token: BatchWriter.LockToken?

    init(url: String, schema: String, connection: PGConnection.Configuration, logger: Logger) {
        self.url = url
        var configuration = connection
        configuration.reconnect = false
        configuration.statementTimeout = .seconds(10)
        configuration.applicationName = connection.applicationName + "-writer-lock"
        self.configuration = configuration
        self.logger = logger
        self.key = AdvisoryKey.of("chainfeed.writer/" + schema)
    }

    /// Takes the lock; with `wait`, polls until it is free (a hot standby), else answers at once.
    func acquire(wait: Bool, pollInterval: Duration) async throws -> Bool {
        var announced = false
        while true {
            if try await tryOnce(wait: wait) { return true }
            guard wait else { return false }
            if !announced {
                logger.info("another writer holds the writer lock; waiting as a standby")
                announced = true
            }
            try await Task.sleep(for: pollInterval)
        }
    }

    private func tryOnce(wait: Bool) async throws -> Bool {
        if token != nil {
            if try await isAlive() { return true }
            logger.error("the writer lock's session ended; the lock is lost")
            await drop()
        }
        do {
            let session = try await openSession()
            let rows = try await session.query("SELECT pg_try_advisory_lock($1::bigint)", [String(key)])
            guard rows.scalar == "t" else { return false }
            token = BatchWriter.LockToken(backendPID: await session.backendPID, key: key)
            logger.info("writer lock acquired")
            return true
        } catch let error as PostgresError where wait && error.isConnectionError {
            // A standby rides out database restarts: it keeps polling with a fresh session.
            logger.warning("writer lock session failed; retrying", metadata: ["error.type": "\(error)"])
            await drop()
            return false
        }
    }

    private func openSession() async throws -> PGConnection {
        if let session, await session.isOpen { return session }
        await drop()
        let session = try await PGConnection.connect(url: url, configuration: configuration, logger: logger)
        self.session = session
        return session
    }

    /// The session that holds the lock, for the check each batch makes before it commits.
    func heldToken() throws -> BatchWriter.LockToken {
        guard let token else { throw PostgresError.writerLockNotHeld }
        return token
    }

    var isHeld: Bool { token != nil }

    /// Throws ``PostgresError/writerLockLost`` if the holding session ended.
    func check() async throws {
        guard token != nil else { throw PostgresError.writerLockNotHeld }
        guard try await isAlive() else {
            await drop()
            throw PostgresError.writerLockLost
        }
    }

    private func isAlive() async throws -> Bool {
        guard let session else { return false }
        do {
            try await session.query("SELECT 1")
            return true
        } catch let error as PostgresError where error.isConnectionError || error == .closed {
            return false
        }
    }

    /// Forgets the lock after the batch check found it gone.
    func markLost() async {
        logger.error("the writer lock is no longer held by this writer")
        await drop()
    }

    /// Releases the lock by ending its session.
    func release() async {
        if token != nil { logger.info("writer lock released") }
        await drop()
    }

    private func drop() async {
        token = nil
        if let session {
            self.session = nil
            await session.close()
        }
    }
}
