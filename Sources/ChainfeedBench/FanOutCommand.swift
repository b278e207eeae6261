import ArgumentParser
import ChainfeedCore
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Opens N WebSocket subscribers, lets events flow at the source's fixed pace for a bounded window, and
/// appends delivered/s, latency, RSS and CPU figures as `label.key=value` lines.
struct FanOutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanout",
        abstract: "WebSocket fan-out load: N subscribers, a bounded window, delivered/s, latency, RSS, CPU.")

    @Option(help: "WebSocket URL, ws://127.0.0.1:PORT/PATH?QUERY (loopback only).")
    var url: String
    @Option(help: "WebSocket connections to open.")
    var connections: Int
    @Option(help: "Connection attempts in flight at once.")
    var concurrency = 256
    @Flag(help: "Append &account=<account i> to connection i's URL (one account per connection).")
    var accountFilter = false
    @Option(help: "When a connection counts as subscribed: subscribed (Chainfeed's frame) or upgrade (nchan).")
    var readyOn = "subscribed"
    @Option(help: "Event source: watch (the writer publishes), relay (watch + POST to nchan), publish (bench publishes).")
    var source = "watch"
    @Option(help: "Redis of the event bus, redis://127.0.0.1:PORT.")
    var redis: String
    @Option(help: "Bus channel prefix (writer and replica agree on it).")
    var channelPrefix = "chainfeed"
    @Option(help: "Topics the connections subscribe to: events of these topics owe a delivery per connection.")
    var topics = "blocks,deploys"
    @Option(help: "nchan publisher URL for --source relay, http://127.0.0.1:PORT/pub/CHANNEL.")
    var relay: String?
    @Option(help: "Events per second for --source publish.")
    var rate = 1000
    @Option(name: .customLong("pid"), help: "A server process to measure (repeatable: nginx master and workers).")
    var pids: [Int32] = []
    @Option(help: "Seconds after the first event before the window opens.")
    var warmup = 2.0
    @Option(help: "Seconds the window lasts.")
    var duration = 10.0
    @Option(help: "Seconds to wait for late deliveries after the window.")
    var grace = 2.0
    @Option(help: "Longest wait for the first event, in seconds.")
    var firstEventTimeout = 30.0
    @Option(help: "A file created once every connection is subscribed and idle RSS is read.")
    var readyFile: String?
    @Option(help: "Prefix of the result keys.")
    var label: String
    @Option(help: "File the key=value results are appended to (stdout when absent).")
    var out: String?
    @Option(help: "Event loops (threads) for the connections.")
    var loops = 2

    func validate() throws {
        guard (1...20_000).contains(connections) else { throw ValidationError("--connections must be 1…20000") }
        guard ReadyOn(rawValue: readyOn) != nil else { throw ValidationError("--ready-on must be subscribed or upgrade") }
        guard SourceMode(rawValue: source) != nil else { throw ValidationError("--source must be watch, relay or publish") }
        guard duration > 0, duration <= 300, warmup >= 0, grace >= 0 else { throw ValidationError("bad window") }
        if source == "relay" && relay == nil { throw ValidationError("--source relay needs --relay") }
    }

    func run() async throws {
        let target = try LoopbackURL(url)
        let bus = try LoopbackURL(redis)
        let limit = ProcessStats.raiseOpenFileLimit()
        guard limit >= connections + 64 else {
            throw ValidationError("open-file limit \(limit) is too low for \(connections) connections")
        }
        // Bounded: whatever happens, this process ends.
        let deadline = firstEventTimeout + warmup + duration + grace + 240
        Thread.exitAfter(seconds: deadline)

        let group = MultiThreadedEventLoopGroup(numberOfThreads: loops)
        let sourceGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let mode = SourceMode(rawValue: source)!
        var settings = SourceSettings(
            mode: mode, redisHost: bus.host, redisPort: bus.port, channelPrefix: channelPrefix,
            topics: Set(topics.split(separator: ",").compactMap { Topic(rawValue: String($0)) }),
            owedPerEvent: mode == .publish ? 1 : connections)
        if let relay {
            let r = try LoopbackURL(relay)
            settings.relayHost = r.host
            settings.relayPort = r.port
            settings.relayPath = r.path
        }
        settings.rate = rate
        settings.accounts = connections
        let eventSource = EventSource(loop: sourceGroup.next(), settings: settings)
        try await eventSource.start()

        let before = ProcessStats.read(pids)
        let client = LoadClient(group: group, host: target.host, port: target.port, readyOn: ReadyOn(rawValue: readyOn)!)
        let path = target.path
        let accountFilter = self.accountFilter
        let connect = await client.connect(count: connections, concurrency: concurrency) { i in
            accountFilter ? path + "&account=" + EventSource.account(i) : path
        }
        log("\(label): \(connect.channels.count)/\(connections) connected in \(fmt(connect.seconds, 1)) s"
            + (connect.firstError.map { ", first error: \($0)" } ?? ""))
        try await Task.sleep(for: .seconds(1))
        let idle = ProcessStats.read(pids)
        if let readyFile { try writeFile(readyFile, "ready\n") }

        try await eventSource.begin()
        let waitUntil = monotonicNanos() + UInt64(firstEventTimeout * 1e9)
        var first = try await eventSource.firstRecorded()
        while first == nil && monotonicNanos() < waitUntil {
            try await Task.sleep(for: .milliseconds(50))
            first = try await eventSource.firstRecorded()
        }
        var results = Results(label: label)
        results["connections"] = "\(connections)"
        results["connected"] = "\(connect.channels.count)"
        results["connect_s"] = fmt(connect.seconds, 1)
        results["rss_before_kib"] = "\(before.rssKiB)"
        results["rss_idle_kib"] = "\(idle.rssKiB)"
        if !connect.channels.isEmpty {
            results["rss_per_conn_bytes"] = "\(Int(Double(idle.rssKiB - before.rssKiB) * 1024 / Double(connect.channels.count)))"
        }
        guard first != nil else {
            results["error"] = "no event within \(Int(firstEventTimeout)) s"
            await client.close(connect.channels)
            await eventSource.stop()
            try results.write(to: out)
            throw ExitCode(3)
        }

        try await Task.sleep(for: .seconds(warmup))
        let t0 = monotonicNanos()
        let server0 = ProcessStats.read(pids)
        let self0 = ProcessStats.read([0])
        try await Task.sleep(for: .seconds(duration))
        let t1 = monotonicNanos()
        let server1 = ProcessStats.read(pids)
        let self1 = ProcessStats.read([0])
        try await Task.sleep(for: .seconds(grace))

        let published = try await eventSource.snapshot()
        let received = await client.snapshot()
        let end = ProcessStats.read(pids)
        await client.close(connect.channels)
        await eventSource.stop()
        try? await group.shutdownGracefully()
        try? await sourceGroup.shutdownGracefully()

        // MARK: Figures over the window
        let window = Double(t1 - t0) / 1e9
        var events = 0
        var owed = 0
        for (seq, at) in published.publishedAt where at >= t0 && at < t1 {
            events += 1
            owed += published.owed[seq] ?? 0
        }
        var latencies: [UInt64] = []
        latencies.reserveCapacity(owed)
        var early = 0
        for part in received.parts {
            for (seq, time) in zip(part.seqs, part.times) {
                guard let at = published.publishedAt[seq], at >= t0, at < t1 else { continue }
                if time < at { early += 1 }
                latencies.append(time > at ? time - at : 0)
            }
        }
        latencies.sort()
        let delivered = latencies.count
        let serverCPU = server1.cpuSeconds - server0.cpuSeconds
        let clientCPU = self1.cpuSeconds - self0.cpuSeconds
        results["window_s"] = fmt(window, 2)
        results["events"] = "\(events)"
        results["event_rate"] = fmt(Double(events) / window, 1)
        results["owed"] = "\(owed)"
        results["delivered"] = "\(delivered)"
        results["delivered_per_s"] = fmt(Double(delivered) / window, 0)
        results["loss_pct"] = owed > 0 ? fmt(100 * Double(owed - min(owed, delivered)) / Double(owed), 2) : "0"
        if delivered > 0 {
            results["p50_ms"] = fmt(Double(latencies[delivered / 2]) / 1e6, 2)
            results["p99_ms"] = fmt(Double(latencies[min(delivered - 1, delivered * 99 / 100)]) / 1e6, 2)
            results["max_ms"] = fmt(Double(latencies[delivered - 1]) / 1e6, 2)
            results["server_us_per_delivery"] = fmt(serverCPU * 1e6 / Double(delivered), 2)
            results["client_us_per_delivery"] = fmt(clientCPU * 1e6 / Double(delivered), 2)
        }
        if events > 0 { results["server_us_per_event"] = fmt(serverCPU * 1e6 / Double(events), 1) }
        results["server_cpu_pct"] = fmt(100 * serverCPU / window, 0)
        results["client_cpu_pct"] = fmt(100 * clientCPU / window, 0)
        results["rss_end_kib"] = "\(end.rssKiB)"
        results["stamped_before_publish"] = "\(early)"
        results["disconnects"] = "\(received.disconnects)"
        results["close_codes"] = received.closeCodes.isEmpty
            ? "none" : received.closeCodes.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",")
        try results.write(to: out)
        log("\(label): \(results.summary)")
    }
}

