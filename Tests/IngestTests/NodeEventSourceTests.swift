import AsyncHTTPClient
import ChainfeedTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Ingest
import Logging
import Testing

/// `NodeEventSource` against a real Hummingbird server on a loopback socket, playing the Casper node.
@Suite(.timeLimit(.minutes(1))) struct NodeEventSourceTests {
    static let logger = Logger(label: "NodeEventSourceTests")

    /// Runs a live server with the routes `configure` adds, and gives `test` its base URL.
    static func withNode(
        _ configure: (Router<BasicRequestContext>) -> Void,
        _ test: @escaping @Sendable (String) async throws -> Void
    ) async throws {
        let router = Router()
        configure(router)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            logger: Logger(label: "test-node")
        )
        try await app.test(.live) { client in
            let port = try #require(client.port)
            try await test("http://127.0.0.1:\(port)")
        }
    }

    /// A 200 `text/event-stream` response whose body `write` produces.
    static func eventStream(_ write: @escaping @Sendable (inout any ResponseBodyWriter) async throws -> Void) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/event-stream"],
            body: ResponseBody { writer in
                try await write(&writer)
                try await writer.finish(nil)
            }
        )
    }

    static func source(_ url: String, idleTimeout: Duration = .seconds(30), maxEventBytes: Int = 16 << 20) -> NodeEventSource {
        NodeEventSource(url: url, httpClient: .shared, idleTimeout: idleTimeout, maxEventBytes: maxEventBytes, logger: logger)
    }

    /// Reads the whole stream; the error, if any, is returned beside what came before it.
    static func collect(_ stream: NodeEventStream) async -> (messages: [SSEMessage], error: IngestError?) {
        var messages: [SSEMessage] = []
        do {
            for try await message in stream {
                messages.append(message)
            }
            return (messages, nil)
        } catch {
            return (messages, error)
        }
    }

    /// A one-shot signal between the test and a route handler.
    struct Signal: Sendable {
        let stream: AsyncStream<Void>
        let continuation: AsyncStream<Void>.Continuation

        init() { (stream, continuation) = AsyncStream.makeStream() }

        func fire() { continuation.finish() }
        func wait() async { for await _ in stream {} }
    }

    // MARK: Messages

    @Test("messages arrive in order with their ids, however the node's writes split them")
    func messagesInOrder() async throws {
        let sample = try Fixtures.text("sse-stream-sample-v2.txt")
        try await Self.withNode({ router in
            router.get("/events") { _, _ in
                Self.eventStream { writer in
                    var bytes = ByteBuffer(string: sample)
                    while let chunk = bytes.readSlice(length: min(97, bytes.readableBytes)), chunk.readableBytes > 0 {
                        try await writer.write(chunk)
                        try await Task.sleep(for: .milliseconds(2))
                    }
                }
            }
        }) { base in
            let stream = try await Self.source("\(base)/events").connect(startFrom: nil)
            let (messages, error) = await Self.collect(stream)
            #expect(error == nil)
            #expect(messages.map(\.id) == [nil, "1", "2", nil, "3"])
            #expect(messages.first?.data == #"{"ApiVersion":"2.0.0"}"#)
            #expect(messages.dropFirst(2).first?.data == #""Shutdown""#)
        }
    }

    @Test("start_from is sent as the query, and left out for a live-only connection")
    func startFromQuery() async throws {
        try await Self.withNode({ router in
            router.get("/events") { request, _ in
                let query = request.uri.query ?? ""
                return Self.eventStream { writer in
                    try await writer.write(ByteBuffer(string: "data:{\"ApiVersion\":\"2.0.0\"}\n\ndata:\"\(query)\"\nid:1\n\n"))
                }
            }
        }) { base in
            let source = Self.source("\(base)/events")
            let replay = await Self.collect(try await source.connect(startFrom: 29_267_508))
            #expect(replay.messages.map(\.data) == [#"{"ApiVersion":"2.0.0"}"#, #""start_from=29267508""#])
            let zero = await Self.collect(try await source.connect(startFrom: 0))
            #expect(zero.messages.last?.data == #""start_from=0""#)
            let live = await Self.collect(try await source.connect(startFrom: nil))
            #expect(live.messages.last?.data == #""""#)
        }
    }

    @Test("the end of the response body ends the sequence normally")
    func serverCloseEndsSequence() async throws {
        try await Self.withNode({ router in
            router.get("/events") { _, _ in
                Self.eventStream { writer in
                    try await writer.write(ByteBuffer(string: "data:\"Shutdown\"\nid:2\n\ndata:{\"cut\":"))
                }
            }
        }) { base in
            var iterator = try await Self.source("\(base)/events").connect(startFrom: nil).makeAsyncIterator()
            #expect(try await iterator.next() == SSEMessage(id: "2", data: #""Shutdown""#))
            #expect(try await iterator.next() == nil)  // the unterminated event is dropped
            #expect(try await iterator.next() == nil)
        }
    }

    // MARK: Failures

    @Test("a status other than 200 is a typed error with the status")
    func httpStatus() async throws {
        try await Self.withNode({ router in
            router.get("/events") { _, _ in Response(status: .serviceUnavailable) }
        }) { base in
            await #expect(throws: IngestError.nodeHTTPStatus(url: "\(base)/events", status: 503)) {
                _ = try await Self.source("\(base)/events").connect(startFrom: nil)
            }
            await #expect(throws: IngestError.nodeHTTPStatus(url: "\(base)/events/main", status: 404)) {
                _ = try await Self.source("\(base)/events/main").connect(startFrom: 5)
            }
        }
    }

    @Test("a node that refuses the connection is unreachable")
    func unreachable() async throws {
        // AsyncHTTPClient retries a refused connection until its connect timeout unless told not to; a follower
        // has its own backoff, so it wants the first failure.
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        let httpClient = HTTPClient(configuration: configuration)
        let source = NodeEventSource(url: "http://127.0.0.1:1/events", httpClient: httpClient, logger: Self.logger)
        let error = await #expect(throws: IngestError.self) {
            _ = try await source.connect(startFrom: nil)
        }
        try await httpClient.shutdown()
        guard case .nodeUnreachable(let url, _) = error else {
            Issue.record("expected nodeUnreachable, got \(String(describing: error))")
            return
        }
        #expect(url == "http://127.0.0.1:1/events")
    }

    @Test("a URL that is not http(s) with a host fails at connect, without credentials in the error")
    func invalidURL() async throws {
        for url in ["ftp://user:secret@node/events", "/events", "http://", "not a url at all"] {
            let error = await #expect(throws: IngestError.self) {
                _ = try await Self.source(url).connect(startFrom: nil)
            }
            guard case .invalidNodeURL = error else {
                Issue.record("expected invalidNodeURL for \(url), got \(String(describing: error))")
                continue
            }
            #expect(error.map { "\($0)\($0.debugDescription)" }?.contains("secret") == false)
        }
    }

    @Test("user info in the URL is sent as basic auth and left out of errors and descriptions")
    func credentialsRedacted() async throws {
        try await Self.withNode({ router in
            router.get("/events") { request, _ in
                // 404 proves the credentials arrived; 401 that they did not.
                let expected = "Basic " + "reader:hunter2".base64Encoded
                return Response(status: request.headers[.authorization] == expected ? .notFound : .unauthorized)
            }
        }) { base in
            let withCredentials = base.replacingOccurrences(of: "http://", with: "http://reader:hunter2@")
            let error = await #expect(throws: IngestError.self) {
                _ = try await Self.source("\(withCredentials)/events").connect(startFrom: nil)
            }
            #expect(error == .nodeHTTPStatus(url: "\(base)/events", status: 404))
            #expect(error.map { "\($0) \($0.debugDescription)" }?.contains("hunter2") == false)
            #expect(error?.description.contains("127.0.0.1") == false)
        }
    }

    // MARK: Idle timeout

    @Test("no bytes for the idle timeout fails the stream with streamIdle")
    func idleTimeout() async throws {
        let release = Signal()
        try await Self.withNode({ router in
            router.get("/events") { _, _ in
                Self.eventStream { writer in
                    try await writer.write(ByteBuffer(string: "data:{\"ApiVersion\":\"2.0.0\"}\n\n"))
                    await release.wait()
                }
            }
        }) { base in
            defer { release.fire() }
            let stream = try await Self.source("\(base)/events", idleTimeout: .milliseconds(1500)).connect(startFrom: nil)
            let (messages, error) = await Self.collect(stream)
            #expect(messages.map(\.data) == [#"{"ApiVersion":"2.0.0"}"#])
            #expect(error == .streamIdle(url: "\(base)/events", timeout: .milliseconds(1500)))
        }
    }

    @Test("a node that never answers fails connect with streamIdle")
    func idleBeforeHead() async throws {
        let release = Signal()
        try await Self.withNode({ router in
            router.get("/events") { _, _ in
                await release.wait()
                return Response(status: .ok)
            }
        }) { base in
            defer { release.fire() }
            await #expect(throws: IngestError.streamIdle(url: "\(base)/events", timeout: .milliseconds(1500))) {
                _ = try await Self.source("\(base)/events", idleTimeout: .milliseconds(1500)).connect(startFrom: nil)
            }
        }
    }

    @Test("keep-alive comments count as activity")
    func keepAlivesResetIdle() async throws {
        try await Self.withNode({ router in
            router.get("/events") { _, _ in
                Self.eventStream { writer in
                    for _ in 0..<100 {
                        try await writer.write(ByteBuffer(string: ":\n\n"))
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    try await writer.write(ByteBuffer(string: "data:\"Shutdown\"\nid:9\n\n"))
                }
            }
        }) { base in
            // 100 × 50 ms = 5 s of comments only, against a 3 s idle timeout: only a comment every 50 ms keeps it open.
            let stream = try await Self.source("\(base)/events", idleTimeout: .seconds(3)).connect(startFrom: nil)
            let (messages, error) = await Self.collect(stream)
            #expect(error == nil)
            #expect(messages == [SSEMessage(id: "9", data: #""Shutdown""#)])
        }
    }

    @Test("a slow consumer holds back reads and is not mistaken for an idle node")
    func slowConsumerIsNotIdle() async throws {
        let payload = String(repeating: "x", count: 10_000)
        try await Self.withNode({ router in
            router.get("/events") { _, _ in
                Self.eventStream { writer in
                    // 3 MB: far more than the stream's look-ahead, so reads must wait for the consumer.
                    for id in 1...300 {
                        try await writer.write(ByteBuffer(string: "data:\"\(payload)\"\nid:\(id)\n\n"))
                    }
                }
            }
        }) { base in
            let stream = try await Self.source("\(base)/events", idleTimeout: .milliseconds(1500)).connect(startFrom: nil)
            var ids: [String?] = []
            do {
                for try await message in stream {
                    ids.append(message.id)
                    if ids.count == 1 {
                        try await Task.sleep(for: .seconds(4))  // > 2 idle timeouts while the node is blocked on us
                    }
                }
            } catch {
                Issue.record("the stream failed: \(error)")
            }
            #expect(ids.count == 300)
            #expect(ids.enumerated().allSatisfy { $0.element == String($0.offset + 1) }, "ids in order, none missing")
        }
    }

    // MARK: Cancellation

    /// A route that sends `ApiVersion`, then keep-alives until a write fails, which it reports on `closed`.
    static func keepAliveUntilClosed(_ router: Router<BasicRequestContext>, closed: Signal) {
        router.get("/events") { _, _ in
            Self.eventStream { writer in
                try await writer.write(ByteBuffer(string: "data:{\"ApiVersion\":\"2.0.0\"}\n\n"))
                do {
                    while true {
                        try await writer.write(ByteBuffer(string: ":\n\n"))
                        try await Task.sleep(for: .milliseconds(20))
                    }
                } catch {
                    closed.fire()  // a write failed: the client closed the connection
                    throw error
                }
            }
        }
    }

    @Test("cancelling the consuming task closes the connection and throws cancelled")
    func cancellationClosesConnection() async throws {
        let serverSawClose = Signal()
        try await Self.withNode({ Self.keepAliveUntilClosed($0, closed: serverSawClose) }) { base in
            let source = Self.source("\(base)/events")
            let firstMessage = Signal()
            let consumer = Task {
                let stream = try await source.connect(startFrom: nil)
                for try await _ in stream {
                    firstMessage.fire()
                }
            }
            await firstMessage.wait()
            consumer.cancel()
            let result = await consumer.result
            #expect(throws: IngestError.cancelled) { try result.get() }
            await serverSawClose.wait()
        }
    }

    @Test("leaving the loop early closes the connection")
    func breakClosesConnection() async throws {
        let serverSawClose = Signal()
        try await Self.withNode({ Self.keepAliveUntilClosed($0, closed: serverSawClose) }) { base in
            for try await message in try await Self.source("\(base)/events").connect(startFrom: nil) {
                #expect(message.data == #"{"ApiVersion":"2.0.0"}"#)
                break
            }
            await serverSawClose.wait()
        }
    }

    @Test("a stream dropped without being read closes the connection")
    func droppedStreamClosesConnection() async throws {
        let serverSawClose = Signal()
        try await Self.withNode({ Self.keepAliveUntilClosed($0, closed: serverSawClose) }) { base in
            _ = try await Self.source("\(base)/events").connect(startFrom: nil)
            await serverSawClose.wait()
        }
    }

    @Test("a task cancelled before connecting gets cancelled without a request")
    func cancelledBeforeConnect() async throws {
        let source = Self.source("http://127.0.0.1:1/events")
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            _ = try await source.connect(startFrom: nil)
        }
        await #expect(throws: IngestError.cancelled) { try await task.value }
    }
}

extension String {
    fileprivate var base64Encoded: String { Data(utf8).base64EncodedString() }
}
