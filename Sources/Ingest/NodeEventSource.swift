import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Where to read one node's Server-Sent Events (`/events` on 2.x, `/events/main` etc. on 1.x), one connection at a time.
///
/// A value holding configuration only: each ``connect(startFrom:)`` opens a new connection and returns its
/// ``NodeEventStream``. Reconnecting, backoff and failover are the caller's job (it knows which id it saw last).
///
/// It uses AsyncHTTPClient's delegate API rather than `execute(_:timeout:)`: the async body iterator cannot be
/// raced against a timer (it is not `Sendable`), while a delegate lets one event-loop timer fail the request when
/// the node goes quiet, and lets the consumer's demand gate socket reads.
public struct NodeEventSource: Sendable {
    /// The node URL without user info: safe for logs and errors.
    public let displayURL: String
    /// How long the node may send no byte at all (its keep-alive comments count) before the stream fails.
    public let idleTimeout: Duration
    /// The largest event kept in memory; larger ones are skipped (see ``SSEParser``).
    public let maxEventBytes: Int
    /// The parsed URL, or why it cannot be used: reported by every ``connect(startFrom:)``, so that building a
    /// source from configuration cannot fail and the caller handles one error path.
    private let endpoint: Result<URLComponents, IngestError>
    private let httpClient: HTTPClient
    private let logger: Logger

    /// - Parameters:
    ///   - url: The node's SSE endpoint, e.g. `http://node:9999/events`. A query other than `start_from` is kept,
    ///     though a Casper node answers 422 to any extra field.
    ///   - httpClient: The client to connect with. It is borrowed: the caller shuts it down. Its `read` timeout, if
    ///     set, should be longer than `idleTimeout`.
    ///   - idleTimeout: The node sends a keep-alive about every 15 s; the default matches the sidecar's 120 s.
    ///   - maxEventBytes: Step events can be megabytes on mainnet, hence the 16 MiB default.
    ///   - logger: Gets `node.url` metadata; debug per connection, trace per event.
    public init(
        url: String,
        httpClient: HTTPClient,
        idleTimeout: Duration = .seconds(120),
        maxEventBytes: Int = 16 << 20,
        logger: Logger
    ) {
        precondition(idleTimeout > .zero, "idleTimeout must be positive")
        let endpoint = Self.parse(url)
        if case .success(let components) = endpoint {
            var display = components
            display.user = nil
            display.password = nil
            self.displayURL = display.string ?? ""
        } else {
            self.displayURL = "(invalid URL)"
        }
        self.endpoint = endpoint
        self.httpClient = httpClient
        self.idleTimeout = idleTimeout
        self.maxEventBytes = maxEventBytes
        var logger = logger
        logger[metadataKey: LogKey.node] = "\(displayURL)"
        self.logger = logger
    }