/// `label.key=value` lines, in insertion order.
struct Results {
    let label: String
    private(set) var entries: [(String, String)] = []

    init(label: String) { self.label = label }

    subscript(key: String) -> String? {
        get { entries.first { $0.0 == key }?.1 }
        set {
            entries.removeAll { $0.0 == key }
            if let newValue { entries.append((key, newValue)) }
        }
    }

    var text: String { entries.map { "\(label).\($0.0)=\($0.1)\n" }.joined() }

    var summary: String {
        ["delivered_per_s", "loss_pct", "p50_ms", "p99_ms", "max_ms", "server_us_per_delivery", "client_us_per_delivery", "rss_per_conn_bytes"]
            .compactMap { k in self[k].map { "\(k)=\($0)" } }.joined(separator: " ")
    }

    func write(to path: String?) throws {
        if let path { try appendFile(path, text) } else { print(text, terminator: "") }
    }
}

/// `scheme://127.x.x.x:PORT/path`: the bench refuses anything but loopback.
struct LoopbackURL {
    var host: String
    var port: Int
    var path: String

    init(_ url: String) throws {
        guard let schemeEnd = url.range(of: "://") else { throw ValidationError("not a URL: \(url)") }
        let rest = url[schemeEnd.upperBound...]
        let authority = rest.prefix { $0 != "/" }
        path = rest.count > authority.count ? String(rest[authority.endIndex...]) : "/"
        let parts = authority.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("URL needs host:port: \(url)") }
        host = String(parts[0])
        self.port = port
        guard host == "localhost" || host.hasPrefix("127.") else { throw ValidationError("refusing non-loopback \(url)") }
        if host == "localhost" { host = "127.0.0.1" }
    }
}

func fmt(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return "nan" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    if digits == 0 { return String(Int(rounded)) }
    var text = String(rounded)
    if let dot = text.firstIndex(of: ".") {
        let decimals = text.distance(from: dot, to: text.endIndex) - 1
        if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
    }
    return text
}

func log(_ message: String) {
    var line = message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func writeFile(_ path: String, _ text: String) throws {
    guard let file = fopen(path, "w") else { throw ValidationError("cannot write \(path)") }
    defer { fclose(file) }
    var t = text
    t.withUTF8 { _ = fwrite($0.baseAddress, 1, $0.count, file) }
}

func appendFile(_ path: String, _ text: String) throws {
    guard let file = fopen(path, "a") else { throw ValidationError("cannot append to \(path)") }
    defer { fclose(file) }
    var t = text
    t.withUTF8 { _ = fwrite($0.baseAddress, 1, $0.count, file) }
}

enum Thread {
    /// Ends the process after `seconds`, whatever it is doing (the bench's hard bound).
    static func exitAfter(seconds: Double) {
        Task.detached {
            try? await Task.sleep(for: .seconds(seconds))
            log("chainfeed-bench: hard deadline of \(Int(seconds)) s reached; exiting")
            exit(4)
        }
    }
}
