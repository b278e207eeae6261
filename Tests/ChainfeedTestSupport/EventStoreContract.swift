import ChainfeedCore
import Testing

/// The behaviour every ``EventStore`` must have, written once and run against each implementation.
///
/// A test target runs it with `@Test(arguments: EventStoreContract.names)` and a fresh, empty store
/// per check: `try await EventStoreContract.run(name, on: store)`.
public enum EventStoreContract {
    public typealias Check = @Sendable (any EventStore) async throws -> Void

    public static let checks: [String: Check] = [
        "the same event twice is stored once": sameEventTwice,
        "seq is gap-free across batches with duplicates": seqGapFree,
        "every fixture is stored once, in batch order": fixturesStoredOnce,
        "the checkpoint is saved with its batch": checkpointWithBatch,
        "blocks page newest first with counters": blockPages,
        "deploy events merge into one deploy": deployMerge,
        "account deploys page newest first": accountDeploys,
        "the event log filters by topic and key": eventLogFilters,
        "era ids above 2^63 round-trip": hugeEraIds,
        "unknown kinds are kept raw and deduplicated by content": unknownKinds,
    ]

    public static var names: [String] { checks.keys.sorted() }

    public static func run(_ name: String, on store: any EventStore) async throws {
        let check = try #require(checks[name], "no contract check named \(name)")
        try await check(store)
    }

    // MARK: Checks

    static func sameEventTwice(_ store: any EventStore) async throws {
        let block = Synthetic.block(height: 1)
        let first = try await store.store([block, block], checkpoints: [])
        #expect(first.stored.map(\.seq) == [1])
        #expect(first.duplicates == 1)
        let again = try await store.store([block], checkpoints: [])
        #expect(again.stored.isEmpty)
        #expect(again.duplicates == 1)
        #expect(try await store.status().headSeq == 1)
        #expect(try await store.blocks(PageRequest()).itemCount == 1)
    }

    static func seqGapFree(_ store: any EventStore) async throws {
        var expected: Seq = 0
        for round in 0..<5 {
            var batch: [IngestEvent] = []
            for h in 0..<4 {
                batch.append(Synthetic.block(height: UInt64(round * 3 + h)))  // overlaps the previous round
            }
            let result = try await store.store(batch, checkpoints: [])
            for event in result.stored {
                expected += 1
                #expect(event.seq == expected)
            }
        }
        let log = try await store.events(after: 0, limit: 100, filter: .all)
        #expect(log.map(\.seq) == Array(1...expected))
        #expect(log.count == 16)
    }

    static func fixturesStoredOnce(_ store: any EventStore) async throws {
        let events = try Fixtures.storableEvents()
        let keys = Set(events.map(\.dedupKey))
        let result = try await store.store(events + events.reversed(), checkpoints: [])
        #expect(result.stored.count == keys.count)
        #expect(result.duplicates == events.count * 2 - keys.count)
        // New events take seqs in batch order: the first occurrence of each key.
        var seen = Set<DedupKey>()
        let firsts = events.filter { seen.insert($0.dedupKey).inserted }
        #expect(result.stored.map(\.kind) == firsts.map(\.kind))
        #expect(result.stored.map(\.raw) == firsts.map(\.raw))
        let log = try await store.events(after: 0, limit: 100, filter: .all)
        #expect(log == result.stored)
    }

    static func checkpointWithBatch(_ store: any EventStore) async throws {
        #expect(try await store.checkpoint(stream: "http://n1/events") == nil)
        let cp = NodeCheckpoint(stream: "http://n1/events", lastEventId: 41, headHeight: 7, missedEvents: 2)
        _ = try await store.store([Synthetic.block(height: 7)], checkpoints: [cp])
        #expect(try await store.checkpoint(stream: "http://n1/events") == cp)
        // A batch of duplicates still moves the checkpoint on.
        let next = NodeCheckpoint(stream: "http://n1/events", lastEventId: UInt32.max, headHeight: 7, missedEvents: 2)
        _ = try await store.store([Synthetic.block(height: 7)], checkpoints: [next])
        #expect(try await store.checkpoint(stream: "http://n1/events") == next)
        let other = NodeCheckpoint(stream: "http://n2/events/main", lastEventId: 0)
        _ = try await store.store([], checkpoints: [other])
        let status = try await store.status()
        #expect(status.checkpoints == [next, other])
    }

