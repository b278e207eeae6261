import ChainfeedCore
import NIOCore
import Synchronization

/// The node's event stream server: one id counter, the replay buffer, and a bounded queue per client.
///
/// Publishing never waits for a client: frames are appended to each client's queue under the lock, and a
/// client whose queue exceeds its bound is dropped. Subscribing takes the replay snapshot and registers the
/// live queue in the same critical section, so replay and live events meet with no gap and no duplicate.
final class EventHub: Sendable {
    /// Why a client's stream ends.
    enum EndReason: String, Sendable {
        /// The simulated node restarted (`"Shutdown"` was the last frame).
        case restart
        /// The server is shutting down (`"Shutdown"` was the last frame).
        case shutdown
        /// The client fell more than the pending bound behind.
        case slowConsumer
        /// The client's task was cancelled or it unsubscribed.
        case cancelled
    }

    /// What a client's writer gets when it asks for more.
    enum Delivery: Sendable {
        case frames([ByteBuffer])
        case keepAlive
        case end(EndReason)
    }

    /// A registered client: its id and the frames to replay before live ones.
    struct Subscription: Sendable {
        let id: Int
        let replay: [ByteBuffer]
    }

    private struct Subscriber {
        let endpoint: LegacyChannel?
        let onDrop: @Sendable () -> Void
        var pending: [ByteBuffer] = []
        var keepAliveDue = false
        var ending: EndReason?
        var cancelled = false
        var waiter: CheckedContinuation<Delivery, Never>?
    }

    private struct State {
        var ring: EventRing
        var nextId: UInt32
        var subscribers: [Int: Subscriber] = [:]
        var nextSubscriberId = 0
        var isShutDown = false
        var slowConsumerDrops = 0
    }

    /// Resumptions and drops decided under the lock, performed after it.
    private struct Effects {
        var resumes: [(CheckedContinuation<Delivery, Never>, Delivery)] = []
        var drops: [@Sendable () -> Void] = []

        func run() {
            for (waiter, delivery) in resumes { waiter.resume(returning: delivery) }
            for drop in drops { drop() }
        }
    }

    private let state: Mutex<State>
    private let maxSubscribers: Int
    private let maxPending: Int

    init(bufferSize: Int, firstEventId: UInt32, maxSubscribers: Int, maxPendingPerClient: Int) {
        state = Mutex(State(ring: EventRing(capacity: bufferSize), nextId: firstEventId))
        self.maxSubscribers = maxSubscribers
        self.maxPending = maxPendingPerClient
    }

    // MARK: Producing

    /// Gives the events the next ids, buffers them and queues them for every matching client.
    /// - Returns: The id of each event, or `nil` if the stream server has shut down.
    @discardableResult
    func publish(_ events: [(channel: LegacyChannel?, json: String)]) -> [UInt32]? {
        let (ids, effects): ([UInt32]?, Effects) = state.withLock { s in
            guard !s.isShutDown else { return (nil, Effects()) }
            var batch: [StreamEvent] = []
            batch.reserveCapacity(events.count)
            for (channel, json) in events {
                batch.append(StreamEvent(id: s.nextId, channel: channel, json: json))
                s.ring.append(batch[batch.count - 1])
                s.nextId &+= 1
            }
            return (batch.map(\.id), Self.deliver(batch, in: &s, maxPending: maxPending))
        }
        effects.run()
        return ids
    }

    /// Advances the id counter past events that are not kept (blocks generated before the replay window).
    func skipIds(_ count: Int) {
        state.withLock { $0.nextId &+= UInt32(truncatingIfNeeded: count) }
    }

    /// A node restart without a persisted index: `"Shutdown"` to everyone, streams closed, buffer cleared,
    /// ids from 0.
    func restart() {
        let effects = state.withLock { s in
            let effects = Self.endAll(&s, reason: .restart, maxPending: maxPending)
            s.ring.removeAll()
            s.nextId = 0
            return effects
        }
        effects.run()
    }

    /// The server is stopping: `"Shutdown"` to everyone and every stream ends. Later calls do nothing.
    func shutdown() {
        let effects = state.withLock { s in
            guard !s.isShutDown else { return Effects() }
            let effects = Self.endAll(&s, reason: .shutdown, maxPending: maxPending)
            s.isShutDown = true
            return effects
        }
        effects.run()
    }

