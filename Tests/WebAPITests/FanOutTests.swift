import ChainfeedCore
import ChainfeedTestSupport
import Logging
import NIOCore
import Synchronization
import Testing
@testable import WebAPI

/// The hub on the in-memory store and bus, with recording sinks in place of sockets.
@Suite struct FanOutTests {
    final class RecordingSink: EventSink {
        let sinkID = SinkIDs.make()
        let format = SinkFormat.webSocket
        let frames = Mutex<[String]>([])
        let closed = Mutex<CloseCode?>(nil)
        let limit: Int

        init(limit: Int = .max) { self.limit = limit }

        func send(_ frame: ByteBuffer) {
            let over = frames.withLock { f -> Bool in
                guard f.count < limit else { return true }
                f.append(String(buffer: frame))
                return false
            }
            if over { close(.slowConsumer, reason: "slow") }
        }
        func sendReplay(_ frames: [ByteBuffer]) async -> Bool {
            self.frames.withLock { $0 += frames.map { String(buffer: $0) } }
            return closed.withLock { $0 == nil }
        }
        func close(_ code: CloseCode, reason: String) { closed.withLock { if $0 == nil { $0 = code } } }

        var seqs: [Int] {
            frames.withLock { $0 }.compactMap { text -> Int? in
                guard let r = text.range(of: #""seq":[0-9]+"#, options: .regularExpression) else { return nil }
                return Int(text[r].dropFirst(6))
            }
        }
    }

    /// A store, a bus, a running hub; `body` gets them and the hub is stopped after.
    /// `reading` puts a reader of the store between the hub and the store.
    func withHub(
        reading: (InMemoryEventStore) -> any EventReader = { $0 },
        _ body: (InMemoryEventStore, InMemoryEventBus, FanOut) async throws -> Void
    ) async throws {
        let store = InMemoryEventStore()
        let bus = InMemoryEventBus()
        let hub = FanOut(reader: reading(store), bus: bus, logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await hub.run() }
            try await Task.sleep(for: .milliseconds(50))
            try await body(store, bus, hub)
            group.cancelAll()
        }
    }

    func commit(_ store: InMemoryEventStore, _ bus: InMemoryEventBus, _ events: [IngestEvent], publish: Bool = true) async -> [StoredEvent] {
        let stored = await store.store(events, checkpoints: []).stored
        if publish { bus.publish(stored) }
        return stored
    }

    func eventually(_ condition: () -> Bool) async throws {
        for _ in 0..<200 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
    }

    @Test("live events reach matching subscriptions in seq order, subscribed first")
    func live() async throws {
        try await withHub { store, bus, hub in
            let sink = RecordingSink()
            _ = hub.attach(sink, limit: 10)
            try await SubscriptionRunner(hub: hub).start(sink, id: "b", filter: EventFilter(topics: [.blocks]), fromSeq: nil) { head in
                sink.send(ByteBuffer(string: "subscribed \(head)"))
            }
            _ = await commit(store, bus, (1...5).map { Synthetic.block(height: UInt64($0)) } + [Synthetic.step(era: 1)])
            try await eventually { sink.seqs.count == 5 }
            #expect(sink.seqs == [1, 2, 3, 4, 5])
            #expect(sink.frames.withLock { $0.first } == "subscribed 0")
        }
    }

    @Test("a seq jump on the bus is filled from the store before later events")
    func gapFill() async throws {
        try await withHub { store, bus, hub in
            let sink = RecordingSink()
            _ = hub.attach(sink, limit: 10)
            _ = try hub.subscribe(sink, id: "all", filter: .all, replaying: false)
            _ = await commit(store, bus, [Synthetic.block(height: 1)])
            _ = await commit(store, bus, [Synthetic.block(height: 2), Synthetic.block(height: 3)], publish: false)  // lost on the bus
            _ = await commit(store, bus, [Synthetic.block(height: 4)])
            try await eventually { sink.seqs.count == 4 }
            #expect(sink.seqs == [1, 2, 3, 4])
            // A heartbeat ahead of the hub also fills.
            _ = await commit(store, bus, [Synthetic.block(height: 5)], publish: false)
            bus.publishHeartbeat(headSeq: 5)
            try await eventually { sink.seqs.count == 5 }
            #expect(sink.seqs == [1, 2, 3, 4, 5])
            #expect(hub.headSeq == 5)
        }
    }

