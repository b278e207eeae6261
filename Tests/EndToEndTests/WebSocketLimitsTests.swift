import ChainfeedTestSupport
import Foundation
import Logging
import NIOWebSocket
import Synchronization
import Testing
import WSClient

/// Replies collected from a client's reading task.
final class Replies: Sendable {
    private let state = Mutex<[[String: String]]>([])
    func append(_ reply: [String: String]) { state.withLock { $0.append(reply) } }
    var all: [[String: String]] { state.withLock { $0 } }
}

/// Bad input, limits, slow consumers and a Redis restart, against real processes.
@Suite(.serialized) struct WebSocketLimitsTests {
    /// A writer and one web replica on a fresh database and the given Redis; returns the replica's port.
    struct Cluster {
        let node: ChainfeedProcess
        let writer: ChainfeedProcess
        let web: ChainfeedProcess
        let port: Int
        func stop() { [web, writer, node].forEach { $0.stop() } }
    }

    static func cluster(redis: String, blockIntervalMs: Int = 100, deploysPerBlock: Int = 3, serveFlags: [String] = []) async throws -> Cluster {
        let db = try await FanOutClusterTests.freshDatabase()
        _ = try await ChainfeedProcess(["migrate", "--database-url", db.primary]).waitForExit(timeout: .seconds(30))
        let nodePort = try freePort()
        let node = try ChainfeedProcess(["simulate-node", "--port", "\(nodePort)", "--block-interval-ms", "\(blockIntervalMs)", "--deploys-per-block", "\(deploysPerBlock)"])
        let port = try freePort()
        let prefix = "t\(UInt32.random(in: 0...UInt32.max))"
        let web = try ChainfeedProcess(["serve", "--read-database-url", db.replica, "--redis-url", redis, "--redis-channel-prefix", prefix, "--port", "\(port)"] + serveFlags)
        _ = try await HTTP.waitFor("http://127.0.0.1:\(port)/status", timeout: .seconds(30)) { _ in true }
        let writer = try ChainfeedProcess(["ingest", "--node", "http://127.0.0.1:\(nodePort)", "--database-url", db.primary, "--redis-url", redis, "--redis-channel-prefix", prefix, "--port", "\(try freePort())"])
        return Cluster(node: node, writer: writer, web: web, port: port)
    }

    /// Sends frames and collects every reply until the server closes or `seconds` pass.
    static func exchange(port: Int, frames: [String], seconds: Double) async throws -> (replies: [[String: String]], close: UInt16?) {
        let replies = Replies()
        let close = try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/ws", logger: Logger(label: "test")) { inbound, outbound, _ in
            for frame in frames { try await outbound.write(.text(frame)) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await message in inbound.messages(maxSize: 1 << 22) {
                        guard case .text(let text) = message,
                            let json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                            json["type"] as? String != "event"
                        else { continue }
                        replies.append(json.mapValues { "\($0)" })
                    }
                }
                group.addTask { try await Task.sleep(for: .seconds(seconds)) }
                try await group.next()
                group.cancelAll()
            }
        }
        return (replies.all, close.map { UInt16(webSocketErrorCode: $0.closeCode) })
    }

    @Test("malformed frames, unknown topics and too many subscriptions get error frames; the replica keeps serving")
    func badFrames() async throws {
        let c = try await Self.cluster(redis: try FanOutClusterTests.redisURL, serveFlags: ["--max-subscriptions", "2", "--max-frame-size", "1024"])
        defer { c.stop() }
        let (replies, _) = try await Self.exchange(port: c.port, frames: [
            "not json", "{\"action\":\"subscribe\"}", "{\"action\":\"jump\",\"id\":\"j\"}",
            "{\"action\":\"subscribe\",\"id\":\"t\",\"topics\":[\"blok\"]}",
            "{\"action\":\"subscribe\",\"id\":\"f\",\"filter\":{\"account\":\"zz\"}}",
            "{\"action\":\"subscribe\",\"id\":\"a\",\"topics\":[\"blocks\"]}",
            "{\"action\":\"subscribe\",\"id\":\"a\",\"topics\":[\"blocks\"]}",
            "{\"action\":\"subscribe\",\"id\":\"b\",\"topics\":[\"deploys\"]}",
            "{\"action\":\"subscribe\",\"id\":\"c\",\"topics\":[\"steps\"]}",
            "{\"action\":\"unsubscribe\",\"id\":\"nope\"}",
        ], seconds: 3)
        let errors = replies.filter { $0["type"] == "error" }
        #expect(errors.count == 8, "\(replies)")
        #expect(errors.contains { $0["id"] == "c" && $0["code"] == "limit" })
        #expect(errors.contains { $0["id"] == "t" && $0["message"]?.contains("blok") == true })
        #expect(replies.filter { $0["type"] == "subscribed" }.compactMap { $0["id"] }.sorted() == ["a", "b"])

        // A frame over --max-frame-size closes that connection with 1009.
        let (_, close) = try await Self.exchange(port: c.port, frames: [String(repeating: "x", count: 4096)], seconds: 3)
        #expect(close == 1009)

        // Everyone else is still served.
        let (after, _) = try await Self.exchange(port: c.port, frames: ["{\"action\":\"subscribe\",\"id\":\"ok\",\"topics\":[\"all\"]}"], seconds: 1)
        #expect(after.first?["type"] == "subscribed")
        #expect(try await HTTP.get("http://127.0.0.1:\(c.port)/blocks?limit=1").status == 200)
    }

    @Test("a client that stops reading is closed as a slow consumer; others keep receiving; memory stays bounded")
    func slowConsumer() async throws {
        let c = try await Self.cluster(redis: try FanOutClusterTests.redisURL, blockIntervalMs: 20, deploysPerBlock: 40, serveFlags: ["--max-pending-bytes", "65536"])
        defer { c.stop() }
        _ = try await HTTP.waitFor("http://127.0.0.1:\(c.port)/blocks?limit=1", timeout: .seconds(30)) { ($0["itemCount"] as? Int ?? 0) > 0 }
        let stalled = try RawWebSocket(port: c.port, path: "/ws?topics=all")
        defer { stalled.close() }
        let metrics = "http://127.0.0.1:\(c.port)/metrics"
        let deadline = ContinuousClock.now + .seconds(40)
        var closed = false
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await FanOutClusterTests.client(
                    port: c.port, spec: .init(topics: ["all"], fromSeq: nil),
                    into: FanOutClusterTests.Received(), until: ContinuousClock.now + .seconds(15))
            }
            while ContinuousClock.now < deadline && !closed {
                try await Task.sleep(for: .milliseconds(500))
                let text = try await HTTP.text(metrics)
                closed = text.split(separator: "\n").contains { $0.hasPrefix("chainfeed_ws_slow_consumer_closes_total") && !$0.hasSuffix(" 0") }
            }
            try await group.waitForAll()
        }
        #expect(closed, "the stalled client was never closed as a slow consumer")
        let rss = try #require(residentBytes(pid: c.web.pid))
        #expect(rss < 512 << 20, "replica RSS \(rss >> 20) MiB")
    }
}
