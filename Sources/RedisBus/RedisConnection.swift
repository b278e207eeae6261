import Logging
import NIOCore
import NIOPosix

internal import CHiredis

/// The one owner of a hiredis connection: every hiredis call runs here, one at a time, on this connection's own thread.
///
/// hiredis blocks, so the actor's executor is a dedicated one-thread event loop and the cooperative pool never
/// waits on the network. Commands go through the argv APIs only (binary safe, never formatted); replies are
/// copied into ``RESPValue`` and freed in the same call. After a failure of the connection itself (I/O error,
/// timeout, protocol error) the context is freed and later commands throw until ``reconnect()``.
public actor RedisConnection {
    public nonisolated let address: RedisAddress
    /// The budget of opening the connection (TCP connect).
    public nonisolated let connectTimeout: Duration
    /// The budget of one read or write on the socket once connected.
    public nonisolated let commandTimeout: Duration
    private nonisolated let group: MultiThreadedEventLoopGroup
    private nonisolated let loop: any EventLoop
    private nonisolated let logger: Logger
    private var context: UnsafeMutablePointer<redisContext>?
    private var isClosed = false
    /// Why the last context was dropped, for the error of the next command.
    private var lastFailure: RedisBusError?

    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        loop.executor.asUnownedSerialExecutor()
    }

    /// Opens a connection on its own thread, logs in (`AUTH`) and selects the URL's database.
    ///
    /// - Parameters:
    ///   - url: `redis://[[user]:password@]host[:port][/db]`.
    ///   - timeout: The budget of connecting, and of each command's read or write after that.
    ///   - logger: Where reconnects and failures are logged.
    public static func connect(
        url: String, timeout: Duration = .seconds(5), logger: Logger = RedisConnection.noLogger
    ) async throws -> RedisConnection {
        try await connect(address: RedisAddress(url: url), connectTimeout: timeout, commandTimeout: timeout, logger: logger)
    }

    /// Opens a connection to a parsed address.
    ///
    /// - Parameters:
    ///   - address: Where to connect and how to log in.
    ///   - connectTimeout: The budget of the TCP connect.
    ///   - commandTimeout: The budget of each read or write after that.
    ///   - logger: Where reconnects and failures are logged.
    public static func connect(
        address: RedisAddress, connectTimeout: Duration = .seconds(5), commandTimeout: Duration = .seconds(5),
        logger: Logger = RedisConnection.noLogger
    ) async throws -> RedisConnection {
        let connection = RedisConnection(
            unopened: address, connectTimeout: connectTimeout, commandTimeout: commandTimeout, logger: logger)
        try await connection.reconnect()
        return connection
    }

    /// A connection that opens on its first ``reconnect()``: for owners that connect lazily and retry.
    init(unopened address: RedisAddress, connectTimeout: Duration, commandTimeout: Duration, logger: Logger) {
        self.address = address
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.logger = logger
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.loop = group.next()
    }

    // Runs on the connection's thread, like every other hiredis call.
    isolated deinit {
        if let context { redisFree(context) }
        // Nothing holds the actor any more, so no job can be queued on the thread after this one.
        let logger = self.logger
        group.shutdownGracefully(queue: .global()) { error in
            if let error { logger.debug("redis connection thread did not stop cleanly", metadata: [LogKey.errorType: "\(error)"]) }
        }
    }

    /// A logger that discards everything, the default for library use.
    public static let noLogger = Logger(label: "chainfeed.redis", factory: { _ in SwiftLogNoOpLogHandler() })

    // MARK: Lifecycle

    /// Drops the current context, if any, and opens a new one to the same address (then `AUTH`, `SELECT`).
    public func reconnect() throws {
        guard !isClosed else { throw RedisBusError.closed }
        drop(because: nil)
        let context: UnsafeMutablePointer<redisContext>
        do {
            context = try Self.open(address, connectTimeout: connectTimeout, commandTimeout: commandTimeout)
        } catch {
            lastFailure = error as? RedisBusError
            throw error
        }
        self.context = context
        lastFailure = nil
        do {
            try logIn()
        } catch {
            drop(because: error as? RedisBusError)
            throw error
        }
    }

    private func logIn() throws {
        if let password = address.password {
            let arguments = [RedisArgument("AUTH")] + (address.username.map { [RedisArgument($0)] } ?? []) + [RedisArgument(password)]
            try expectOK(command(arguments), "AUTH")
        }
        if address.database != 0 {
            try expectOK(command(["SELECT", RedisArgument(address.database)]), "SELECT")
        }
    }

    private func expectOK(_ reply: RESPValue, _ name: String) throws {
        switch reply {
        case .simpleString: return
        case .error(let message): throw RedisBusError.commandFailed(command: name, message: message)
        default: throw RedisBusError.unexpectedReply(command: name)
        }
    }

    /// Closes the connection; later calls throw ``RedisBusError/closed``. Calling it again does nothing.
    public func close() {
        isClosed = true
        drop(because: nil)
    }

    /// Drops the current connection without closing for good: the next ``reconnect()`` opens a new one.
    func disconnect() {
        drop(because: nil)
        lastFailure = nil
    }

    /// True while a context is connected and usable.
    public var isOpen: Bool { !isClosed && context != nil }

    /// Frees the context after a failure (hiredis contexts are unusable after one) or on close.
    private func drop(because failure: RedisBusError?) {
        if let failure { lastFailure = failure }
        guard let context else { return }
        self.context = nil
        redisFree(context)
    }

    /// The live context, or the error that explains why there is none.
    private func live() throws -> UnsafeMutablePointer<redisContext> {
        if isClosed { throw RedisBusError.closed }
        guard let context else {
            throw lastFailure ?? RedisBusError.connectionLost(reason: "not connected; call reconnect()")
        }
        return context
    }

    /// Runs `body` on the connection's failure path: a connection error frees the context before it is rethrown.
    private func guarded<T>(_ body: (UnsafeMutablePointer<redisContext>) throws -> T) throws -> T {
        let context = try live()
        do {
            return try body(context)
        } catch let error as RedisBusError {
            if error.isConnectionError { drop(because: error) }
            throw error
        }
    }

    // MARK: Commands

    /// Sends one command and returns its reply; an error reply comes back as ``RESPValue/error(_:)``.
    public func command(_ arguments: [RedisArgument]) throws -> RESPValue {
        try send([arguments])[0]
    }

    /// Sends `commands` in one write and reads their replies in order: one round trip for the lot.
    ///
    /// An error reply to one command is returned in its place (the others still ran); a failure of the
    /// connection throws, and which commands the server ran before it is unknown.
    public func send(_ commands: [[RedisArgument]]) throws -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        guard commands.allSatisfy({ !$0.isEmpty }) else { throw RedisBusError.emptyCommand }
        return try guarded { context in
            try Self.append(context, commands)
            var replies: [RESPValue] = []
            replies.reserveCapacity(commands.count)
            for _ in commands {
                replies.append(try Self.readReply(context, timeout: commandTimeout))
            }
            return replies
        }
    }

    /// Runs `body` on this connection's thread: several commands in a row without a hop between them.
    public func withSession<T: Sendable>(_ body: @Sendable (isolated RedisConnection) throws -> T) rethrows -> T {
        try body(self)
    }

    // MARK: Pub/sub (reads without a request)

    /// Writes `commands` without reading replies (`SUBSCRIBE`, a keep-alive `PING` in subscribed mode).
    func write(_ commands: [[RedisArgument]]) throws {
        guard commands.allSatisfy({ !$0.isEmpty }) else { throw RedisBusError.emptyCommand }
        try guarded { context in
            try Self.append(context, commands)
            try Self.flush(context, timeout: commandTimeout)
        }
    }

    /// The next reply the server pushes, waiting at most `timeout`; `nil` if none came in that time.
    func receive(timeout: Duration) throws -> RESPValue? {
        try guarded { context in try Self.nextPushedReply(context, timeout: timeout) }
    }
}
