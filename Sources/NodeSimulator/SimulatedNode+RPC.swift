import ChainfeedCore
import Foundation

// The node's JSON-RPC (`POST /rpc`) and REST `/status`, over the simulated chain.

extension SimulatedNode {
    /// JSON-RPC 2.0 error codes the simulator answers with.
    enum RPCError: Int64 {
        case parseError = -32700
        case invalidRequest = -32600
        case methodNotFound = -32601
        case invalidParams = -32602
        case blockNotKnown = -32001

        var message: String {
            switch self {
            case .parseError: "Parse error"
            case .invalidRequest: "Invalid Request"
            case .methodNotFound: "Method not found"
            case .invalidParams: "Invalid params"
            case .blockNotKnown: "block not known"
            }
        }
    }

    /// Answers one JSON-RPC request body (`chain_get_block`, `info_get_status`) with the response text.
    public func rpcResponse(to body: some Collection<UInt8>) -> String {
        let request: JSONValue
        do {
            request = try JSONDecoder().decode(JSONValue.self, from: Data(body))
        } catch {
            return Self.rpcError(id: .null, .parseError)
        }
        let id = request["id"] ?? .null
        guard request["jsonrpc"] == .string("2.0"), case .string(let method)? = request["method"] else {
            return Self.rpcError(id: id, .invalidRequest)
        }
        logger.debug("rpc request", metadata: [LogKey.rpcMethod: "\(method)"])
        switch method {
        case "chain_get_block":
            return chainGetBlock(id: id, params: request["params"])
        case "info_get_status":
            return Self.rpcResult(id: id, .raw(statusJSON()))
        default:
            return Self.rpcError(id: id, .methodNotFound, data: "no method named '\(method)'")
        }
    }

    private enum BlockIdentifier {
        case latest
        case height(UInt64)
        case hash(String)
    }

    /// Positional `[{"Height": n}]` / `[{"Hash": h}]`, named `{"block_identifier": …}`, or none for the latest.
    private static func blockIdentifier(_ params: JSONValue?) -> BlockIdentifier? {
        func identifier(_ value: JSONValue?) -> BlockIdentifier? {
            switch value {
            case nil, .null?:
                return .latest
            case .object(let o)? where o.count == 1:
                if case .uint(let h)? = o["Height"] { return .height(h) }
                if case .string(let h)? = o["Hash"], Identifiers.isHash(h) { return .hash(h.lowercased()) }
                return nil
            default:
                return nil
            }
        }
        switch params {
        case nil, .null?:
            return .latest
        case .array(let a)?:
            return a.count <= 1 ? identifier(a.first) : nil
        case .object(let o)?:
            return identifier(o["block_identifier"])
        default:
            return nil
        }
    }

    private func chainGetBlock(id: JSONValue, params: JSONValue?) -> String {
        let found: SimulatedBlock?
        switch Self.blockIdentifier(params) {
        case nil:
            return Self.rpcError(id: id, .invalidParams, data: "expected [{\"Height\": n}], [{\"Hash\": hex}] or {\"block_identifier\": …}")
        case .latest?:
            found = latestBlock
        case .height(let h)?:
            found = block(at: h)
        case .hash(let h)?:
            found = block(hash: h)
        }
        guard let block = found else {
            return Self.rpcError(id: id, .blockNotKnown, data: "the node does not have this block")
        }
        let result: JSON
        switch configuration.casperVersion {
        case .v2:
            result = .obj([
                "api_version": .string(chain.apiVersion),
                "block_with_signatures": .obj(["block": chain.blockValue(block), "proofs": chain.proofs(block)]),
            ])
        case .v1:
            result = .obj(["api_version": .string(chain.apiVersion), "block": chain.plainBlock(block, proofs: chain.proofs(block))])
        }
        return Self.rpcResult(id: id, result)
    }

    private static func rpcResult(id: JSONValue, _ result: JSON) -> String {
        JSON.obj(["jsonrpc": .string("2.0"), "id": id.json, "result": result]).text
    }

    static func rpcError(id: JSONValue, _ error: RPCError, data: String? = nil) -> String {
        var fields: [(String, JSON)] = [("code", .int(error.rawValue)), ("message", .string(error.message))]
        if let data { fields.append(("data", .string(data))) }
        return JSON.obj(["jsonrpc": .string("2.0"), "id": id.json, "error": .object(fields)]).text
    }

    // MARK: Status

    /// The node's `GetStatusResult`: the `/status` body and the `info_get_status` result.
    public func statusJSON() -> String {
        let latest = latestBlock
        let v2 = configuration.casperVersion == .v2
        var pairs: [(String, JSON)] = [("api_version", .string(chain.apiVersion))]
        if v2 { pairs.append(("protocol_version", .string(chain.protocolVersion))) }
        pairs += [
            (
                "peers",
                .array(
                    (0..<3).map { i in
                        let id = Digest.hex("peer", configuration.seed, UInt64(i))
                        return .obj(["node_id": .string("tls:\(id.prefix(4))..\(id.suffix(4))"), "address": .string("10.0.0.\(i + 2):35000")])
                    }
                )
            ),
            ("build_version", .string(chain.buildVersion)),
            ("chainspec_name", .string(configuration.chainName)),
            ("starting_state_root_hash", .string(Digest.hex("starting-state-root", configuration.seed))),
        ]
        if let latest {
            pairs.append(
                (
                    "last_added_block_info",
                    .obj([
                        "hash": .string(latest.hash),
                        "timestamp": .string(latest.timestamp),
                        "era_id": .uint(latest.eraId),
                        "height": .uint(latest.height),
                        "state_root_hash": .string(latest.stateRootHash),
                        "creator": .string(latest.proposer),
                    ])
                )
            )
        }
        let uptime = ContinuousClock.now - startedAt
        pairs += [
            ("our_public_signing_key", .string(chain.validators[0])),
            ("round_length", .string(NodeFormat.humantime(millis: configuration.blockIntervalMillis))),
            ("next_upgrade", .null),
            ("uptime", .string(NodeFormat.humantime(millis: uptime.components.seconds * 1000))),
            ("reactor_state", .string("Validate")),
            ("last_progress", .string(latest?.timestamp ?? NodeFormat.timestamp(millis: configuration.genesisTimeMillis))),
            (
                "available_block_range",
                .obj([
                    "low": .uint(latest == nil ? 0 : configuration.startHeight), "high": .uint(latest?.height ?? 0),
                ])
            ),
            ("block_sync", .obj(["historical": .null, "forward": .null])),
        ]
        if v2 { pairs.append(("latest_switch_block_hash", .str(latestSwitchBlockHash))) }
        return JSON.object(pairs).text
    }
}
