import ChainfeedCore

extension RedisEventBus {
    /// Where the bus connects, its channel names, and its time budgets.
    public struct Configuration: Sendable {
        /// `redis://[[user]:password@]host[:port][/db]`.
        public var url: String
        /// Channels are `<prefix>:events` and `<prefix>:heartbeat`: one prefix per deployment (or per test).
        public var channelPrefix: String
        /// The budget of opening a connection.
        public var connectTimeout: Duration
        /// The budget of each read or write once connected (a publish, a subscription's confirmation or `PING`).
        public var commandTimeout: Duration
        /// Delays between the subscriber's reconnect attempts; the publisher, too, waits this out after a failed
        /// connect, failing publishes at once meanwhile rather than stalling the writer on every batch.
        public var reconnectBackoff: Backoff
        /// After this long without a message the subscriber sends `PING`, so a dead connection is noticed.
        public var keepAliveInterval: Duration
        /// Batches larger than this are split over several messages (see ``BusWireFormat``).
        public var maxFrameBytes: Int

        /// - Parameters:
        ///   - url: The Redis server, `redis://host:port[/db]`.
        ///   - channelPrefix: The prefix of the bus's channel names; not empty.
        ///   - connectTimeout: The budget of opening a connection.
        ///   - commandTimeout: The budget of each read or write.
        ///   - reconnectBackoff: Delays between reconnect attempts.
        ///   - keepAliveInterval: Idle time after which the subscriber checks the connection.
        ///   - maxFrameBytes: The largest message a batch is packed into, at least 1 KiB.
        public init(
            url: String,
            channelPrefix: String = "chainfeed",
            connectTimeout: Duration = .seconds(2),
            commandTimeout: Duration = .seconds(2),
            reconnectBackoff: Backoff = Backoff(minimum: .milliseconds(100), maximum: .seconds(5), multiplier: 2, jitter: 0.2),
            keepAliveInterval: Duration = .seconds(5),
            maxFrameBytes: Int = BusWireFormat.defaultMaxFrameBytes
        ) {
            self.url = url
            self.channelPrefix = channelPrefix
            self.connectTimeout = connectTimeout
            self.commandTimeout = commandTimeout
            self.reconnectBackoff = reconnectBackoff
            self.keepAliveInterval = keepAliveInterval
            self.maxFrameBytes = maxFrameBytes
        }

        public var eventsChannel: String { "\(channelPrefix):events" }
        public var heartbeatChannel: String { "\(channelPrefix):heartbeat" }

        func validate() throws {
            func invalid(_ reason: String) -> RedisBusError { .invalidConfiguration(reason: reason) }
            guard !channelPrefix.isEmpty else { throw invalid("the channel prefix is empty") }
            guard connectTimeout > .zero, commandTimeout > .zero, keepAliveInterval > .zero else {
                throw invalid("timeouts and the keep-alive interval must be positive")
            }
            guard maxFrameBytes >= 1024 else { throw invalid("maxFrameBytes must be at least 1024") }
        }
    }
}
