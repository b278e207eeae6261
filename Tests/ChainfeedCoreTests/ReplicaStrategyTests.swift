import ChainfeedCore
import ChainfeedTestSupport
import Testing

@Suite struct ReplicaStrategyTests {
    let zones: [String?] = ["a", "b", "a", nil]

    @Test("single tries in the given order; round-robin rotates the start")
    func plainStrategies() {
        #expect(ReplicaStrategy.single.order(zones: zones, ownZone: "a", turn: 5) == [0, 1, 2, 3])
        #expect(ReplicaStrategy.roundRobin.order(zones: zones, ownZone: nil, turn: 0) == [0, 1, 2, 3])
        #expect(ReplicaStrategy.roundRobin.order(zones: zones, ownZone: nil, turn: 1) == [1, 2, 3, 0])
        #expect(ReplicaStrategy.roundRobin.order(zones: zones, ownZone: nil, turn: 6) == [2, 3, 0, 1])
    }

    @Test("prefer-zone strategies try the own zone first, then the rest")
    func preferZone() {
        #expect(ReplicaStrategy.preferZoneSingle.order(zones: zones, ownZone: "a", turn: 3) == [0, 2, 1, 3])
        #expect(ReplicaStrategy.preferZoneRoundRobin.order(zones: zones, ownZone: "a", turn: 1) == [2, 0, 3, 1])
        #expect(ReplicaStrategy.preferZoneSingle.order(zones: zones, ownZone: "c", turn: 0) == [0, 1, 2, 3])
    }

    @Test("strict zone strategies never leave the zone")
    func strictZone() {
        #expect(ReplicaStrategy.zoneSingle.order(zones: zones, ownZone: "b", turn: 0) == [1])
        #expect(ReplicaStrategy.zoneRoundRobin.order(zones: zones, ownZone: "a", turn: 1) == [2, 0])
        #expect(ReplicaStrategy.zoneSingle.order(zones: zones, ownZone: "c", turn: 0).isEmpty)
        #expect(ReplicaStrategy.zoneSingle.order(zones: zones, ownZone: nil, turn: 0).isEmpty)
    }

    struct Down: Error {}
    struct Broken: Error {}

    /// A reader that fails with a chosen error, or answers with its name as a block's proposer.
    actor FakeReader: EventReader {
        let name: String
        var failure: (any Error)?
        var calls = 0
        /// The applied head and replay lag this fake database reports.
        var head: Seq = 0
        var lag: Duration?
        init(_ name: String, failure: (any Error)? = nil, head: Seq = 0, lag: Duration? = nil) {
            self.name = name
            self.failure = failure
            self.head = head
            self.lag = lag
        }
        func set(_ failure: (any Error)?) { self.failure = failure }
        func set(head: Seq, lag: Duration? = nil) {
            self.head = head
            self.lag = lag
        }
        func replayLag() throws -> Duration? {
            if let failure { throw failure }
            return lag
        }
        func appliedSeq() throws -> Seq {
            if let failure { throw failure }
            return head
        }
        func answer() throws -> String {
            calls += 1
            if let failure { throw failure }
            return name
        }
        func block(hash: String) throws -> Block? {
            Block(blockHash: hash, parentHash: "", timestamp: "", eraId: 0, proposer: try answer(), height: 0, deploys: [])
        }
        func blocks(_ page: PageRequest) throws -> Page<Block> { _ = try answer(); return Page(items: [], itemCount: 0, request: page) }
        func deploy(hash: String) throws -> Deploy? { _ = try answer(); return nil }
        func accountDeploys(account: String, _ page: PageRequest) throws -> Page<Deploy> { Page(items: [], itemCount: 0, request: page) }
        func events(after: Seq, limit: Int, filter: EventFilter) throws -> [StoredEvent] { [] }
        func status() throws -> StoreStatus { StoreStatus(headSeq: 0, headHeight: nil, blockCount: 0, checkpoints: []) }
    }

    func set(_ readers: [FakeReader], zones: [String?], _ strategy: ReplicaStrategy, own: String?) -> ReplicaSet {
        ReplicaSet(
            members: zip(readers, zones).map { reader, zone in
                ReplicaSet.Member(reader: reader, zone: zone, replayLag: { try await reader.replayLag() })
            },
            strategy: strategy, ownZone: own, maxLag: .seconds(10), isInfrastructureError: { $0 is Down })
    }

    @Test("a replica that is behind with a replay lag past the bound is skipped while another is healthy")
    func laggingSkipped() async throws {
        let r = [FakeReader("r0", head: 90, lag: .seconds(30)), FakeReader("r1", head: 100, lag: .zero)]
        let replicas = set(r, zones: [nil, nil], .single, own: nil)
        await replicas.refresh()
        #expect(replicas.health.map(\.lagging) == [true, false])
        #expect(try await replicas.block(hash: "h")?.proposer == "r1")
        // Caught up again (an idle primary makes the replay timestamp old, but nothing is missing): used again.
        await r[0].set(head: 100, lag: .seconds(30))
        await replicas.refresh()
        #expect(try await replicas.block(hash: "h")?.proposer == "r0")
        // The bus may know a newer head than any database: both are behind, both lag, order is kept.
        await replicas.refresh(knownHead: 120)
        #expect(replicas.health.map(\.lagging) == [true, false])
        await r[1].set(head: 100, lag: .seconds(30))
        await replicas.refresh(knownHead: 120)
        #expect(try await replicas.block(hash: "h")?.proposer == "r0", "all lagging: the strategy's order, not a refusal")
    }

