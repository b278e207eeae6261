import ChainfeedCore
import Metrics

/// The writer's metric handles, made once (labels are bounded: event kinds, never hashes).
struct IngestMetrics: Sendable {
    let stored: [String: Counter]
    let duplicates: [String: Counter]
    let malformed = Counter(label: "chainfeed_ingest_malformed_events_total")
    let unknownKinds = Counter(label: "chainfeed_ingest_unknown_kind_events_total")
    let commitLatency = Timer(label: "chainfeed_ingest_batch_commit_seconds", preferredDisplayUnit: .seconds)
    let commitFailures = Counter(label: "chainfeed_ingest_commit_failures_total")
    let batchSize = Recorder(label: "chainfeed_ingest_batch_events")
    let headSeq = Gauge(label: "chainfeed_ingest_head_seq")
    let headHeight = Gauge(label: "chainfeed_ingest_head_height")
    let reconnects = Counter(label: "chainfeed_node_reconnects_total")
    let missedEvents = Counter(label: "chainfeed_node_missed_events_total")
    let publishErrors = Counter(label: "chainfeed_bus_publish_errors_total")
    let published = Counter(label: "chainfeed_bus_published_events_total")

    init() {
        var stored: [String: Counter] = [:]
        var duplicates: [String: Counter] = [:]
        for kind in EventKind.allCases.map(\.rawValue) + ["unknown"] {
            stored[kind] = Counter(label: "chainfeed_ingest_events_total", dimensions: [("kind", kind)])
            duplicates[kind] = Counter(label: "chainfeed_ingest_duplicates_total", dimensions: [("kind", kind)])
        }
        self.stored = stored
        self.duplicates = duplicates
    }

    /// The metric label of a kind: its name when known, else `unknown` (kinds from nodes are unbounded).
    static func label(_ kind: String) -> String {
        EventKind(rawValue: kind) == nil ? "unknown" : kind
    }
}

extension Timer {
    func record(duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
