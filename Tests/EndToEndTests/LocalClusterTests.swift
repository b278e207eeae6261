import AsyncHTTPClient
import ChainfeedTestSupport
import Foundation
import Logging
import NIOCore
import Synchronization
import Testing
import WSClient

/// `deploy/local-cluster.sh` for real: the compose topology as processes (PostgreSQL primary + replica, Redis, two
/// simulated nodes, writer + standby, three web replicas, nginx), driven only through its load balancer while a web
/// replica and the active writer are killed with SIGKILL.
@Suite(.serialized) struct LocalClusterTests {
    @Test("clients through the load balancer lose nothing and get nothing twice when a web replica and the active writer die")
    func clientsSurviveReplicaAndWriterKills() async throws {
        let cluster = try await LocalCluster.up()
        do {
            try await Self.scenario(cluster)
        } catch {
            await cluster.down()
            throw error
        }
        await cluster.down()
    }

    static func scenario(_ cluster: LocalCluster) async throws {
        let lb = cluster.lb
        _ = try await HTTP.waitFor("\(lb)/events?after=50&limit=1", timeout: .seconds(60)) { ($0["data"] as? [Any])?.isEmpty == false }
        // REST paths with resources the chain really has.
        let block = try #require((try await HTTP.object("\(lb)/blocks?limit=1")["data"] as? [[String: Any]])?.first?["blockHash"] as? String)
        let deploys = try await HTTP.object("\(lb)/events?topics=deploys&limit=1")["data"] as? [[String: Any]]
        let deploy = try #require(deploys?.first?["data"] as? [String: Any])
        let restPaths = [
            "/blocks?limit=2", "/status", "/block/\(block)", "/events?after=1&limit=20", "/health",
            "/deploy/\(try #require(deploy["deployHash"] as? String))", "/accountDeploys/\(try #require(deploy["account"] as? String))?limit=5",
        ]

        // Clients from the beginning of the log: WebSocket over several topic sets, SSE the node SDKs' way (start_from
        // rewritten on reconnect), the EventSource way (Last-Event-ID) and on the 2.x path (`/events`, Accept).
        let topicSets = [["all"], ["all"], ["blocks"], ["deploys"], ["signatures"], ["blocks", "deploys"]]
        let sseModes: [SSEMode] = [.startFrom(path: "/events/stream"), .lastEventID(path: "/events/stream"), .startFrom(path: "/events")]
        let wsClients = topicSets.map { _ in Received() }
        let sseClients = sseModes.map { _ in Received() }
        // The final log, each entry's seq and topic: set once the writers have stopped.
        let expected = Shared<[Entry]?>(nil)
        let restStop = Shared(false)
        let rest = RESTProbe()
        let deadline = ContinuousClock.now + .seconds(300)
        let killed = Shared<(web: String, connections: Int, writer: String)?>(nil)
        // Once the log is final, how long the clients may take to read the rest of it.
        let catchUpEnds = Shared<ContinuousClock.Instant?>(nil)

        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, received) in wsClients.enumerated() {
                let topics = topicSets[i]
                group.addTask {
                    await webSocketClient(lb: lb, topics: topics, into: received, deadline: deadline) {
                        expected.withLock { $0.map { log in received.count >= log.filter { $0.matches(topics) }.count } ?? false }
                            || catchUpEnds.withLock { $0.map { ContinuousClock.now > $0 } ?? false }
                    }
                }
            }
            for (i, received) in sseClients.enumerated() {
                group.addTask {
                    await sseClient(lb: lb, mode: sseModes[i], into: received, deadline: deadline) {
                        expected.withLock { $0.map { received.count >= $0.count } ?? false }
                            || catchUpEnds.withLock { $0.map { ContinuousClock.now > $0 } ?? false }
                    }
                }
            }
            group.addTask { await rest.run(lb: lb, paths: restPaths) { restStop.withLock { $0 } } }
            group.addTask {
                defer { restStop.withLock { $0 = true } }
                // Every client connected and reading, then a while of live events.
                let clients = wsClients + sseClients
                progress("cluster up at \(lb); \(clients.count) clients started")
                try await waitUntil(
                    "every client receiving: \(clients.map { "\($0.count) events/\($0.connections) connections \($0.problems.prefix(1))" })",
                    timeout: .seconds(90)
                ) { clients.allSatisfy { $0.count > 0 } }
                progress("every client receiving")
                try await waitForHead(lb, beyond: try await headSeq(lb) + 150)

                // Kill -9 the web replica with the most clients (its WebSocket and SSE connections drop).
                var busiest = ("", -1)
                for name in cluster.names(prefix: "web-") {
                    let n = try await fanOutConnections(cluster.url(name))
                    if n > busiest.1 { busiest = (name, n) }
                }
                try cluster.signal(busiest.0, SIGKILL)
                progress("killed \(busiest.0) with \(busiest.1) clients")
                try await waitForHead(lb, beyond: try await headSeq(lb) + 150)

                // Kill -9 the writer holding the lock; the standby takes over and the log goes on.
                let active = try await activeWriter(cluster)
                let before = try await headSeq(lb)
                try cluster.signal(active, SIGKILL)
                killed.withLock { $0 = (busiest.0, busiest.1, active) }
                progress("killed the active writer \(active) at seq \(before)")
                let standby = try #require(cluster.names(prefix: "writer-").first { $0 != active })
                _ = try await HTTP.waitFor("\(cluster.url(standby))/status", timeout: .seconds(60)) { $0["state"] as? String != "standby" }
                progress("\(standby) took over")
                try await waitForHead(lb, beyond: before + 300)

                // The end of the log: stop the writer, let the read replica settle, and tell the clients what they must have.
                try cluster.signal(standby, SIGTERM)
                try await waitUntil("\(standby) to exit", timeout: .seconds(30)) { !cluster.isRunning(standby) }
                let log = try await settledLog(lb)
                expected.withLock { $0 = log }
                catchUpEnds.withLock { $0 = .now + .seconds(90) }
                progress("writers stopped; the log has \(log.count) events")
            }
            try await group.waitForAll()
        }

        let entries = try #require(expected.withLock { $0 })
        let log = entries.map(\.seq)
        let (web, webConnections, writer) = try #require(killed.withLock { $0 })
        #expect(log == Array(1...log.count), "the stored log has gaps or is out of order (invariant 2)")
        for (i, received) in wsClients.enumerated() {
            let want = entries.filter { $0.matches(topicSets[i]) }.map(\.seq)
            #expect(received.all == want, "WebSocket client \(i) \(topicSets[i]): \(received.summary(against: want))")
        }
        for (i, received) in sseClients.enumerated() {
            #expect(received.all == log, "SSE client \(i) \(sseModes[i]): \(received.summary(against: log))")
        }
        let clients = wsClients + sseClients
        #expect(clients.allSatisfy { $0.problems.isEmpty }, "client errors: \(clients.flatMap(\.problems).prefix(5))")
        #expect(webConnections > 0, "no client was on \(web) when it was killed")
        let reconnects = clients.map { $0.connections - 1 }.reduce(0, +)
        #expect(reconnects >= webConnections, "\(webConnections) clients were on \(web) but only \(reconnects) reconnects")
        #expect(rest.failures.isEmpty, "REST through the load balancer failed \(rest.failures.count) of \(rest.requests) times: \(rest.failures.prefix(3))")
        #expect(rest.requests > 20)
        // What clients saw at the load balancer itself: upgrades and answers only, no error, no redirect.
        let answers = cluster.lbAnswers()
        let odd = answers.filter { ![101, 200].contains($0.status) }
        #expect(odd.isEmpty, "the load balancer answered \(odd.count) of \(answers.count) requests with neither 101 nor 200: \(odd.prefix(5).map(\.line))")
        progress("connection ends: \(Dictionary(grouping: clients.flatMap(\.ends), by: { $0 }).mapValues(\.count))")
        progress("\(log.count) events; killed \(web) (\(webConnections) clients) and \(writer); \(reconnects) reconnects; \(rest.requests) REST requests")
    }

    // MARK: The cluster

    /// One `deploy/local-cluster.sh up` in a state directory of its own; `down` removes it.
    struct LocalCluster: Sendable {
        static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let dir: String
        let lb: String

        static func up() async throws -> LocalCluster {
            // Short: PostgreSQL's socket path lives under it.
            let name = "cf-lc-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
            let log = dir + ".up.log"
            defer { try? FileManager.default.removeItem(atPath: log) }
            let result = try await runTool([
                "CHAINFEED_CLUSTER_DIR=\(dir)", "CHAINFEED_BIN=\(ChainfeedProcess.binary)", "CHAINFEED_BLOCK_INTERVAL_MS=200",
                "CHAINFEED_DEPLOYS_PER_BLOCK=3", "bash", "-c", "bash \"$0\" up 2>\"$1\"", root + "/deploy/local-cluster.sh", log,
            ])
            let stderr = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            guard result.status == 0, let range = result.output.range(of: #"http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) else {
                throw ProcessFailure("local-cluster.sh up failed (\(result.status)): \(stderr.suffix(3000))")
            }
            return LocalCluster(dir: dir, lb: String(result.output[range]))
        }

        /// Every answer the load balancer gave, by status, from its access log (`"request" status bytes …`).
        func lbAnswers() -> [(status: Int, line: String)] {
            let text = (try? String(contentsOfFile: dir + "/logs/lb-access.log", encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { line in
                let parts = line.split(separator: "\"", omittingEmptySubsequences: false)
                guard parts.count > 2, let status = Int(parts[2].split(separator: " ").first ?? "") else { return nil }
                return (status, String(line))
            }
        }

        func down() async {
            _ = try? await runTool(["CHAINFEED_CLUSTER_DIR=\(dir)", "bash", Self.root + "/deploy/local-cluster.sh", "down"])
        }

        func names(prefix: String) -> [String] {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/ports")) ?? []
            return files.filter { $0.hasPrefix(prefix) }.sorted()
        }

        func url(_ name: String) throws -> String {
            let port = try String(contentsOfFile: "\(dir)/ports/\(name)", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            return "http://127.0.0.1:\(port)"
        }

        func pid(_ name: String) throws -> Int32 {
            let text = try String(contentsOfFile: "\(dir)/pids/\(name).pid", encoding: .utf8)
            guard let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1 else { throw ProcessFailure("no pid for \(name)") }
            return pid
        }

        func signal(_ name: String, _ signal: Int32) throws { _ = kill(try pid(name), signal) }

        /// Running and not a zombie (the processes are not this test's children: nobody here reaps them).
        func isRunning(_ name: String) -> Bool {
            guard let pid = try? pid(name), kill(pid, 0) == 0 else { return false }
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
                return false
            }
            return !stat[close...].hasPrefix(") Z")
        }
    }

    // MARK: Clients

    /// What one client received across all its connections.
    final class Received: Sendable {
        private let state = Mutex<(seqs: [Int], connections: Int, problems: [String], ends: [String])>(([], 0, [], []))
        func append(_ seq: Int) { state.withLock { $0.seqs.append(seq) } }
        func connected() { state.withLock { $0.connections += 1 } }
        func problem(_ text: String) { state.withLock { $0.problems.append(text) } }
        /// How a connection ended (close code, error), for the log.
        func ended(_ how: String) { state.withLock { $0.ends.append(how) } }
        var ends: [String] { state.withLock { $0.ends } }
        var all: [Int] { state.withLock { $0.seqs } }
        var count: Int { state.withLock { $0.seqs.count } }
        var last: Int? { state.withLock { $0.seqs.last } }
        var connections: Int { state.withLock { $0.connections } }
        var problems: [String] { state.withLock { $0.problems } }

        func summary(against want: [Int]) -> String {
            let got = all
            let missing = Set(want).subtracting(got).sorted()
            let twice = Dictionary(grouping: got, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
            return "\(got.count) of \(want.count) over \(connections) connections; missing \(missing.prefix(10)), twice \(twice.prefix(10))"
        }
    }

    /// A WebSocket client that resumes through the load balancer with `fromSeq` = the last seq it saw.
    static func webSocketClient(
        lb: String, topics: [String], into received: Received, deadline: ContinuousClock.Instant, done: @escaping @Sendable () -> Bool
    ) async {
        let url = "ws" + lb.dropFirst("http".count) + "/ws"
        let logger = Logger(label: "test.ws")
        while !done(), !Task.isCancelled, ContinuousClock.now < deadline {
            let list = topics.map { "\"\($0)\"" }.joined(separator: ",")
            let frame = "{\"action\":\"subscribe\",\"id\":\"c\",\"topics\":[\(list)],\"fromSeq\":\(received.last ?? 0)}"
            received.connected()
            do {
                let close = try await WebSocketClient.connect(url: url, configuration: .init(maxFrameSize: 1 << 22), logger: logger) {
                    inbound, outbound, _ in
                    try await outbound.write(.text(frame))
                    try await readUntilDone(deadline: deadline, done: done) {
                        for try await message in inbound.messages(maxSize: 1 << 22) {
                            guard case .text(let text) = message,
                                let json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
                            else { continue }
                            switch json["type"] as? String {
                            case "event": if let seq = json["seq"] as? Int { received.append(seq) }
                            case "subscribed": break
                            default: received.problem(text)
                            }
                        }
                    }
                }
                received.ended(close.map { "close \($0.closeCode)" } ?? "closed")
            } catch {
                received.ended("\(error)")
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    enum SSEMode: Sendable, CustomStringConvertible {
        /// `?start_from=` the next seq on every (re)connect, as the Casper SDKs do with a node.
        case startFrom(path: String)
        /// The same URL each time, `Last-Event-ID:` the last id seen, as EventSource does.
        case lastEventID(path: String)
        var description: String {
            switch self {
            case .startFrom(let path): "\(path) start_from"
            case .lastEventID(let path): "\(path) Last-Event-ID"
            }
        }
    }

    /// An SSE client that resumes through the load balancer after every dropped connection.
    static func sseClient(
        lb: String, mode: SSEMode, into received: Received, deadline: ContinuousClock.Instant, done: @escaping @Sendable () -> Bool
    ) async {
        while !done(), !Task.isCancelled, ContinuousClock.now < deadline {
            var request: HTTPClientRequest
            switch mode {
            case .startFrom(let path):
                request = HTTPClientRequest(url: "\(lb)\(path)?start_from=\(received.last.map { $0 + 1 } ?? 0)")
            case .lastEventID(let path):
                request = HTTPClientRequest(url: lb + path)
                request.headers.add(name: "Last-Event-ID", value: "\(received.last ?? 0)")
            }
            request.headers.add(name: "Accept", value: "text/event-stream")
            received.connected()
            do {
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(600))
                guard response.status == .ok else {
                    received.problem("HTTP \(response.status.code) for \(request.url)")
                    try await Task.sleep(for: .milliseconds(500))
                    continue
                }
                try await readUntilDone(deadline: deadline, done: done) {
                    var pending = ""
                    for try await chunk in response.body {
                        var lines = (pending + String(buffer: chunk)).split(separator: "\n", omittingEmptySubsequences: false)
                        pending = String(lines.removeLast())
                        for line in lines where line.hasPrefix("id:") {
                            if let seq = Int(line.dropFirst(3).trimmingCharacters(in: .whitespaces)) { received.append(seq) }
                        }
                    }
                }
                received.ended("ended")
            } catch {
                received.ended("\(error)")
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Runs `read` until it ends (the connection dropped), the deadline passes, or `done` holds.
    static func readUntilDone(
        deadline: ContinuousClock.Instant, done: @escaping @Sendable () -> Bool, _ read: @escaping @Sendable () async throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask(operation: read)
            group.addTask {
                while ContinuousClock.now < deadline, !done() { try await Task.sleep(for: .milliseconds(100)) }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// GETs through the load balancer, one after the other, until told to stop; every answer must be a 200.
    final class RESTProbe: Sendable {
        private let state = Mutex<(requests: Int, failures: [String])>((0, []))
        var requests: Int { state.withLock { $0.requests } }
        var failures: [String] { state.withLock { $0.failures } }

        func run(lb: String, paths: [String], stop: @Sendable () -> Bool) async {
            var i = 0
            while !stop() {
                let path = paths[i % paths.count]
                i += 1
                let failure: String?
                do {
                    let (status, _) = try await HTTP.get(lb + path)
                    failure = status == 200 ? nil : "\(path): HTTP \(status)"
                } catch {
                    failure = "\(path): \(error)"
                }
                state.withLock {
                    $0.requests += 1
                    if let failure { $0.failures.append(failure) }
                }
                try? await Task.sleep(for: .milliseconds(150))
            }
        }
    }

    // MARK: Helpers

    /// One entry of the stored log: its seq and the topic of its kind.
    struct Entry: Sendable {
        static let topicOf: [String: String] = [
            "BlockAdded": "blocks", "TransactionAccepted": "deploys", "TransactionProcessed": "deploys", "TransactionExpired": "deploys",
            "DeployAccepted": "deploys", "DeployProcessed": "deploys", "DeployExpired": "deploys",
            "FinalitySignature": "signatures", "Step": "steps", "Fault": "faults",
        ]
        var seq: Int
        var topic: String?

        func matches(_ topics: [String]) -> Bool {
            topics.contains("all") || topic.map(topics.contains) == true
        }
    }

    /// A line on stdout at once (print is buffered when stdout is a pipe), so a slow run shows where it is.
    static func progress(_ text: String) {
        FileHandle.standardOutput.write(Data("LocalClusterTests: \(text)\n".utf8))
    }

    static func headSeq(_ lb: String) async throws -> Int {
        try #require(try await HTTP.object("\(lb)/status")["headSeq"] as? Int)
    }

    static func waitForHead(_ lb: String, beyond seq: Int) async throws {
        _ = try await HTTP.waitFor("\(lb)/events?after=\(seq)&limit=1", timeout: .seconds(90)) { ($0["data"] as? [Any])?.isEmpty == false }
    }

    static func waitUntil(_ what: @autoclosure () -> String, timeout: Duration, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { throw ProcessFailure("timed out waiting for \(what())") }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// The writer holding the lock: the one whose `/status` is not `standby`.
    static func activeWriter(_ cluster: LocalCluster) async throws -> String {
        for _ in 0..<100 {
            var active: [String] = []
            for name in cluster.names(prefix: "writer-") {
                if let state = try? await HTTP.object("\(cluster.url(name))/status")["state"] as? String, state != "standby" { active.append(name) }
            }
            if active.count == 1 { return active[0] }
            try await Task.sleep(for: .milliseconds(300))
        }
        throw ProcessFailure("no single active writer")
    }

    /// A web replica's WebSocket and SSE clients, from its `/metrics`.
    static func fanOutConnections(_ base: String) async throws -> Int {
        let lines = try await HTTP.text("\(base)/metrics").split(separator: "\n")
        func gauge(_ name: String) -> Int? {
            lines.first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) }
        }
        guard let ws = gauge("chainfeed_ws_connections"), let sse = gauge("chainfeed_sse_connections") else {
            return gauge("chainfeed_fanout_connections") ?? 0
        }
        return ws + sse
    }

    /// The whole log through the load balancer once it stops growing (the read replica has caught up).
    static func settledLog(_ lb: String) async throws -> [Entry] {
        var previous = -1
        while true {
            let log = try await HTTP.eventLog(lb)
            if log.count == previous {
                return try log.map { entry in
                    Entry(seq: try #require(entry["seq"] as? Int), topic: (entry["kind"] as? String).flatMap { Entry.topicOf[$0] })
                }
            }
            previous = log.count
            try await Task.sleep(for: .seconds(1))
        }
    }

    /// A value the client tasks and the test share.
    final class Shared<Value: Sendable>: Sendable {
        private let value: Mutex<Value>
        init(_ value: Value) { self.value = Mutex(value) }
        func withLock<R>(_ body: (inout Value) -> R) -> R { value.withLock { body(&$0) } }
    }
}
