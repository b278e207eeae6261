/// A block in the original Casper event store's REST shape.
public struct Block: Sendable, Equatable, Codable {
    public var blockHash: String
    public var parentHash: String
    public var timestamp: String
    public var eraId: UInt64
    public var proposer: String
    public var state: String
    public var height: UInt64
    public var deploys: [String]

    public init(
        blockHash: String, parentHash: String, timestamp: String, eraId: UInt64,
        proposer: String, state: String = Block.finalized, height: UInt64, deploys: [String]
    ) {
        self.blockHash = blockHash
        self.parentHash = parentHash
        self.timestamp = timestamp
        self.eraId = eraId
        self.proposer = proposer
        self.state = state
        self.height = height
        self.deploys = deploys
    }

    /// A `BlockAdded` block is finalised and executed by the time the node announces it.
    public static let finalized = "finalized"
}

/// Where a deploy or 2.0 transaction stands; later states win when events are merged.
public enum DeployState: String, Sendable, Codable, Comparable {
    case accepted, expired, processed

    private var rank: Int {
        switch self {
        case .accepted: 0
        case .expired: 1
        case .processed: 2
        }
    }

    public static func < (lhs: DeployState, rhs: DeployState) -> Bool { lhs.rank < rhs.rank }
}

/// A deploy (1.x) or transaction (2.0) in the original event store's REST shape.
///
/// Each event carries what it knows; the store merges them into one row per hash.
public struct Deploy: Sendable, Equatable, Codable {
    public var deployHash: String
    public var account: String?
    public var state: DeployState
    public var cost: String?
    public var errorMessage: String?
    public var blockHash: String?
    public var timestamp: String?

    public init(
        deployHash: String, account: String? = nil, state: DeployState, cost: String? = nil,
        errorMessage: String? = nil, blockHash: String? = nil, timestamp: String? = nil
    ) {
        self.deployHash = deployHash
        self.account = account
        self.state = state
        self.cost = cost
        self.errorMessage = errorMessage
        self.blockHash = blockHash
        self.timestamp = timestamp
    }

    /// Folds a later event about the same deploy into this one: the higher state wins, known fields stay.
    public func merged(with update: Deploy) -> Deploy {
        var out = self
        if update.state >= state {
            out.state = update.state
        }
        out.account = account ?? update.account
        out.cost = update.cost ?? cost
        out.errorMessage = update.errorMessage ?? errorMessage
        out.blockHash = update.blockHash ?? blockHash
        out.timestamp = timestamp ?? update.timestamp
        return out
    }

    private enum CodingKeys: String, CodingKey {
        case deployHash, account, state, cost, errorMessage, blockHash, timestamp
    }

    // Nil fields are written as `null`, as the original store does, so the shape is stable.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(deployHash, forKey: .deployHash)
        try c.encode(account, forKey: .account)
        try c.encode(state, forKey: .state)
        try c.encode(cost, forKey: .cost)
        try c.encode(errorMessage, forKey: .errorMessage)
        try c.encode(blockHash, forKey: .blockHash)
        try c.encode(timestamp, forKey: .timestamp)
    }
}

/// A validator's finality signature over a block.
public struct FinalitySignature: Sendable, Equatable, Codable {
    public var blockHash: String
    public var blockHeight: UInt64?
    public var eraId: UInt64
    public var publicKey: String
    public var signature: String

    public init(blockHash: String, blockHeight: UInt64?, eraId: UInt64, publicKey: String, signature: String) {
        self.blockHash = blockHash
        self.blockHeight = blockHeight
        self.eraId = eraId
        self.publicKey = publicKey
        self.signature = signature
    }
}

/// The end-of-era step; its execution effects stay in the raw payload (megabytes on mainnet).
public struct Step: Sendable, Equatable, Codable {
    public var eraId: UInt64

    public init(eraId: UInt64) { self.eraId = eraId }
}

/// An equivocation reported for a validator in an era.
public struct Fault: Sendable, Equatable, Codable {
    public var eraId: UInt64
    public var publicKey: String
    public var timestamp: String

    public init(eraId: UInt64, publicKey: String, timestamp: String) {
        self.eraId = eraId
        self.publicKey = publicKey
        self.timestamp = timestamp
    }
}
