import AsyncHTTPClient
import ChainfeedCore
import Logging
import ServiceLifecycle
import Synchronization

/// Follows the SSE streams of the configured nodes and hands every event to the ``Writer``.
///
/// Each node's stream version is probed: a 2.x node answers `/events`, a 1.x node `/events/main`,
/// `/events/deploys` and `/events/sigs` (followed together). Each stream resumes from its stored
/// checkpoint with `start_from` (inclusive: the first event comes again and is a no-op), and
/// reconnects with exponential backoff. On every (re)connect the resume is checked: ids that went
/// backwards mean the node restarted its ids (the stream is read again from the start of the node's
/// buffer); ids that jumped past the checkpoint mean the buffer moved on, and what was skipped is
/// counted in `/status`, never hidden (invariant 3). With several nodes, every node is followed and
/// dedup keeps each event once.
public final class NodeFollower: Service {
    public struct Configuration: Sendable {
        public var retry: Backoff = Backoff(minimum: .milliseconds(50), maximum: .seconds(60))
        /// No bytes for this long (keep-alives included) and the stream is restarted.
        public var idleTimeout: Duration = .seconds(120)
        public var maxEventBytes: Int = 16 << 20

        public init() {}
    }

    private let nodes: [NodeAddress]
    private let httpClient: HTTPClient
    private let writer: Writer
    private let store: any EventStore
    private let configuration: Configuration
    private let logger: Logger
    private let metrics = IngestMetrics()
    private let followerMetrics = FollowerMetrics()
    /// Index of the node events last came from, to count switches.
    private let activeNode = Mutex<Int?>(nil)
    private let state: Mutex<FollowerStatus>

    /// - Parameters:
    ///   - nodes: the nodes to follow.
    ///   - httpClient: the client for the node streams (owned by the caller).
    ///   - writer: where events go.
    ///   - store: where stream checkpoints are read from at start.
    public init(
        nodes: [NodeAddress], httpClient: HTTPClient, writer: Writer, store: any EventStore,
        configuration: Configuration = .init(), logger: Logger
    ) {
        self.nodes = nodes
        self.httpClient = httpClient
        self.writer = writer
        self.store = store
        self.configuration = configuration
        self.logger = logger
        self.state = Mutex(FollowerStatus(state: .starting))
    }

    /// The follower's state for `/status`.
    public var status: FollowerStatus {
        state.withLock { s in
            var out = s
            let connected = s.nodes.contains { $0.connected }
            if out.state != .standby {
                out.state = connected ? .following : (s.nodes.contains { $0.reconnects > 0 } ? .failed : .starting)
            }
            out.streamingFrom = s.nodes.first { $0.connected }?.url
            return out
        }
    }

