import ChainfeedTestSupport
import Foundation
import Testing

/// The real `chainfeed` binary, run as a user would, read over HTTP.
@Suite(.serialized) struct AllInOneTests {
    @Test("the all-in-one serves simulated blocks over REST and stops cleanly on SIGINT")
    func allInOne() async throws {
        let dev = try ChainfeedProcess(["dev", "--port", "0", "--block-interval-ms", "100", "--deploys-per-block", "4"])
        defer { dev.stop() }
        let base = try await dev.announcedURL()
        let page = try await HTTP.waitFor("\(base)/blocks?limit=2") { ($0["data"] as? [Any])?.count == 2 }
        let blocks = try #require(page["data"] as? [[String: Any]])
        #expect((blocks[0]["height"] as? Int ?? 0) > (blocks[1]["height"] as? Int ?? 0))
        let hash = try #require(blocks[0]["blockHash"] as? String)
        #expect(try await HTTP.get("\(base)/block/\(hash)").status == 200)
        #expect(try await HTTP.get("\(base)/block/\(String(repeating: "0", count: 64))").status == 404)
        #expect(try await HTTP.get("\(base)/blocks?limit=1000").status == 400)

        // A deploy named by a block, then its account's deploys.
        let deployHash = try #require((blocks[0]["deploys"] as? [String])?.first)
        let deploy = try await HTTP.waitFor("\(base)/deploy/\(deployHash)", timeout: .seconds(10)) { $0["state"] as? String == "processed" }
        let account = try #require(deploy["account"] as? String)
        let deploys = try await HTTP.object("\(base)/accountDeploys/\(account)?limit=5")
        #expect((deploys["itemCount"] as? Int ?? 0) >= 1)

        // The log is gap-free from 1, every block once.
        let log = try await HTTP.eventLog(base)
        let seqs = log.compactMap { $0["seq"] as? Int }
        #expect(seqs == Array(1...seqs.count))
        let heights = log.filter { $0["kind"] as? String == "BlockAdded" }.compactMap { ($0["data"] as? [String: Any])?["height"] as? Int }
        #expect(heights == Array(heights.sorted()))
        #expect(Set(heights).count == heights.count)

        let status = try await HTTP.object("\(base)/status")
        #expect(status["state"] as? String == "following")

        dev.signal(SIGINT)
        let code = try await dev.waitForExit(timeout: .seconds(10))
        #expect(code == 0, "stderr: \(dev.stderr.suffix(1500))")
    }

    @Test("a block's events, read together from the node, are committed as one batch")
    func blockBatches() async throws {
        // Blocks 300 ms apart: the writer is idle when each block's burst arrives, so only handing the
        // events of one read over together keeps them in one batch (one commit, one bus message).
        let dev = try ChainfeedProcess(["dev", "--port", "0", "--block-interval-ms", "300", "--deploys-per-block", "3"])
        defer { dev.stop() }
        let base = try await dev.announcedURL()
        _ = try await HTTP.waitFor("\(base)/blocks?limit=1", timeout: .seconds(60)) { ($0["itemCount"] as? Int ?? 0) >= 8 }
        let scrape = try await Scrape(base)
        let batches = scrape.value("chainfeed_ingest_batch_events_count")
        let events = scrape.value("chainfeed_ingest_batch_events_sum")
        // Each block brings its BlockAdded, 3 DeployAccepted, 3 DeployProcessed and finality signatures.
        #expect(batches > 0 && events / batches >= 4, "\(events) events in \(batches) batches")
    }

