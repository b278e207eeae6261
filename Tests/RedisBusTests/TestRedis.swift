import ChainfeedCore
import ChainfeedTestSupport
import Foundation
import RedisBus
import Synchronization
import Testing

/// The shared test Redis of `scripts/test-servers.sh`, random channel prefixes, and helpers to run buses.
enum TestRedis {
    /// `CHAINFEED_TEST_REDIS_URL`, else the test servers' env file; a missing server fails the test.
    static func url() throws -> String {
        let name = "CHAINFEED_TEST_REDIS_URL"
        let environment = ProcessInfo.processInfo.environment
        if let url = environment[name], !url.isEmpty { return url }
        let dir = environment["CHAINFEED_TEST_SERVERS_DIR"] ?? "/tmp/chainfeed-test-servers"
        if let text = try? String(contentsOfFile: dir + "/env", encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("export \(name)=") {
                return String(line.dropFirst("export \(name)=".count))
            }
        }
        Issue.record("\(name) is not set: run `bash scripts/test-servers.sh start && source <(bash scripts/test-servers.sh env)`")
        throw ProcessFailure("\(name) is not set and the test servers' env file is missing")
    }

    /// A channel prefix of the test's own, so parallel tests never see each other's messages.
    static func prefix() -> String {
        "t_" + UUID().uuidString.lowercased().prefix(13)
    }

    /// A bus configuration with short timeouts and a fast reconnect, for tests.
    static func configuration(
        url: String, prefix: String, maxFrameBytes: Int = BusWireFormat.defaultMaxFrameBytes
    ) -> RedisEventBus.Configuration {
        RedisEventBus.Configuration(
            url: url, channelPrefix: prefix, connectTimeout: .seconds(2), commandTimeout: .seconds(2),
            reconnectBackoff: Backoff(minimum: .milliseconds(10), maximum: .milliseconds(200), multiplier: 2),
            keepAliveInterval: .seconds(1), maxFrameBytes: maxFrameBytes)
    }

    /// A publishing and a subscribing bus on a channel prefix of their own (on `url`, else the shared test Redis),
    /// and the inbox the subscriber's handler fills. The caller cancels `subscription` when done.
    static func pair(
        url: String? = nil, publisherMaxFrameBytes: Int = BusWireFormat.defaultMaxFrameBytes
    ) throws -> (publisher: RedisEventBus, subscriber: RedisEventBus, inbox: Inbox, subscription: BusSubscription) {
        let url = try url ?? Self.url()
        let prefix = Self.prefix()
        let publisher = try RedisEventBus(configuration: configuration(url: url, prefix: prefix, maxFrameBytes: publisherMaxFrameBytes))
        let subscriber = try RedisEventBus(configuration: configuration(url: url, prefix: prefix))
        let inbox = Inbox()
        return (publisher, subscriber, inbox, subscriber.subscribe(inbox.handler))
    }

    /// Runs `bus` (its subscription) while `body` runs, then cancels it and waits for it to end.
    static func running<T>(_ buses: RedisEventBus..., body: () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for bus in buses { group.addTask { try await bus.run() } }
            do {
                let result = try await body()
                group.cancelAll()
                try await group.waitForAll()
                return result
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }
}

/// What a bus handler was given, in order, for a test to wait on and inspect.
final class Inbox: Sendable {
    private let messages = Mutex<[BusMessage]>([])

    var handler: @Sendable (BusMessage) -> Void {
        { message in self.messages.withLock { $0.append(message) } }
    }

    var all: [BusMessage] { messages.withLock { $0 } }

    var events: [StoredEvent] {
        all.flatMap { message -> [StoredEvent] in
            if case .events(let events) = message { events } else { [] }
        }
    }

    var heartbeats: [Seq] {
        all.compactMap { message in
            if case .heartbeat(let head) = message { head } else { nil }
        }
    }

    var reconnects: Int { all.filter { $0 == .reconnected }.count }

    /// Waits until `condition` holds, failing the test after `timeout` (a guard against hangs, not a timing assert).
    func wait(
        for what: String, timeout: Duration = .seconds(15), sourceLocation: SourceLocation = #_sourceLocation,
        until condition: (Inbox) -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition(self) {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting for \(what); got \(all.count) messages", sourceLocation: sourceLocation)
                throw ProcessFailure("timed out waiting for \(what)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Waits until the subscription went live (`count` times in all).
    func waitUntilLive(count: Int = 1, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await wait(for: "the subscription to go live (\(count))", sourceLocation: sourceLocation) { $0.reconnects >= count }
    }
}

/// Events covering every shape the wire format must carry.
enum SampleEvents {
    static func batch(from first: Seq, count: Int) -> [StoredEvent] {
        (0..<count).map { i in
            let seq = first + Seq(i)
            let source: IngestEvent = switch i % 5 {
            case 0: Synthetic.block(height: seq, era: seq / 10)
            case 1: Synthetic.deploy("d\(seq)", state: .processed, block: seq)
            case 2: Synthetic.signature(height: seq, validator: "v\(seq)")
            case 3: Synthetic.step(era: UInt64.max - seq)
            default: Synthetic.unknown("SomethingNew\(seq)", body: "{\"note\":\"ünïcødé ✓ \\\"quoted\\\"\\nline\"}")
            }
            return StoredEvent(seq: seq, source)
        }
    }
}