    private static func parse(_ url: String) -> Result<URLComponents, IngestError> {
        guard let components = URLComponents(string: url) else { return .failure(.invalidNodeURL("it does not parse as a URL")) }
        guard let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            return .failure(.invalidNodeURL("its scheme must be http or https"))
        }
        guard let host = components.host, !host.isEmpty else { return .failure(.invalidNodeURL("it has no host")) }
        return .success(components)
    }

    /// The endpoint with `start_from` set, or removed when `startFrom` is `nil`.
    func requestURL(startFrom: UInt32?) throws(IngestError) -> String {
        var components = try endpoint.get()
        var items = (components.queryItems ?? []).filter { $0.name != "start_from" }
        if let startFrom {
            items.append(URLQueryItem(name: "start_from", value: String(startFrom)))
        }
        components.queryItems = items.isEmpty ? nil : items
        guard let url = components.string else { throw .invalidNodeURL("it cannot be rebuilt with a query") }
        return url
    }

    /// Opens a connection and returns once the node has answered 200.
    ///
    /// - Parameter startFrom: The first event id wanted. A Casper node replays **inclusively** (`id >= start_from`)
    ///   from its in-memory buffer, so passing the last id seen gets that event again (dedup absorbs it). `nil`
    ///   asks for live events only. Either way the node first sends `ApiVersion`, without an id.
    /// - Returns: The connection's events. Iterate it from one task; cancelling that task closes the connection.
    /// - Throws: ``IngestError/invalidNodeURL(_:)`` (do not retry), ``IngestError/nodeUnreachable(url:reason:)``,
    ///   ``IngestError/nodeHTTPStatus(url:status:)``, ``IngestError/streamIdle(url:timeout:)`` (no response head
    ///   in time) or ``IngestError/cancelled``.
    public func connect(startFrom: UInt32?) async throws(IngestError) -> NodeEventStream {
        guard !Task.isCancelled else { throw .cancelled }
        let url = try requestURL(startFrom: startFrom)
        var request: HTTPClient.Request
        do {
            request = try HTTPClient.Request(url: url, headers: ["Accept": "text/event-stream", "Cache-Control": "no-cache"])
        } catch {
            throw .invalidNodeURL("the HTTP client refuses it (\(error))")
        }
        // AsyncHTTPClient ignores user info in a URL; a node behind an authenticating proxy needs it as a header.
        if case .success(let components) = endpoint, let user = components.user {
            request.setBasicAuth(username: user, password: components.password ?? "")
        }

        let eventLoop = httpClient.eventLoopGroup.next()
        let control = StreamControl(
            eventLoop: eventLoop,
            idleTimeout: idleTimeout,
            idleError: .streamIdle(url: displayURL, timeout: idleTimeout)
        )
        // A few socket reads of look-ahead keep the parser busy while the next read is in flight; beyond that the
        // consumer's pace gates reads, so memory stays bounded however slow it is.
        let body = NodeEventStream.Body.makeSequence(
            elementType: ByteBuffer.self,
            backPressureStrategy: .init(lowWatermark: 2, highWatermark: 8),
            finishOnDeinit: true,  // a backstop only: the task's completion always finishes the source
            delegate: DemandRelay(control: control)
        )
        logger.debug("Connecting to node event stream", metadata: [LogKey.startFrom: "\(startFrom.map(String.init) ?? "live")"])
        let task = httpClient.execute(
            request: request,
            delegate: ResponseDelegate(control: control, source: body.source),
            eventLoop: .delegateAndChannel(on: eventLoop),
            deadline: nil,  // the stream has no end; idleness is what we bound
            logger: logger
        )
        control.start(task, finishing: body.source)

        let head: HTTPResponseHead
        do {
            head = try await withTaskCancellationHandler {
                try await control.head.futureResult.get()
            } onCancel: {
                task.cancel()
            }
        } catch {
            if Task.isCancelled { throw .cancelled }
            if let error = error as? IngestError { throw error }
            throw .nodeUnreachable(url: displayURL, reason: "\(error)")
        }
        guard head.status == .ok else {
            task.cancel()
            throw .nodeHTTPStatus(url: displayURL, status: Int(head.status.code))
        }
        guard !Task.isCancelled else {
            task.cancel()
            throw .cancelled
        }
        logger.debug("Connected to node event stream")
        return NodeEventStream(url: displayURL, body: body.sequence, maxEventBytes: maxEventBytes, logger: logger)
    }
}

// MARK: - Stream

/// The events of one connection, parsed as they arrive.
///
/// Pull-based: bytes are read from the socket only as fast as this sequence is iterated (plus a few reads of
/// look-ahead). The sequence ends (`nil`) when the node ends the response body; the caller then reconnects with
/// `start_from`. It throws ``IngestError/streamIdle(url:timeout:)``, ``IngestError/connectionLost(url:reason:)``,
/// or ``IngestError/cancelled`` when the iterating task is cancelled. Only one iterator may be made.
public struct NodeEventStream: AsyncSequence, Sendable {
    public typealias Element = SSEMessage
    public typealias Failure = IngestError
    typealias Body = NIOThrowingAsyncSequenceProducer<
        ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, DemandRelay
    >

    /// The node URL without user info.
    public let url: String
    let body: Body
    let maxEventBytes: Int
    let logger: Logger

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(url: url, body: body.makeAsyncIterator(), parser: SSEParser(maxEventBytes: maxEventBytes), logger: logger)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Element = SSEMessage
        public typealias Failure = IngestError
        let url: String
        var body: Body.AsyncIterator
        var parser: SSEParser
        let logger: Logger
        /// Messages parsed from the last chunk and not yet returned.
        var parsed: [SSEMessage] = []
        var nextParsed = 0

        /// Whether ``next()`` has a parsed message to return without reading from the node.
        public var hasBuffered: Bool { nextParsed < parsed.count }

        public mutating func next() async throws(IngestError) -> SSEMessage? {
            while nextParsed == parsed.count {
                let chunk: ByteBuffer?
                do {
                    chunk = try await body.next()
                } catch {
                    throw Self.ingestError(error, url: url)
                }
                guard let chunk else {
                    // An event cut off by the end of the body is dropped, as the spec says; its id was not seen.
                    logger.debug("Node event stream ended")
                    return nil
                }
                let skipped = parser.skippedEventCount
                parsed = parser.feed(chunk)
                nextParsed = 0
                if parser.skippedEventCount != skipped {
                    logger.warning(
                        "Skipped node event larger than the limit",
                        metadata: [LogKey.eventID: "\(parser.lastSkippedEventID ?? "none")"]
                    )
                }
            }
            defer { nextParsed += 1 }
            logger.trace("Received node event", metadata: [LogKey.eventID: "\(parsed[nextParsed].id ?? "none")"])
            return parsed[nextParsed]
        }

        private static func ingestError(_ error: any Error, url: String) -> IngestError {
            if let error = error as? IngestError { return error }
            if error is CancellationError || Task.isCancelled { return .cancelled }
            return .connectionLost(url: url, reason: "\(error)")
        }
    }
}

// MARK: - Event-loop side

