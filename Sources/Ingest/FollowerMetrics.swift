import Metrics
import Synchronization

/// The follower's own metric handles (the writer's are in ``IngestMetrics``), made once at startup.
struct FollowerMetrics: Sendable {
    /// The node events are streamed from changed (the first connected one, as `/status` reports it).
    let switches = Counter(label: "chainfeed_node_switches_total")
    /// Blocks whose parent hash broke the chain. Made now so dashboards and alerts can be set up:
    /// it stays 0 until chain verification lands in the follower (DESIGN.md, "Node follower").
    let rejectedBlocks = Counter(label: "chainfeed_node_blocks_rejected_total")
    /// Node SSE streams connected now (a 1.x node has three).
    let connectedStreams = Gauge(label: "chainfeed_node_streams_connected")
}

/// The best node height seen minus the stored head height, kept current from both ends: the follower
/// reports node heights as blocks arrive, the writer the stored height as batches commit.
final class FollowerLag: Sendable {
    private let heights = Mutex<(node: UInt64, stored: UInt64)>((0, 0))
    private let gauge = Gauge(label: "chainfeed_follower_lag_blocks")

    /// A node streamed a block at `height` (per block, not per event).
    func node(height: UInt64) {
        let lag = heights.withLock { h in
            h.node = max(h.node, height)
            return h.node > h.stored ? h.node - h.stored : 0
        }
        gauge.record(Int64(clamping: lag))
    }

    /// The stored head height is now `height`.
    func stored(height: UInt64) {
        let lag = heights.withLock { h in
            h.stored = max(h.stored, height)
            return h.node > h.stored ? h.node - h.stored : 0
        }
        gauge.record(Int64(clamping: lag))
    }
}
