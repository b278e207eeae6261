/// What the writer knows about the nodes it follows, for `/status`.
public struct FollowerStatus: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable {
        case starting
        /// Another writer holds the lock; this one waits as a hot standby (invariant 7).
        case standby
        case catchingUp = "catching-up"
        case following
        case failed
    }

    public var state: State
    /// The node stream events are taken from now.
    public var streamingFrom: String?
    public var nodes: [NodeStreamStatus]
    /// Payloads that could not be decoded (logged, counted, skipped).
    public var malformedEvents: UInt64
    /// Payloads of kinds this version does not know (stored raw).
    public var unknownEvents: UInt64

    public init(state: State, streamingFrom: String? = nil, nodes: [NodeStreamStatus] = [], malformedEvents: UInt64 = 0, unknownEvents: UInt64 = 0) {
        self.state = state
        self.streamingFrom = streamingFrom
        self.nodes = nodes
        self.malformedEvents = malformedEvents
        self.unknownEvents = unknownEvents
    }
}

/// One node stream as the writer sees it.
public struct NodeStreamStatus: Sendable, Equatable, Codable {
    public var url: String
    public var connected: Bool
    public var apiVersion: String?
    public var lastEventId: UInt32?
    /// The node's own height, from its events or `/status`.
    public var nodeHeight: UInt64?
    public var reconnects: UInt64
    /// Events the node no longer had when the writer resumed.
    public var missedEvents: UInt64
    public var lastError: String?

    public init(
        url: String, connected: Bool = false, apiVersion: String? = nil, lastEventId: UInt32? = nil,
        nodeHeight: UInt64? = nil, reconnects: UInt64 = 0, missedEvents: UInt64 = 0, lastError: String? = nil
    ) {
        self.url = url
        self.connected = connected
        self.apiVersion = apiVersion
        self.lastEventId = lastEventId
        self.nodeHeight = nodeHeight
        self.reconnects = reconnects
        self.missedEvents = missedEvents
        self.lastError = lastError
    }
}