    @Test("a replay joins the live stream with no gap and no duplicate at the seam")
    func replaySeam() async throws {
        try await withHub { store, bus, hub in
            _ = await commit(store, bus, (1...30).map { Synthetic.block(height: UInt64($0)) })
            try await eventually { hub.headSeq == 30 }
            let sink = RecordingSink()
            _ = hub.attach(sink, limit: 10)
            // Live events keep coming while the replay runs.
            async let more: Void = {
                for h in 31...60 { _ = await commit(store, bus, [Synthetic.block(height: UInt64(h))]) }
            }()
            try await SubscriptionRunner(hub: hub, pageSize: 7).start(sink, id: "r", filter: .all, fromSeq: 10) { _ in }
            await more
            try await eventually { sink.seqs.count == 50 }
            #expect(sink.seqs == Array(11...60))
        }
    }

    /// A streaming replica that applies the rest of the log between two queries: its log reads see up to
    /// `visible` until someone asks for its applied head, which it then has applied (the whole store).
    final class ApplyingReplica: EventReader {
        let store: InMemoryEventStore
        let visible = Mutex<Seq>(.max)
        init(_ store: InMemoryEventStore) { self.store = store }

        func events(after: Seq, limit: Int, filter: EventFilter) async throws -> [StoredEvent] {
            let visible = visible.withLock { $0 }
            return await store.events(after: after, limit: limit, filter: filter).filter { $0.seq <= visible }
        }
        func status() async throws -> StoreStatus {
            let status = await store.status()
            visible.withLock { $0 = .max }
            return status
        }
        func block(hash: String) async throws -> Block? { await store.block(hash: hash) }
        func blocks(_ page: PageRequest) async throws -> Page<Block> { await store.blocks(page) }
        func deploy(hash: String) async throws -> Deploy? { await store.deploy(hash: hash) }
        func accountDeploys(account: String, _ page: PageRequest) async throws -> Page<Deploy> {
            await store.accountDeploys(account: account, page)
        }
    }

    @Test("a replay from a replica that applies more while it is read still ends at the head, with nothing skipped")
    func replayWhileReplicaApplies() async throws {
        var replica: ApplyingReplica?
        try await withHub(reading: { store in
            let r = ApplyingReplica(store)
            replica = r
            return r
        }) { store, bus, hub in
            _ = await commit(store, bus, (1...30).map { Synthetic.block(height: UInt64($0)) } + (1...30).map { Synthetic.step(era: UInt64($0)) })
            try await eventually { hub.headSeq == 60 }
            // The replica has applied seq 10 when the replay starts, and all 60 by the time its head is asked.
            replica?.visible.withLock { $0 = 10 }
            let sink = RecordingSink()
            _ = hub.attach(sink, limit: 10)
            try await SubscriptionRunner(hub: hub).start(sink, id: "r", filter: EventFilter(topics: [.blocks]), fromSeq: 0) { _ in }
            #expect(sink.seqs == Array(1...30))
        }
    }

