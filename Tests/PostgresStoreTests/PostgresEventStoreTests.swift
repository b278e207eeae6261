import ChainfeedCore
import ChainfeedTestSupport
import Testing

@testable import PostgresStore

@Suite struct PostgresEventStoreTests {
    @Test func `the same events from a replay and from a second node are stored once with a gap-free seq`() async throws {
        try await TestDatabase.withStore { store, _ in
            // Fixtures of 1.x and 2.0 nodes describe some events twice (same dedup key, other JSON).
            var seen = Set<DedupKey>()
            let events = try Fixtures.storableEvents().filter { seen.insert($0.dedupKey).inserted }
            let half = Array(events.prefix(events.count / 2))
            let first = try await store.store(half, checkpoints: [NodeCheckpoint(stream: "http://a/events", lastEventId: 5)])
            #expect(first.stored.map(\.seq) == Array(1...Seq(half.count)))
            // The node replays everything; a second node sends the same events in another order.
            let replay = try await store.store(events, checkpoints: [NodeCheckpoint(stream: "http://a/events", lastEventId: 9)])
            let second = try await store.store(events.reversed(), checkpoints: [NodeCheckpoint(stream: "http://b/events", lastEventId: 2)])
            #expect(replay.stored.map(\.seq) == Array(Seq(half.count + 1)...Seq(events.count)))
            #expect(replay.duplicates == half.count)
            #expect(second.stored.isEmpty && second.duplicates == events.count)
            let log = try await store.events(after: 0, limit: 100, filter: .all)
            #expect(log.map(\.seq) == Array(1...Seq(events.count)))
            #expect(log.map(\.raw) == events.map(\.raw))
            let status = try await store.status()
            #expect(status.headSeq == Seq(events.count))
            #expect(status.checkpoints.map(\.stream) == ["http://a/events", "http://b/events"])
        }
    }

    @Test func `fixture batches give the same results and reads as the in-memory store`() async throws {
        try await TestDatabase.withStore { store, _ in
            let reference = InMemoryEventStore()
            let events = try Fixtures.storableEvents()
            let batches = [Array(events.prefix(7)), events, events.reversed(), [], Array(events.suffix(3))]
            for (i, batch) in batches.enumerated() {
                let checkpoints = [NodeCheckpoint(stream: "http://n\(i % 2)/events", lastEventId: UInt32(i), headHeight: UInt64(i))]
                let a = try await store.store(batch, checkpoints: checkpoints)
                let b = await reference.store(batch, checkpoints: checkpoints)
                #expect(a == b, "batch \(i)")
            }
            try await ReferenceComparison.expectSameReads(store, reference, events: events)
        }
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func `random overlapping batches of every kind give the same results and reads as the in-memory store`(seed: UInt64) async throws {
        try await TestDatabase.withStore { store, _ in
            let reference = InMemoryEventStore()
            var workload = Workload(seed: seed)
            let pool = workload.pool(size: 160)
            for i in 0..<30 {
                let batch = (0..<workload.below(25)).map { _ in workload.pick(pool) }
                let checkpoints = workload.checkpoints()
                let a = try await store.store(batch, checkpoints: checkpoints)
                let b = await reference.store(batch, checkpoints: checkpoints)
                #expect(a == b, "batch \(i)")
            }
            try await ReferenceComparison.expectSameReads(store, reference, events: pool)
        }
    }

    @Test func `a failed batch leaves neither its events nor its checkpoint`() async throws {
        try await TestDatabase.withStore { store, schema in
            let good = NodeCheckpoint(stream: "http://n/events", lastEventId: 1, headHeight: 1)
            _ = try await store.store([Synthetic.block(height: 1)], checkpoints: [good])
            // A deploy the table refuses: the batch fails after its events were copied, inside its transaction.
            try await TestDatabase.admin(schema: schema) { c in
                try c.query("ALTER TABLE deploys ADD CONSTRAINT refuse_poison CHECK (cost IS DISTINCT FROM 'poison')")
            }
            let bad = Synthetic.deploy("d1", state: .processed, block: 2, cost: "poison")
            await #expect(throws: PostgresError.self) {
                try await store.store([Synthetic.block(height: 2), bad], checkpoints: [NodeCheckpoint(stream: "http://n/events", lastEventId: 2)])
            }
            #expect(try await store.checkpoint(stream: "http://n/events") == good)
            #expect(try await store.status().headSeq == 1)
            #expect(try await store.blocks(PageRequest()).itemCount == 1)
            #expect(try await store.events(after: 0, limit: 10, filter: EventFilter()).map(\.seq) == [1])
            // The session is usable again and the next seq follows on without a gap.
            let next = try await store.store([Synthetic.block(height: 2)], checkpoints: [])
            #expect(next.stored.map(\.seq) == [2])
        }
    }

    @Test func `a NUL in a node's text is stored as U+FFFD, never a batch failed and retried forever`() async throws {
        try await TestDatabase.withStore { store, _ in
            let nul = Synthetic.unknown("Broken", body: "\"a\u{0}b\"")
            let result = try await store.store([nul, Synthetic.deploy("d1", state: .processed, block: 1, cost: "c\u{0}")], checkpoints: [])
            #expect(result.stored.map(\.seq) == [1, 2])
            let stored = try await store.events(after: 0, limit: 10, filter: EventFilter())
            #expect(stored.first?.raw == #"{"Broken":"a\#u{FFFD}b"}"#)
            #expect(try await store.deploy(hash: Synthetic.hash("deploy:d1"))?.cost == "c\u{FFFD}")
        }
    }

