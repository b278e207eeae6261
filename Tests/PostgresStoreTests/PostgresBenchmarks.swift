import ChainfeedCore
import ChainfeedTestSupport
import Foundation
import Testing

@testable import PostgresStore

/// Throughput and latency on the real servers; prints a table, asserts nothing about time.
/// Opt-in: `CHAINFEED_PG_BENCH=1 swift test --filter PostgresBenchmarks`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["CHAINFEED_PG_BENCH"] != nil), .serialized)
struct PostgresBenchmarks {
    @Test func `store throughput and read latency`() async throws {
        try await TestDatabase.withStore { store, _ in
            let padding = String(repeating: "x", count: 1_100)
            var rows: [(String, String)] = []
            var height: UInt64 = 0
            for batchSize in [1, 50, 500] {
                let batches = batchSize == 1 ? 500 : 40_000 / batchSize / (batchSize == 50 ? 4 : 1)
                var events = 0
                let start = ContinuousClock.now
                for _ in 0..<batches {
                    var batch: [IngestEvent] = []
                    for i in 0..<batchSize {
                        if i % 10 == 0 {
                            height += 1
                            batch.append(Synthetic.block(height: height, proposer: "v\(height % 5)", deploys: ["b\(height)"]))
                        } else {
                            var deploy = Synthetic.deploy("h\(height)-\(i)", state: .accepted, account: "acct\(i % 50)")
                            deploy.raw = "{\"DeployAccepted\":{\"pad\":\"\(padding)\"}}"
                            batch.append(deploy)
                        }
                    }
                    events += try await store.store(batch, checkpoints: [NodeCheckpoint(stream: "bench", headHeight: height)]).stored.count
                }
                let elapsed = ContinuousClock.now - start
                rows.append(("store, batches of \(batchSize) (~1.2 KB events)", "\(Int(Double(events) / seconds(elapsed))) events/s, \(ms(elapsed / batches)) ms/batch"))
            }
            let count = try await store.blocks(PageRequest()).itemCount
            let deepPage = count / 10
            for (name, request) in [("blocks page 1", PageRequest(page: 1, limit: 10)), ("blocks page \(deepPage) (deepest)", PageRequest(page: deepPage, limit: 10))] {
                let elapsed = try await time(200) { _ = try await store.blocks(request) }
                rows.append((name, "\(ms(elapsed)) ms"))
            }
            let account = Synthetic.account("acct7")
            let accountCount = try await store.accountDeploys(account: account, PageRequest()).itemCount
            let accountDeep = PageRequest(page: accountCount / 10, limit: 10)
            rows.append(("accountDeploys deepest page", "\(ms(try await time(200) { _ = try await store.accountDeploys(account: account, accountDeep) })) ms"))
            let head = try await store.status().headSeq
            rows.append(("events after head-1000, all, 100", "\(ms(try await time(100) { _ = try await store.events(after: head - 1000, limit: 100, filter: .all) })) ms"))
            rows.append(("events after 0, blocks topic, 100", "\(ms(try await time(100) { _ = try await store.events(after: 0, limit: 100, filter: EventFilter(topics: [.blocks])) })) ms"))
            rows.append(("events after 0, faults topic (none), 100", "\(ms(try await time(100) { _ = try await store.events(after: 0, limit: 100, filter: EventFilter(topics: [.faults])) })) ms"))
            rows.append(("events after 0, one account, 100", "\(ms(try await time(100) { _ = try await store.events(after: 0, limit: 100, filter: EventFilter(account: account)) })) ms"))
            rows.append(("status", "\(ms(try await time(200) { _ = try await store.status() })) ms"))
            print("| PostgresEventStore (\(head) events, \(count) blocks) | result |\n|---|---|")
            for (name, value) in rows { print("| \(name) | \(value) |") }
        }
    }

    private func time(_ n: Int, _ body: () async throws -> Void) async throws -> Duration {
        let start = ContinuousClock.now
        for _ in 0..<n { try await body() }
        return (ContinuousClock.now - start) / n
    }

    private func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    private func ms(_ d: Duration) -> String {
        String(format: "%.3f", seconds(d) * 1000)
    }
}