    static func blockPages(_ store: any EventStore) async throws {
        let empty = try await store.blocks(PageRequest())
        #expect(empty.items.isEmpty && empty.itemCount == 0 && empty.pageCount == 0)
        for chunk in stride(from: 1, through: 250, by: 50) {
            _ = try await store.store((chunk..<chunk + 50).map { Synthetic.block(height: UInt64($0)) }, checkpoints: [])
        }
        let first = try await store.blocks(PageRequest(page: 1, limit: 10))
        #expect(first.itemCount == 250)
        #expect(first.pageCount == 25)
        #expect(first.items.map(\.height) == Array((241...250).reversed()))
        let deep = try await store.blocks(PageRequest(page: 25, limit: 10))
        #expect(deep.items.map(\.height) == Array((1...10).reversed()))
        let partial = try await store.blocks(PageRequest(page: 3, limit: 100))
        #expect(partial.items.map(\.height) == Array((1...50).reversed()))
        let beyond = try await store.blocks(PageRequest(page: 26, limit: 10))
        #expect(beyond.items.isEmpty && beyond.itemCount == 250)
        let huge = try await store.blocks(PageRequest(page: Int.max, limit: 100))
        #expect(huge.items.isEmpty)
        let b = try #require(try await store.block(hash: Synthetic.hash("block:42")))
        #expect(b.height == 42)
        #expect(b.parentHash == Synthetic.hash("block:41"))
        #expect(try await store.block(hash: Synthetic.hash("nope")) == nil)
        #expect(try await store.status().headHeight == 250)
        #expect(try await store.status().blockCount == 250)
    }

    static func deployMerge(_ store: any EventStore) async throws {
        _ = try await store.store([Synthetic.deploy("d1", state: .accepted, account: "alice")], checkpoints: [])
        let accepted = try #require(try await store.deploy(hash: Synthetic.hash("deploy:d1")))
        #expect(accepted.state == .accepted)
        #expect(accepted.account == Synthetic.account("alice"))
        #expect(accepted.blockHash == nil)
        _ = try await store.store([Synthetic.deploy("d1", state: .processed, account: "alice", block: 9, cost: "100")], checkpoints: [])
        let processed = try #require(try await store.deploy(hash: Synthetic.hash("deploy:d1")))
        #expect(processed.state == .processed)
        #expect(processed.cost == "100")
        #expect(processed.blockHash == Synthetic.hash("block:9"))
        #expect(processed.account == Synthetic.account("alice"))
        _ = try await store.store([Synthetic.deploy("d1", state: .expired, account: nil)], checkpoints: [])
        #expect(try await store.deploy(hash: Synthetic.hash("deploy:d1"))?.state == .processed)
        // Processed before accepted (two nodes racing): still processed, account learned from either.
        _ = try await store.store([Synthetic.deploy("d2", state: .processed, account: "bob", block: 3, cost: "5")], checkpoints: [])
        _ = try await store.store([Synthetic.deploy("d2", state: .accepted, account: "bob")], checkpoints: [])
        let d2 = try #require(try await store.deploy(hash: Synthetic.hash("deploy:d2")))
        #expect(d2.state == .processed && d2.cost == "5")
        // Expired only: known, with no account.
        _ = try await store.store([Synthetic.deploy("d3", state: .expired, account: nil)], checkpoints: [])
        let d3 = try #require(try await store.deploy(hash: Synthetic.hash("deploy:d3")))
        #expect(d3.state == .expired && d3.account == nil)
        #expect(try await store.deploy(hash: Synthetic.hash("deploy:none")) == nil)
    }

