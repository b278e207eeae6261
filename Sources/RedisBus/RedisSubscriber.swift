import ChainfeedCore
import Logging
import NIOCore
import Synchronization

/// A bus's one Redis subscription, shared by all of its handlers, read on its connection's own thread.
///
/// The subscription is open while at least one handler is registered and ``run()`` runs. Each reply is decoded
/// and handed to every handler synchronously, in arrival order, on the reader's thread: handlers hand off and
/// return, so the reader keeps draining the socket (Redis drops a subscriber 32 MB behind). When the connection
/// breaks, the reader reconnects with backoff and resubscribes; each time the subscription goes live (the first
/// time too) handlers get ``BusMessage/reconnected``, since whatever was published meanwhile was not seen.
final class RedisSubscriber: Sendable {
    typealias Handler = @Sendable (BusMessage) -> Void

    private struct State {
        var nextID = 0
        var handlers: [(id: Int, handler: Handler)] = []
        /// ``waitForHandlers()`` while there are none.
        var waiter: CheckedContinuation<Void, Never>?
        var isLive = false
    }

    /// How often an idle reader looks up from the socket to notice cancellation or the last handler leaving.
    static let pollInterval: Duration = .milliseconds(100)
    private static let messageKind = ByteBuffer(string: "message")
    private static let subscribeKind = ByteBuffer(string: "subscribe")

    private let state = Mutex(State())
    private let address: RedisAddress
    private let configuration: RedisEventBus.Configuration
    private let eventsChannel: ByteBuffer
    private let heartbeatChannel: ByteBuffer
    private let metrics: RedisBusMetrics
    private let logger: Logger
    /// Decode errors so far, so that only the first and then every 1000th is logged.
    private let decodeErrors = Atomic<Int>(0)

    init(address: RedisAddress, configuration: RedisEventBus.Configuration, metrics: RedisBusMetrics, logger: Logger) {
        self.address = address
        self.configuration = configuration
        self.eventsChannel = ByteBuffer(string: configuration.eventsChannel)
        self.heartbeatChannel = ByteBuffer(string: configuration.heartbeatChannel)
        self.metrics = metrics
        self.logger = logger
    }

    // MARK: Handlers

    func add(_ handler: @escaping Handler) -> BusSubscription {
        let (id, waiter) = state.withLock { s in
            s.nextID += 1
            s.handlers.append((s.nextID, handler))
            defer { s.waiter = nil }
            return (s.nextID, s.waiter)
        }
        waiter?.resume()
        return BusSubscription { [weak self] in
            self?.state.withLock { s in s.handlers.removeAll { $0.id == id } }
        }
    }

    var isLive: Bool { state.withLock { $0.isLive } }

    private var hasHandlers: Bool { state.withLock { !$0.handlers.isEmpty } }

    private func deliver(_ message: BusMessage) {
        // Handlers run outside the lock: they may subscribe or cancel themselves.
        let handlers = state.withLock { $0.handlers }
        for entry in handlers { entry.handler(message) }
    }

