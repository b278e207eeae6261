import ChainfeedTestSupport
import Foundation
import Testing

/// The writer killed with SIGKILL at random points while it stores: the PostgreSQL log must end up holding the
/// simulated node's events exactly (none lost, none twice), with a hot standby taking over every time.
@Suite(.serialized) struct WriterCrashTests {
    /// A writer process with its status port.
    struct Writer {
        let process: ChainfeedProcess
        let port: Int

        static func start(node: String, database: String) throws -> Writer {
            let port = try freePort()
            let process = try ChainfeedProcess(["ingest", "--node", node, "--database-url", database, "--port", "\(port)"])
            return Writer(process: process, port: port)
        }

        /// The follower state from `/status`: `standby` until it holds the writer lock.
        func state() async -> String? {
            guard let status = try? await HTTP.object("http://127.0.0.1:\(port)/status") else { return nil }
            return status["state"] as? String
        }
    }

    /// Advisory locks granted in this test's database (the primary serves other tests' databases too).
    static let writerLocks = """
        SELECT count(*) FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """

    static func psql(_ database: String, _ sql: String) async throws -> [String] {
        let result = try await runTool(["psql", database, "-X", "-q", "-A", "-t", "-c", sql])
        guard result.status == 0 else { throw ProcessFailure("psql failed: \(sql)") }
        return result.output.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    /// The node's events as it serves them from `start_from=0`: each `data:` line with an `id:`, in order.
    static func nodeEvents(_ node: String) async throws -> [String] {
        let text = try await runTool(["curl", "-sN", "--max-time", "3", "\(node)/events?start_from=0"]).output
        var events: [String] = []
        var data: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("data:") {
                data = String(line.dropFirst(5))
            } else if line.hasPrefix("id:"), let d = data {
                events.append(d)
                data = nil
            } else if line.isEmpty {
                data = nil
            }
        }
        return events
    }

    @Test("10 kill -9 of the active writer at random points: the standby takes over, one writer at a time, and the log equals the node's events exactly")
    func killNineTenTimes() async throws {
        let db = try await FanOutClusterTests.freshDatabase()
        let migrate = try ChainfeedProcess(["migrate", "--database-url", db.primary])
        #expect(try await migrate.waitForExit(timeout: .seconds(30)) == 0, "\(migrate.stderr)")
        let nodePort = try freePort()
        let node = "http://127.0.0.1:\(nodePort)"
        // A backlog to store (the buffer keeps every event) and a live chain on top of it.
        let simulator = try ChainfeedProcess([
            "simulate-node", "--port", "\(nodePort)", "--initial-blocks", "600", "--block-interval-ms", "200",
            "--deploys-per-block", "8", "--buffer-size", "1000000", "--seed", "77",
        ])
        defer { simulator.stop() }
        _ = try await HTTP.waitFor("\(node)/status", timeout: .seconds(30)) { _ in true }

        var writers = [try Writer.start(node: node, database: db.primary), try Writer.start(node: node, database: db.primary)]
        defer { writers.forEach { $0.process.stop() } }
        var kills = 0
        var storedAtKills: [Int] = []
        var rng = SystemRandomNumberGenerator()
        let deadline = ContinuousClock.now + .seconds(240)
        while kills < 10 {
            guard ContinuousClock.now < deadline else { Issue.record("only \(kills) kills before the deadline"); break }
            try await Task.sleep(for: .milliseconds(Int.random(in: 150...900, using: &rng)))
            var active: [Int] = []
            for (i, writer) in writers.enumerated() where writer.process.isRunning {
                if let state = await writer.state(), state != "standby" { active.append(i) }
            }
            let locks = try await Self.psql(db.primary, Self.writerLocks)
            #expect(Int(locks.first ?? "") ?? 99 <= 1, "more than one writer lock granted")
            #expect(active.count <= 1, "two writers say they write: \(active)")
            guard let victim = active.first else { continue }  // between a death and the standby's takeover
            writers[victim].process.signal(SIGKILL)
            _ = try await writers[victim].process.waitForExit(timeout: .seconds(10))
            writers.remove(at: victim)
            kills += 1
            storedAtKills.append(Int(try await Self.psql(db.primary, "SELECT count(*) FROM events").first ?? "") ?? -1)
            writers.append(try Writer.start(node: node, database: db.primary))  // the next hot standby
        }
        #expect(Set(storedAtKills).count == storedAtKills.count, "kills did not land at different points: \(storedAtKills)")

        // The survivors catch up with what the node has; the stored log must be exactly its events, in order.
        let expected = try await Self.nodeEvents(node)
        #expect(expected.count > 5000, "a backlog of more than 5,000 events (\(expected.count))")
        let caughtUp = ContinuousClock.now + .seconds(180)
        while ContinuousClock.now < caughtUp {
            let count = Int(try await Self.psql(db.primary, "SELECT count(*) FROM events").first ?? "") ?? 0
            if count >= expected.count { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        let rows = try await Self.psql(db.primary, "SELECT seq, raw FROM events ORDER BY seq")
        let seqs = rows.map { Int($0.prefix { $0 != "|" }) ?? -1 }
        let stored = rows.map { String($0.drop { $0 != "|" }.dropFirst()) }
        #expect(seqs == Array(stride(from: 1, through: rows.count, by: 1)), "seq is not gap-free from 1")
        #expect(stored.count >= expected.count, "stored \(stored.count) of the node's \(expected.count) events")
        let prefix = Array(stored.prefix(expected.count))
        if prefix != expected {
            let first = zip(prefix, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            Issue.record("the stored log differs from the node's events at index \(first.map(String.init) ?? "end"); \(prefix.count) vs \(expected.count)")
        }
        #expect(Set(stored).count == stored.count, "an event was stored twice")
        let locks = try await Self.psql(db.primary, Self.writerLocks)
        #expect(locks.first == "1", "exactly one writer holds the lock at the end")
    }
}
