import ChainfeedCore
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NodeSimulator
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite(.timeLimit(.minutes(1))) struct NodeSimulatorTests {
    // MARK: Chain generator (no HTTP)

    @Test("The same seed gives the same events and another seed gives different ones")
    func determinism() {
        let a = SimulatedChain(configuration: config(seed: 7))
        let b = SimulatedChain(configuration: config(seed: 7))
        let c = SimulatedChain(configuration: config(seed: 8))
        for height in UInt64(0)..<30 {
            #expect(a.events(forBlockAt: height) == b.events(forBlockAt: height))
            #expect(a.block(at: height) == b.block(at: height))
            #expect(a.block(at: height).hash != c.block(at: height).hash)
        }
        #expect(a.validators != c.validators)
    }

    @Test("Every generated payload decodes with CasperEventDecoder to its kind", arguments: SimulatedNode.CasperVersion.allCases)
    func payloadsDecode(version: SimulatedNode.CasperVersion) throws {
        var configuration = config(seed: 3, version: version)
        configuration.deploysPerBlock = 4
        let chain = SimulatedChain(configuration: configuration)
        let decoder = CasperEventDecoder()
        var kinds = Set<EventKind>()
        var failures = 0
        for height in UInt64(0)..<200 {
            let block = chain.block(at: height)
            let events = chain.events(forBlockAt: height)
            #expect(events.count == chain.eventCount(forBlockAt: height))
            for event in events {
                #expect(!event.json.contains("\n"))
                let decoded = try decoder.decode(event.json)
                #expect(decoded.kindName == event.kind.rawValue)
                kinds.insert(event.kind)
                switch decoded.payload {
                case .block(let b):
                    #expect(b.blockHash == block.hash)
                    #expect(b.parentHash == block.parentHash)
                    #expect(b.height == height)
                    #expect(b.eraId == block.eraId)
                    #expect(b.proposer == block.proposer)
                    #expect(b.timestamp == block.timestamp)
                    #expect(b.deploys == block.deployHashes)
                case .deploy(let d):
                    #expect(Identifiers.isHash(d.deployHash))
                    if d.state == .processed {
                        #expect(d.blockHash == block.hash)
                        #expect(d.cost != nil)
                        #expect(block.deployHashes.contains(d.deployHash))
                        if d.errorMessage != nil { failures += 1 }
                    }
                    if let account = d.account {
                        #expect(chain.accounts.contains(account))
                        #expect(Identifiers.isAccount(account))
                    }
                case .signature(let s):
                    #expect(s.blockHash == block.hash)
                    #expect(chain.validators.contains(s.publicKey))
                    #expect(s.blockHeight == (version == .v2 ? height : nil))
                case .step(let s):
                    #expect(s.eraId == block.eraId)
                case .fault(let f):
                    #expect(chain.validators.contains(f.publicKey))
                case .apiVersion, .shutdown, .unknown:
                    Issue.record("unexpected payload \(decoded.kindName)")
                }
            }
        }
        let expected: Set<EventKind> =
            switch version {
            case .v1: [.deployAccepted, .blockAdded, .deployProcessed, .deployExpired, .finalitySignature, .step, .fault]
            case .v2: [.transactionAccepted, .blockAdded, .transactionProcessed, .transactionExpired, .finalitySignature, .step, .fault]
            }
        #expect(kinds == expected)
        #expect(failures > 0)
    }

    @Test("Each block orders its events like a node and names its deploys")
    func eventOrder() {
        let chain = SimulatedChain(configuration: config(seed: 5))
        let events = chain.events(forBlockAt: 4)
        let kinds = events.map(\.kind)
        let added = kinds.firstIndex(of: .blockAdded)!
        #expect(kinds[..<added].allSatisfy { $0 == .transactionAccepted })
        #expect(kinds[(added + 1)...].prefix(3).allSatisfy { $0 == .transactionProcessed })
        #expect(kinds.filter { $0 == .finalitySignature }.count == chain.validators.count)
        #expect(chain.validators.count == 5)
        #expect(chain.validators.allSatisfy { $0.hasPrefix("01") && $0.count == 66 && Identifiers.isAccount($0) })
    }

    @Test("Parent hashes chain, eras end with a switch block and a Step, timestamps follow the interval")
    func chainShape() throws {
        var configuration = config(seed: 11)
        configuration.eraLength = 10
        configuration.blockInterval = .milliseconds(16_384)
        let chain = SimulatedChain(configuration: configuration)
        #expect(chain.block(at: 0).parentHash == String(repeating: "0", count: 64))
        #expect(chain.block(at: 0).timestamp == "2024-01-01T00:00:00.000Z")
        #expect(chain.block(at: 3).timestamp == "2024-01-01T00:00:49.152Z")
        for height in UInt64(1)..<35 {
            let block = chain.block(at: height)
            #expect(block.parentHash == chain.block(at: height - 1).hash)
            #expect(block.eraId == height / 10)
            #expect(block.isSwitchBlock == (height % 10 == 9))
            let steps = chain.events(forBlockAt: height).filter { $0.kind == .step }
            #expect(steps.count == (height % 10 == 9 ? 1 : 0))
            let added = try #require(chain.events(forBlockAt: height).first { $0.kind == .blockAdded })
            #expect(added.json.contains("\"era_end\":null") == !block.isSwitchBlock)
        }
        let step = try #require(chain.events(forBlockAt: 19).first { $0.kind == .step })
        #expect(try CasperEventDecoder().decode(step.json).payload == .step(Step(eraId: 1)))
    }

    @Test("breakChainAt gives that block a parent hash that is not its predecessor's")
    func brokenChain() {
        var configuration = config(seed: 2)
        configuration.breakChainAt = 5
        let chain = SimulatedChain(configuration: configuration)
        #expect(chain.block(at: 5).parentHash != chain.block(at: 4).hash)
        #expect(chain.block(at: 6).parentHash == chain.block(at: 5).hash)
        #expect(chain.block(at: 4).parentHash == chain.block(at: 3).hash)
    }

    @Test("An invalid configuration is rejected with the field it concerns")
    func invalidConfiguration() {
        var configuration = config()
        configuration.eraLength = 0
        #expect(throws: NodeSimulatorError.invalidConfiguration(field: "eraLength", reason: "must be at least 1")) {
            try configuration.validate()
        }
    }

    // MARK: Node state

    @Test("Pre-generated blocks leave the same ids and buffer as producing them one by one")
    func pregeneration() async throws {
        for restart in [nil, 70] as [Int?] {
            var configuration = paused(initialBlocks: 300)
            configuration.bufferSize = 100
            configuration.restartEveryBlocks = restart
            configuration.initialBlocks = 300
            let fast = try SimulatedNode(configuration: configuration, logger: logger)
            configuration.initialBlocks = 0
            let slow = try SimulatedNode(configuration: configuration, logger: logger)
            for _ in 0..<300 { slow.produceBlock() }
            #expect(fast.nextEventId == slow.nextEventId)
            #expect(fast.bufferedEventIds == slow.bufferedEventIds)
            #expect(fast.latestHeight == 299)
            #expect(fast.block(hash: slow.chain.blockHash(at: 10))?.height == 10)
            let replayFast = try await replay(fast)
            #expect(replayFast.count == fast.bufferedEventIds.count + 2)
            #expect(replayFast == (try await replay(slow)))
        }
    }

    @Test("The pacing service produces maxBlocks live blocks, then stops")
    func pacing() async throws {
        var configuration = paused(initialBlocks: 2)
        configuration.blockInterval = .milliseconds(5)
        configuration.maxBlocks = 4
        let node = try SimulatedNode(configuration: configuration, logger: logger)
        try await buildSimulatorApplication(node: node).test(.router) { _ in
            try await Self.waitUntil { node.latestHeight == 5 }
            try await Task.sleep(for: .milliseconds(50))
            #expect(node.latestHeight == 5)
        }
    }

    // MARK: SSE

    @Test("start_from replays inclusively after an ApiVersion without id")
    func replayInclusive() async throws {
        let node = try SimulatedNode(configuration: paused(initialBlocks: 4), logger: logger)
        let total = Int(node.nextEventId)
        let frames = try await replay(node, startFrom: 5)
        #expect(frames.first?.data == "{\"ApiVersion\":\"2.0.0\"}")
        #expect(frames.first?.id == nil)
        #expect(frames.dropFirst().map(\.id) == (5...UInt32(total)).map(Optional.some))
        let decoder = CasperEventDecoder()
        for frame in frames { _ = try decoder.decode(frame.data) }
    }

    @Test("start_from older than the buffer, or 0, replays the whole buffer")
    func replayWholeBuffer() async throws {
        var configuration = paused(initialBlocks: 6)
        configuration.bufferSize = 20
        for startFrom: UInt32 in [0, 3] {
            let node = try SimulatedNode(configuration: configuration, logger: logger)
            let buffered = node.bufferedEventIds
            #expect(buffered.count == 20)
            #expect(buffered.first! > 3)
            let frames = try await replay(node, startFrom: startFrom)
            #expect(frames.dropFirst().dropLast().map(\.id) == buffered.map(Optional.some))
        }
    }

    @Test("Replayed and live events meet without a gap or a duplicate")
    func replaySeam() async throws {
        var configuration = paused(initialBlocks: 3)
        configuration.dropEvery = 1000
        let node = try SimulatedNode(configuration: configuration, logger: logger)
        let startFrom = node.nextEventId - 4
        try await buildSimulatorApplication(node: node).test(.live) { client in
            let port = try #require(client.port)
            let stream = Task { try await Self.get("/events?start_from=\(startFrom)", port: port) }
            try await Self.waitUntil { node.subscriberCount == 1 }
            node.produceBlock()
            node.produceBlock()
            let end = node.nextEventId
            node.shutDownEventStream()
            let frames = Self.frames(try await stream.value)
            #expect(frames.dropFirst().map(\.id) == (startFrom...end).map(Optional.some))
            #expect(frames.last?.data == "\"Shutdown\"")
        }
    }

    @Test("A bad query gets 422 and an unknown path 404, with the node's text")
    func errorsOnEventPaths() async throws {
        let v2 = try buildSimulatorApplication(configuration: paused(initialBlocks: 1), logger: logger)
        try await v2.test(.router) { client in
            for query in ["start_from=abc", "start_from=1&x=2", "from=1", "start_from=-1", "start_from=4294967296"] {
                let response = try await client.execute(uri: "/events?\(query)", method: .get)
                #expect(response.status == .unprocessableContent)
                #expect(String(buffer: response.body) == "invalid query: expected single field 'start_from=<EVENT ID>'\n")
            }
            let missing = try await client.execute(uri: "/events/main", method: .get)
            #expect(missing.status == .notFound)
            #expect(String(buffer: missing.body) == "invalid path: expected '/events'\n")
        }
        let v1 = try buildSimulatorApplication(configuration: paused(initialBlocks: 1, version: .v1), logger: logger)
        try await v1.test(.router) { client in
            let missing = try await client.execute(uri: "/events", method: .get)
            #expect(missing.status == .notFound)
            #expect(String(buffer: missing.body) == "invalid path: expected '/events/main', '/events/deploys' or '/events/sigs'\n")
        }
    }

    @Test("1.x endpoints carry their own kinds and share one id counter")
    func legacyEndpoints() async throws {
        let node = try SimulatedNode(configuration: paused(initialBlocks: 3, version: .v1), logger: logger)
        let total = node.nextEventId
        try await buildSimulatorApplication(node: node).test(.live) { client in
            let port = try #require(client.port)
            let streams = LegacyChannel.allCases.map { channel in
                (channel, Task { try await Self.get("\(channel.path)?start_from=0", port: port) })
            }
            try await Self.waitUntil { node.subscriberCount == 3 }
            node.shutDownEventStream()
            var seen: [UInt32] = []
            for (channel, stream) in streams {
                let frames = Self.frames(try await stream.value)
                #expect(frames.first?.data == "{\"ApiVersion\":\"1.5.6\"}")
                #expect(frames.last?.data == "\"Shutdown\"")
                #expect(frames.last?.id == total)
                for frame in frames.dropFirst().dropLast() {
                    let event = try CasperEventDecoder().decode(frame.data)
                    #expect(event.kind?.legacyChannel == channel)
                    seen.append(try #require(frame.id))
                }
            }
            #expect(seen.sorted() == Array(0..<total))
        }
    }

    @Test("dropEvery ends each stream after that many events, replayed or live")
    func dropEvery() async throws {
        var configuration = paused(initialBlocks: 2)
        configuration.dropEvery = 5
        let node = try SimulatedNode(configuration: configuration, logger: logger)
        try await buildSimulatorApplication(node: node).test(.live) { client in
            let replayed = Self.frames(String(buffer: try await client.execute(uri: "/events?start_from=0", method: .get).body))
            #expect(replayed.dropFirst().map(\.id) == [0, 1, 2, 3, 4])
            let port = try #require(client.port)
            let stream = Task { try await Self.get("/events", port: port) }
            try await Self.waitUntil { node.subscriberCount == 1 }
            let first = node.nextEventId
            node.produceBlock()
            let live = Self.frames(try await stream.value)
            #expect(live.dropFirst().map(\.id) == (first..<first + 5).map(Optional.some))
        }
    }

    @Test("restartEveryBlocks sends Shutdown, ends the stream, clears the buffer and restarts ids at 0")
    func restart() async throws {
        var configuration = paused(initialBlocks: 0)
        configuration.restartEveryBlocks = 2
        let node = try SimulatedNode(configuration: configuration, logger: logger)
        try await buildSimulatorApplication(node: node).test(.live) { client in
            let port = try #require(client.port)
            let stream = Task { try await Self.get("/events", port: port) }
            try await Self.waitUntil { node.subscriberCount == 1 }
            node.produceBlock()
            node.produceBlock()
            let beforeRestart = Self.frames(try await stream.value)
            #expect(beforeRestart.last?.data == "\"Shutdown\"")
            #expect(beforeRestart.dropFirst().map(\.id) == (0..<UInt32(beforeRestart.count - 1)).map(Optional.some))
            #expect(node.nextEventId == 0)
            #expect(node.bufferedEventIds.isEmpty)
            node.produceBlock()
            let afterRestart = try await Self.replay(node, port: port)
            #expect(afterRestart.dropFirst().first?.id == 0)
            #expect(afterRestart.dropFirst().contains { $0.data.contains("\"height\":2,") })
        }
    }

    @Test("Graceful shutdown ends open SSE streams with Shutdown")
    func gracefulShutdown() async throws {
        let node = try SimulatedNode(configuration: paused(initialBlocks: 1), logger: logger)
        let stream = try await buildSimulatorApplication(node: node).test(.live) { client in
            let port = try #require(client.port)
            let stream = Task { try await Self.get("/events", port: port) }
            try await Self.waitUntil { node.subscriberCount == 1 }
            return stream
        }
        let frames = Self.frames(try await stream.value)
        #expect(frames.map(\.data) == ["{\"ApiVersion\":\"2.0.0\"}", "\"Shutdown\""])
    }

    @Test("A client that stops reading is dropped and never holds up block production")
    func slowConsumer() async throws {
        var configuration = paused(initialBlocks: 0)
        configuration.maxPendingEventsPerClient = 50
        configuration.deploysPerBlock = 20
        let node = try SimulatedNode(configuration: configuration, logger: logger)
        try await buildSimulatorApplication(node: node).test(.live) { client in
            let socket = try StalledClient(port: try #require(client.port), path: "/events")
            defer { socket.close() }
            try await Self.waitUntil { node.subscriberCount == 1 }
            var blocks = 0
            while node.slowConsumerDrops == 0 && blocks < 5000 {
                node.produceBlock()
                blocks += 1
                if blocks % 20 == 0 { try await Task.sleep(for: .milliseconds(5)) }
            }
            #expect(node.slowConsumerDrops == 1)
            try await Self.waitUntil { node.subscriberCount == 0 }
            // Other clients are unaffected.
            let status = try await client.execute(uri: "/status", method: .get)
            #expect(status.status == .ok)
        }
    }

    @Test("Graceful shutdown does not wait for a client that stopped reading")
    func shutdownWithStalledClient() async throws {
        var configuration = paused(initialBlocks: 0)
        configuration.deploysPerBlock = 20
        configuration.maxPendingEventsPerClient = 1_000_000
        let node = try SimulatedNode(configuration: configuration, logger: logger)
        let socket = try await buildSimulatorApplication(node: node).test(.live) { client in
            let socket = try StalledClient(port: try #require(client.port), path: "/events")
            try await Self.waitUntil { node.subscriberCount == 1 }
            // Far more than the socket buffers hold, so the server's write is stuck when shutdown begins.
            for _ in 0..<300 { node.produceBlock() }
            return socket
        }
        socket.close()
        #expect(node.slowConsumerDrops == 0)
        #expect(node.subscriberCount == 0)
    }

    // MARK: /status and JSON-RPC

    @Test("/status reports the latest block and the available range")
    func status() async throws {
        var configuration = paused(initialBlocks: 7)
        configuration.startHeight = 100
        let node = try SimulatedNode(configuration: configuration, logger: logger)
        try await buildSimulatorApplication(node: node).test(.router) { client in
            let status = try Self.object(try await client.execute(uri: "/status", method: .get).body)
            let info = try #require(status["last_added_block_info"] as? [String: Any])
            #expect(info["height"] as? Int == 106)
            #expect(info["hash"] as? String == node.chain.blockHash(at: 106))
            #expect(info["creator"] as? String == node.chain.proposer(at: 106))
            let range = try #require(status["available_block_range"] as? [String: Any])
            #expect(range["low"] as? Int == 100)
            #expect(range["high"] as? Int == 106)
            #expect(status["api_version"] as? String == "2.0.0")
            #expect(status["build_version"] as? String == "2.0.0")
            #expect(status["chainspec_name"] as? String == "casper-sim")
            #expect(status["reactor_state"] as? String == "Validate")
            #expect(status["uptime"] is String)
        }
        let empty = try SimulatedNode(configuration: paused(initialBlocks: 0), logger: logger)
        try await buildSimulatorApplication(node: empty).test(.router) { client in
            let status = try Self.object(try await client.execute(uri: "/status", method: .get).body)
            #expect(status["last_added_block_info"] == nil)
            #expect(status["chainspec_name"] as? String == "casper-sim")
        }
    }

    @Test("chain_get_block answers by height, by hash and for the latest block, as in BlockAdded", arguments: SimulatedNode.CasperVersion.allCases)
    func chainGetBlock(version: SimulatedNode.CasperVersion) async throws {
        let node = try SimulatedNode(configuration: paused(initialBlocks: 12, version: version), logger: logger)
        let hash = node.chain.blockHash(at: 4)
        try await buildSimulatorApplication(node: node).test(.router) { client in
            let requests: [(String, UInt64)] = [
                (#"{"jsonrpc":"2.0","id":1,"method":"chain_get_block","params":[{"Height":4}]}"#, 4),
                (#"{"jsonrpc":"2.0","id":"a","method":"chain_get_block","params":{"block_identifier":{"Hash":"\#(hash)"}}}"#, 4),
                (#"{"jsonrpc":"2.0","id":2,"method":"chain_get_block","params":{"block_identifier":{"Height":9}}}"#, 9),
                (#"{"jsonrpc":"2.0","id":3,"method":"chain_get_block"}"#, 11),
                (#"{"jsonrpc":"2.0","id":4,"method":"chain_get_block","params":[]}"#, 11),
                (#"{"jsonrpc":"2.0","id":5,"method":"chain_get_block","params":[{"Height":0}]}"#, 0),
                (#"{"jsonrpc":"2.0","id":6,"method":"chain_get_block","params":{"block_identifier":{"Height":1}}}"#, 1),
            ]
            for (request, height) in requests {
                let response = try Self.object(try await client.execute(uri: "/rpc", method: .post, body: ByteBuffer(string: request)).body)
                let result = try #require(response["result"] as? [String: Any])
                #expect(result["api_version"] as? String == node.chain.apiVersion)
                let block: [String: Any]
                switch version {
                case .v2:
                    let signed = try #require(result["block_with_signatures"] as? [String: Any])
                    #expect((signed["proofs"] as? [Any])?.count == 5)
                    let wrapped = try #require(signed["block"] as? [String: Any])
                    try Self.expectSameBlock(wrapped, asEventOf: node, height: height)
                    block = try #require(wrapped["Version2"] as? [String: Any])
                case .v1:
                    block = try #require(result["block"] as? [String: Any])
                    #expect((block["proofs"] as? [Any])?.count == 5)
                }
                let header = try #require(block["header"] as? [String: Any])
                #expect(header["height"] as? Int == Int(height))
                #expect(block["hash"] as? String == node.chain.blockHash(at: height))
            }
        }
    }

    @Test("JSON-RPC errors: unknown block, bad params, unknown method, malformed JSON")
    func rpcErrors() async throws {
        let node = try SimulatedNode(configuration: paused(initialBlocks: 3), logger: logger)
        try await buildSimulatorApplication(node: node).test(.router) { client in
            let cases: [(String, Int)] = [
                (#"{"jsonrpc":"2.0","id":1,"method":"chain_get_block","params":[{"Height":3}]}"#, -32001),
                (#"{"jsonrpc":"2.0","id":1,"method":"chain_get_block","params":[{"Hash":"\#(String(repeating: "ab", count: 32))"}]}"#, -32001),
                (#"{"jsonrpc":"2.0","id":1,"method":"chain_get_block","params":[{"Hash":"xyz"}]}"#, -32602),
                (#"{"jsonrpc":"2.0","id":1,"method":"chain_get_block","params":[{"Height":-1}]}"#, -32602),
                (#"{"jsonrpc":"2.0","id":1,"method":"chain_get_block","params":[{"Height":true}]}"#, -32602),
                (#"{"jsonrpc":"2.0","id":1,"method":"chain_get_block","params":[{"Height":1.5}]}"#, -32602),
                (#"{"jsonrpc":"2.0","id":1,"method":"chain_get_block","params":"latest"}"#, -32602),
                (#"{"jsonrpc":"2.0","id":1,"method":"chain_get_blocks"}"#, -32601),
                (#"{"id":1,"method":"chain_get_block"}"#, -32600),
                (#"{"jsonrpc":"2.0","id":1,"method":"#, -32700),
            ]
            for (request, code) in cases {
                let response = try Self.object(try await client.execute(uri: "/rpc", method: .post, body: ByteBuffer(string: request)).body)
                let error = try #require(response["error"] as? [String: Any])
                #expect(error["code"] as? Int == code, "\(request)")
                if code == -32001 { #expect(error["message"] as? String == "block not known") }
            }
            let status = try Self.object(
                try await client.execute(
                    uri: "/rpc",
                    method: .post,
                    body: ByteBuffer(string: #"{"jsonrpc":"2.0","id":7,"method":"info_get_status"}"#)
                ).body
            )
            #expect(status["id"] as? Int == 7)
            #expect((status["result"] as? [String: Any])?["chainspec_name"] as? String == "casper-sim")
        }
    }

    // MARK: Helpers

    private let logger: Logger = {
        var logger = Logger(label: "node-simulator-tests")
        logger.logLevel = .warning
        return logger
    }()

    private func config(seed: UInt64 = 1, version: SimulatedNode.CasperVersion = .v2) -> SimulatedNode.Configuration {
        SimulatedNode.Configuration(seed: seed, casperVersion: version, port: 0)
    }

    /// A node that produces no live blocks on its own: tests call `produceBlock()`.
    private func paused(initialBlocks: Int, version: SimulatedNode.CasperVersion = .v2) -> SimulatedNode.Configuration {
        var configuration = config(seed: 42, version: version)
        configuration.initialBlocks = initialBlocks
        configuration.maxBlocks = 0
        return configuration
    }

    struct Frame: Equatable {
        var data: String
        var id: UInt32?
    }

    /// Splits an SSE body into messages, skipping `:` keep-alive comments.
    static func frames(_ body: String) -> [Frame] {
        body.components(separatedBy: "\n\n").compactMap { block in
            var frame = Frame(data: "", id: nil)
            var hasData = false
            for line in block.split(separator: "\n") where !line.hasPrefix(":") {
                if line.hasPrefix("data:") {
                    frame.data = String(line.dropFirst(5))
                    hasData = true
                } else if line.hasPrefix("id:") {
                    frame.id = UInt32(line.dropFirst(3))
                }
            }
            return hasData ? frame : nil
        }
    }

    /// Everything a client of `/events?start_from=` receives until the node shuts its stream down:
    /// ApiVersion, the replay, `"Shutdown"`. Ends the node's stream.
    private func replay(_ node: SimulatedNode, startFrom: UInt32 = 0) async throws -> [Frame] {
        try await buildSimulatorApplication(node: node).test(.live) { client in
            try await Self.replay(node, startFrom: startFrom, port: try #require(client.port))
        }
    }

    private static func replay(_ node: SimulatedNode, startFrom: UInt32 = 0, port: Int) async throws -> [Frame] {
        let stream = Task { try await get("/events?start_from=\(startFrom)", port: port) }
        try await waitUntil { node.subscriberCount == 1 }
        node.shutDownEventStream()
        let frames = frames(try await stream.value)
        #expect(frames.last?.data == "\"Shutdown\"")
        return frames
    }

    /// GET over a fresh connection; returns the whole body once the server ends the response.
    static func get(_ path: String, port: Int) async throws -> String {
        let client = TestClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(60)))
        client.connect()
        let response: TestClient.Response
        do {
            response = try await client.get(path)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try? await client.shutdown()
        return String(buffer: response.body ?? ByteBuffer())
    }

    static func waitUntil(_ condition: @Sendable () -> Bool) async throws {
        for _ in 0..<1000 where !condition() {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(condition())
    }

    static func object(_ body: ByteBuffer) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any])
    }

    /// The JSON-RPC block equals the `block` of the node's `BlockAdded` event for that height.
    static func expectSameBlock(_ rpcBlock: [String: Any], asEventOf node: SimulatedNode, height: UInt64) throws {
        let added = try #require(node.chain.events(forBlockAt: height).first { $0.kind == .blockAdded })
        let event = try object(ByteBuffer(string: added.json))
        let eventBlock = try #require((event["BlockAdded"] as? [String: Any])?["block"] as? [String: Any])
        #expect(NSDictionary(dictionary: eventBlock).isEqual(to: rpcBlock))
    }
}

/// A raw TCP client that sends a request and never reads, to make the server's writes back up.
private struct StalledClient: Sendable {
    let fd: Int32

    init(port: Int, path: String) throws {
        #if os(Linux)
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        var size: Int32 = 2048
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        let request = Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)
        #expect(send(fd, request, request.count, 0) == request.count)
    }

    func close() {
        #if os(Linux)
        _ = Glibc.close(fd)
        #else
        _ = Darwin.close(fd)
        #endif
    }
}