    @Test("a replica that did not answer the health check goes to the back until it answers again")
    func unreachableLast() async throws {
        let r = [FakeReader("r0"), FakeReader("r1")]
        let replicas = set(r, zones: [nil, nil], .single, own: nil)
        await r[0].set(Down())
        await replicas.refresh()
        #expect(replicas.health.map(\.reachable) == [false, true])
        await r[0].set(nil)
        #expect(try await replicas.block(hash: "h")?.proposer == "r1")
        #expect(await r[0].calls == 0, "skipped without paying for a failed attempt")
        await replicas.refresh()
        #expect(try await replicas.block(hash: "h")?.proposer == "r0")
    }

    @Test("minSeq reads go to a replica that has applied the seq, wait for one, or fail after the budget")
    func minSeq() async throws {
        let r = [FakeReader("r0", head: 5), FakeReader("r1", head: 9)]
        let replicas = set(r, zones: [nil, nil], .single, own: nil)
        #expect(try await replicas.reader(applied: 9, within: .zero).block(hash: "h")?.proposer == "r1")
        #expect(try await replicas.reader(applied: 5, within: .zero).block(hash: "h")?.proposer == "r0")
        await #expect(throws: ReadConsistencyError.notApplied(seq: 10, waited: .milliseconds(50))) {
            try await replicas.reader(applied: 10, within: .milliseconds(50))
        }
        // r0 applies seq 12 while the read waits: it answers then.
        async let answer = replicas.reader(applied: 12, within: .seconds(30)).block(hash: "h")?.proposer
        try await Task.sleep(for: .milliseconds(100))
        await r[0].set(head: 12)
        #expect(try await answer == "r0")
        #expect(try await replicas.appliedSeq() == 12)
    }

    @Test("one store waits for its own head")
    func minSeqOneStore() async throws {
        let store = InMemoryEventStore()
        _ = await store.store([Synthetic.block(height: 1, era: 0)], checkpoints: [])
        #expect(try await store.reader(applied: 1, within: .zero).status().headSeq == 1)
        await #expect(throws: ReadConsistencyError.self) { try await store.reader(applied: 2, within: .milliseconds(30)) }
    }

    @Test("fails over on infrastructure errors and returns to a replica that comes back")
    func failover() async throws {
        let r = [FakeReader("r0"), FakeReader("r1")]
        let replicas = set(r, zones: [nil, nil], .single, own: nil)
        #expect(try await replicas.block(hash: "h")?.proposer == "r0")
        await r[0].set(Down())
        #expect(try await replicas.block(hash: "h")?.proposer == "r1")
        await r[0].set(nil)
        #expect(try await replicas.block(hash: "h")?.proposer == "r0")
    }

    @Test("a missing row or a query error is an answer, not a reason to fail over")
    func noFailoverOnAnswers() async throws {
        let r = [FakeReader("r0"), FakeReader("r1")]
        let replicas = set(r, zones: [nil, nil], .single, own: nil)
        #expect(try await replicas.deploy(hash: "x") == nil)
        #expect(await r[1].calls == 0)
        await r[0].set(Broken())
        await #expect(throws: Broken.self) { try await replicas.block(hash: "h") }
        #expect(await r[1].calls == 0)
    }

    @Test("strict zone strategies fail when the zone has no replica or none answers")
    func strictFailure() async throws {
        let r = [FakeReader("a0"), FakeReader("b0")]
        let none = set(r, zones: ["a", "b"], .zoneSingle, own: "c")
        await #expect(throws: ReplicaSetError.self) { try await none.block(hash: "h") }
        let zoneB = set(r, zones: ["a", "b"], .zoneSingle, own: "b")
        await r[1].set(Down())
        await #expect(throws: ReplicaSetError.self) { try await zoneB.block(hash: "h") }
        let prefer = set(r, zones: ["a", "b"], .preferZoneSingle, own: "b")
        #expect(try await prefer.block(hash: "h")?.proposer == "a0")
    }

    @Test("round-robin spreads queries over the replicas")
    func roundRobinSpreads() async throws {
        let r = [FakeReader("r0"), FakeReader("r1"), FakeReader("r2")]
        let replicas = set(r, zones: [nil, nil, nil], .roundRobin, own: nil)
        var seen: [String] = []
        for _ in 0..<6 { seen.append(try await replicas.block(hash: "h")?.proposer ?? "") }
        #expect(seen == ["r0", "r1", "r2", "r0", "r1", "r2"])
    }
}

@Suite struct NodeAddressTests {
    @Test("a base URL serves SSE, REST and RPC at one address")
    func base() throws {
        let a = try NodeAddress.parse("http://127.0.0.1:9999/")
        #expect(a == NodeAddress(sse: "http://127.0.0.1:9999", rest: "http://127.0.0.1:9999", rpc: "http://127.0.0.1:9999/rpc"))
    }

    @Test("a real node names its three servers")
    func threePorts() throws {
        let a = try NodeAddress.parse("sse=http://n:9999,rest=http://n:8888,rpc=http://n:7777/rpc")
        #expect(a == NodeAddress(sse: "http://n:9999", rest: "http://n:8888", rpc: "http://n:7777/rpc"))
    }

    @Test("bad node addresses are refused with a message", arguments: [
        "", "n:9999", "ftp://n", "http://", "sse=http://a,sse=http://b", "rest=http://a", "sse=http://a,x=1",
    ])
    func bad(_ text: String) {
        #expect(throws: NodeAddressError.self) { try NodeAddress.parse(text) }
    }
}
