import Foundation

/// Why a node message could not be decoded; the stream goes on without it.
public enum CasperDecodeError: Error, Equatable, CustomStringConvertible {
    /// The text is not JSON, or not an object with one top-level key (or the string `"Shutdown"`).
    case notAnEvent(reason: String)
    /// The kind is known but its fields do not have the node's shape.
    case malformedPayload(kind: String, reason: String)

    public var description: String {
        switch self {
        case .notAnEvent(let reason): "node message is not a Casper event: \(reason)"
        case .malformedPayload(let kind, let reason): "\(kind) payload does not have the node's shape: \(reason)"
        }
    }
}

/// Turns one SSE `data` payload of a Casper 1.x or 2.0 node into a normalised ``NodeEvent``.
public struct CasperEventDecoder: Sendable {
    public init() {}

    public func decode(_ raw: String) throws(CasperDecodeError) -> NodeEvent {
        let data = Data(raw.utf8)
        let decoder = JSONDecoder()
        let envelope: Envelope
        do {
            envelope = try decoder.decode(Envelope.self, from: data)
        } catch let error as CasperDecodeError {
            throw error
        } catch let DecodingError.dataCorrupted(context) where context.codingPath.isEmpty {
            throw .notAnEvent(reason: context.debugDescription)
        } catch let error as DecodingError {
            throw .malformedPayload(kind: Self.peekKind(data) ?? "?", reason: Self.describe(error))
        } catch {
            throw .notAnEvent(reason: "\(error)")
        }
        return NodeEvent(kindName: envelope.kind, raw: raw, payload: envelope.payload)
    }

    private static func peekKind(_ data: Data) -> String? {
        (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?.keys.first
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, let ctx):
            "missing \(path(ctx.codingPath + [key]))"
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx), .dataCorrupted(let ctx):
            "\(path(ctx.codingPath)): \(ctx.debugDescription)"
        @unknown default:
            "\(error)"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map(\.stringValue).joined(separator: ".")
    }
}

/// `{"Kind": payload}` or the bare string `"Shutdown"`.
private struct Envelope: Decodable {
    var kind: String
    var payload: NodeEvent.Payload

    init(from decoder: any Decoder) throws {
        // Objects first: nearly every message is one, and a failed attempt costs a DecodingError.
        guard let c = try? decoder.container(keyedBy: AnyKey.self) else {
            guard let s = try? decoder.singleValueContainer().decode(String.self) else {
                throw CasperDecodeError.notAnEvent(reason: "not a JSON object")
            }
            guard s == EventKind.shutdown.rawValue else {
                throw CasperDecodeError.notAnEvent(reason: "a bare string that is not \"Shutdown\"")
            }
            kind = s
            payload = .shutdown
            return
        }
        guard c.allKeys.count == 1, let key = c.allKeys.first else {
            throw CasperDecodeError.notAnEvent(reason: "expected one top-level key, found \(c.allKeys.count)")
        }
        kind = key.stringValue
        guard let known = EventKind(rawValue: kind) else {
            payload = .unknown
            return
        }
        payload = try Self.payload(known, c, key)
    }

    private static func payload(_ kind: EventKind, _ c: KeyedDecodingContainer<AnyKey>, _ key: AnyKey) throws -> NodeEvent.Payload {
        switch kind {
        case .apiVersion:
            return .apiVersion(try c.decode(String.self, forKey: key))
        case .shutdown:
            return .shutdown
        case .blockAdded:
            let w = try c.decode(WireBlockAdded.self, forKey: key)
            let b = w.block.value
            guard let proposer = b.header.proposer ?? b.body.proposer else {
                throw DecodingError.keyNotFound(AnyKey(stringValue: "proposer"), .init(codingPath: [key], debugDescription: "neither header nor body names the proposer"))
            }
            return .block(Block(
                blockHash: hex(w.block_hash), parentHash: hex(b.header.parent_hash),
                timestamp: b.header.timestamp, eraId: b.header.era_id, proposer: hex(proposer),
                height: b.header.height, deploys: b.body.allHashes.map(hex)))
        case .deployAccepted:
            let d = try c.decode(WireDeploy.self, forKey: key)
            return .deploy(Deploy(deployHash: hex(d.hash), account: hex(d.header.account), state: .accepted, timestamp: d.header.timestamp))
        case .transactionAccepted:
            let t = try c.decode(WireTransaction.self, forKey: key)
            return .deploy(Deploy(deployHash: hex(t.hash), account: hex(t.account), state: .accepted, timestamp: t.timestamp))
        case .deployProcessed:
            let d = try c.decode(WireDeployProcessed.self, forKey: key)
            return .deploy(Deploy(
                deployHash: hex(d.deploy_hash), account: hex(d.account), state: .processed,
                cost: d.execution_result.cost, errorMessage: d.execution_result.errorMessage,
                blockHash: hex(d.block_hash), timestamp: d.timestamp))
        case .transactionProcessed:
            let t = try c.decode(WireTransactionProcessed.self, forKey: key)
            return .deploy(Deploy(
                deployHash: hex(t.transaction_hash.hash), account: hex(t.initiator_addr.account), state: .processed,
                cost: t.execution_result.cost, errorMessage: t.execution_result.errorMessage,
                blockHash: hex(t.block_hash), timestamp: t.timestamp))
        case .deployExpired:
            let d = try c.decode(WireDeployExpired.self, forKey: key)
            return .deploy(Deploy(deployHash: hex(d.deploy_hash), state: .expired))
        case .transactionExpired:
            let t = try c.decode(WireTransactionExpired.self, forKey: key)
            return .deploy(Deploy(deployHash: hex(t.transaction_hash.hash), state: .expired))
        case .finalitySignature:
            let f = try c.decode(WireFinalitySignature.self, forKey: key).value
            return .signature(FinalitySignature(
                blockHash: hex(f.block_hash), blockHeight: f.block_height, eraId: f.era_id,
                publicKey: hex(f.public_key), signature: hex(f.signature)))
        case .step:
            return .step(Step(eraId: try c.decode(WireStep.self, forKey: key).era_id))
        case .fault:
            let f = try c.decode(WireFault.self, forKey: key)
            return .fault(Fault(eraId: f.era_id, publicKey: hex(f.public_key), timestamp: f.timestamp))
        }
    }

    /// Hashes and keys are compared lowercase everywhere (the node sends lowercase; CEP-57 tools may not).
    private static func hex(_ s: String) -> String { s.lowercased() }
}
