import ChainfeedCore
import ChainfeedTestSupport
import Testing

/// Compares every read of two stores (the PostgreSQL one against `InMemoryEventStore`).
enum ReferenceComparison {
    static func expectSameReads(
        _ store: any EventReader, _ reference: any EventReader, events: [IngestEvent],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        #expect(try await store.status() == reference.status(), sourceLocation: sourceLocation)

        for limit in [1, 3, 10] {
            let pageCount = try await reference.blocks(PageRequest(page: 1, limit: limit)).pageCount
            for page in 1...(pageCount + 1) {
                let request = PageRequest(page: page, limit: limit)
                let (a, b) = (try await store.blocks(request), try await reference.blocks(request))
                #expect(a.items == b.items && a.itemCount == b.itemCount, "blocks page \(page) limit \(limit)", sourceLocation: sourceLocation)
            }
        }

        var blockHashes = Set<String>(), deployHashes = Set<String>(), accounts = Set<String>()
        var proposers = Set<String>(), eras = Set<UInt64>()
        for event in events {
            if let v = event.keys.blockHash { blockHashes.insert(v) }
            if let v = event.keys.deployHash { deployHashes.insert(v) }
            if let v = event.keys.account { accounts.insert(v) }
            if let v = event.keys.proposer { proposers.insert(v) }
            if let v = event.keys.eraId { eras.insert(v) }
        }
        blockHashes.insert(Synthetic.hash("missing"))
        deployHashes.insert(Synthetic.hash("missing"))
        accounts.insert(Synthetic.account("nobody"))

        for hash in blockHashes {
            #expect(try await store.block(hash: hash) == reference.block(hash: hash), sourceLocation: sourceLocation)
        }
        for hash in deployHashes {
            #expect(try await store.deploy(hash: hash) == reference.deploy(hash: hash), sourceLocation: sourceLocation)
        }
        for account in accounts {
            for limit in [2, 10] {
                let pageCount = try await reference.accountDeploys(account: account, PageRequest(page: 1, limit: limit)).pageCount
                for page in 1...(pageCount + 1) {
                    let request = PageRequest(page: page, limit: limit)
                    let a = try await store.accountDeploys(account: account, request)
                    let b = try await reference.accountDeploys(account: account, request)
                    #expect(a.items == b.items && a.itemCount == b.itemCount, "account page \(page)", sourceLocation: sourceLocation)
                }
            }
        }

        var filters: [EventFilter] = [.all, EventFilter(topics: []), EventFilter(topics: Set(Topic.allCases))]
        filters += Topic.allCases.map { EventFilter(topics: [$0]) }
        filters += [EventFilter(topics: [.blocks, .deploys]), EventFilter(topics: [.signatures, .faults, .steps])]
        filters += blockHashes.map { EventFilter(blockHash: $0) }
        filters += deployHashes.map { EventFilter(deployHash: $0) }
        filters += accounts.flatMap { [EventFilter(account: $0), EventFilter(topics: [.deploys, .blocks], account: $0)] }
        filters += proposers.map { EventFilter(topics: [.blocks], proposer: $0) }
        filters += eras.flatMap { [EventFilter(eraId: $0), EventFilter(topics: [.steps], eraId: $0)] }
        let head = try await reference.status().headSeq
        for filter in filters {
            for after in [0, head / 3, head / 2, head, head + 5] {
                for limit in [1, 4, 100] {
                    let a = try await store.events(after: after, limit: limit, filter: filter)
                    let b = try await reference.events(after: after, limit: limit, filter: filter)
                    #expect(a == b, "events after \(after) limit \(limit) filter \(filter)", sourceLocation: sourceLocation)
                }
            }
        }
    }
}

/// A deterministic random mix of every kind, drawn with repetition so batches overlap and repeat.
struct Workload {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    /// SplitMix64.
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    mutating func pool(size: Int) -> [IngestEvent] {
        let eras: [UInt64] = [1, 2, UInt64(Int64.max) + 7, UInt64.max - 1]
        let accounts: [String?] = ["alice", "bob", "carol", nil]
        var pool: [IngestEvent] = []
        for _ in 0..<size {
            switch below(8) {
            case 0:
                let deploys = (0..<below(3)).map { _ in "d\(below(30))" }
                pool.append(Synthetic.block(height: UInt64(below(40)), era: pick(eras), proposer: pick(["v1", "v2", "v3"]), deploys: deploys))
            case 1, 2, 3:
                let state = pick([DeployState.accepted, .processed, .expired])
                let block = below(2) == 0 ? nil : UInt64(below(40))
                pool.append(Synthetic.deploy(
                    "d\(below(30))", state: state, account: pick(accounts), block: block,
                    cost: below(2) == 0 ? nil : String(below(1000))))
            case 4:
                pool.append(Synthetic.signature(height: UInt64(below(40)), validator: pick(["v1", "v2"])))
            case 5:
                pool.append(Synthetic.step(era: pick(eras)))
            case 6:
                let fault = Fault(eraId: pick(eras), publicKey: Synthetic.account(pick(["v1", "v2"])), timestamp: "2024-01-01T00:00:00Z")
                pool.append(IngestEvent(NodeEvent(kindName: "Fault", raw: "{\"Fault\":{\"era_id\":\(fault.eraId)}}", payload: .fault(fault)))!)
            default:
                pool.append(Synthetic.unknown("Future\(below(2))", body: "{\"n\":\(below(5)),\"s\":\"quote \\\" backslash \\\\ é ✓\"}"))
            }
        }
        return pool
    }

    mutating func checkpoints() -> [NodeCheckpoint] {
        (0..<below(3)).map { _ in
            NodeCheckpoint(
                stream: pick(["http://n1/events", "http://n2/events/main", "http://n2/events/sigs"]),
                lastEventId: below(4) == 0 ? nil : UInt32(truncatingIfNeeded: next()),
                headHeight: below(4) == 0 ? nil : next(), missedEvents: next() % 3 == 0 ? UInt64.max : UInt64(below(9)))
        }
    }
}
