import ChainfeedTestSupport
import Foundation
import Logging
import Synchronization
import Testing
import WSClient

/// The real topology as processes: simulator → writer (PostgreSQL primary + Redis) → two web
/// replicas reading from the streaming replica; WebSocket and SSE clients over both.
@Suite(.serialized) struct FanOutClusterTests {
    /// A fresh database on the test primary (the streaming replica follows it), with its URLs.
    static func freshDatabase() async throws -> (primary: String, replica: String) {
        let env = ProcessInfo.processInfo.environment
        guard let primary = env["CHAINFEED_TEST_DATABASE_URL"], let replica = env["CHAINFEED_TEST_REPLICA_URL"] else {
            throw ProcessFailure("CHAINFEED_TEST_DATABASE_URL / CHAINFEED_TEST_REPLICA_URL not set: run scripts/test.sh")
        }
        let name = "cf_\(UInt32.random(in: 0...UInt32.max))"
        guard try await runTool(["psql", primary, "-qc", "create database \(name)"]).status == 0 else { throw ProcessFailure("psql could not create \(name)") }
        func swap(_ url: String) -> String { String(url[...url.lastIndex(of: "/")!]) + name }
        return (swap(primary), swap(replica))
    }

    static var redisURL: String {
        get throws {
            guard let url = ProcessInfo.processInfo.environment["CHAINFEED_TEST_REDIS_URL"] else {
                throw ProcessFailure("CHAINFEED_TEST_REDIS_URL not set: run scripts/test.sh")
            }
            return url
        }
    }

    /// What one WebSocket client received: event seqs per subscription, in arrival order.
    final class Received: Sendable {
        let seqs = Mutex<[Int]>([])
        /// The types of the other frames (subscribed, error).
        let others = Mutex<[String]>([])
        func add(_ json: [String: Any]) {
            let type = json["type"] as? String ?? "?"
            if type == "event", let seq = json["seq"] as? Int {
                seqs.withLock { $0.append(seq) }
            } else {
                others.withLock { $0.append(type) }
            }
        }
        var all: [Int] { seqs.withLock { $0 } }
    }

    /// Runs one client until `deadline`, until it has `stopAfter` events, or until `done` says it has all it needs.
    ///
    /// A client closed by the replica (4008 when the loaded test process falls behind) does what DESIGN.md asks of
    /// clients: it connects again and resumes with `fromSeq` = the last seq it got. The exactness checks see its
    /// whole stream across those resumes.
    static func client(
        port: Int, spec: Spec, into received: Received, until deadline: ContinuousClock.Instant, stopAfter: Int? = nil,
        done: @escaping @Sendable () -> Bool = { false }
    ) async throws {
        let logger = Logger(label: "test.ws")
        var failures = 0
        while true {
            var resume = spec
            if let last = received.all.last { resume.fromSeq = last }
            let frame = resume.frame
            do {
                let close = try await WebSocketClient.connect(
                    url: "ws://127.0.0.1:\(port)/ws", configuration: .init(maxFrameSize: 1 << 22), logger: logger
                ) { inbound, outbound, _ in
                    try await outbound.write(.text(frame))
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for try await message in inbound.messages(maxSize: 1 << 22) {
                                guard case .text(let text) = message,
                                    let json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
                                else { continue }
                                received.add(json)
                                if let stopAfter, received.all.count >= stopAfter { return }
                            }
                        }
                        group.addTask {
                            while ContinuousClock.now < deadline, !done() {
                                try await Task.sleep(for: .milliseconds(100))
                            }
                        }
                        try await group.next()
                        group.cancelAll()
                    }
                }
                if let close { received.others.withLock { $0.append("close \(close.closeCode)") } }
            } catch {
                failures += 1
                received.others.withLock { $0.append("failed: \(error)") }
                guard failures < 20 else { throw error }
            }
            let finished = done() || ContinuousClock.now >= deadline || stopAfter.map { received.all.count >= $0 } == true
            if finished { return }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// The replica's whole log once it stops growing (the writer has stopped; the replica catches up).
    static func settledLog(_ base: String) async throws -> [[String: Any]] {
        var log = try await HTTP.eventLog(base)
        while true {
            try await Task.sleep(for: .seconds(1))
            let again = try await HTTP.eventLog(base)
            if again.count == log.count { return again }
            log = again
        }
    }

