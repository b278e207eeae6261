import ChainfeedCore
import DequeModule
import Logging
import Metrics
import NIOCore
import ServiceLifecycle
import Synchronization

/// The hub of a web replica: takes committed events from the bus, in `seq` order and without gaps,
/// and hands each one, encoded once, to every matching client connection.
///
/// The bus is at-most-once, so the hub checks every `seq`: a jump, a heartbeat whose head is ahead,
/// or a bus reconnect makes it fill the gap from the store (waiting for its read replica to catch
/// up) before it delivers anything later (invariant 5). Delivery never waits for a client: each sink
/// takes the frame or closes itself as a slow consumer (invariant 6).
public final class FanOut: Service {
    public struct Configuration: Sendable {
        /// Bus messages held while the hub is busy; past this the oldest are dropped and refetched.
        public var inboxCapacity: Int = 10_000
        /// Live events buffered per subscription while its `fromSeq` replay runs.
        public var replayBufferLimit: Int = 20_000
        /// How long a gap fill waits for the read replica before it retries, and the retry cap.
        public var fillRetry: Backoff = Backoff(minimum: .milliseconds(20), maximum: .seconds(2))
        public init() {}
    }

    private struct State {
        var lastSeq: Seq = 0
        var started = false
        var index = SubscriptionIndex()
        var sinks: [Int: any EventSink] = [:]
        /// Connections and subscriptions per transport, for the gauges.
        var counts: [SinkFormat: (connections: Int, subscriptions: Int)] = [.webSocket: (0, 0), .sse: (0, 0)]
        /// Live frames of the bus message being handled, sent (and flushed once per connection) when it is done.
        var outgoing = LoopBatches()
    }

    private let reader: any EventReader
    private let bus: (any EventBus)?
    private let configuration: Configuration
    private let logger: Logger
    private let state = Mutex(State())
    private let inbox: Inbox
    private let metrics = FanOutMetrics()

    /// - Parameters:
    ///   - reader: the store gaps and replays are read from.
    ///   - bus: where live events come from; `nil` serves replays only.
    public init(reader: any EventReader, bus: (any EventBus)?, configuration: Configuration = .init(), logger: Logger) {
        self.reader = reader
        self.bus = bus
        self.configuration = configuration
        self.logger = logger
        self.inbox = Inbox(capacity: configuration.inboxCapacity)
    }

    /// The last `seq` handed to clients.
    public var headSeq: Seq { state.withLock { $0.lastSeq } }

    public var connectionCount: Int { state.withLock { $0.sinks.count } }

    public func run() async throws {
        let head = try await initialHead()
        state.withLock {
            $0.lastSeq = head
            $0.started = true
        }
        logger.info("fan-out started", metadata: ["event.seq.head": "\(head)"])
        let subscription = bus?.subscribe { [inbox] message in inbox.push(message) }
        defer { subscription?.cancel() }
        await cancelWhenGracefulShutdown {
            while let item = await self.inbox.next() {
                switch item {
                case .message(let message): await self.handle(message)
                case .dropped: await self.catchUpWithStore()
                }
            }
        }
        closeAll(.goingAway, reason: "server shutting down")
    }

    private func initialHead() async throws -> Seq {
        var retry = configuration.fillRetry
        while true {
            do {
                return try await reader.status().headSeq
            } catch {
                logger.warning("store not readable yet; retrying", metadata: ["error.message": "\(error)"])
                try await Task.sleep(for: retry.nextDelay())
            }
        }
    }

    // MARK: Bus messages

    private func handle(_ message: BusMessage) async {
        switch message {
        case .events(let events):
            for event in events { await accept(event) }
        case .heartbeat(let head):
            if head > headSeq { await fill(through: head) }
        case .reconnected:
            await catchUpWithStore()
        }
        sendOutgoing()
    }

