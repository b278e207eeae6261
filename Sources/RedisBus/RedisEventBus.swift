import ChainfeedCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The event bus between the writer and the web replicas over Redis pub/sub (at most once; gaps are filled from
/// the store, DESIGN.md invariant 5).
///
/// Publishing uses one connection, opened on first use. A batch goes out as one or more frames (see
/// ``BusWireFormat``), pipelined in one round trip on that one connection, so subscribers get its events in
/// `seq` order. When the connection turns out to be lost, the bus reconnects once and sends the batch again;
/// failing that, it throws. A batch sent again may repeat events the first attempt delivered: subscribers drop
/// events at or below the `seq` they have already delivered.
///
/// Subscribing uses one more connection, opened while ``run()`` runs and at least one handler is registered:
/// one Redis subscription per bus, however many handlers (make one bus per process). See ``subscribe(_:)``.
public final class RedisEventBus: EventBus, Service {
    public let configuration: Configuration
    /// The server (its `description` shows no credentials).
    public let address: RedisAddress
    private let subscriber: RedisSubscriber
    private let publisher: Mutex<PublisherState>
    private let metrics = RedisBusMetrics()
    private let logger: Logger
    private let eventsChannel: RedisArgument
    private let heartbeatChannel: RedisArgument

    private struct PublisherState {
        var connection: RedisConnection?
        var hasRun = false
        var isShutDown = false
        /// The publisher connected before: opening it again counts as a reconnect.
        var wasConnected = false
        var backoff: Backoff
        /// No connect is attempted before this, after a failed one.
        var retryAfter: ContinuousClock.Instant?
    }

    /// - Parameters:
    ///   - configuration: The server URL, channel prefix, timeouts and reconnect policy.
    ///   - logger: Where connection losses, reconnects and skipped messages are logged.
    /// - Throws: ``RedisBusError/invalidURL(reason:)`` or ``RedisBusError/invalidConfiguration(reason:)``;
    ///   nothing is connected yet.
    public init(configuration: Configuration, logger: Logger = RedisConnection.noLogger) throws {
        try configuration.validate()
        self.configuration = configuration
        self.address = try RedisAddress(url: configuration.url)
        self.logger = logger
        self.eventsChannel = RedisArgument(configuration.eventsChannel)
        self.heartbeatChannel = RedisArgument(configuration.heartbeatChannel)
        self.publisher = Mutex(PublisherState(backoff: configuration.reconnectBackoff))
        self.subscriber = RedisSubscriber(address: address, configuration: configuration, metrics: metrics, logger: logger)
    }

    /// True while the subscription is live (subscribed and reading).
    public var isSubscribed: Bool { subscriber.isLive }

    // MARK: Service

    /// Keeps the subscription alive (while handlers are registered) until graceful shutdown or cancellation,
    /// then closes both connections. A bus runs once.
    public func run() async throws {
        try publisher.withLock { p in
            guard !p.hasRun else { throw RedisBusError.alreadyRunning }
            p.hasRun = true
        }
        logger.info("redis bus started", metadata: [LogKey.address: "\(address)", LogKey.channel: "\(configuration.eventsChannel)"])
        await cancelWhenGracefulShutdown { [subscriber] in await subscriber.run() }
        let connection = publisher.withLock { p in
            p.isShutDown = true
            defer { p.connection = nil }
            return p.connection
        }
        await connection?.close()
        logger.info("redis bus stopped")
    }

    // MARK: EventBus

    /// Publishes `events` (in `seq` order, committed) in one round trip.
    ///
    /// Publish from one task at a time, as the writer does: concurrent calls are serialised on the connection,
    /// but in no promised order.
    ///
    /// - Throws: ``RedisBusError``: the connection failed and one reconnect did not help, or Redis refused.
    public func publish(_ events: [StoredEvent]) async throws {
        guard !events.isEmpty else { return }
        let frames = BusWireFormat.encode(events, maxFrameBytes: configuration.maxFrameBytes)
        let commands = frames.map { ["PUBLISH", eventsChannel, RedisArgument($0)] }
        try await publish(commands)
        metrics.publishedEvents.increment(by: Int64(events.count))
    }

    /// Publishes the writer's head `seq` on the heartbeat channel.
    public func publishHeartbeat(headSeq: Seq) async throws {
        try await publish([["PUBLISH", heartbeatChannel, RedisArgument(BusWireFormat.encodeHeartbeat(headSeq: headSeq))]])
    }

    /// Registers `handler` for every later message, until the returned subscription is cancelled.
    ///
    /// Messages flow while ``run()`` runs. `handler` runs on the subscriber's thread, synchronously, in arrival
    /// order: it must hand off and return, never block. It gets ``BusMessage/reconnected`` each time the
    /// subscription goes live (the first time too, and after every reconnect): messages may have been missed
    /// then, so check the head and fill from the store. A batch may arrive as several `.events` messages.
    public func subscribe(_ handler: @escaping @Sendable (BusMessage) -> Void) -> BusSubscription {
        subscriber.add(handler)
    }

    /// Checks that Redis answers on the publishing connection (`PING`), opening it if need be: for readiness.
    public func ping() async throws {
        let replies = try await sendOnPublisher([["PING"]])
        guard replies == [.simpleString("PONG")] else { throw RedisBusError.unexpectedReply(command: "PING") }
    }

    // MARK: Publishing

    private func publish(_ commands: [[RedisArgument]]) async throws {
        do {
            let replies = try await sendOnPublisher(commands)
            for reply in replies {
                switch reply {
                case .integer: continue
                case .error(let message): throw RedisBusError.commandFailed(command: "PUBLISH", message: message)
                default: throw RedisBusError.unexpectedReply(command: "PUBLISH")
                }
            }
            metrics.publishedMessages.increment(by: Int64(commands.count))
        } catch {
            metrics.publishErrors.increment()
            logger.debug("redis publish failed", metadata: [
                LogKey.error: "\(String(reflecting: error))", LogKey.frames: "\(commands.count)",
            ])
            throw error
        }
    }

    private func sendOnPublisher(_ commands: [[RedisArgument]]) async throws -> [RESPValue] {
        let connection = try publisher.withLock { p in
            guard !p.isShutDown else { throw RedisBusError.closed }
            if let connection = p.connection { return connection }
            let connection = RedisConnection(
                unopened: address, connectTimeout: configuration.connectTimeout,
                commandTimeout: configuration.commandTimeout, logger: logger)
            p.connection = connection
            return connection
        }
        // The whole attempt, reconnect and retry included, runs on the connection's thread in one go: a second
        // publish waits behind it, so batches stay in order.
        return try await connection.withSession { connection in
            if !connection.isOpen { try self.open(connection) }
            do {
                return try connection.send(commands)
            } catch let error as RedisBusError where error.isConnectionError {
                self.logger.warning("redis publish connection lost; reconnecting once", metadata: [
                    LogKey.address: "\(self.address)", LogKey.error: "\(String(reflecting: error))",
                ])
                try self.open(connection)
                return try connection.send(commands)
            }
        }
    }

    /// Opens the publisher's connection, unless a failed attempt was too recent (then it fails at once).
    private func open(_ connection: isolated RedisConnection) throws {
        let now = ContinuousClock.now
        if let retryAfter = publisher.withLock({ $0.retryAfter }), now < retryAfter {
            throw RedisBusError.connectionFailed(reason: "the last attempt failed; the next one is in \(retryAfter - now)")
        }
        do {
            try connection.reconnect()
        } catch {
            metrics.connectionFailed(.publisher)
            let delay = publisher.withLock { p in
                let delay = p.backoff.nextDelay()
                p.retryAfter = now + delay
                return delay
            }
            logger.warning("redis publish connection could not be opened", metadata: [
                LogKey.address: "\(address)", LogKey.error: "\(String(reflecting: error))", LogKey.retryIn: "\(delay)",
            ])
            throw error
        }
        let wasConnected = publisher.withLock { p in
            p.backoff.reset()
            p.retryAfter = nil
            defer { p.wasConnected = true }
            return p.wasConnected
        }
        if wasConnected {
            metrics.reconnected(.publisher)
            logger.info("redis publish connection re-established", metadata: [LogKey.address: "\(address)"])
        }
    }
}