    static func accountDeploys(_ store: any EventStore) async throws {
        var batch: [IngestEvent] = []
        for i in 0..<25 {
            batch.append(Synthetic.deploy("a\(i)", state: .accepted, account: "alice"))
            batch.append(Synthetic.deploy("b\(i)", state: .accepted, account: "bob"))
        }
        _ = try await store.store(batch, checkpoints: [])
        // Processing a deploy does not add it to the account twice.
        _ = try await store.store([Synthetic.deploy("a0", state: .processed, account: "alice", block: 1, cost: "1")], checkpoints: [])
        let page = try await store.accountDeploys(account: Synthetic.account("alice"), PageRequest(page: 1, limit: 10))
        #expect(page.itemCount == 25)
        #expect(page.items.map(\.deployHash) == (15..<25).reversed().map { Synthetic.hash("deploy:a\($0)") })
        let last = try await store.accountDeploys(account: Synthetic.account("alice"), PageRequest(page: 3, limit: 10))
        #expect(last.items.map(\.deployHash) == (0..<5).reversed().map { Synthetic.hash("deploy:a\($0)") })
        #expect(last.items.last?.state == .processed)
        let nobody = try await store.accountDeploys(account: Synthetic.account("carol"), PageRequest())
        #expect(nobody.items.isEmpty && nobody.itemCount == 0)
    }

    static func eventLogFilters(_ store: any EventStore) async throws {
        _ = try await store.store([
            Synthetic.deploy("x", state: .accepted, account: "alice"),
            Synthetic.block(height: 1, proposer: "v1", deploys: ["x"]),
            Synthetic.deploy("x", state: .processed, account: "alice", block: 1, cost: "1"),
            Synthetic.signature(height: 1, validator: "v1"),
            Synthetic.deploy("y", state: .accepted, account: "bob"),
            Synthetic.step(era: 1),
        ], checkpoints: [])
        let all = try await store.events(after: 0, limit: 100, filter: .all)
        #expect(all.map(\.seq) == [1, 2, 3, 4, 5, 6])
        let blocks = try await store.events(after: 0, limit: 100, filter: EventFilter(topics: [.blocks]))
        #expect(blocks.map(\.seq) == [2])
        let alice = try await store.events(after: 0, limit: 100, filter: EventFilter(account: Synthetic.account("alice")))
        #expect(alice.map(\.seq) == [1, 3])
        let aliceAfter = try await store.events(after: 1, limit: 100, filter: EventFilter(topics: [.deploys], account: Synthetic.account("alice")))
        #expect(aliceAfter.map(\.seq) == [3])
        let byBlock = try await store.events(after: 0, limit: 100, filter: EventFilter(blockHash: Synthetic.hash("block:1")))
        #expect(byBlock.map(\.seq) == [2, 3, 4])
        let limited = try await store.events(after: 2, limit: 2, filter: .all)
        #expect(limited.map(\.seq) == [3, 4])
        #expect(try await store.events(after: 6, limit: 10, filter: .all).isEmpty)
        #expect(try await store.events(after: 1000, limit: 10, filter: .all).isEmpty)
        let stepEra = try await store.events(after: 0, limit: 10, filter: EventFilter(topics: [.steps], eraId: 1))
        #expect(stepEra.map(\.seq) == [6])
        let first = try #require(all.first)
        #expect(first.kind == "DeployAccepted")
        #expect(first.topic == .deploys)
        #expect(first.keys.account == Synthetic.account("alice"))
    }

    static func hugeEraIds(_ store: any EventStore) async throws {
        let big = UInt64.max - 1
        _ = try await store.store([Synthetic.step(era: big), Synthetic.block(height: UInt64(Int64.max) + 10, era: big)], checkpoints: [])
        let steps = try await store.events(after: 0, limit: 10, filter: EventFilter(eraId: big))
        #expect(steps.count == 2)
        #expect(steps.first?.keys.eraId == big)
        let block = try #require(try await store.blocks(PageRequest()).items.first)
        #expect(block.eraId == big)
        #expect(block.height == UInt64(Int64.max) + 10)
    }

    static func unknownKinds(_ store: any EventStore) async throws {
        let a = Synthetic.unknown("FutureThing", body: "{\"x\":1}")
        let b = Synthetic.unknown("FutureThing", body: "{\"x\":2}")
        let result = try await store.store([a, b, a], checkpoints: [])
        #expect(result.stored.count == 2)
        #expect(result.duplicates == 1)
        #expect(result.stored.first?.raw == a.raw)
        #expect(result.stored.first?.topic == nil)
        let topical = try await store.events(after: 0, limit: 10, filter: EventFilter(topics: Set(Topic.allCases)))
        #expect(topical.isEmpty)
    }
}
