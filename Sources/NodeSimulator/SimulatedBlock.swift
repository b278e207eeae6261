import ChainfeedCore

/// One block of the simulated chain, as plain values (the JSON is rendered from these).
public struct SimulatedBlock: Sendable, Equatable {
    public var height: UInt64
    public var hash: String
    public var parentHash: String
    public var stateRootHash: String
    public var bodyHash: String
    public var accumulatedSeed: String
    public var randomBit: Bool
    public var eraId: UInt64
    public var timestampMillis: Int64
    /// ISO-8601 with milliseconds and `Z`, as in the node's JSON.
    public var timestamp: String
    public var proposer: String
    /// The last block of its era: carries `era_end` and is followed by a `Step`.
    public var isSwitchBlock: Bool
    /// 2.x header field: the previous era's switch block, `nil` in era 0.
    public var lastSwitchBlockHash: String?
    /// Included deploys in the order the block body lists them.
    public var deploys: [SimulatedDeploy]

    public var deployHashes: [String] { deploys.map(\.hash) }
}

/// A deploy (1.x) or transaction (2.x) of the simulated chain.
public struct SimulatedDeploy: Sendable, Equatable {
    /// How a 2.x node wraps it (`{"Deploy": …}` or `{"Version1": …}`); always `.deploy` on 1.x.
    public enum Form: String, Sendable, Equatable {
        case deploy = "Deploy"
        case version1 = "Version1"
    }

    public var hash: String
    public var account: String
    public var timestampMillis: Int64
    public var timestamp: String
    public var form: Form
    /// 2.x lane: 0 mint (transfers), 1 auction, 2 install/upgrade, 3 wasm. On 1.x lane 0 is a transfer.
    public var lane: Int
    /// Transfer amount in motes.
    public var amount: UInt64
    /// Execution cost in motes, decimal (U512 on the wire).
    public var cost: String
    /// Set when execution failed.
    public var errorMessage: String?

    /// The event kinds this deploy produces on the given node generation.
    static func kinds(_ version: SimulatedNode.CasperVersion) -> (accepted: EventKind, processed: EventKind, expired: EventKind) {
        switch version {
        case .v1: (.deployAccepted, .deployProcessed, .deployExpired)
        case .v2: (.transactionAccepted, .transactionProcessed, .transactionExpired)
        }
    }
}

/// One event of the simulated chain: its kind and the node's compact JSON (the SSE `data`).
public struct SimulatedEvent: Sendable, Equatable {
    public var kind: EventKind
    public var json: String

    /// The 1.x endpoint that carries it (`/events/main`, `/events/deploys` or `/events/sigs`).
    public var channel: LegacyChannel { kind.legacyChannel }

    public init(kind: EventKind, json: String) {
        self.kind = kind
        self.json = json
    }
}
