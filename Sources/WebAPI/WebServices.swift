import ChainfeedCore

/// What the HTTP layer serves from: the store it reads, and the live state of the process around it.
public struct WebServices: Sendable {
    /// The role shown in `/status` (`dev`, `ingest`, `serve`).
    public var role: String
    public var reader: any EventReader
    /// The writer's live follower state, where this process runs one.
    public var followerStatus: (@Sendable () async -> FollowerStatus?)?
    /// Prometheus text for `/metrics`, where the process exposes metrics.
    public var metricsText: (@Sendable () -> String)?
    /// Extra readiness checks (bus connected, …); each returns why it is not ready, or `nil`.
    public var readinessChecks: [@Sendable () async -> String?]
    /// The hub that serves `/ws` and the SSE paths; `nil` serves REST only.
    public var fanOut: FanOut?
    public var webSocketLimits: WebSocketLimits
    /// How long a `?minSeq=` read waits for a read database that has applied the seq before answering 503.
    public var minSeqWait: Duration

    /// - Parameters:
    ///   - role: the process role shown in `/status`.
    ///   - reader: the store the REST reads go to.
    public init(
        role: String, reader: any EventReader,
        followerStatus: (@Sendable () async -> FollowerStatus?)? = nil,
        metricsText: (@Sendable () -> String)? = nil,
        readinessChecks: [@Sendable () async -> String?] = [],
        fanOut: FanOut? = nil,
        webSocketLimits: WebSocketLimits = .init(),
        minSeqWait: Duration = .seconds(2)
    ) {
        self.minSeqWait = minSeqWait
        self.fanOut = fanOut
        self.webSocketLimits = webSocketLimits
        self.role = role
        self.reader = reader
        self.followerStatus = followerStatus
        self.metricsText = metricsText
        self.readinessChecks = readinessChecks
    }
}
