import AsyncHTTPClient
import ChainfeedTestSupport
import Foundation
import Logging
import Synchronization
import Testing
import WSClient

/// `/metrics` of the real binary, scraped before and during an end-to-end run: every metric the README
/// lists is there from the start and moves when what it counts happens. No timing asserts; generous waits.
@Suite(.serialized) struct MetricsTests {
    @Test("a fresh all-in-one lists its metrics, and each one moves with ingest, clients, REST and a Redis hiccup")
    func metricsMove() async throws {
        let prefix = "metrics\(UInt32.random(in: 0...UInt32.max))"
        let dev = try ChainfeedProcess([
            "dev", "--port", "0", "--block-interval-ms", "50", "--deploys-per-block", "6", "--drop-every", "150",
            "--redis-url", try FanOutClusterTests.redisURL, "--redis-channel-prefix", prefix,
        ])
        defer { dev.stop() }
        let base = try await dev.announcedURL()
        let port = try #require(Int(base.split(separator: ":").last ?? ""))

        let fresh = try await Scrape(base)
        #expect(fresh.sampleCount >= 15, "a fresh process lists \(fresh.sampleCount) samples")
        let missing = Self.eagerNames.filter { !fresh.has($0) }
        #expect(missing.isEmpty, "not listed at startup: \(missing)")
        _ = try await HTTP.waitFor("\(base)/blocks?limit=1") { ($0["itemCount"] as? Int ?? 0) >= 2 }
        let before = try await Scrape(base)

        var blockHash = ""
        let stop = Tally()
        let wsEvents = Tally()
        let sseBytes = Tally()
        try await withThrowingTaskGroup(of: Void.self) { clients in
            clients.addTask { try await Self.webSocketClient(port: port, events: wsEvents, stop: stop) }
            clients.addTask { try await Self.sseClient("\(base)/events/stream?start_from=1", bytes: sseBytes, stop: stop) }

            // REST by route: the label is the pattern, never the raw path.
            let page = try await HTTP.object("\(base)/blocks?limit=2")
            let hash = try #require((page["data"] as? [[String: Any]])?.first?["blockHash"] as? String)
            #expect(try await HTTP.get("\(base)/block/\(hash)").status == 200)
            blockHash = hash
            #expect(try await HTTP.get("\(base)/events?after=0&limit=5").status == 200)
            #expect(try await HTTP.get("\(base)/status").status == 200)

            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline, wsEvents.value < 50 || sseBytes.value < 1000 {
                try await Task.sleep(for: .milliseconds(200))
            }
            let during = try await Scrape(base)
            #expect(during.sum("chainfeed_ws_connections") >= 1)
            #expect(during.sum("chainfeed_sse_connections") >= 1)
            #expect(during.sum("chainfeed_ws_subscriptions") >= 1)
            #expect(during.sum("chainfeed_sse_subscriptions") >= 1)

            // Drop this process's Redis connections until a gap fill follows the lost messages.
            let hiccupDeadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < hiccupDeadline {
                try await Self.killRedisConnections(of: dev.pid)
                try await Task.sleep(for: .seconds(2))
                let now = try await Scrape(base)
                if now.sum("chainfeed_fanout_gap_fills_total") > before.sum("chainfeed_fanout_gap_fills_total"),
                    now.sum("chainfeed_redis_reconnects_total") > before.sum("chainfeed_redis_reconnects_total")
                {
                    break
                }
            }
            stop.add(1)
            clients.cancelAll()
        }
        let after = try await Scrape(base)

        #expect(wsEvents.value > 0 && sseBytes.value > 0)
        let still = Self.movingNames.filter { after.sum($0) <= before.sum($0) }.map { "\($0) \(before.sum($0)) → \(after.sum($0))" }
        #expect(still.isEmpty, "did not move: \(still)")
        #expect(after.value(#"chainfeed_ingest_events_total{kind="BlockAdded"}"#) > before.value(#"chainfeed_ingest_events_total{kind="BlockAdded"}"#))
        #expect(after.value(#"chainfeed_http_request_duration_seconds_count{route="/blocks",status="200"}"#) >= 1)
        #expect(after.samples.keys.contains { $0.hasPrefix(#"chainfeed_http_request_duration_seconds_count{route="/block/"#) }, "no series for the /block/… route")
        #expect(!blockHash.isEmpty && !after.text.contains(blockHash), "a raw path became a label")
        #expect(after.sum("chainfeed_node_blocks_rejected_total") == 0, "no chain verification yet: stays 0")

        dev.signal(SIGINT)
        _ = try await dev.waitForExit(timeout: .seconds(15))
    }

