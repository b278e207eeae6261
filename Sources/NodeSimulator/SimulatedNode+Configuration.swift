extension SimulatedNode {
    /// Everything that shapes the simulated chain, its event stream and its misbehaviour.
    ///
    /// The chain's content depends only on these values (never on wall time); the clock only paces
    /// live blocks and keep-alives.
    public struct Configuration: Sendable, Equatable {
        // MARK: Chain content

        /// Seeds every hash, key, proposer and outcome. Same seed and options, same chain.
        public var seed: UInt64
        /// Which node to imitate: 2.x (`/events`, 2.0 payloads) or 1.x (three endpoints, 1.x payloads).
        public var casperVersion: CasperVersion
        /// Deploys (transactions) included in each block.
        public var deploysPerBlock: Int
        /// Blocks per era; the last block of each era is a switch block followed by a `Step`.
        public var eraLength: Int
        /// Size of the fixed validator set (ed25519 keys); each block has one proposer among them.
        public var validatorCount: Int
        /// Size of the account set deploys are drawn from.
        public var accountCount: Int
        /// `chainspec_name` and the deploys' `chain_name`.
        public var chainName: String
        /// Unix time in milliseconds of height 0; block `n` is stamped `genesis + n × blockInterval`.
        public var genesisTimeMillis: Int64
        /// Height of the first block this node produces (earlier blocks are outside its available range).
        public var startHeight: UInt64
        /// The block at this height names a parent hash that is not the previous block's hash.
        public var breakChainAt: UInt64?

        // MARK: Pacing

        /// One live block per interval; also the timestamp step between blocks.
        public var blockInterval: Duration
        /// Blocks generated at once before serving, as if the node had been running (ids and buffer included).
        public var initialBlocks: Int
        /// Stop producing live blocks after this many (`0`: only ``SimulatedNode/produceBlock()`` adds blocks).
        public var maxBlocks: Int?

        // MARK: Event stream

        /// Events kept for `?start_from=` replay (the node's `event_stream_buffer_length`).
        public var bufferSize: Int
        /// A `:` comment is sent to a client after this long without events.
        public var keepAliveInterval: Duration
        /// Concurrent SSE clients; one more gets 503 (the node's `max_concurrent_subscribers`).
        public var maxSubscribers: Int
        /// Events queued for one client before it counts as too slow and is disconnected.
        public var maxPendingEventsPerClient: Int
        /// Id of the first event (ids are u32 and wrap), to exercise wraparound.
        public var firstEventId: UInt32

        // MARK: Misbehaviour

        /// Close each SSE connection after it has sent this many events (replayed ones included).
        public var dropEvery: Int?
        /// After every this many blocks, restart as a node without a persisted index: send `"Shutdown"`,
        /// close every stream, clear the replay buffer and restart ids at 0.
        public var restartEveryBlocks: Int?

        // MARK: HTTP

        /// Address to bind.
        public var host: String
        /// Port to bind; `0` picks a free one.
        public var port: Int

        /// - Parameters:
        ///   - seed: Seeds all chain content.
        ///   - casperVersion: Node generation to imitate.
        ///   - port: Port to bind; the real node's SSE port is 9999.
        public init(seed: UInt64 = 1, casperVersion: CasperVersion = .v2, port: Int = 9999) {
            self.seed = seed
            self.casperVersion = casperVersion
            self.deploysPerBlock = 3
            self.eraLength = 10
            self.validatorCount = 5
            self.accountCount = 8
            self.chainName = "casper-sim"
            self.genesisTimeMillis = 1_704_067_200_000  // 2024-01-01T00:00:00.000Z
            self.startHeight = 0
            self.breakChainAt = nil
            self.blockInterval = .seconds(1)
            self.initialBlocks = 0
            self.maxBlocks = nil
            self.bufferSize = 5000
            self.keepAliveInterval = .seconds(5)
            self.maxSubscribers = 100
            self.maxPendingEventsPerClient = 10_000
            self.firstEventId = 0
            self.dropEvery = nil
            self.restartEveryBlocks = nil
            self.host = "127.0.0.1"
            self.port = port
        }

        /// `blockInterval` in whole milliseconds (the timestamp step).
        var blockIntervalMillis: Int64 {
            let c = blockInterval.components
            return c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000
        }

        /// Rejects values the simulator cannot honour.
        public func validate() throws(NodeSimulatorError) {
            func require(_ ok: Bool, _ field: String, _ reason: String) throws(NodeSimulatorError) {
                if !ok { throw .invalidConfiguration(field: field, reason: reason) }
            }
            try require(deploysPerBlock >= 0, "deploysPerBlock", "must not be negative")
            try require(eraLength >= 1, "eraLength", "must be at least 1")
            try require((1...255).contains(validatorCount), "validatorCount", "must be between 1 and 255")
            try require(accountCount >= 1, "accountCount", "must be at least 1")
            try require(blockIntervalMillis >= 1, "blockInterval", "must be at least 1 ms")
            try require(initialBlocks >= 0, "initialBlocks", "must not be negative")
            try require((maxBlocks ?? 0) >= 0, "maxBlocks", "must not be negative")
            try require(bufferSize >= 1, "bufferSize", "must be at least 1")
            try require(keepAliveInterval > .zero, "keepAliveInterval", "must be positive")
            try require(maxSubscribers >= 1, "maxSubscribers", "must be at least 1")
            try require(maxPendingEventsPerClient >= 1, "maxPendingEventsPerClient", "must be at least 1")
            try require((dropEvery ?? 1) >= 1, "dropEvery", "must be at least 1")
            try require((restartEveryBlocks ?? 1) >= 1, "restartEveryBlocks", "must be at least 1")
            try require((0...65_535).contains(port), "port", "must be between 0 and 65535")
            try require(startHeight < UInt64(Int64.max) / 2, "startHeight", "is too large")
        }
    }

    /// The node generation to imitate.
    public enum CasperVersion: Int, Sendable, Equatable, CaseIterable {
        /// A 1.x node: `/events/main`, `/events/deploys`, `/events/sigs`, `Deploy*` events.
        case v1 = 1
        /// A 2.x node: one `/events` path, `Transaction*` events, versioned blocks and signatures.
        case v2 = 2
    }
}
