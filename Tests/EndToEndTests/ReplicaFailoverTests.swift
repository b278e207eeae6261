import ChainfeedTestSupport
import Foundation
import Testing

/// `chainfeed serve` over read databases of which one is down: the strategies of DESIGN.md "Read replicas" as a
/// user sees them, on the real binary and the real streaming replica.
@Suite(.serialized) struct ReplicaFailoverTests {
    static func serve(_ readURLs: [String], _ flags: [String]) throws -> (ChainfeedProcess, String) {
        let port = try freePort()
        let process = try ChainfeedProcess(["serve"] + readURLs.flatMap { ["--read-database-url", $0] } + flags + ["--port", "\(port)"])
        return (process, "http://127.0.0.1:\(port)")
    }

    @Test("a read database that is down: prefer-zone fails over to another zone, zone-single answers 503, none usable exits")
    func downReplica() async throws {
        let db = try await FanOutClusterTests.freshDatabase()
        let migrate = try ChainfeedProcess(["migrate", "--database-url", db.primary])
        #expect(try await migrate.waitForExit(timeout: .seconds(30)) == 0, "\(migrate.stderr)")
        let dead = "postgresql://postgres@127.0.0.1:\(try freePort())/none"

        let (prefer, preferBase) = try Self.serve(["\(dead) zone=a", "\(db.replica) zone=b"], ["--zone", "a"])
        defer { prefer.stop() }
        let page = try await HTTP.waitFor("\(preferBase)/blocks", timeout: .seconds(60)) { $0["itemCount"] != nil }
        #expect(page["itemCount"] as? Int == 0)
        #expect(try await HTTP.get("\(preferBase)/ready").status == 200)
        #expect(prefer.stderr.contains("retried in the background"), "the down database was not reported")

        let (strict, strictBase) = try Self.serve(["\(dead) zone=a", "\(db.replica) zone=b"], ["--zone", "a", "--replica-strategy", "zone-single"])
        defer { strict.stop() }
        _ = try await HTTP.waitFor("\(strictBase)/health", timeout: .seconds(60)) { _ in true }
        let (status, body) = try await HTTP.get("\(strictBase)/blocks")
        #expect(status == 503, "zone-single with its zone down answered \(status)")
        #expect(((body as? [String: Any])?["error"] as? String)?.isEmpty == false)

        let (none, _) = try Self.serve([dead], [])
        #expect(try await none.waitForExit(timeout: .seconds(60)).map { $0 != 0 } == true, "serve with no usable database kept running")
        let lines = none.stderr.split(separator: "\n").filter { !$0.contains("warning") }
        #expect(lines.count == 1 && lines.first?.contains("no read database is usable") == true, "\(none.stderr)")
    }
}