    /// After a bus reconnect or an inbox overflow: whatever the bus dropped is in the store.
    private func catchUpWithStore() async {
        if let head = try? await reader.status().headSeq, head > headSeq {
            await fill(through: head)
        }
    }

    private func accept(_ event: StoredEvent) async {
        let last = headSeq
        guard event.seq > last else { return }  // already delivered (a fill overtook the bus)
        if event.seq > last + 1 {
            sendOutgoing()
            await fill(through: event.seq - 1)
        }
        guard event.seq == headSeq + 1 else { return }
        dispatch(EncodedEvent(event))
    }

    /// Delivers everything up to `target` from the store, waiting for the read replica as needed.
    private func fill(through target: Seq) async {
        metrics.gapFills.increment()
        logger.warning("gap in the live stream; filling from the store", metadata: [
            "event.seq.from": "\(headSeq + 1)", "event.seq.to": "\(target)",
        ])
        var retry = configuration.fillRetry
        while headSeq < target && !Task.isCancelled {
            do {
                let page = try await reader.events(after: headSeq, limit: 100, filter: .all)
                guard !page.isEmpty else {
                    // The read replica has not applied these yet: wait, never skip.
                    try await Task.sleep(for: retry.nextDelay())
                    continue
                }
                retry.reset()
                for event in page where event.seq == headSeq + 1 && event.seq <= target {
                    metrics.filledEvents.increment()
                    dispatch(EncodedEvent(event))
                }
                sendOutgoing()  // each page goes out before the next read is awaited
                if let last = page.last, last.seq > target { break }
            } catch {
                logger.warning("gap fill read failed; retrying", metadata: ["error.message": "\(error)"])
                try? await Task.sleep(for: retry.nextDelay())
            }
        }
    }

    /// Hands one event to every matching subscription, in `seq` order; never waits for a client.
    private func dispatch(_ encoded: EncodedEvent) {
        var overflowed: [(key: SubscriptionIndex.Key, sink: any EventSink)] = []
        let delivered = state.withLock { s -> Int in
            s.lastSeq = encoded.event.seq
            var frames = FrameCache(encoded)
            var outgoing = s.outgoing.take()
            var n = 0
            s.index.forEachMatch(encoded.event) { subscription in
                guard subscription.held != nil else {
                    outgoing.add(subscription.sink, subscription.loop, frames.frame(subscription.sink.format, subscription.key.subscription))
                    n += 1
                    return
                }
                if subscription.held?.count ?? 0 >= configuration.replayBufferLimit {
                    overflowed.append((subscription.key, subscription.sink))
                } else {
                    subscription.held?.append(encoded)
                }
            }
            s.outgoing = outgoing
            // Dropped once: the connection is closed, its later events are not held for it.
            for (key, sink) in overflowed where s.index.remove(key) != nil {
                recordSubscriptions(&s, sink.format, by: -1)
            }
            return n
        }
        metrics.delivered.increment(by: Int64(delivered))
        metrics.headSeq.record(Int64(clamping: encoded.event.seq))
        for sink in Dictionary(overflowed.map { ($0.key.sink, $0.sink) }, uniquingKeysWith: { first, _ in first }).values {
            metrics.sink(sink.format).slowConsumerClosed()
            sink.close(.slowConsumer, reason: "fell behind during replay; resume with fromSeq")
        }
    }

    // MARK: Connections and subscriptions

    /// Adds a connection; `false` when the replica is at its connection limit.
    func attach(_ sink: any EventSink, limit: Int) -> Bool {
        state.withLock { s in
            guard s.sinks.count < limit else { return false }
            s.sinks[sink.sinkID] = sink
            recordConnections(&s, sink.format, by: 1)
            return true
        }
    }

    /// Removes a connection and all its subscriptions.
    func detach(_ sink: any EventSink) {
        state.withLock { s in
            s.outgoing.take().send()
            if s.sinks.removeValue(forKey: sink.sinkID) != nil {
                recordConnections(&s, sink.format, by: -1)
            }
            recordSubscriptions(&s, sink.format, by: -s.index.removeAll(ofSink: sink.sinkID))
        }
    }

