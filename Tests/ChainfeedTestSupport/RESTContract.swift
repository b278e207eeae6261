import ChainfeedCore
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import WebAPI

/// The REST checks, written once for every store: each seeds an empty store, then drives the router.
public enum RESTContract {
    public typealias Check = @Sendable (any EventStore) async throws -> Void

    static let checks: [String: Check] = [
        "a block by hash has the event store's shape": blockShape,
        "blocks page newest first with the page shape": blocksPage,
        "deep pages and page windows": deepPages,
        "a deploy by hash has the event store's shape": deployShape,
        "account deploys page newest first": accountDeploys,
        "malformed hashes, pages and limits are 400 with a JSON error": badRequests,
        "well-formed unknown resources are 404 with a JSON error": notFound,
        "the event log pages by seq and filters": eventLog,
        "health, ready and status answer": health,
        "minSeq waits for the seq, never answers stale, else 503": minSeq,
    ]

    public static var names: [String] { checks.keys.sorted() }

    public static func run(_ name: String, on store: any EventStore) async throws {
        let check = try #require(checks[name])
        try await check(store)
    }

    static func app(_ store: any EventStore, minSeqWait: Duration = .seconds(2)) -> some ApplicationProtocol {
        Application(router: buildRouter(WebServices(role: "test", reader: store, minSeqWait: minSeqWait)))
    }