    @Test("a WebSocket client that never reads is closed as a slow consumer and counted, with what it missed")
    func slowConsumerCounted() async throws {
        let dev = try ChainfeedProcess(["dev", "--port", "0", "--block-interval-ms", "20", "--deploys-per-block", "40", "--max-pending-bytes", "65536"])
        defer { dev.stop() }
        let base = try await dev.announcedURL()
        let port = try #require(Int(base.split(separator: ":").last ?? ""))
        _ = try await HTTP.waitFor("\(base)/blocks?limit=1") { ($0["itemCount"] as? Int ?? 0) >= 1 }
        let stalled = try RawWebSocket(port: port, path: "/ws?topics=all")
        defer { stalled.close() }
        let scrape = try await Scrape.until(base, every: .milliseconds(500)) {
            $0.sum("chainfeed_ws_slow_consumer_closes_total") > 0 && $0.sum("chainfeed_ws_dropped_messages_total") > 0
        }
        #expect(scrape.sum("chainfeed_ws_slow_consumer_closes_total") >= 1)
        #expect(scrape.sum("chainfeed_ws_dropped_messages_total") >= 1)
    }

    @Test("a follower that loses the node it streams from switches to the other and counts the switch")
    func nodeSwitchCounted() async throws {
        let ports = [try freePort(), try freePort()]
        let nodes = try ports.map { port in
            try ChainfeedProcess(["simulate-node", "--port", "\(port)", "--block-interval-ms", "100", "--deploys-per-block", "2", "--seed", "11"])
        }
        defer { nodes.forEach { $0.stop() } }
        let dev = try ChainfeedProcess(["dev", "--port", "0"] + ports.flatMap { ["--node", "http://127.0.0.1:\($0)"] })
        defer { dev.stop() }
        let base = try await dev.announcedURL()
        let status = try await HTTP.waitFor("\(base)/status") { status in
            let streams = (status["follower"] as? [String: Any])?["nodes"] as? [[String: Any]] ?? []
            return streams.count == 2 && streams.allSatisfy { $0["connected"] as? Bool == true } && (status["blockCount"] as? Int ?? 0) >= 2
        }
        let streaming = try #require((status["follower"] as? [String: Any])?["streamingFrom"] as? String)
        let before = try await Scrape(base)
        #expect(before.sum("chainfeed_node_streams_connected") == 2)
        let victim = try #require(ports.firstIndex { streaming.hasPrefix("http://127.0.0.1:\($0)/") })
        nodes[victim].stop()
        let after = try await Scrape.until(base) {
            $0.sum("chainfeed_node_switches_total") > 0 && $0.sum("chainfeed_node_reconnects_total") > 0
        }
        #expect(after.sum("chainfeed_node_switches_total") >= 1)
        #expect(after.sum("chainfeed_node_reconnects_total") > before.sum("chainfeed_node_reconnects_total"))
        // Both nodes streamed the same chain for a while: the second copy of each event was skipped.
        #expect(after.sum("chainfeed_ingest_duplicates_total") > 0)
    }

    // MARK: What is checked

    /// Listed by a process that has not done anything yet (created eagerly).
    static let eagerNames = [
        "chainfeed_ingest_events_total", "chainfeed_ingest_duplicates_total", "chainfeed_ingest_batch_commit_seconds_count",
        "chainfeed_ingest_head_seq", "chainfeed_follower_lag_blocks", "chainfeed_node_reconnects_total",
        "chainfeed_node_switches_total", "chainfeed_node_blocks_rejected_total", "chainfeed_node_streams_connected",
        "chainfeed_bus_publish_errors_total", "chainfeed_redis_publish_errors_total", "chainfeed_redis_reconnects_total",
        "chainfeed_redis_connection_errors_total", "chainfeed_fanout_gap_fills_total", "chainfeed_fanout_replays_total",
        "chainfeed_fanout_messages_delivered_total", "chainfeed_ws_connections", "chainfeed_sse_connections",
        "chainfeed_ws_subscriptions", "chainfeed_sse_subscriptions", "chainfeed_ws_slow_consumer_closes_total",
        "chainfeed_sse_slow_consumer_closes_total", "chainfeed_ws_dropped_messages_total", "chainfeed_sse_dropped_messages_total",
        "chainfeed_fanout_inbox_dropped_total",
    ]

