import ChainfeedCore
import Logging
import ServiceLifecycle
import Synchronization

/// The single writer: stores what the node streams hand it, in batches, then publishes after commit.
///
/// One batch is one store transaction holding the new events, their `seq`, and each stream's
/// checkpoint (invariants 1–3); the bus sees a batch only once it is committed, in `seq` order
/// (invariant 4), from a publisher task that runs beside the commits. A failed commit is retried with
/// backoff, never dropped.
public final class Writer: Service {
    /// One received node event (or a checkpoint-only note, such as a counted gap).
    public struct Item: Sendable {
        public var event: IngestEvent?
        public var checkpoint: NodeCheckpoint

        public init(event: IngestEvent?, checkpoint: NodeCheckpoint) {
            self.event = event
            self.checkpoint = checkpoint
        }
    }

    public struct Configuration: Sendable {
        /// Most events in one transaction.
        public var maxBatch: Int = 4000
        /// Events waiting for the writer before the node streams are slowed down.
        public var queueCapacity: Int = 20_000
        /// How often the head `seq` is published even when nothing new comes (invariant 4).
        public var heartbeatInterval: Duration = .seconds(1)
        /// Retry of a failed commit.
        public var retry: Backoff = Backoff(minimum: .milliseconds(100), maximum: .seconds(10))

        public init() {}
    }

    private let store: any EventStore
    private let bus: (any EventBus)?
    private let configuration: Configuration
    private let logger: Logger
    private let queue: BatchQueue<Item>
    private let metrics = IngestMetrics()
    /// Follower lag: the follower reports node heights here, the writer the stored one.
    let lag = FollowerLag()
    private let head = Mutex<(seq: Seq, height: UInt64?)>((0, nil))
    /// Committed batches waiting for the publisher, in `seq` order; bounded, so a slow bus slows the commits.
    private let committed = BatchQueue<[StoredEvent]>(capacity: 64)
    /// The last `seq` the publisher has handed to the bus (or failed to): what the heartbeat announces.
    private let publishedHead = Mutex<Seq>(0)

    /// - Parameters:
    ///   - store: where batches are committed.
    ///   - bus: where committed events are published; `nil` stores without publishing.
    public init(store: any EventStore, bus: (any EventBus)?, configuration: Configuration = .init(), logger: Logger) {
        self.store = store
        self.bus = bus
        self.configuration = configuration
        self.logger = logger
        self.queue = BatchQueue(capacity: configuration.queueCapacity)
    }

    /// Hands several items to the writer at once, in order; a batch taken later holds all of them or none
    /// of them split by another stream's items.
    public func submit(contentsOf items: [Item]) async {
        await queue.put(contentsOf: items)
    }

    /// The stored head, as of the last commit.
    public var headSeq: Seq { head.withLock { $0.seq } }