    static func get(_ client: some TestClientProtocol, _ path: String) async throws -> (HTTPResponse.Status, Any) {
        try await client.execute(uri: path, method: .get) { response in
            let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body))
            return (response.status, body)
        }
    }

    static func object(_ any: Any) throws -> [String: Any] {
        try #require(any as? [String: Any])
    }

    // MARK: Checks

    static func blockShape(_ store: any EventStore) async throws {
        let fixture = try #require(IngestEvent(Fixtures.event("blockadded-v2-1.json")))
        _ = try await store.store([fixture], checkpoints: [])
        guard case .block(let block) = fixture.payload else { Issue.record("not a block"); return }
        try await app(store).test(.router) { client in
            let (status, body) = try await get(client, "/block/\(block.blockHash)")
            #expect(status == .ok)
            let b = try object(body)
            #expect(Set(b.keys) == ["blockHash", "parentHash", "timestamp", "eraId", "proposer", "state", "height", "deploys"])
            #expect(b["blockHash"] as? String == block.blockHash)
            #expect((b["height"] as? NSNumber)?.uint64Value == 4195710)
            #expect((b["eraId"] as? NSNumber)?.uint64Value == 419571)
            #expect(b["proposer"] as? String == block.proposer)
            #expect((b["deploys"] as? [String])?.count == block.deploys.count)
            // Hashes are matched case-insensitively.
            let (upper, _) = try await get(client, "/block/\(block.blockHash.uppercased())")
            #expect(upper == .ok)
        }
    }

    static func blocksPage(_ store: any EventStore) async throws {
        _ = try await store.store((1...25).map { Synthetic.block(height: UInt64($0)) }, checkpoints: [])
        try await app(store).test(.router) { client in
            let (status, body) = try await get(client, "/blocks?page=1&limit=10")
            #expect(status == .ok)
            let page = try object(body)
            #expect(Set(page.keys) == ["data", "pageCount", "itemCount", "pages"])
            #expect(page["itemCount"] as? Int == 25)
            #expect(page["pageCount"] as? Int == 3)
            let data = try #require(page["data"] as? [[String: Any]])
            #expect(data.compactMap { $0["height"] as? Int } == Array((16...25).reversed()))
            let pages = try #require(page["pages"] as? [[String: Any]])
            #expect(pages.compactMap { $0["number"] as? Int } == [1, 2, 3])
            #expect(pages.first?["url"] as? String == "/blocks?page=1&limit=10")
            let (_, defaults) = try await get(client, "/blocks")
            #expect((try object(defaults)["data"] as? [Any])?.count == 10)
            let (_, two) = try await get(client, "/blocks?limit=2")
            #expect((try object(two)["data"] as? [[String: Any]])?.compactMap { $0["height"] as? Int } == [25, 24])
        }
    }

    static func deepPages(_ store: any EventStore) async throws {
        for start in stride(from: 1, through: 1000, by: 250) {
            _ = try await store.store((start..<start + 250).map { Synthetic.block(height: UInt64($0)) }, checkpoints: [])
        }
        try await app(store).test(.router) { client in
            let (_, body) = try await get(client, "/blocks?page=50&limit=10")
            let page = try object(body)
            let data = try #require(page["data"] as? [[String: Any]])
            #expect(data.compactMap { $0["height"] as? Int } == Array((501...510).reversed()))
            let numbers = (page["pages"] as? [[String: Any]])?.compactMap { $0["number"] as? Int }
            #expect(numbers == [1, 48, 49, 50, 51, 52, 100])
            let (_, last) = try await get(client, "/blocks?page=100&limit=10")
            #expect((try object(last)["data"] as? [[String: Any]])?.compactMap { $0["height"] as? Int } == Array((1...10).reversed()))
            let (status, beyond) = try await get(client, "/blocks?page=101&limit=10")
            #expect(status == .ok)
            #expect((try object(beyond)["data"] as? [Any])?.isEmpty == true)
            #expect(try object(beyond)["itemCount"] as? Int == 1000)
        }
    }

    static func deployShape(_ store: any EventStore) async throws {
        let accepted = try #require(IngestEvent(Fixtures.event("transactionaccepted-v2-deploy.json")))
        let processed = try #require(IngestEvent(Fixtures.event("deployprocessed-1.json")))
        _ = try await store.store([accepted, processed], checkpoints: [])
        guard case .deploy(let d) = processed.payload else { Issue.record("not a deploy"); return }
        try await app(store).test(.router) { client in
            let (status, body) = try await get(client, "/deploy/\(d.deployHash)")
            #expect(status == .ok)
            let json = try object(body)
            for key in ["deployHash", "account", "state", "cost", "errorMessage", "blockHash"] {
                #expect(json.keys.contains(key), "deploy lacks \(key)")
            }
            #expect(json["state"] as? String == "processed")
            #expect(json["cost"] as? String == "44837501013018610504")
            #expect(json["account"] as? String == d.account)
            #expect(json["blockHash"] as? String == d.blockHash)
            guard case .deploy(let a) = accepted.payload else { return }
            let (_, acceptedBody) = try await get(client, "/deploy/\(a.deployHash)")
            let aj = try object(acceptedBody)
            #expect(aj["state"] as? String == "accepted")
            #expect(aj["blockHash"] is NSNull)
        }
    }

    static func accountDeploys(_ store: any EventStore) async throws {
        _ = try await store.store((0..<15).map { Synthetic.deploy("d\($0)", state: .accepted, account: "alice") }, checkpoints: [])
        let alice = Synthetic.account("alice")
        try await app(store).test(.router) { client in
            let (status, body) = try await get(client, "/accountDeploys/\(alice)?page=2&limit=10")
            #expect(status == .ok)
            let page = try object(body)
            #expect(page["itemCount"] as? Int == 15)
            #expect(page["pageCount"] as? Int == 2)
            let hashes = (page["data"] as? [[String: Any]])?.compactMap { $0["deployHash"] as? String }
            #expect(hashes == (0..<5).reversed().map { Synthetic.hash("deploy:d\($0)") })
            #expect((page["pages"] as? [[String: Any]])?.first?["url"] as? String == "/accountDeploys/\(alice)?page=1&limit=10")
            let (empty, emptyBody) = try await get(client, "/accountDeploys/\(Synthetic.account("nobody"))")
            #expect(empty == .ok)
            #expect(try object(emptyBody)["itemCount"] as? Int == 0)
        }
    }

    static func badRequests(_ store: any EventStore) async throws {
        let paths = [
            "/block/not-a-hash", "/block/\(String(repeating: "g", count: 64))", "/block/\(String(repeating: "a", count: 63))",
            "/deploy/xyz", "/accountDeploys/not-an-account", "/accountDeploys/03\(String(repeating: "a", count: 64))",
            "/blocks?page=0", "/blocks?page=-1", "/blocks?page=abc", "/blocks?limit=0", "/blocks?limit=101",
            "/blocks?limit=1000", "/blocks?limit=abc", "/blocks?limit=1.5", "/blocks?page=99999999999999999999",
            "/accountDeploys/\(Synthetic.account("a"))?limit=0",
            "/events?after=-1", "/events?after=x", "/events?limit=0", "/events?limit=101", "/events?topics=blok",
            "/events?account=zz", "/events?eraId=-3", "/events?bogus=1", "/events?topics=",
            "/blocks?minSeq=x", "/events?minSeq=-1", "/block/\(String(repeating: "a", count: 64))?minSeq=1.5",
        ]
        try await app(store).test(.router) { client in
            for path in paths {
                let (status, body) = try await get(client, path)
                #expect(status == .badRequest, "\(path) answered \(status)")
                #expect((try object(body)["error"] as? String)?.isEmpty == false, "\(path) has no error message")
            }
        }
    }

    static func notFound(_ store: any EventStore) async throws {
        let zero = String(repeating: "0", count: 64)
        try await app(store).test(.router) { client in
            for path in ["/block/\(zero)", "/deploy/\(zero)"] {
                let (status, body) = try await get(client, path)
                #expect(status == .notFound, "\(path) answered \(status)")
                #expect(try object(body)["error"] is String)
            }
        }
    }

    static func eventLog(_ store: any EventStore) async throws {
        _ = try await store.store([
            Synthetic.deploy("x", state: .accepted, account: "alice"),
            Synthetic.block(height: 1, deploys: ["x"]),
            Synthetic.deploy("x", state: .processed, account: "alice", block: 1, cost: "7"),
            Synthetic.step(era: 1),
        ], checkpoints: [])
        try await app(store).test(.router) { client in
            let (status, body) = try await get(client, "/events?after=0&limit=100")
            #expect(status == .ok)
            let data = try #require(try object(body)["data"] as? [[String: Any]])
            #expect(data.compactMap { $0["seq"] as? Int } == [1, 2, 3, 4])
            #expect(data.compactMap { $0["kind"] as? String } == ["DeployAccepted", "BlockAdded", "DeployProcessed", "Step"])
            let block = try #require(data[1]["data"] as? [String: Any])
            #expect(block["height"] as? Int == 1)
            #expect((data[2]["data"] as? [String: Any])?["cost"] as? String == "7")
            let (_, after) = try await get(client, "/events?after=2&limit=1")
            #expect((try object(after)["data"] as? [[String: Any]])?.compactMap { $0["seq"] as? Int } == [3])
            let (_, blocks) = try await get(client, "/events?topics=blocks")
            #expect((try object(blocks)["data"] as? [[String: Any]])?.compactMap { $0["seq"] as? Int } == [2])
            let (_, alice) = try await get(client, "/events?topics=deploys&account=\(Synthetic.account("alice"))")
            #expect((try object(alice)["data"] as? [[String: Any]])?.compactMap { $0["seq"] as? Int } == [1, 3])
            let (_, end) = try await get(client, "/events?after=4")
            #expect((try object(end)["data"] as? [Any])?.isEmpty == true)
        }
    }

    static func health(_ store: any EventStore) async throws {
        _ = try await store.store([Synthetic.block(height: 9)], checkpoints: [NodeCheckpoint(stream: "http://n/events", lastEventId: 3, headHeight: 9)])
        try await app(store).test(.router) { client in
            let (h, _) = try await get(client, "/health")
            #expect(h == .ok)
            let (r, _) = try await get(client, "/ready")
            #expect(r == .ok)
            let (s, body) = try await get(client, "/status")
            #expect(s == .ok)
            let status = try object(body)
            #expect(status["headSeq"] as? Int == 1)
            #expect(status["headHeight"] as? Int == 9)
            #expect(status["role"] as? String == "test")
            let checkpoints = try #require(status["checkpoints"] as? [[String: Any]])
            #expect(checkpoints.first?["lastEventId"] as? Int == 3)
        }
    }

    static func minSeq(_ store: any EventStore) async throws {
        _ = try await store.store([Synthetic.block(height: 1)], checkpoints: [])
        let second = Synthetic.block(height: 2)
        guard case .block(let block) = second.payload else { Issue.record("Synthetic.block is not a block"); return }
        try await app(store, minSeqWait: .seconds(30)).test(.router) { client in
            let (now, _) = try await get(client, "/blocks?minSeq=1")
            #expect(now == .ok)
            // A client that saw seq 2 asks for its block before it is stored: the read waits, then finds it.
            async let later = get(client, "/block/\(block.blockHash)?minSeq=2")
            try await Task.sleep(for: .milliseconds(200))
            _ = try await store.store([second], checkpoints: [])
            let (status, body) = try await later
            #expect(status == .ok, "a minSeq read answered \(status) instead of waiting for the seq")
            #expect(try object(body)["height"] as? Int == 2)
        }
        try await app(store, minSeqWait: .milliseconds(200)).test(.router) { client in
            for path in ["/events?minSeq=99", "/blocks?minSeq=99", "/deploy/\(String(repeating: "0", count: 64))?minSeq=99"] {
                let (status, body) = try await get(client, path)
                #expect(status == .serviceUnavailable, "\(path) answered \(status)")
                #expect((try object(body)["error"] as? String)?.contains("seq 99") == true)
            }
        }
    }
}
