import Metrics

/// The hub's metric handles, made once per hub at startup so `/metrics` lists them before any client comes.
///
/// Counted in batches, never per frame per connection: a delivery is one `increment(by:)` per event
/// for all the sinks it went to; the per-connection counters below move only when a client misbehaves.
struct FanOutMetrics: Sendable {
    /// Frames handed to connections (one per event per matching subscription), all transports.
    let delivered = Counter(label: "chainfeed_fanout_messages_delivered_total")
    let gapFills = Counter(label: "chainfeed_fanout_gap_fills_total")
    let filledEvents = Counter(label: "chainfeed_fanout_gap_filled_events_total")
    /// Subscriptions that replayed the store from `fromSeq` / `Last-Event-ID`, and the events they replayed.
    let replays = Counter(label: "chainfeed_fanout_replays_total")
    let replayedEvents = Counter(label: "chainfeed_fanout_replayed_events_total")
    /// The last `seq` this replica handed to clients: the writer's head minus this is the replica's lag.
    let headSeq = Gauge(label: "chainfeed_fanout_head_seq")
    let webSocket = SinkMetrics(transport: "ws")
    let sse = SinkMetrics(transport: "sse")

    func sink(_ format: SinkFormat) -> SinkMetrics {
        switch format {
        case .webSocket: webSocket
        case .sse: sse
        }
    }
}

/// One transport's connection metrics (`chainfeed_ws_*`, `chainfeed_sse_*`), shared by all its sinks.
struct SinkMetrics: Sendable {
    let connections: Gauge
    let subscriptions: Gauge
    /// Connections closed because their bounded outbound queue overflowed (4008 on WebSocket).
    let slowConsumerCloses: Counter
    /// Event frames not sent: the one that overflowed a queue, and those that came after that close.
    let droppedMessages: Counter

    init(transport: String) {
        connections = Gauge(label: "chainfeed_\(transport)_connections")
        subscriptions = Gauge(label: "chainfeed_\(transport)_subscriptions")
        slowConsumerCloses = Counter(label: "chainfeed_\(transport)_slow_consumer_closes_total")
        droppedMessages = Counter(label: "chainfeed_\(transport)_dropped_messages_total")
    }

    /// A connection overflowed its queue and is being closed; the frame that overflowed it is dropped.
    func slowConsumerClosed() {
        slowConsumerCloses.increment()
        droppedMessages.increment()
    }
}