    @Test func `checkpoints keep u64 heights, u32 event ids and the last value given per stream`() async throws {
        try await TestDatabase.withStore { store, _ in
            let early = NodeCheckpoint(stream: "s", lastEventId: 1, headHeight: 1, missedEvents: 0)
            let late = NodeCheckpoint(stream: "s", lastEventId: UInt32.max, headHeight: UInt64.max, missedEvents: UInt64.max)
            let other = NodeCheckpoint(stream: "r", lastEventId: nil, headHeight: nil, missedEvents: 3)
            _ = try await store.store([], checkpoints: [early, other, late])
            #expect(try await store.checkpoint(stream: "s") == late)
            #expect(try await store.status().checkpoints == [other, late])
        }
    }

    @Test func `deep pages and filtered log reads are index range scans`() async throws {
        try await TestDatabase.withStore { store, schema in
            for chunk in stride(from: 1, through: 3000, by: 500) {
                var batch: [IngestEvent] = []
                for h in chunk..<chunk + 500 {
                    batch.append(Synthetic.block(height: UInt64(h), proposer: "v\(h % 3)"))
                    batch.append(Synthetic.deploy("x\(h)", state: .accepted, account: h % 2 == 0 ? "alice" : "bob"))
                    batch.append(Synthetic.signature(height: UInt64(h), validator: "v1"))
                }
                _ = try await store.store(batch, checkpoints: [])
            }
            #expect(try await store.block(height: 1234)?.blockHash == Synthetic.hash("block:1234"))
            #expect(try await store.block(height: 99_999) == nil)
            let deep = try await store.blocks(PageRequest(page: 299, limit: 10))
            #expect(deep.items.map(\.height) == Array((11...20).reversed()))
            let faults = try await store.events(after: 0, limit: 10, filter: EventFilter(topics: [.faults, .steps]))
            #expect(faults.isEmpty)

            var queries: [(name: String, sql: String, parameters: [String?])] = [
                ("blocks", ReadQueries.blocksPage, ["2", "10"]),
                ("block by height", "SELECT * FROM blocks WHERE height = $1::numeric ORDER BY pos LIMIT 1", ["1234"]),
                ("accountDeploys", ReadQueries.accountDeploysPage, [Synthetic.account("alice"), "2", "10"]),
            ]
            let filters: [EventFilter] = [
                .all, EventFilter(topics: [.blocks]), EventFilter(topics: [.faults, .steps, .blocks]),
                EventFilter(account: Synthetic.account("alice")), EventFilter(blockHash: Synthetic.hash("block:7")),
                EventFilter(topics: [.signatures], eraId: 1),
            ]
            for (i, filter) in filters.enumerated() {
                let (sql, parameters) = try #require(ReadQueries.eventsQuery(after: 100, limit: 10, filter: filter))
                queries.append(("events \(i)", sql, parameters))
            }
            try await TestDatabase.admin(schema: schema) { [queries] c in
                try c.query("ANALYZE")
                // The test tables are small, so the planner would rightly scan the few counter rows; with sequential
                // scans priced out, a "Seq Scan" left in a plan means no index can serve that read.
                try c.query("SET enable_seqscan = off")
                var plans: [String: String] = [:]
                for query in queries {
                    plans[query.name] = try c.query("EXPLAIN " + query.sql, query.parameters).rows.compactMap { $0[0] }.joined(separator: "\n")
                }
                for (name, plan) in plans {
                    #expect(!plan.contains("Seq Scan"), "\(name):\n\(plan)")
                    #expect(!plan.contains("Offset"), "\(name):\n\(plan)")
                    #expect(plan.contains("Index"), "\(name):\n\(plan)")
                }
            }
        }
    }

    @Test func `a store refuses to write without the writer lock`() async throws {
        try await TestDatabase.withSchema { schema in
            let store = try await PostgresEventStore(databaseURL: try TestServers.databaseURL, configuration: .init(schema: schema))
            await #expect(throws: PostgresError.writerLockNotHeld) {
                try await store.store([Synthetic.block(height: 1)], checkpoints: [])
            }
            #expect(try await store.acquireWriterLock(wait: false))
            #expect(try await store.store([Synthetic.block(height: 1)], checkpoints: []).stored.count == 1)
            await store.close()
            await store.close()
            await #expect(throws: PostgresError.writerLockNotHeld) {
                try await store.store([Synthetic.block(height: 2)], checkpoints: [])
            }
        }
    }
}

/// The `deploys` column as PostgreSQL prints a `jsonb` array, read without a JSON decoder.
@Suite struct StringArrayTests {
    @Test("arrays of strings as jsonb prints them, with escapes through the decoder; anything else is refused", arguments: [
        ("[]", []), (#"["a"]"#, ["a"]), (#"["a", "b"]"#, ["a", "b"]), (#"["a","b"]"#, ["a", "b"]), (#"["", "c"]"#, ["", "c"]),
        (#"["a\"b", "c\\d"]"#, [#"a"b"#, #"c\d"#]),
    ] as [(String, [String])])
    func arrays(text: String, strings: [String]) {
        #expect(ReadQueries.stringArray(text) == strings)
    }

    @Test("malformed arrays are refused", arguments: [#"["a""#, "[1]", #""x""#, #"["a" "b"]"#, #"["a",]"#, "", "{}"])
    func malformed(text: String) {
        #expect(ReadQueries.stringArray(text) == nil)
    }
}