    enum SubscribeError: Error, Equatable {
        case duplicateID
    }

    /// Registers a subscription; with `replaying`, live events are held until ``goLive`` so the
    /// caller can replay the store up to the returned head first. Returns the head at registration.
    func subscribe(_ sink: any EventSink, id: String, filter: EventFilter, replaying: Bool) throws(SubscribeError) -> Seq {
        try state.withLock { s throws(SubscribeError) -> Seq in
            let key = SubscriptionIndex.Key(sink: sink.sinkID, subscription: id)
            guard s.index.insert(Subscription(key: key, sink: sink, filter: filter, replaying: replaying)) else { throw .duplicateID }
            recordSubscriptions(&s, sink.format, by: 1)
            return s.lastSeq
        }
    }

    /// Ends a replay: sends the live events held since registration that come after `replayedThrough`,
    /// then delivers live. Runs under the hub's lock, so nothing can slip in between.
    func goLive(_ sink: any EventSink, id: String, replayedThrough: Seq) {
        state.withLock { s in
            let key = SubscriptionIndex.Key(sink: sink.sinkID, subscription: id)
            guard let subscription = s.index.subscription(key), let held = subscription.held else { return }
            for encoded in held where encoded.event.seq > replayedThrough {
                sink.send(encoded.frame(sink.format, subscription: id))
            }
            subscription.held = nil
        }
    }

    /// Removes one subscription; `false` if the connection has none by that id.
    func unsubscribe(_ sink: any EventSink, id: String) -> Bool {
        state.withLock { s in
            let key = SubscriptionIndex.Key(sink: sink.sinkID, subscription: id)
            s.outgoing.take().send()
            guard s.index.remove(key) != nil else { return false }
            recordSubscriptions(&s, sink.format, by: -1)
            return true
        }
    }

    func subscriptionCount(of sink: any EventSink) -> Int {
        state.withLock { $0.index.count(ofSink: sink.sinkID) }
    }