    /// Returns once a handler is registered, or the task is cancelled.
    private func waitForHandlers() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if !s.handlers.isEmpty || Task.isCancelled { return true }
                    s.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s in
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume()
        }
    }

    private func setLive(_ live: Bool) {
        state.withLock { $0.isLive = live }
        metrics.subscribed.record(live ? 1 : 0)
    }

    // MARK: The reader

    /// How one subscription session ended.
    private enum SessionEnd: Sendable {
        /// Cancelled, or the last handler left.
        case stopped
        case failed(any Error, wentLive: Bool)
    }

    /// Keeps the subscription open while there are handlers, until the task is cancelled.
    func run() async {
        let connection = RedisConnection(
            unopened: address, connectTimeout: configuration.connectTimeout,
            commandTimeout: configuration.commandTimeout, logger: logger)
        var backoff = configuration.reconnectBackoff
        var lost = false
        while !Task.isCancelled {
            await waitForHandlers()
            guard !Task.isCancelled else { break }
            let isReconnect = lost
            let end = await connection.withSession { connection in self.session(on: connection, isReconnect: isReconnect) }
            switch end {
            case .stopped:
                lost = false
                backoff.reset()
            case .failed(let error, let wentLive):
                // Counted as a reconnect once a live subscription was lost, not while the first one is attempted.
                if wentLive { lost = true }
                metrics.connectionFailed(.subscriber)
                if wentLive { backoff.reset() }
                let delay = backoff.nextDelay()
                logger.warning(
                    wentLive ? "redis subscription lost; reconnecting" : "redis subscription could not be opened; retrying",
                    metadata: [
                        LogKey.address: "\(address)", LogKey.error: "\(String(reflecting: error))",
                        LogKey.errorType: "\(type(of: error))", LogKey.retryIn: "\(delay)",
                    ])
                try? await Task.sleep(for: delay)
            }
        }
        await connection.close()
    }

    /// Connects, subscribes, reads until stopped; runs on the connection's thread throughout.
    private func session(on connection: isolated RedisConnection, isReconnect: Bool) -> SessionEnd {
        var wentLive = false
        defer {
            // Unsubscribes by closing the socket; the subscription is not live from here on.
            connection.disconnect()
            if wentLive { setLive(false) }
        }
        do {
            try connection.reconnect()
            // Heartbeats first: no event can arrive before the events channel's confirmation, which ends the setup.
            try connection.write([["SUBSCRIBE", RedisArgument(heartbeatChannel), RedisArgument(eventsChannel)]])
            try awaitConfirmations(connection, count: 2)
            wentLive = true
            setLive(true)
            if isReconnect {
                metrics.reconnected(.subscriber)
                logger.warning("redis subscription re-established", metadata: [LogKey.address: "\(address)"])
            } else {
                logger.info("redis subscription live", metadata: [
                    LogKey.address: "\(address)", LogKey.channel: "\(configuration.eventsChannel)",
                ])
            }
            deliver(.reconnected)
            try read(connection)
            return .stopped
        } catch {
            return .failed(error, wentLive: wentLive)
        }
    }

    private func awaitConfirmations(_ connection: isolated RedisConnection, count: Int) throws {
        let deadline = ContinuousClock.now + configuration.commandTimeout
        var confirmed = 0
        while confirmed < count {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero, let reply = try connection.receive(timeout: remaining) else {
                throw RedisBusError.timedOut(after: configuration.commandTimeout)
            }
            if case .error(let message) = reply {
                throw RedisBusError.commandFailed(command: "SUBSCRIBE", message: message)
            }
            if case .array(let parts) = reply, parts.count == 3, case .bulkString(let kind) = parts[0], kind == Self.subscribeKind {
                confirmed += 1
            } else {
                handle(reply)
            }
        }
    }

    /// Reads and delivers until cancelled or handler-less; pings an idle server to notice a dead connection.
    private func read(_ connection: isolated RedisConnection) throws {
        var lastHeard = ContinuousClock.now
        var pingSent: ContinuousClock.Instant?
        while !Task.isCancelled, hasHandlers {
            if let reply = try connection.receive(timeout: Self.pollInterval) {
                lastHeard = .now
                pingSent = nil
                handle(reply)
                continue
            }
            let now = ContinuousClock.now
            if let pingSent {
                if now - pingSent > configuration.commandTimeout {
                    throw RedisBusError.timedOut(after: configuration.commandTimeout)
                }
            } else if now - lastHeard >= configuration.keepAliveInterval {
                try connection.write([["PING"]])
                pingSent = now
            }
        }
    }

    /// Decodes one pushed reply and delivers it; anything but a message on one of the bus's channels is ignored.
    private func handle(_ reply: RESPValue) {
        guard case .array(let parts) = reply, parts.count == 3, case .bulkString(let kind) = parts[0],
            kind == Self.messageKind, case .bulkString(let channel) = parts[1], case .bulkString(let payload) = parts[2]
        else { return }  // subscribe confirmations, keep-alive pongs
        do {
            if channel == eventsChannel {
                metrics.eventMessagesReceived.increment()
                let events = try BusWireFormat.decode(payload)
                guard !events.isEmpty else { return }
                metrics.eventsReceived.increment(by: Int64(events.count))
                deliver(.events(events))
            } else if channel == heartbeatChannel {
                metrics.heartbeatsReceived.increment()
                deliver(.heartbeat(headSeq: try BusWireFormat.decodeHeartbeat(payload)))
            }
        } catch {
            metrics.decodeErrors.increment()
            let n = decodeErrors.add(1, ordering: .relaxed).newValue
            if n == 1 || n % 1000 == 0 {
                logger.warning("undecodable redis bus message skipped", metadata: [
                    LogKey.channel: "\(String(buffer: channel))", LogKey.error: "\(String(reflecting: error))",
                    "redis.decode_errors": "\(n)",
                ])
            }
        }
    }
}