    @Test("upgrade requests: /ws is upgraded; a bad shortcut, another path and h2c are answered as plain HTTP")
    func upgrades() async throws {
        let dev = try ChainfeedProcess(["dev", "--port", "0", "--block-interval-ms", "100"])
        defer { dev.stop() }
        let base = try await dev.announcedURL()
        _ = try await HTTP.waitFor("\(base)/blocks?limit=1") { ($0["data"] as? [Any])?.isEmpty == false }
        let webSocket = ["-H", "Upgrade: websocket", "-H", "Connection: Upgrade", "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "-H", "Sec-WebSocket-Version: 13"]
        func head(_ path: String, _ headers: [String]) async throws -> String {
            try await runTool(["curl", "-s", "-i", "--max-time", "2"] + headers + ["\(base)\(path)"]).output
        }
        #expect(try await head("/ws?topics=blocks", webSocket).hasPrefix("HTTP/1.1 101"))
        let refused = try await head("/ws?topics=blok", webSocket)
        #expect(refused.hasPrefix("HTTP/1.1 400"))
        #expect(refused.contains("unknown topic 'blok'"), "the reason is in the body: \(refused)")
        #expect(try await head("/blocks?limit=1", webSocket).hasPrefix("HTTP/1.1 200"))
        let h2c = ["-H", "Upgrade: h2c", "-H", "Connection: Upgrade, HTTP2-Settings", "-H", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"]
        #expect(try await head("/blocks?limit=1", h2c).hasPrefix("HTTP/1.1 200"))
    }

    @Test("a node that drops connections or restarts its ids: nothing lost, nothing twice", arguments: [
        ["--drop-every", "23"], ["--restart-ids-every", "15"],
    ])
    func misbehavingNode(_ misbehaviour: [String]) async throws {
        let (heights, nodes) = try await followMisbehavingNode(misbehaviour)
        #expect(Set(heights).count == heights.count, "a block stored twice")
        #expect(Set(heights) == Set(heights.min()!...heights.max()!), "missing heights")
        #expect((nodes.first?["reconnects"] as? Int ?? 0) > 0)
        #expect(nodes.first?["missedEvents"] as? Int == 0)
    }

    @Test("a node that restarts while the writer is disconnected: what it lost is counted, never hidden")
    func restartWhileDisconnected() async throws {
        let (heights, nodes) = try await followMisbehavingNode(["--drop-every", "23", "--restart-ids-every", "15"])
        #expect(Set(heights).count == heights.count, "a block stored twice")
        let missing = Set(heights.min()!...heights.max()!).subtracting(heights).count
        #expect(nodes.first?["missedEvents"] as? Int ?? 0 >= missing)
    }

    /// Runs a misbehaving simulator and the all-in-one following it; the stored block heights and node statuses.
    func followMisbehavingNode(_ misbehaviour: [String]) async throws -> ([Int], [[String: Any]]) {
        let nodePort = try freePort()
        let node = try ChainfeedProcess([
            "simulate-node", "--port", "\(nodePort)", "--block-interval-ms", "60", "--deploys-per-block", "2", "--seed", "5",
        ] + misbehaviour)
        defer { node.stop() }
        let dev = try ChainfeedProcess(["dev", "--port", "0", "--node", "http://127.0.0.1:\(nodePort)"])
        defer { dev.stop() }
        let base = try await dev.announcedURL()
        _ = try await HTTP.waitFor("\(base)/blocks?limit=1", timeout: .seconds(90)) { ($0["itemCount"] as? Int ?? 0) >= 60 }
        let log = try await HTTP.eventLog(base)
        let seqs = log.compactMap { $0["seq"] as? Int }
        #expect(seqs == Array(1...seqs.count))
        let heights = log.filter { $0["kind"] as? String == "BlockAdded" }.compactMap { ($0["data"] as? [String: Any])?["height"] as? Int }
        let status = try await HTTP.object("\(base)/status")
        let nodes = try #require((status["follower"] as? [String: Any])?["nodes"] as? [[String: Any]])
        return (heights, nodes)
    }

    @Test("bad flags end with one stderr line and a non-zero exit", arguments: [
        ["--port", "abc"], ["--port", "70000"], ["--bogus"], ["dev", "--node", "ftp://x"], ["--log-level", "loud"],
        ["simulate-node", "--casper-version", "3"], ["dev", "--node", "sse=http://a,zzz=1"],
        ["dev", "--pg-prepared-statements", "maybe"],
        ["serve", "--read-database-url", "postgresql://127.0.0.1:1/x", "--pg-prepared-statements", "sometimes"],
    ])
    func badFlags(_ arguments: [String]) async throws {
        let p = try ChainfeedProcess(arguments)
        defer { p.stop() }
        let code = try await p.waitForExit(timeout: .seconds(20))
        #expect(code != nil && code != 0)
        let lines = p.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(p.stderr)")
        #expect(lines.first?.hasPrefix("chainfeed: ") == true)
    }

    @Test("a port already in use ends every server command with one stderr line and a non-zero exit")
    func portInUse() async throws {
        let port = try freePort()
        let holder = try ChainfeedProcess(["simulate-node", "--port", "\(port)"])
        defer { holder.stop() }
        _ = try await HTTP.waitFor("http://127.0.0.1:\(port)/status", timeout: .seconds(30)) { _ in true }
        let commands: [[String]] = [
            ["dev"], ["simulate-node"],
            ["ingest", "--node", "http://127.0.0.1:\(port)", "--database-url", "postgresql://postgres@127.0.0.1:1/none"],
            ["serve", "--read-database-url", "postgresql://postgres@127.0.0.1:1/none"],
        ]
        for command in commands {
            let p = try ChainfeedProcess(command + ["--port", "\(port)"])
            defer { p.stop() }
            let code = try await p.waitForExit(timeout: .seconds(30))
            #expect(code != nil && code != 0, "\(command[0]) did not exit with an error")
            let lines = p.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines.first?.contains("already in use") == true, "\(command[0]): \(p.stderr)")
        }
        #expect(holder.isRunning)
    }
}