    /// Waits (bounded) until the hub has delivered through `seq`; `false` if it did not get there.
    func waitForHead(_ seq: Seq, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while headSeq < seq {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    var reads: any EventReader { reader }

    private func closeAll(_ code: CloseCode, reason: String) {
        let sinks = state.withLock { Array($0.sinks.values) }
        for sink in sinks { sink.close(code, reason: reason) }
    }

    /// Hands the queued live frames to their event loops: one hop per loop, one flush per connection.
    private func sendOutgoing() {
        state.withLock { $0.outgoing.take() }.send()
    }

    // MARK: Metrics

    /// The handles a sink of `format` counts its slow-consumer closes and dropped frames on.
    func sinkMetrics(_ format: SinkFormat) -> SinkMetrics { metrics.sink(format) }

    /// A subscription starts replaying the store (`fromSeq`, `start_from`, `Last-Event-ID`).
    func countReplayStarted() { metrics.replays.increment() }

    /// A replay sent one page of `events` stored events (counted per page, not per frame).
    func countReplayed(events: Int) { metrics.replayedEvents.increment(by: Int64(events)) }

    private func recordConnections(_ s: inout State, _ format: SinkFormat, by delta: Int) {
        s.counts[format, default: (0, 0)].connections += delta
        metrics.sink(format).connections.record(Int64(s.counts[format]?.connections ?? 0))
    }

    private func recordSubscriptions(_ s: inout State, _ format: SinkFormat, by delta: Int) {
        guard delta != 0 else { return }
        s.counts[format, default: (0, 0)].subscriptions += delta
        metrics.sink(format).subscriptions.record(Int64(s.counts[format]?.subscriptions ?? 0))
    }
}

/// Live frames grouped by the event loop of their sinks: one hop per loop, not one per connection, and one
/// flush per connection for all the frames of a bus message (a block's events come in one).
struct LoopBatches: Sendable {
    private var batches: [(loop: any EventLoop, writes: [(sink: any EventSink, frame: ByteBuffer)])] = []

    /// - Parameter loop: the sink's ``EventSink/eventLoop``, read once by the caller.
    mutating func add(_ sink: any EventSink, _ loop: (any EventLoop)?, _ frame: ByteBuffer) {
        guard let loop else {
            sink.send(frame)
            return
        }
        // A handful of loops (one per core): a linear search beats hashing.
        if let i = batches.firstIndex(where: { $0.loop === loop }) {
            batches[i].writes.append((sink, frame))
        } else {
            batches.append((loop, [(sink, frame)]))
        }
    }

    /// The batches so far, leaving this one empty.
    mutating func take() -> LoopBatches {
        defer { batches = [] }
        return self
    }

    /// Hands each loop its writes; the loop writes them in order, then flushes each connection once.
    func send() {
        for batch in batches {
            let writes = batch.writes
            if batch.loop.inEventLoop {
                Self.write(writes)
            } else {
                batch.loop.execute { Self.write(writes) }
            }
        }
    }

    private static func write(_ writes: [(sink: any EventSink, frame: ByteBuffer)]) {
        for write in writes { write.sink.sendOnLoop(write.frame) }
        for write in writes { write.sink.flushOnLoop() }
    }
}

/// One event's frames, made once per subscription id (WebSocket) or once (SSE), whatever the number of subscribers.
struct FrameCache {
    private let encoded: EncodedEvent
    /// Most subscribers share a handful of ids ("default", "s1"): a short list beats hashing each id.
    private var recent: [(id: String, frame: ByteBuffer)] = []
    private var more: [String: ByteBuffer] = [:]

    init(_ encoded: EncodedEvent) { self.encoded = encoded }

    mutating func frame(_ format: SinkFormat, _ subscription: String) -> ByteBuffer {
        guard format == .webSocket else { return encoded.sse }
        for entry in recent where entry.id == subscription { return entry.frame }
        if let frame = more[subscription] { return frame }
        let frame = encoded.webSocketFrame(subscription: subscription)
        if recent.count < 8 { recent.append((subscription, frame)) } else { more[subscription] = frame }
        return frame
    }
}

/// Bus messages waiting for the hub; bounded: on overflow the oldest go and a refetch is signalled.
final class Inbox: Sendable {
    enum Item: Sendable {
        case message(BusMessage)
        /// Messages were dropped here: what they held is in the store.
        case dropped
    }

    private struct State {
        var queue: Deque<Item> = []
        var waiter: CheckedContinuation<Item?, Never>?
        var finished = false
    }

    private let state = Mutex(State())
    private let capacity: Int
    private let droppedCounter = Counter(label: "chainfeed_fanout_inbox_dropped_total")

    init(capacity: Int) {
        self.capacity = max(2, capacity)
    }

    /// Called on the bus's thread: never blocks.
    func push(_ message: BusMessage) {
        let waiter = state.withLock { s -> CheckedContinuation<Item?, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            if s.queue.count >= capacity {
                s.queue.removeFirst(s.queue.count / 2)
                s.queue.append(.dropped)
                droppedCounter.increment()
            }
            s.queue.append(.message(message))
            return nil
        }
        waiter?.resume(returning: .message(message))
    }

    /// The next item; `nil` once cancelled.
    func next() async -> Item? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Item?, Never>) in
                let ready = state.withLock { s -> Item?? in
                    if let first = s.queue.popFirst() { return .some(first) }
                    if s.finished { return .some(nil) }
                    s.waiter = c
                    return .none
                }
                if let ready { c.resume(returning: ready) }
            }
        } onCancel: {
            let w = state.withLock { s -> CheckedContinuation<Item?, Never>? in
                s.finished = true
                defer { s.waiter = nil }
                return s.waiter
            }
            w?.resume(returning: nil)
        }
    }
}
