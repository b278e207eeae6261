/// One message from a node's SSE stream, decoded and normalised, with the node's JSON kept as received.
public struct NodeEvent: Sendable, Equatable {
    /// The top-level key of the node's JSON (`BlockAdded`, …), also for kinds this version does not know.
    public var kindName: String
    /// The node's JSON text, exactly as it arrived.
    public var raw: String
    public var payload: Payload

    public init(kindName: String, raw: String, payload: Payload) {
        self.kindName = kindName
        self.raw = raw
        self.payload = payload
    }

    /// What the event says, in Chainfeed's normalised terms.
    public enum Payload: Sendable, Equatable {
        case apiVersion(String)
        case block(Block)
        case deploy(Deploy)
        case signature(FinalitySignature)
        case step(Step)
        case fault(Fault)
        case shutdown
        /// A kind this version does not know: kept raw, delivered on the `all` topic.
        case unknown
    }

    public var kind: EventKind? { EventKind(rawValue: kindName) }

    /// Stream-control messages (`ApiVersion`, `Shutdown`) steer the follower and are never stored.
    public var isStorable: Bool {
        switch payload {
        case .apiVersion, .shutdown: false
        default: true
        }
    }

    /// The key that makes storing this event twice a no-op (DESIGN.md invariant 1); `nil` if not storable.
    public var dedupKey: DedupKey? {
        switch payload {
        case .apiVersion, .shutdown:
            return nil
        case .block(let b):
            return DedupKey("block:\(b.blockHash)")
        case .deploy(let d):
            switch d.state {
            case .accepted: return DedupKey("deploy:\(d.deployHash):accepted")
            case .expired: return DedupKey("deploy:\(d.deployHash):expired")
            case .processed: return DedupKey("deploy:\(d.deployHash):\(d.blockHash ?? "")")
            }
        case .signature(let s):
            return DedupKey("sig:\(s.blockHash):\(s.publicKey)")
        case .step(let s):
            return DedupKey("step:\(s.eraId)")
        case .fault(let f):
            return DedupKey("fault:\(f.eraId):\(f.publicKey)")
        case .unknown:
            return DedupKey("raw:\(kindName):\(SHA256Hex.of(raw))")
        }
    }

    /// The values subscription filters match on.
    public var keys: EventKeys {
        switch payload {
        case .block(let b):
            EventKeys(proposer: b.proposer, blockHash: b.blockHash, eraId: b.eraId)
        case .deploy(let d):
            EventKeys(account: d.account, blockHash: d.blockHash, deployHash: d.deployHash)
        case .signature(let s):
            EventKeys(blockHash: s.blockHash, eraId: s.eraId)
        case .step(let s):
            EventKeys(eraId: s.eraId)
        case .fault(let f):
            EventKeys(eraId: f.eraId)
        case .apiVersion, .shutdown, .unknown:
            EventKeys()
        }
    }

    /// The event's `data` as REST and WebSocket clients see it, encoded once.
    public func normalizedJSON() -> String {
        switch payload {
        case .block(let b): JSONText.encode(b)
        case .deploy(let d): JSONText.encode(d)
        case .signature(let s): JSONText.encode(s)
        case .step(let s): JSONText.encode(s)
        case .fault(let f): JSONText.encode(f)
        case .apiVersion(let v): JSONText.encode(["apiVersion": v])
        case .shutdown: "{}"
        case .unknown: raw
        }
    }
}

/// A content-derived identity of an event, never the node's SSE id (those restart with the node).
public struct DedupKey: Sendable, Hashable, CustomStringConvertible {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { value }
}

/// The filterable values of an event; `nil` means the event has no such value and fails a filter on it.
public struct EventKeys: Sendable, Equatable, Codable {
    public var account: String?
    public var proposer: String?
    public var blockHash: String?
    public var deployHash: String?
    public var eraId: UInt64?

    public init(
        account: String? = nil, proposer: String? = nil, blockHash: String? = nil,
        deployHash: String? = nil, eraId: UInt64? = nil
    ) {
        self.account = account
        self.proposer = proposer
        self.blockHash = blockHash
        self.deployHash = deployHash
        self.eraId = eraId
    }
}