/// The event-loop half of one connection: the request task, the idle timer and the read gate.
///
/// Everything mutable lives in a loop-bound box; calls from the consumer's thread hop onto the loop. AsyncHTTPClient
/// callbacks may re-enter (failing a task calls back synchronously), so no access to `state` spans such a call.
final class StreamControl: Sendable {
    let eventLoop: any EventLoop
    /// Completed by the response head, or failed with the reason none came.
    let head: EventLoopPromise<HTTPResponseHead>
    private let idleTimeout: TimeAmount
    private let idleError: IngestError
    private let state: NIOLoopBoundBox<State>

    private struct State {
        var task: HTTPClient.Task<Void>?
        var idleTimer: Scheduled<Void>?
        /// Pending while the consumer's buffer is full: AsyncHTTPClient reads nothing more until it completes.
        var readGate: EventLoopPromise<Void>?
        var ended = false
    }

    init(eventLoop: any EventLoop, idleTimeout: Duration, idleError: IngestError) {
        self.eventLoop = eventLoop
        self.head = eventLoop.makePromise()
        self.idleTimeout = TimeAmount(idleTimeout)
        self.idleError = idleError
        self.state = .makeBoxSendingValue(State(), eventLoop: eventLoop)
    }

    /// Starts the idle clock (it also bounds the wait for the response head) and finishes the byte stream with
    /// the request's outcome. Any thread.
    func start(_ task: HTTPClient.Task<Void>, finishing source: NodeEventStream.Body.Source) {
        eventLoop.execute {
            self.state.value.task = task
            if self.state.value.ended {
                task.cancel()  // the consumer went away before we got here
            } else {
                self.armIdleTimer()
            }
        }
        // The task's promise completes after the delegate's last callback, also for a request that failed before
        // reaching the delegate at all, so this is the one place that ends the stream.
        task.futureResult.hop(to: eventLoop).whenComplete { result in
            self.end()
            switch result {
            case .success:
                self.head.fail(HTTPClientError.remoteConnectionClosed)  // no-op: a complete response had a head
                source.finish()
            case .failure(let error):
                self.head.fail(error)
                source.finish(error)
            }
        }
    }

    /// Bytes came from the node: restart the idle clock. On the loop.
    func bytesArrived(from task: HTTPClient.Task<Void>) {
        state.value.task = task
        if !state.value.ended { armIdleTimer() }
    }

    /// The consumer's buffer is full: stop reading, and stop the idle clock, since a slow consumer is not an idle
    /// node. On the loop.
    func waitForDemand() -> EventLoopFuture<Void> {
        cancelIdleTimer()
        let gate = eventLoop.makePromise(of: Void.self)
        state.value.readGate = gate
        return gate.futureResult
    }

    /// The consumer wants more. Any thread.
    func resumeReading() {
        eventLoop.execute {
            guard let gate = self.state.value.readGate else { return }
            self.state.value.readGate = nil
            if !self.state.value.ended { self.armIdleTimer() }
            gate.succeed()
        }
    }

    /// The consumer is gone (cancelled, or dropped the sequence): close the connection. Any thread.
    func terminate() {
        eventLoop.execute {
            let task = self.state.value.task
            self.end()
            task?.cancel()
        }
    }

    private func end() {
        state.value.ended = true
        cancelIdleTimer()
        if let gate = state.value.readGate {
            state.value.readGate = nil
            gate.succeed()
        }
    }

    private func armIdleTimer() {
        state.value.idleTimer?.cancel()
        state.value.idleTimer = eventLoop.scheduleTask(in: idleTimeout) { self.idleTimerFired() }
    }

    private func cancelIdleTimer() {
        state.value.idleTimer?.cancel()
        state.value.idleTimer = nil
    }

    private func idleTimerFired() {
        state.value.idleTimer = nil
        guard !state.value.ended, let task = state.value.task else { return }
        task.fail(reason: idleError)  // reaches the consumer through the task's completion, in `start`
    }
}

/// Relays the consumer's demand from the byte stream to the ``StreamControl``.
struct DemandRelay: NIOAsyncSequenceProducerDelegate {
    let control: StreamControl

    func produceMore() { control.resumeReading() }
    func didTerminate() { control.terminate() }
}

/// Receives the response from AsyncHTTPClient on the connection's event loop.
final class ResponseDelegate: HTTPClientResponseDelegate {
    typealias Response = Void
    let control: StreamControl
    let source: NodeEventStream.Body.Source

    init(control: StreamControl, source: NodeEventStream.Body.Source) {
        self.control = control
        self.source = source
    }

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        control.bytesArrived(from: task)
        control.head.succeed(head)
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        control.bytesArrived(from: task)
        switch source.yield(buffer) {
        case .produceMore:
            return task.eventLoop.makeSucceededVoidFuture()
        case .stopProducing:
            return control.waitForDemand()
        case .dropped:
            task.cancel()  // nobody is listening any more
            return task.eventLoop.makeSucceededVoidFuture()
        }
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {}
}
