/// What travels from the writer to the web replicas.
public enum BusMessage: Sendable, Equatable {
    /// Newly committed events, in `seq` order.
    case events([StoredEvent])
    /// The writer's head `seq`, at least once a second, so replicas notice what they missed.
    case heartbeat(headSeq: Seq)
    /// The subscription was re-established; messages may have been lost: check the head and fill
    /// from the store.
    case reconnected
}

/// Delivers committed events to every replica, at most once each (gaps are filled from the store).
public protocol EventBus: Sendable {
    /// Publishes events after their commit, in `seq` order (invariant 4).
    func publish(_ events: [StoredEvent]) async throws
    func publishHeartbeat(headSeq: Seq) async throws
    /// Calls `handler` for every message until the returned subscription is cancelled.
    ///
    /// The handler runs on the bus's own thread and must not block: it hands off and returns.
    func subscribe(_ handler: @escaping @Sendable (BusMessage) -> Void) -> BusSubscription
}

/// Ends a bus subscription when cancelled.
public struct BusSubscription: Sendable {
    private let onCancel: @Sendable () -> Void

    public init(onCancel: @escaping @Sendable () -> Void) {
        self.onCancel = onCancel
    }

    public func cancel() { onCancel() }
}