    public func run() async throws {
        // Graceful shutdown cancels the streams; the writer then drains what they handed it.
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for node in self.nodes {
                    group.addTask { await self.follow(node) }
                }
            }
        }
    }

    /// Runs until cancelled: probes the node's stream version, then follows its stream(s).
    private func follow(_ node: NodeAddress) async {
        let v2 = node.sse + "/events"
        var retry = configuration.retry
        while !Task.isCancelled {
            do {
                try await followStream(v2, node: node, probing: true)
                return
            } catch IngestError.nodeHTTPStatus(_, 404) {
                logger.info("node has no /events: following its 1.x channels", metadata: [LogKey.node: "\(node.sse)"])
                remove(stream: v2)
                await withDiscardingTaskGroup { group in
                    for channel in LegacyChannel.allCases {
                        group.addTask { try? await self.followStream(node.sse + channel.path, node: node, probing: false) }
                    }
                }
                return
            } catch {
                // Unreachable before the first answer: the probe is retried with backoff.
                let delay = retry.nextDelay()
                try? await Task.sleep(for: delay)
            }
        }
    }

    /// Follows one SSE stream with reconnects; throws only a 404 while `probing` (a 1.x node).
    private func followStream(_ url: String, node: NodeAddress, probing: Bool) async throws {
        let source = NodeEventSource(
            url: url, httpClient: httpClient, idleTimeout: configuration.idleTimeout,
            maxEventBytes: configuration.maxEventBytes, logger: logger)
        var checkpoint = try await storedCheckpoint(url)
        var retry = configuration.retry
        var fromStart = checkpoint.lastEventId == nil
        let log = logger.with(LogKey.stream, url)
        update(url) { _ in }
        while !Task.isCancelled {
            let startFrom: UInt32 = fromStart ? 0 : (checkpoint.lastEventId ?? 0)
            var resumeChecked = fromStart
            var heightChecked = false
            do {
                let stream = try await source.connect(startFrom: startFrom)
                log.info("node stream connected", metadata: [LogKey.startFrom: "\(startFrom)"])
                update(url) { $0.connected = true; $0.lastError = nil }
                fromStart = false
                var messages = stream.makeAsyncIterator()
                // The events of one read (a block with its deploys, say) go to the writer together, so they are
                // committed in one transaction and published in one bus message. Handed over before the next
                // read can wait or fail, so the local checkpoint never runs ahead of what the writer was given.
                var received: [Writer.Item] = []
                while true {
                    if !messages.hasBuffered, !received.isEmpty {
                        await writer.submit(contentsOf: received)
                        received.removeAll(keepingCapacity: true)
                    }
                    guard let message = try await messages.next() else { break }
                    guard let idText = message.id else {
                        handleUnnumbered(message, url: url, log: log)
                        continue
                    }
                    guard let id = UInt32(idText) else {
                        log.warning("node sent a non-numeric event id; skipped", metadata: [LogKey.eventID: "\(idText)"])
                        continue
                    }
                    if !resumeChecked {
                        resumeChecked = true
                        if let outcome = checkResume(first: id, startFrom: startFrom, singleStream: !url.hasSuffix("/main") && !url.hasSuffix("/deploys") && !url.hasSuffix("/sigs")) {
                            switch outcome {
                            case .idsRestarted:
                                log.warning("node event ids went back: the node restarted; reading its buffer again from the start", metadata: [
                                    LogKey.eventID: "\(id)", LogKey.startFrom: "\(startFrom)",
                                ])
                                fromStart = true
                                throw ResumeRestart()
                            case .missed(let n):
                                log.warning("node buffer moved past the checkpoint; events missed", metadata: [
                                    LogKey.missed: "\(n)", LogKey.eventID: "\(id)", LogKey.startFrom: "\(startFrom)",
                                ])
                                checkpoint.missedEvents += n
                                metrics.missedEvents.increment(by: Int64(clamping: n))
                                update(url) { $0.missedEvents = checkpoint.missedEvents }
                            }
                        }
                    }
                    retry.reset()
                    checkpoint.lastEventId = id
                    let previousHeight = checkpoint.headHeight
                    let item = handle(message.data, id: id, url: url, checkpoint: &checkpoint, log: log)
                    if !heightChecked, case .block(let block)? = item.event?.payload {
                        // In chain terms: the first block after a (re)connect must follow the stored head.
                        heightChecked = true
                        if let previousHeight, block.height > previousHeight + 1 {
                            let gap = block.height - previousHeight - 1
                            log.warning("blocks missed while disconnected; the node no longer streams them", metadata: [
                                LogKey.missed: "\(gap)", "block.height": "\(block.height)", "block.height.stored": "\(previousHeight)",
                            ])
                            checkpoint.missedEvents += gap
                            metrics.missedEvents.increment(by: Int64(clamping: gap))
                            update(url) { $0.missedEvents = checkpoint.missedEvents }
                        }
                    }
                    if item.restart {
                        fromStart = true
                    }
                    received.append(Writer.Item(event: item.event, checkpoint: checkpoint))
                    update(url) { $0.lastEventId = id; if let h = checkpoint.headHeight { $0.nodeHeight = max($0.nodeHeight ?? 0, h) } }
                }
                log.info("node stream ended; reconnecting")
            } catch is ResumeRestart {
                update(url) { $0.connected = false }
                continue
            } catch IngestError.nodeHTTPStatus(let u, 404) where probing && checkpoint.lastEventId == nil {
                throw IngestError.nodeHTTPStatus(url: u, status: 404)
            } catch is CancellationError {
                break
            } catch IngestError.cancelled {
                break
            } catch {
                if Task.isCancelled { break }
                log.warning("node stream failed; reconnecting", metadata: [LogKey.errorType: "\(type(of: error))", LogKey.error: "\(error)"])
                update(url) { $0.lastError = "\(error)" }
            }
            update(url) { $0.connected = false; $0.reconnects += 1 }
            metrics.reconnects.increment()
            let delay = retry.nextDelay()
            try? await Task.sleep(for: delay)
        }
        update(url) { $0.connected = false }
    }

    private struct ResumeRestart: Error {}

    enum ResumeOutcome: Equatable {
        case idsRestarted
        case missed(UInt64)
    }

    /// Checks the first numbered event after a (re)connect against where the stream was asked to resume.
    ///
    /// `start_from` is inclusive, so a node that still buffers the checkpoint sends exactly that id
    /// first. A lower id means the node's counter restarted; a higher one, on a single-stream (2.x)
    /// node, means the events in between are gone from its buffer. (1.x channels share one counter,
    /// so their ids skip by design and only a restart can be told apart.)
    func checkResume(first id: UInt32, startFrom: UInt32, singleStream: Bool) -> ResumeOutcome? {
        guard startFrom > 0 else { return nil }
        if id < startFrom { return .idsRestarted }
        if singleStream, id > startFrom { return .missed(UInt64(id - startFrom)) }
        return nil
    }

    private func handleUnnumbered(_ message: SSEMessage, url: String, log: Logger) {
        guard let event = try? CasperEventDecoder().decode(message.data) else {
            log.debug("node sent an unnumbered message that is not an ApiVersion; skipped")
            return
        }
        if case .apiVersion(let version) = event.payload {
            log.info("node API version", metadata: [LogKey.apiVersion: "\(version)"])
            update(url) { $0.apiVersion = version }
        }
    }

    /// Decodes one numbered message; a malformed one is logged, counted and skipped (the stream goes on).
    private func handle(_ data: String, id: UInt32, url: String, checkpoint: inout NodeCheckpoint, log: Logger) -> (event: IngestEvent?, restart: Bool) {
        let event: NodeEvent
        do {
            event = try CasperEventDecoder().decode(data)
        } catch {
            metrics.malformed.increment()
            state.withLock { $0.malformedEvents += 1 }
            log.warning("malformed node event; skipped", metadata: [LogKey.eventID: "\(id)", LogKey.error: "\(error)"])
            return (nil, false)
        }
        switch event.payload {
        case .shutdown:
            log.info("node is shutting down; the next connection reads its buffer from the start")
            return (nil, true)
        case .unknown:
            metrics.unknownKinds.increment()
            state.withLock { $0.unknownEvents += 1 }
            log.debug("unknown event kind; stored raw", metadata: [LogKey.kind: "\(event.kindName)"])
        case .block(let b):
            checkpoint.headHeight = max(checkpoint.headHeight ?? 0, b.height)
            writer.lag.node(height: b.height)
        default:
            break
        }
        return (IngestEvent(event), false)
    }

    private func storedCheckpoint(_ url: String) async throws -> NodeCheckpoint {
        var retry = configuration.retry
        while true {
            do {
                return try await store.checkpoint(stream: url) ?? NodeCheckpoint(stream: url)
            } catch {
                logger.warning("cannot read the stream checkpoint; retrying", metadata: [LogKey.stream: "\(url)", LogKey.error: "\(error)"])
                try await Task.sleep(for: retry.nextDelay())
            }
        }
    }

    private func update(_ url: String, _ change: (inout NodeStreamStatus) -> Void) {
        let connectionChanged = state.withLock { s -> (active: String?, connected: Int)? in
            let i: Int
            if let found = s.nodes.firstIndex(where: { $0.url == url }) {
                i = found
            } else {
                s.nodes.append(NodeStreamStatus(url: url))
                i = s.nodes.count - 1
            }
            let wasConnected = s.nodes[i].connected
            change(&s.nodes[i])
            // Per event only this comparison; the rest runs when a stream connects or drops.
            guard s.nodes[i].connected != wasConnected else { return nil }
            return (s.nodes.first { $0.connected }?.url, s.nodes.filter(\.connected).count)
        }
        if let connectionChanged { noteConnections(active: connectionChanged.active, connected: connectionChanged.connected) }
    }

    /// Counts a switch when the node events come from (the first connected one) is another than before.
    private func noteConnections(active url: String?, connected: Int) {
        followerMetrics.connectedStreams.record(connected)
        guard let url, let node = nodes.firstIndex(where: { url.hasPrefix($0.sse + "/") }) else { return }
        let switched = activeNode.withLock { last in
            defer { last = node }
            return last != nil && last != node
        }
        if switched { followerMetrics.switches.increment() }
    }

    private func remove(stream url: String) {
        state.withLock { s in s.nodes.removeAll { $0.url == url } }
    }
}

extension Logger {
    func with(_ key: String, _ value: String) -> Logger {
        var copy = self
        copy[metadataKey: key] = "\(value)"
        return copy
    }
}
