/// Why the simulator cannot start.
public enum NodeSimulatorError: Error, Equatable, CustomStringConvertible {
    /// A configuration value is out of range (`field` names the ``SimulatedNode/Configuration`` property).
    case invalidConfiguration(field: String, reason: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let field, let reason): "invalid simulator configuration: \(field) \(reason)"
        }
    }
}

/// Metadata keys of the simulator's log lines.
enum LogKey {
    static let blockHeight = "block.height"
    static let eventCount = "event.count"
    static let sseClientId = "sse.client.id"
    static let ssePath = "sse.path"
    static let sseStartFrom = "sse.start_from"
    static let sseEndReason = "sse.end_reason"
    static let rpcMethod = "rpc.method"
    static let casperVersion = "casper.version"
    static let chainSeed = "chain.seed"
}