    @Test("fromSeq beyond the head is refused after a bounded wait")
    func beyondHead() async throws {
        try await withHub { _, _, hub in
            let sink = RecordingSink()
            _ = hub.attach(sink, limit: 10)
            await #expect(throws: SubscriptionError.beyondHead(fromSeq: 5, head: 0)) {
                try await SubscriptionRunner(hub: hub, waitBound: .milliseconds(100)).start(sink, id: "x", filter: .all, fromSeq: 5) { _ in }
            }
            #expect(hub.subscriptionCount(of: sink) == 0)
        }
    }

    @Test("a client that cannot keep up is closed with 4008 while others keep receiving")
    func slowConsumer() async throws {
        try await withHub { store, bus, hub in
            let slow = RecordingSink(limit: 3)
            let fast = RecordingSink()
            for sink in [slow, fast] {
                _ = hub.attach(sink, limit: 10)
                _ = try hub.subscribe(sink, id: "a", filter: .all, replaying: false)
            }
            _ = await commit(store, bus, (1...20).map { Synthetic.block(height: UInt64($0)) })
            try await eventually { fast.seqs.count == 20 }
            #expect(slow.closed.withLock { $0 } == .slowConsumer)
            #expect(fast.closed.withLock { $0 } == nil)
            #expect(fast.seqs == Array(1...20))
        }
    }

    @Test("the connection limit, duplicate ids and unsubscribe are enforced")
    func limits() async throws {
        try await withHub { _, _, hub in
            let a = RecordingSink()
            let b = RecordingSink()
            #expect(hub.attach(a, limit: 1))
            #expect(!hub.attach(b, limit: 1))
            _ = try hub.subscribe(a, id: "s", filter: .all, replaying: false)
            #expect(throws: FanOut.SubscribeError.duplicateID) { try hub.subscribe(a, id: "s", filter: .all, replaying: false) }
            #expect(hub.unsubscribe(a, id: "s"))
            #expect(!hub.unsubscribe(a, id: "s"))
            hub.detach(a)
            #expect(hub.connectionCount == 0)
        }
    }
}

@Suite struct SubscriptionIndexTests {
    /// Adds a subscription of connection `sink` (a recording sink with that id stands for it).
    func insert(_ index: inout SubscriptionIndex, _ sink: Int, _ id: String, _ filter: EventFilter) -> Bool {
        index.insert(Subscription(key: .init(sink: sink, subscription: id), sink: FanOutTests.RecordingSink(), filter: filter, replaying: false))
    }

    @Test("an event finds only the subscriptions its keys and topic name, each once")
    func lookup() {
        var index = SubscriptionIndex()
        let alice = Synthetic.account("alice")
        for i in 0..<1000 {
            _ = insert(&index, i, "s", EventFilter(topics: [.deploys], account: Synthetic.account("u\(i)")))
        }
        _ = insert(&index, 5000, "a", EventFilter(topics: [.deploys], account: alice))
        _ = insert(&index, 5001, "b", EventFilter(topics: [.blocks]))
        _ = insert(&index, 5002, "all", .all)
        _ = insert(&index, 5003, "two", EventFilter(topics: [.blocks, .deploys]))
        let deploy = StoredEvent(seq: 1, Synthetic.deploy("x", state: .accepted, account: "alice"))
        #expect(index.matches(deploy).map(\.key.sink).sorted() == [5000, 5002, 5003])
        let block = StoredEvent(seq: 2, Synthetic.block(height: 1))
        #expect(index.matches(block).map(\.key.sink).sorted() == [5001, 5002, 5003])
        #expect(index.remove(.init(sink: 5002, subscription: "all")) != nil)
        #expect(index.matches(block).map(\.key.sink).sorted() == [5001, 5003])
        #expect(index.count == 1003)
    }

    @Test("ids are unique per connection; a connection's subscriptions are counted and removed together")
    func perConnection() {
        var index = SubscriptionIndex()
        #expect(insert(&index, 1, "a", .all))
        #expect(!insert(&index, 1, "a", EventFilter(topics: [.blocks])), "a duplicate id on the same connection")
        #expect(insert(&index, 2, "a", .all), "the same id on another connection")
        #expect(insert(&index, 1, "b", EventFilter(topics: [.steps])))
        #expect(index.count(ofSink: 1) == 2)
        #expect(index.removeAll(ofSink: 1) == 2)
        #expect(index.count(ofSink: 1) == 0)
        #expect(index.count == 1)
        #expect(index.matches(StoredEvent(seq: 1, Synthetic.step(era: 1))).map(\.key.sink) == [2])
    }
}