    public func run() async throws {
        let initial = try await store.status()
        head.withLock { $0 = (initial.headSeq, initial.headHeight) }
        metrics.headSeq.record(Int64(clamping: initial.headSeq))
        if let height = initial.headHeight {
            metrics.headHeight.record(Int64(clamping: height))
            lag.stored(height: height)
        }
        publishedHead.withLock { $0 = initial.headSeq }
        logger.info("writer started", metadata: [LogKey.headSeq: "\(initial.headSeq)"])
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                if bus != nil {
                    group.addTask { await self.heartbeats() }
                }
                // The publisher runs beside the commits: the next batch commits while this one is published.
                async let published: Void = self.publishLoop()
                var failure: (any Error)?
                do {
                    try await self.commitLoop()
                } catch {
                    failure = error
                }
                // What was committed is published, also when the commits stopped on an error.
                await committed.finish()
                await published
                if let failure { throw failure }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            Task { await self.queue.finish() }
        }
        logger.info("writer stopped", metadata: [LogKey.headSeq: "\(headSeq)"])
    }

    private func commitLoop() async throws {
        while let items = await queue.take(max: configuration.maxBatch) {
            let events = items.compactMap(\.event)
            var checkpoints: [String: NodeCheckpoint] = [:]
            var order: [String] = []
            for item in items {
                if checkpoints.updateValue(item.checkpoint, forKey: item.checkpoint.stream) == nil {
                    order.append(item.checkpoint.stream)
                }
            }
            let result = try await commit(events, checkpoints: order.compactMap { checkpoints[$0] })
            account(result, of: events)
            if bus != nil, !result.stored.isEmpty {
                await committed.put(result.stored)
            }
        }
    }

    /// Publishes committed batches in `seq` order; batches that waited are published together.
    private func publishLoop() async {
        while let batches = await committed.take(max: 16) {
            let stored = batches.flatMap { $0 }
            await publish(stored)
            if let last = stored.last { publishedHead.withLock { $0 = max($0, last.seq) } }
        }
    }

    /// Commits one batch, retrying until it lands or the task is cancelled.
    private func commit(_ events: [IngestEvent], checkpoints: [NodeCheckpoint]) async throws -> StoreResult {
        var retry = configuration.retry
        while true {
            let start = ContinuousClock.now
            do {
                let result = try await store.store(events, checkpoints: checkpoints)
                metrics.commitLatency.record(duration: start.duration(to: .now))
                return result
            } catch {
                metrics.commitFailures.increment()
                let delay = retry.nextDelay()
                logger.warning("batch commit failed; retrying", metadata: [
                    LogKey.errorType: "\(type(of: error))", LogKey.error: "\(error)",
                    LogKey.batchSize: "\(events.count)", LogKey.retryIn: "\(delay)",
                ])
                try await Task.sleep(for: delay)
            }
        }
    }

    private func account(_ result: StoreResult, of events: [IngestEvent]) {
        metrics.batchSize.record(events.count)
        var storedKinds: [String: Int] = [:]
        for e in result.stored { storedKinds[IngestMetrics.label(e.kind), default: 0] += 1 }
        var allKinds: [String: Int] = [:]
        for e in events { allKinds[IngestMetrics.label(e.kind), default: 0] += 1 }
        for (kind, n) in allKinds {
            let stored = storedKinds[kind] ?? 0
            if stored > 0 { metrics.stored[kind]?.increment(by: Int64(stored)) }
            if n > stored { metrics.duplicates[kind]?.increment(by: Int64(n - stored)) }
        }
        guard let last = result.stored.last else { return }
        let height = events.compactMap { e -> UInt64? in
            if case .block(let b) = e.payload { b.height } else { nil }
        }.max()
        let now = head.withLock { h in
            h.seq = last.seq
            if let height { h.height = max(h.height ?? 0, height) }
            return h
        }
        metrics.headSeq.record(Int64(clamping: now.seq))
        if let height = now.height {
            metrics.headHeight.record(Int64(clamping: height))
            lag.stored(height: height)
        }
        logger.trace("batch committed", metadata: [LogKey.headSeq: "\(now.seq)", LogKey.batchSize: "\(result.stored.count)"])
    }

    private func publish(_ stored: [StoredEvent]) async {
        guard let bus, !stored.isEmpty else { return }
        do {
            try await bus.publish(stored)
            metrics.published.increment(by: Int64(stored.count))
        } catch {
            // Replicas fill what they miss from the store, prompted by the heartbeat (invariant 5).
            metrics.publishErrors.increment()
            logger.warning("publish failed; replicas will fill the gap from the store", metadata: [
                LogKey.errorType: "\(type(of: error))", LogKey.error: "\(error)",
            ])
        }
    }

    /// Publishes the head every interval until cancelled (cancellation is the normal end, not an error).
    private func heartbeats() async {
        guard let bus else { return }
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: configuration.heartbeatInterval)
            } catch {
                return
            }
            do {
                // The head as handed to the bus, not as committed: a replica must not chase events still
                // on their way. A failed publish counts as handed over, so replicas fill it from the store.
                try await bus.publishHeartbeat(headSeq: publishedHead.withLock { $0 })
            } catch {
                metrics.publishErrors.increment()
                logger.debug("heartbeat publish failed", metadata: [LogKey.error: "\(error)"])
            }
        }
    }
}