    @Test("clients over two replicas get exactly the matching log, in order, once; a resume on the other replica misses nothing")
    func exactlyOnceOverTwoReplicas() async throws {
        try await Self.clusterRun(clientCount: 50, redis: try Self.redisURL)
    }

    @Test("Redis restarted in the middle of a run: every client still gets exactly its matching log, once, in order")
    func redisRestartedMidRun() async throws {
        let redis = try await OwnRedisServer.start()
        do {
            try await Self.clusterRun(clientCount: 20, redis: redis.url) { base in
                _ = try await HTTP.waitFor("\(base)/events?after=600&limit=1", timeout: .seconds(180)) { ($0["data"] as? [Any])?.isEmpty == false }
                try await redis.shutdown()
                // The writer goes on storing while the bus is down; the replicas must find those events in the store.
                _ = try await HTTP.waitFor("\(base)/events?after=900&limit=1", timeout: .seconds(180)) { ($0["data"] as? [Any])?.isEmpty == false }
                try await redis.start()
                // The replica noticed: its subscriber lost the connection and made a new one.
                func subscriberReconnected(_ scrape: Scrape) -> Bool {
                    scrape.samples.contains { $0.key.hasPrefix("chainfeed_redis_reconnects_total") && $0.key.contains("subscriber") && $0.value > 0 }
                }
                let scrape = try await Scrape.until(base, subscriberReconnected)
                #expect(subscriberReconnected(scrape), "the replica's Redis subscriber never reconnected")
            }
        } catch {
            await redis.remove()
            throw error
        }
        await redis.remove()
    }

