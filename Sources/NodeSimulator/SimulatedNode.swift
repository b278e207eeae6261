import ChainfeedCore
import Logging
import Synchronization

/// A deterministic Casper node for development and tests: the seeded chain of ``SimulatedChain``, served as
/// the node's SSE stream, `/status` and JSON-RPC by ``buildSimulatorApplication(node:)``.
///
/// Blocks are added by ``produceBlock()``: by the application's pacing service once per
/// ``Configuration/blockInterval``, or directly by a test.
public final class SimulatedNode: Sendable {
    public let configuration: Configuration
    public let chain: SimulatedChain
    let hub: EventHub
    let logger: Logger
    let startedAt: ContinuousClock.Instant

    private struct ChainState {
        /// Height of the newest block, `nil` before the first.
        var latestHeight: UInt64?
        var heightByHash: [String: UInt64] = [:]
        var latestSwitchBlockHash: String?
    }

    private let state: Mutex<ChainState>

    /// Validates the configuration and generates ``Configuration/initialBlocks`` blocks at once.
    /// - Parameters:
    ///   - configuration: Chain, stream and misbehaviour options.
    ///   - logger: Where lifecycle and per-connection lines go.
    public init(configuration: Configuration, logger: Logger) throws(NodeSimulatorError) {
        try configuration.validate()
        self.configuration = configuration
        self.chain = SimulatedChain(configuration: configuration)
        self.hub = EventHub(
            bufferSize: configuration.bufferSize,
            firstEventId: configuration.firstEventId,
            maxSubscribers: configuration.maxSubscribers,
            maxPendingPerClient: configuration.maxPendingEventsPerClient
        )
        self.logger = logger
        self.startedAt = .now
        self.state = Mutex(ChainState())
        pregenerate(configuration.initialBlocks)
        logger.info(
            "simulated node ready",
            metadata: [
                LogKey.casperVersion: "\(configuration.casperVersion.rawValue)",
                LogKey.chainSeed: "\(configuration.seed)",
                LogKey.blockHeight: "\(latestHeight.map(String.init) ?? "none")",
            ]
        )
    }

    // MARK: Producing blocks

    /// Adds the next block and publishes its events (then restarts the stream if ``Configuration/restartEveryBlocks`` says so).
    @discardableResult
    public func produceBlock() -> SimulatedBlock {
        state.withLock { s in
            let height = s.latestHeight.map { $0 + 1 } ?? configuration.startHeight
            let events = chain.events(forBlockAt: height)
            let block = chain.block(at: height)
            record(block.hash, height: height, in: &s)
            // Published under the chain lock so blocks reach the stream in height order.
            hub.publish(events.map { (channel: configuration.casperVersion == .v1 ? $0.channel : nil, json: $0.json) })
            logger.trace("block produced", metadata: [LogKey.blockHeight: "\(height)", LogKey.eventCount: "\(events.count)"])
            if restartsAfter(height) {
                hub.restart()
                logger.info("simulated node restarted its event stream", metadata: [LogKey.blockHeight: "\(height)"])
            }
            return block
        }
    }

    private func record(_ hash: String, height: UInt64, in s: inout ChainState) {
        s.latestHeight = height
        s.heightByHash[hash] = height
        if chain.isSwitchBlock(at: height) { s.latestSwitchBlockHash = hash }
    }

    private func restartsAfter(_ height: UInt64) -> Bool {
        guard let every = configuration.restartEveryBlocks else { return false }
        return (height - configuration.startHeight + 1) % UInt64(every) == 0
    }

    /// Generates `count` blocks at start. Blocks whose events the replay buffer would evict anyway (or that a
    /// later restart clears) only advance the id counter; their events are never rendered.
    private func pregenerate(_ count: Int) {
        guard count > 0 else { return }
        let first = configuration.startHeight
        let last = first + UInt64(count) - 1
        // Walk back from the newest block to find the oldest one whose events stay buffered.
        var kept = 0
        var firstRendered = first
        for height in stride(from: last, through: first, by: -1) {
            if height != last && restartsAfter(height) {
                firstRendered = height + 1
                break
            }
            kept += chain.eventCount(forBlockAt: height)
            if kept >= configuration.bufferSize {
                firstRendered = height
                break
            }
        }
        state.withLock { s in
            for height in first..<firstRendered {
                record(chain.blockHash(at: height), height: height, in: &s)
                hub.skipIds(chain.eventCount(forBlockAt: height))
                if restartsAfter(height) { hub.restart() }
            }
        }
        for _ in firstRendered...last {
            produceBlock()
        }
    }

    // MARK: Reading the chain

    /// Height of the newest block, `nil` before the first.
    public var latestHeight: UInt64? { state.withLock { $0.latestHeight } }

    /// The newest block, `nil` before the first.
    public var latestBlock: SimulatedBlock? { latestHeight.map(chain.block(at:)) }

    /// The block at `height` if this node has produced it.
    public func block(at height: UInt64) -> SimulatedBlock? {
        guard let latest = latestHeight, (configuration.startHeight...latest).contains(height) else { return nil }
        return chain.block(at: height)
    }

    /// The block with this hash (any case) if this node has produced it.
    public func block(hash: String) -> SimulatedBlock? {
        state.withLock { $0.heightByHash[hash.lowercased()] }.map(chain.block(at:))
    }

    var latestSwitchBlockHash: String? { state.withLock { $0.latestSwitchBlockHash } }

    // MARK: Event stream

    /// The id the next event will get.
    public var nextEventId: UInt32 { hub.nextEventId }
    /// Ids in the replay buffer, oldest first.
    public var bufferedEventIds: [UInt32] { hub.bufferedIds }
    /// Connected SSE clients.
    public var subscriberCount: Int { hub.subscriberCount }
    /// SSE clients disconnected for falling more than ``Configuration/maxPendingEventsPerClient`` behind.
    public var slowConsumerDrops: Int { hub.slowConsumerDrops }

    /// Sends `"Shutdown"` to every SSE client and ends their streams, as a stopping node does. Idempotent.
    public func shutDownEventStream() {
        hub.shutdown()
    }
}