    private static func endAll(_ s: inout State, reason: EndReason, maxPending: Int) -> Effects {
        let shutdown = StreamEvent(id: s.nextId, channel: nil, json: "\"Shutdown\"")
        s.nextId &+= 1
        s.ring.append(shutdown)
        var effects = deliver([shutdown], in: &s, maxPending: .max)
        for id in Array(s.subscribers.keys) where s.subscribers[id]?.ending == nil {
            s.subscribers[id]?.ending = reason
            if s.subscribers[id]?.pending.isEmpty == true, let waiter = s.subscribers[id]?.waiter {
                s.subscribers[id]?.waiter = nil
                effects.resumes.append((waiter, .end(reason)))
            }
        }
        return effects
    }

    private static func deliver(_ batch: [StreamEvent], in s: inout State, maxPending: Int) -> Effects {
        var effects = Effects()
        for id in Array(s.subscribers.keys) {
            // Taken out while it changes, so appending does not copy its queue.
            guard var sub = s.subscribers.removeValue(forKey: id) else { continue }
            defer { s.subscribers[id] = sub }
            guard sub.ending == nil else { continue }
            for event in batch where event.isDelivered(to: sub.endpoint) {
                sub.pending.append(event.frame)
            }
            if sub.pending.count > maxPending {
                sub.pending.removeAll()
                sub.ending = .slowConsumer
                s.slowConsumerDrops += 1
                effects.drops.append(sub.onDrop)
                if let waiter = sub.waiter {
                    sub.waiter = nil
                    effects.resumes.append((waiter, .end(.slowConsumer)))
                }
            } else if !sub.pending.isEmpty, let waiter = sub.waiter {
                sub.waiter = nil
                effects.resumes.append((waiter, .frames(sub.pending)))
                sub.pending = []
            }
        }
        return effects
    }

    // MARK: Consuming

    /// Registers a client of `endpoint` (`nil` on 2.x), replaying from `startFrom` if given.
    /// - Parameter onDrop: Called (outside the lock) if the client falls too far behind, to close its connection.
    /// - Returns: `nil` when ``maxSubscribers`` clients are already connected.
    func subscribe(endpoint: LegacyChannel?, startFrom: UInt32?, onDrop: @escaping @Sendable () -> Void) -> Subscription? {
        state.withLock { s in
            guard s.subscribers.count < maxSubscribers else { return nil }
            let id = s.nextSubscriberId
            s.nextSubscriberId += 1
            var sub = Subscriber(endpoint: endpoint, onDrop: onDrop)
            if s.isShutDown { sub.ending = .shutdown }
            s.subscribers[id] = sub
            return Subscription(id: id, replay: startFrom.map { s.ring.replay(from: $0, for: endpoint) } ?? [])
        }
    }

    /// Waits for the client's next frames, a keep-alive request, or the end of its stream.
    func next(_ id: Int) async -> Delivery {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (waiter: CheckedContinuation<Delivery, Never>) in
                let ready: Delivery? = state.withLock { s in
                    guard var sub = s.subscribers[id], !sub.cancelled else { return .end(.cancelled) }
                    defer { s.subscribers[id] = sub }
                    if !sub.pending.isEmpty {
                        defer { sub.pending = [] }
                        return .frames(sub.pending)
                    }
                    if let reason = sub.ending { return .end(reason) }
                    if sub.keepAliveDue {
                        sub.keepAliveDue = false
                        return .keepAlive
                    }
                    sub.waiter = waiter
                    return nil
                }
                if let ready { waiter.resume(returning: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Delivery, Never>? in
                s.subscribers[id]?.cancelled = true
                defer { s.subscribers[id]?.waiter = nil }
                return s.subscribers[id]?.waiter
            }
            waiter?.resume(returning: .end(.cancelled))
        }
    }

    /// Asks for a keep-alive comment if the client has nothing else to send.
    func requestKeepAlive(_ id: Int) {
        let waiter = state.withLock { s -> CheckedContinuation<Delivery, Never>? in
            guard var sub = s.subscribers[id], sub.pending.isEmpty, sub.ending == nil else { return nil }
            defer { s.subscribers[id] = sub }
            guard let waiter = sub.waiter else {
                sub.keepAliveDue = true
                return nil
            }
            sub.waiter = nil
            return waiter
        }
        waiter?.resume(returning: .keepAlive)
    }

    /// Removes the client (its writer has finished).
    func unsubscribe(_ id: Int) {
        let waiter = state.withLock { $0.subscribers.removeValue(forKey: id)?.waiter }
        waiter?.resume(returning: .end(.cancelled))
    }

    // MARK: Inspection

    var nextEventId: UInt32 { state.withLock { $0.nextId } }
    var subscriberCount: Int { state.withLock { $0.subscribers.count } }
    var slowConsumerDrops: Int { state.withLock { $0.slowConsumerDrops } }
    var bufferedIds: [UInt32] { state.withLock { $0.ring.ids } }
}
