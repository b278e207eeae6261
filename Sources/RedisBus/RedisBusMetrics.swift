import Metrics

/// The Redis bus's metric handles, made once per bus (labels are bounded: a role or a channel kind).
struct RedisBusMetrics: Sendable {
    /// Which connection a connection metric is about.
    enum Role: String {
        case publisher, subscriber
    }

    let publishedEvents = Counter(label: "chainfeed_redis_published_events_total")
    let publishedMessages = Counter(label: "chainfeed_redis_published_messages_total")
    let publishErrors = Counter(label: "chainfeed_redis_publish_errors_total")
    let eventMessagesReceived = Counter(label: "chainfeed_redis_messages_received_total", dimensions: [("channel", "events")])
    let heartbeatsReceived = Counter(label: "chainfeed_redis_messages_received_total", dimensions: [("channel", "heartbeat")])
    let eventsReceived = Counter(label: "chainfeed_redis_events_received_total")
    let decodeErrors = Counter(label: "chainfeed_redis_decode_errors_total")
    let subscribed = Gauge(label: "chainfeed_redis_subscribed")
    private let reconnects: [String: Counter]
    private let connectionErrors: [String: Counter]

    init() {
        var reconnects: [String: Counter] = [:]
        var connectionErrors: [String: Counter] = [:]
        for role in [Role.publisher, .subscriber] {
            reconnects[role.rawValue] = Counter(label: "chainfeed_redis_reconnects_total", dimensions: [("role", role.rawValue)])
            connectionErrors[role.rawValue] = Counter(
                label: "chainfeed_redis_connection_errors_total", dimensions: [("role", role.rawValue)])
        }
        self.reconnects = reconnects
        self.connectionErrors = connectionErrors
    }

    /// A connection was re-established after a loss.
    func reconnected(_ role: Role) { reconnects[role.rawValue]?.increment() }

    /// A connection could not be opened, or broke.
    func connectionFailed(_ role: Role) { connectionErrors[role.rawValue]?.increment() }
}