    /// Counters (and histogram counts) that must have grown between the first and the last scrape.
    static let movingNames = [
        "chainfeed_ingest_events_total", "chainfeed_ingest_duplicates_total", "chainfeed_ingest_batch_commit_seconds_count",
        "chainfeed_ingest_head_seq", "chainfeed_ingest_head_height", "chainfeed_node_reconnects_total",
        "chainfeed_bus_published_events_total", "chainfeed_redis_published_events_total", "chainfeed_redis_events_received_total",
        "chainfeed_redis_reconnects_total", "chainfeed_redis_connection_errors_total",
        "chainfeed_fanout_gap_fills_total", "chainfeed_fanout_gap_filled_events_total",
        "chainfeed_fanout_replays_total", "chainfeed_fanout_replayed_events_total", "chainfeed_fanout_messages_delivered_total",
        "chainfeed_fanout_head_seq", "chainfeed_http_request_duration_seconds_count",
    ]

    // MARK: Clients and helpers

    /// One WebSocket subscription to everything from seq 0 (a replay, then live), counting event frames.
    static func webSocketClient(port: Int, events: Tally, stop: Tally) async throws {
        try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/ws", configuration: .init(maxFrameSize: 1 << 22), logger: Logger(label: "test.ws")) { inbound, outbound, _ in
            try await outbound.write(.text(#"{"action":"subscribe","id":"m","topics":["all"],"fromSeq":0}"#))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await message in inbound.messages(maxSize: 1 << 22) {
                        if case .text(let text) = message, text.contains(#""type":"event""#) { events.add(1) }
                    }
                }
                group.addTask {
                    while stop.value == 0 { try await Task.sleep(for: .milliseconds(100)) }
                }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    /// One SSE stream from `url`, counting the bytes it gets until told to stop.
    static func sseClient(_ url: String, bytes: Tally, stop: Tally) async throws {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(300))
        for try await chunk in response.body {
            bytes.add(chunk.readableBytes)
            if stop.value > 0 { break }
        }
    }

    /// Closes, on the Redis server, every connection of process `pid` (publisher and subscriber), found
    /// through /proc: the process must reconnect, and what was published meanwhile is a gap it fills.
    static func killRedisConnections(of pid: Int32) async throws {
        let url = try FanOutClusterTests.redisURL
        let redisPort = try #require(Int(url.split(separator: ":").last?.split(separator: "/").first ?? ""))
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        let inodes = Set(fds.compactMap { fd -> String? in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"), target.hasPrefix("socket:[") else { return nil }
            return String(target.dropFirst("socket:[".count).dropLast())
        })
        // Read to its end by a tool: a procfs file reports size 0, and a one-shot read may stop at the first page.
        let table = try await runTool(["cat", "/proc/net/tcp"]).output
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 9, inodes.contains(String(fields[9])),
                let remotePort = fields[2].split(separator: ":").last.flatMap({ Int($0, radix: 16) }), remotePort == redisPort,
                let localPort = fields[1].split(separator: ":").last.flatMap({ Int($0, radix: 16) })
            else { continue }
            _ = try await runTool(["redis-cli", "-u", url, "CLIENT", "KILL", "ADDR", "127.0.0.1:\(localPort)"])
        }
    }
}

/// A count shared with client tasks.
final class Tally: Sendable {
    private let count = Atomic<Int>(0)
    func add(_ n: Int) { count.add(n, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// One scrape of `/metrics`: samples by their full series name (`name{labels}`).
struct Scrape {
    let text: String
    let samples: [String: Double]

    init(_ base: String) async throws {
        text = try await HTTP.text("\(base)/metrics")
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        self.samples = samples
    }

    /// Scrapes `base` until `done` holds or `timeout` passes, and returns the last scrape for the caller to assert on.
    static func until(
        _ base: String, timeout: Duration = .seconds(60), every interval: Duration = .milliseconds(250), _ done: (Scrape) -> Bool
    ) async throws -> Scrape {
        let deadline = ContinuousClock.now + timeout
        var scrape = try await Scrape(base)
        while ContinuousClock.now < deadline, !done(scrape) {
            try await Task.sleep(for: interval)
            scrape = try await Scrape(base)
        }
        return scrape
    }

    var sampleCount: Int { samples.count }

    /// The value of one series; 0 when absent.
    func value(_ series: String) -> Double { samples[series] ?? 0 }

    /// The sum over every series of metric `name`, whatever its labels.
    func sum(_ name: String) -> Double {
        samples.reduce(0) { total, sample in Self.name(of: sample.key) == name ? total + sample.value : total }
    }

    func has(_ name: String) -> Bool { samples.keys.contains { Self.name(of: $0) == name } }

    private static func name(of series: String) -> Substring {
        series.prefix { $0 != "{" }
    }
}