    /// Simulator → writer → Redis → two web replicas, with `clientCount` WebSocket clients of mixed topics and
    /// filters spread over the replicas plus one that resumes on the other replica; `midRun` acts on the cluster
    /// while the clients read (given the first replica's base URL). The writer stops after 2,100 events.
    static func clusterRun(clientCount: Int, redis: String, midRun: (@Sendable (String) async throws -> Void)? = nil) async throws {
        let db = try await Self.freshDatabase()
        let migrate = try ChainfeedProcess(["migrate", "--database-url", db.primary])
        #expect(try await migrate.waitForExit(timeout: .seconds(30)) == 0, "\(migrate.stderr)")
        let nodePort = try freePort()
        let node = try ChainfeedProcess(["simulate-node", "--port", "\(nodePort)", "--block-interval-ms", "50", "--deploys-per-block", "3", "--seed", "21"])
        defer { node.stop() }
        let ports = [try freePort(), try freePort()]
        let prefix = "t\(UInt32.random(in: 0...UInt32.max))"
        let replicas = try ports.map { port in
            try ChainfeedProcess(["serve", "--read-database-url", db.replica, "--redis-url", redis, "--redis-channel-prefix", prefix, "--port", "\(port)"])
        }
        defer { replicas.forEach { $0.stop() } }
        for port in ports { _ = try await HTTP.waitFor("http://127.0.0.1:\(port)/status", timeout: .seconds(30)) { _ in true } }
        let writer = try ChainfeedProcess(["ingest", "--node", "http://127.0.0.1:\(nodePort)", "--database-url", db.primary, "--redis-url", redis, "--redis-channel-prefix", prefix, "--port", "\(try freePort())"])
        defer { writer.stop() }

        // Filters need values the chain really has: learn a proposer and an account first.
        let base0 = "http://127.0.0.1:\(ports[0])"
        let firstBlock = try await HTTP.waitFor("\(base0)/blocks?limit=1", timeout: .seconds(30)) { ($0["data"] as? [Any])?.isEmpty == false }
        let proposer = try #require(((firstBlock["data"] as? [[String: Any]])?.first)?["proposer"] as? String)
        let firstDeploy = try await HTTP.waitFor("\(base0)/events?topics=deploys&limit=1", timeout: .seconds(30)) { ($0["data"] as? [Any])?.isEmpty == false }
        let account = try #require((((firstDeploy["data"] as? [[String: Any]])?.first)?["data"] as? [String: Any])?["account"] as? String)

        let specs: [Spec] = [
            Spec(topics: ["all"]), Spec(topics: ["blocks"]), Spec(topics: ["deploys"]), Spec(topics: ["signatures"]),
            Spec(topics: ["blocks", "deploys"]), Spec(topics: ["steps", "blocks"]),
            Spec(topics: ["deploys"], key: ("account", account)), Spec(topics: ["blocks"], key: ("proposer", proposer)),
            Spec(topics: ["all"], key: ("eraId", "1")), Spec(topics: ["signatures", "blocks"], key: ("eraId", "2")),
        ]
        // Clients run while the chain grows, then the writer stops and each client keeps reading until it has every
        // matching event of the final log. Arrival is not timed: a loaded machine only makes the run longer.
        let deadline = ContinuousClock.now + .seconds(240)
        let clients = (0..<clientCount).map { _ in Received() }
        let resumed = Received()
        let expected = Shared<[[Int]]?>(nil)
        let finalLog = Shared<[Int]>([])
        do {
            try await runClients()
        } catch {
            let logs = replicas.map { String($0.stderr.suffix(3000)) }.joined(separator: "\n---\n")
            Issue.record("\(error); replicas' stderr:\n\(logs)")
            return
        }
        func runClients() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, received) in clients.enumerated() {
                let spec = specs[i % specs.count]
                group.addTask {
                    try await Self.client(port: ports[i % 2], spec: spec, into: received, until: deadline) {
                        guard let wanted = expected.withLock({ $0?[i] }) else { return false }
                        return received.all.count >= wanted.count
                    }
                }
            }
            group.addTask {
                // Drops out after 40 events, then resumes from the last one on the other replica.
                let first = Received()
                try await Self.client(port: ports[0], spec: Spec(topics: ["all"]), into: first, until: deadline, stopAfter: 40)
                let last = first.all.last ?? 0
                resumed.seqs.withLock { $0 = first.all }
                try await Task.sleep(for: .milliseconds(500))
                try await Self.client(port: ports[1], spec: Spec(topics: ["all"], fromSeq: last), into: resumed, until: deadline) {
                    guard let wanted = expected.withLock({ $0?.last }) else { return false }
                    return resumed.all.count >= wanted.count
                }
            }
            if let midRun { group.addTask { try await midRun(base0) } }
            group.addTask {
                // The run: at least 2,000 events stored while the clients read, then the writer stops.
                _ = try await HTTP.waitFor("\(base0)/events?after=2100&limit=1", timeout: .seconds(180)) { ($0["data"] as? [Any])?.isEmpty == false }
                writer.signal(SIGTERM)
                _ = try await writer.waitForExit(timeout: .seconds(30))
                let log = try await Self.settledLog(base0)
                finalLog.withLock { $0 = log.compactMap { $0["seq"] as? Int } }
                var wanted = specs.indices.map { _ in [Int]() }
                for (i, spec) in specs.enumerated() { wanted[i] = log.filter(spec.matches).compactMap { $0["seq"] as? Int } }
                let all = log.compactMap { $0["seq"] as? Int }
                expected.withLock { $0 = clients.indices.map { wanted[$0 % specs.count] } + [all] }
            }
            try await group.waitForAll()
        }
        }

        let log = finalLog.withLock { $0 }
        #expect(log.count >= 2000, "a run of at least 2,000 events")
        let wanted = try #require(expected.withLock { $0 })
        for (i, received) in clients.enumerated() {
            #expect(!received.all.isEmpty, "client \(i) got nothing")
            #expect(
                received.all == wanted[i],
                "client \(i) (\(specs[i % specs.count].frame)) did not get exactly the matching log: \(received.all.count) of \(wanted[i].count); \(received.others.withLock { $0.filter { $0 != "subscribed" } })")
        }
        #expect(resumed.all == wanted.last, "the resumed client missed or repeated events across replicas (\(resumed.all.count) of \(wanted.last?.count ?? 0))")
        #expect(resumed.all.count > 40)
    }

    /// A value the client tasks and the test share.
    final class Shared<Value: Sendable>: Sendable {
        private let value: Mutex<Value>
        init(_ value: Value) { self.value = Mutex(value) }
        func withLock<R>(_ body: (inout Value) -> R) -> R { value.withLock { body(&$0) } }
    }

    /// One client's subscription, and which log entries it must get (the filter rules of DESIGN.md).
    struct Spec: Sendable {
        var topics: [String]
        var key: (name: String, value: String)?
        /// `nil`: live only.
        var fromSeq: Int? = 0

        init(topics: [String], key: (String, String)? = nil, fromSeq: Int? = 0) {
            self.topics = topics
            self.key = key.map { (name: $0.0, value: $0.1) }
            self.fromSeq = fromSeq
        }

        var frame: String {
            let t = topics.map { "\"\($0)\"" }.joined(separator: ",")
            let filter = key.map { k in k.name == "eraId" ? "\"eraId\":\(k.value)" : "\"\(k.name)\":\"\(k.value)\"" } ?? ""
            let from = fromSeq.map { ",\"fromSeq\":\($0)" } ?? ""
            return "{\"action\":\"subscribe\",\"id\":\"c\",\"topics\":[\(t)],\"filter\":{\(filter)}\(from)}"
        }

        static let topicOf: [String: String] = [
            "BlockAdded": "blocks", "TransactionAccepted": "deploys", "TransactionProcessed": "deploys", "TransactionExpired": "deploys",
            "DeployAccepted": "deploys", "DeployProcessed": "deploys", "DeployExpired": "deploys",
            "FinalitySignature": "signatures", "Step": "steps", "Fault": "faults",
        ]

        func matches(_ entry: [String: Any]) -> Bool {
            let kind = entry["kind"] as? String ?? ""
            guard topics.contains("all") || topics.contains(Self.topicOf[kind] ?? "-") else { return false }
            guard let key else { return true }
            let data = entry["data"] as? [String: Any] ?? [:]
            switch key.name {
            case "account": return Self.topicOf[kind] == "deploys" && data["account"] as? String == key.value
            case "proposer": return kind == "BlockAdded" && data["proposer"] as? String == key.value
            case "eraId":
                guard ["BlockAdded", "FinalitySignature", "Step", "Fault"].contains(kind) else { return false }
                return (data["eraId"] as? NSNumber)?.stringValue == key.value
            default: return false
            }
        }
    }

    @Test("an SSE client with start_from gets the stored events, then the live ones, in the node's format")
    func sseStartFrom() async throws {
        let db = try await Self.freshDatabase()
        let redis = try Self.redisURL
        _ = try await ChainfeedProcess(["migrate", "--database-url", db.primary]).waitForExit(timeout: .seconds(30))
        let nodePort = try freePort()
        let node = try ChainfeedProcess(["simulate-node", "--port", "\(nodePort)", "--block-interval-ms", "100", "--seed", "3"])
        defer { node.stop() }
        let prefix = "t\(UInt32.random(in: 0...UInt32.max))"
        let writer = try ChainfeedProcess(["ingest", "--node", "http://127.0.0.1:\(nodePort)", "--database-url", db.primary, "--redis-url", redis, "--redis-channel-prefix", prefix, "--port", "\(try freePort())"])
        defer { writer.stop() }
        let port = try freePort()
        let web = try ChainfeedProcess(["serve", "--read-database-url", db.replica, "--redis-url", redis, "--redis-channel-prefix", prefix, "--port", "\(port)"])
        defer { web.stop() }
        _ = try await HTTP.waitFor("http://127.0.0.1:\(port)/events?limit=100", timeout: .seconds(30)) { ($0["data"] as? [Any])?.count ?? 0 >= 50 }

        // curl reads the stream for a while: stored events from 10 on, then live ones.
        let text = try await runTool(["curl", "-sN", "--max-time", "4", "http://127.0.0.1:\(port)/events/stream?start_from=10"]).output
        #expect(text.hasPrefix("data:{\"ApiVersion\":"))
        let ids = text.split(separator: "\n").filter { $0.hasPrefix("id:") }.compactMap { Int($0.dropFirst(3)) }
        #expect(ids.first == 10)
        #expect(ids == Array(10..<(10 + ids.count)), "ids not consecutive from start_from")
        // An EventSource reconnecting to the URL it opened (start_from=10) with the last id it got resumes after that id.
        let again = try await runTool([
            "curl", "-sN", "--max-time", "2", "-H", "Last-Event-ID: 30", "http://127.0.0.1:\(port)/events/stream?start_from=10",
        ]).output
        let resumedIDs = again.split(separator: "\n").filter { $0.hasPrefix("id:") }.compactMap { Int($0.dropFirst(3)) }
        #expect(resumedIDs.first == 31, "Last-Event-ID did not win over start_from: \(resumedIDs.prefix(3))")
        let stored = try await HTTP.eventLog("http://127.0.0.1:\(port)").count
        #expect(ids.count >= 50 && ids.last ?? 0 > 50, "live events did not follow the stored ones (\(ids.count) ids, \(stored) stored)")
    }
}
