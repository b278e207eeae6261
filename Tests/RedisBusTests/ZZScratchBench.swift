import ChainfeedCore
import RedisBus
import Testing

@Suite struct ZZScratchBench {
    @Test("scratch: throughput")
    func throughput() async throws {
        let url = try TestRedis.url()
        let payload = String(repeating: "x", count: 200)
        for batchSize in [1, 10, 100, 1000] {
            let total = 100_000
            var events: [[StoredEvent]] = []
            var seq: Seq = 0
            for _ in 0..<(total / batchSize) {
                events.append((0..<batchSize).map { _ in seq += 1; return StoredEvent(seq: seq, kind: "BlockAdded", topic: .blocks, keys: EventKeys(blockHash: "ab", eraId: 5), raw: payload, data: "{}") })
            }
            let prefix = TestRedis.prefix()
            let publisher = try RedisEventBus(configuration: TestRedis.configuration(url: url, prefix: prefix))
            let subscriber = try RedisEventBus(configuration: TestRedis.configuration(url: url, prefix: prefix))
            let inbox = Counter()
            let sub = subscriber.subscribe { m in if case .events(let e) = m { inbox.add(e.count) } }
            defer { sub.cancel() }
            try await TestRedis.running(subscriber) {
                while !subscriber.isSubscribed { try await Task.sleep(for: .milliseconds(5)) }
                let start = ContinuousClock.now
                for batch in events { try await publisher.publish(batch) }
                let published = ContinuousClock.now - start
                while inbox.value < total { try await Task.sleep(for: .milliseconds(1)) }
                let received = ContinuousClock.now - start
                print("batch \(batchSize): publish \(published) (\(Double(total) / (Double(published.components.attoseconds) / 1e18 + Double(published.components.seconds))) ev/s), all received after \(received)")
            }
        }
    }
}

import Synchronization
final class Counter: Sendable {
    let m = Mutex(0)
    func add(_ n: Int) { m.withLock { $0 += n } }
    func reset() { m.withLock { $0 = 0 } }
    var value: Int { m.withLock { $0 } }
}
