import ChainfeedCore
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
        init(_ name: String, failure: (any Error)? = nil) {
            self.name = name
            self.failure = failure
        }
        func set(_ failure: (any Error)?) { self.failure = failure }
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
            members: zip(readers, zones).map { ReplicaSet.Member(reader: $0, zone: $1) },
            strategy: strategy, ownZone: own, isInfrastructureError: { $0 is Down })
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
