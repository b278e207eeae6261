import Dispatch
import Logging
import NIOCore
import NIOPosix

internal import CLibPQ

/// The one owner of a libpq connection: every libpq call runs here, one at a time, on this connection's own thread.
///
/// libpq blocks, so the actor's executor is a dedicated one-thread event loop and the cooperative pool never
/// waits on the network. Statements are parameterised (`PQsendQueryParams`, text format); results are copied
/// into ``PGRows`` and cleared in the same call. Each statement has a time budget: the server's
/// `statement_timeout`, and a client-side deadline a little later for a server that stops answering.
public actor PGConnection {
    public nonisolated let configuration: Configuration
    private nonisolated let url: String
    private nonisolated let group: MultiThreadedEventLoopGroup
    private nonisolated let loop: any EventLoop
    private nonisolated let logger: Logger
    /// Frees the libpq connection when dropped, so a connection that was never closed is freed too.
    private var owned = PGHandle()
    private var handle: OpaquePointer? { owned.raw }
    private var isClosed = false
    /// Set when a statement timed out or the session broke: the next use resets the session first.
    private var needsReset = false
    /// Statements prepared on this session, by their text; emptied whenever the session is reset.
    private var prepared: [String: String] = [:]
    private var preparedCount = 0
    /// A session prepares at most this many distinct statements; later ones run unnamed.
    static let maxPrepared = 256

    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        loop.executor.asUnownedSerialExecutor()
    }

    /// Opens a session on its own thread.
    ///
    /// - Parameters:
    ///   - url: A libpq connection URI (`postgresql://user@host:port/db?sslmode=…`) or `key=value` string.
    ///   - configuration: Schema, time budgets, read-only mode and reconnect policy.
    ///   - logger: Where session resets and failures are logged.
    public static func connect(
        url: String, configuration: Configuration = Configuration(), logger: Logger = PGConnection.noLogger
    ) async throws -> PGConnection {
        try validate(url: url)
        if let schema = configuration.schema { try validate(schema: schema) }
        let connection = PGConnection(url: url, configuration: configuration, logger: logger)
        try await connection.open()
        return connection
    }

    private init(url: String, configuration: Configuration, logger: Logger) {
        self.url = url
        self.configuration = configuration
        self.logger = logger
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.loop = group.next()
    }

    deinit {
        // Nothing holds the actor any more, so no job can be queued on the thread after this one. `owned`
        // frees a still-open connection as it goes.
        let logger = self.logger
        group.shutdownGracefully(queue: .global()) { error in
            if let error { logger.debug("postgres connection thread did not stop cleanly", metadata: ["error.type": "\(error)"]) }
        }
    }

    /// A logger that discards everything, the default for library use.
    public static let noLogger = Logger(label: "chainfeed.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    // MARK: Lifecycle

    private func open() throws {
        let handle = try Self.connectHandle(url: url, configuration: configuration)
        owned.adopt(handle)
        // Server notices go to the logger, not to stderr. The pointer is unretained: libpq calls back only
        // inside calls on `handle`, which this actor makes and which end before it can go away.
        PQsetNoticeProcessor(handle, Self.noticeProcessor, Unmanaged.passUnretained(self).toOpaque())
        do {
            try setUpSession()
        } catch {
            close()
            throw error
        }
    }

    private static let noticeProcessor: PQnoticeProcessor = { context, message in
        guard let context, let message else { return }
        let connection = Unmanaged<PGConnection>.fromOpaque(context).takeUnretainedValue()
        var text = String(cString: message)
        while text.last?.isWhitespace == true { text.removeLast() }
        connection.logger.debug("postgres notice", metadata: ["postgres.notice": "\(text)"])
    }

    /// Ends the session; later calls throw ``PostgresError/closed``. Calling it again does nothing.
    public func close() {
        isClosed = true
        owned.finish()
    }

    public var isOpen: Bool {
        guard !isClosed, let handle else { return false }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// The server process id of this session (`pg_backend_pid()`), 0 when closed.
    public var backendPID: Int {
        handle.map { Int(PQbackendPID($0)) } ?? 0
    }

    /// The live handle, reset first if the session broke and the configuration allows reconnecting.
    private func session() throws -> OpaquePointer {
        guard !isClosed, let handle else { throw PostgresError.closed }
        guard needsReset || PQstatus(handle) != CONNECTION_OK else { return handle }
        guard configuration.reconnect else {
            throw PostgresError.connectionLost(message: "the session ended and this connection does not reconnect")
        }
        PQreset(handle)
        prepared.removeAll()
        guard PQstatus(handle) == CONNECTION_OK else {
            needsReset = true
            throw PostgresError.connectionFailed(message: Self.errorMessage(handle))
        }
        needsReset = false
        do {
            try setUpSession()
        } catch {
            needsReset = true
            throw error
        }
        logger.warning("postgres session re-established")
        return handle
    }

    /// Applies the session settings (`search_path`, `statement_timeout`, read-only, server keepalives).
    private func setUpSession() throws {
        let settings = configuration.sessionSettings
        try query(
            "SELECT set_config(name, value, false) FROM unnest($1::text[], $2::text[]) AS s(name, value)",
            [PGArray.literal(settings.map(\.name)), PGArray.literal(settings.map(\.value))])
    }

    // MARK: Statements

    /// Runs one parameterised statement and returns its rows; parameters are sent in text format.
    ///
    /// A query or DML statement is prepared on first use and executed by name afterwards
    /// (``Configuration/preparedStatements``): the server then neither parses nor, once its generic plan
    /// settles, plans it again, which was most of its CPU for a REST page.
    @discardableResult
    public func query(_ sql: String, _ parameters: [String?] = []) throws -> PGRows {
        let handle = try session()
        do {
            if let name = try preparedName(sql, handle) {
                return try Self.runPrepared(handle, name, parameters, budget: configuration.statementTimeout)
            }
            return try Self.run(handle, sql, parameters, budget: configuration.statementTimeout)
        } catch let error as PostgresError {
            noteFailure(error, handle)
            if case .server(let state, _, _) = error, state == "0A000" || state == "26000" {
                // A plan a schema change invalidated, or statements the session no longer has: start afresh.
                prepared.removeAll()
                if PQtransactionStatus(handle) == PQTRANS_IDLE { _ = try? Self.run(handle, "DEALLOCATE ALL", [], budget: configuration.statementTimeout) }
            }
            throw error
        }
    }

    /// The name `sql` is prepared under on this session, preparing it first; `nil` to run it unnamed.
    private func preparedName(_ sql: String, _ handle: OpaquePointer) throws -> String? {
        guard configuration.preparedStatements else { return nil }
        if let name = prepared[sql] { return name }
        guard prepared.count < Self.maxPrepared, Self.isPreparable(sql) else { return nil }
        preparedCount += 1
        let name = "chainfeed_\(preparedCount)"
        try Self.prepare(handle, name, sql, budget: configuration.statementTimeout)
        prepared[sql] = name
        return name
    }

    /// Queries and DML only: transaction control and DDL run unnamed.
    private static func isPreparable(_ sql: String) -> Bool {
        let head = sql.utf8.drop(while: { $0 == 0x20 || $0 == 0x0A || $0 == 0x09 || $0 == 0x0D }).prefix(6)
        let word = String(decoding: head, as: UTF8.self).uppercased()
        return ["SELECT", "WITH", "INSERT", "UPDATE", "DELETE"].contains { word.hasPrefix($0) }
    }

    /// Runs `COPY table (columns) FROM STDIN` with rows in COPY's text format (``PGCopyText``); returns the rows
    /// copied. The bulk path of a batch: far cheaper for the server than the same rows as parameters.
    @discardableResult
    public func copy(_ sql: String, _ rows: PGCopyText) throws -> Int {
        try copy(sql) { send in try send(rows) }
    }

    /// Runs `COPY table (columns) FROM STDIN`, `produce` sending the rows in chunks: the server inserts each
    /// chunk while the next one is built. Returns the rows copied.
    @discardableResult
    public func copy(_ sql: String, _ produce: (_ send: (PGCopyText) throws -> Void) throws -> Void) throws -> Int {
        let handle = try session()
        do {
            return try Self.copyIn(handle, sql, budget: configuration.statementTimeout) { sendBytes in
                try withoutActuallyEscaping(sendBytes) { sendBytes in
                    try produce { rows in try sendBytes(rows.bytes) }
                }
            }
        } catch let error as PostgresError {
            noteFailure(error, handle)
            throw error
        }
    }

    /// A statement failed: a broken session is reset before its next use.
    private func noteFailure(_ error: PostgresError, _ handle: OpaquePointer) {
        if error.isConnectionError || PQstatus(handle) != CONNECTION_OK { needsReset = true }
    }

    /// Runs `body` between `BEGIN` and `COMMIT` on this session; any error rolls back and is rethrown.
    @discardableResult
    public func transaction<T: Sendable>(_ body: @Sendable (isolated PGConnection) throws -> T) throws -> T {
        try query("BEGIN")
        do {
            let value = try body(self)
            try query("COMMIT")
            return value
        } catch {
            rollbackAfterFailure()
            throw error
        }
    }

    /// Runs `body` on this session's thread without a transaction (several reads in a row, say).
    public func withSession<T: Sendable>(_ body: @Sendable (isolated PGConnection) throws -> T) throws -> T {
        try body(self)
    }

    private func rollbackAfterFailure() {
        guard !isClosed, let handle, PQstatus(handle) == CONNECTION_OK else { return }
        let status = PQtransactionStatus(handle)
        guard status == PQTRANS_INTRANS || status == PQTRANS_INERROR else { return }
        do {
            try query("ROLLBACK")
        } catch {
            needsReset = true
            logger.warning("postgres rollback failed; the session will be reset", metadata: ["error.type": "\(error)"])
        }
    }
}

/// The owner of the `PGconn*` inside ``PGConnection``: never copied, freed when dropped.
struct PGHandle: ~Copyable {
    private(set) var raw: OpaquePointer?

    init() { raw = nil }

    mutating func adopt(_ handle: OpaquePointer) {
        finish()
        raw = handle
    }

    /// Frees the connection; does nothing when there is none.
    mutating func finish() {
        guard let raw else { return }
        self.raw = nil
        PQfinish(raw)
    }

    deinit {
        if let raw { PQfinish(raw) }
    }
}
