/// The position of an event in Chainfeed's global log: the id clients see and resume from.
public typealias Seq = UInt64

/// The kinds a Casper node emits, under the node's own names (1.x and 2.0).
public enum EventKind: String, Sendable, CaseIterable, Codable, Hashable {
    case apiVersion = "ApiVersion"
    case blockAdded = "BlockAdded"
    case deployAccepted = "DeployAccepted"
    case deployProcessed = "DeployProcessed"
    case deployExpired = "DeployExpired"
    case transactionAccepted = "TransactionAccepted"
    case transactionProcessed = "TransactionProcessed"
    case transactionExpired = "TransactionExpired"
    case finalitySignature = "FinalitySignature"
    case step = "Step"
    case fault = "Fault"
    case shutdown = "Shutdown"

    /// The subscription topic that carries this kind; `nil` for stream-control messages that are never stored.
    public var topic: Topic? {
        switch self {
        case .blockAdded: .blocks
        case .deployAccepted, .deployProcessed, .deployExpired,
            .transactionAccepted, .transactionProcessed, .transactionExpired:
            .deploys
        case .finalitySignature: .signatures
        case .step: .steps
        case .fault: .faults
        case .apiVersion, .shutdown: nil
        }
    }

    /// The 1.x node channel that sent this kind (`/events/main`, `/events/deploys`, `/events/sigs`).
    public var legacyChannel: LegacyChannel {
        switch self {
        case .deployAccepted, .transactionAccepted: .deploys
        case .finalitySignature: .sigs
        default: .main
        }
    }
}

/// The three SSE channels of a Casper 1.x node.
public enum LegacyChannel: String, Sendable, CaseIterable, Hashable {
    case main, deploys, sigs

    public var path: String { "/events/\(rawValue)" }
}

/// What a client subscribes to; `all` in a subscription means every topic, unknown kinds included.
public enum Topic: String, Sendable, CaseIterable, Codable, Hashable {
    case blocks, deploys, signatures, steps, faults
}
