import ChainfeedCore
import HTTPTypes
import Hummingbird
import Logging

/// The stored events re-broadcast in the node's own SSE format, so Casper SSE clients can point here.
///
/// `/events/stream` (and `/events` with `Accept: text/event-stream`) carries every kind;
/// `/events/main`, `/events/deploys`, `/events/sigs` the kinds of the 1.x node's channels.
/// `?start_from=SEQ` starts at SEQ inclusive, `Last-Event-ID: N` resumes after N (and wins over `start_from`,
/// as an EventSource reconnecting to its first URL needs), neither is live only.
struct StreamController {
    let hub: FanOut
    let limits: WebSocketLimits
    var keepAlive: Duration = .seconds(15)
    static let apiVersionLine = "data:{\"ApiVersion\":\"2.0.0\"}\n\n"

    func addRoutes(to router: Router<some RequestContext>) {
        router.get("/events/stream") { request, _ in try stream(request, channel: nil) }
        for channel in LegacyChannel.allCases {
            router.get(RouterPath(stringLiteral: channel.path)) { request, _ in try stream(request, channel: channel) }
        }
    }

    static func wantsStream(_ request: Request) -> Bool {
        request.headers[.accept]?.contains("text/event-stream") == true
    }

    func stream(_ request: Request, channel: LegacyChannel?) throws -> Response {
        let fromSeq = try resumePoint(request)
        let sink = QueueSink(maxQueuedBytes: limits.maxPendingBytes, metrics: hub.sinkMetrics(.sse))
        guard hub.attach(sink, limit: limits.maxConnections) else {
            throw APIError.unavailable("too many connections on this replica; retry another")
        }
        let filter = EventFilter(channel: channel)
        let body = ResponseBody { [hub, keepAlive] (writer: inout any ResponseBodyWriter) in
            defer { hub.detach(sink) }
            try await writer.write(ByteBuffer(string: Self.apiVersionLine))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    do throws(SubscriptionError) {
                        try await SubscriptionRunner(hub: hub).start(sink, id: "sse", filter: filter, fromSeq: fromSeq) { _ in }
                    } catch {
                        sink.send(ByteBuffer(string: ": error: \(error.message)\n\n"))
                        sink.close(.policyViolation, reason: error.message)
                    }
                }
                while let chunk = await sink.next(timeout: keepAlive) {
                    if chunk.readableBytes == 0 {
                        try await writer.write(ByteBuffer(string: ":\n\n"))
                    } else {
                        try await writer.write(chunk)
                        sink.wroteChunk()
                    }
                }
                group.cancelAll()
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: body)
    }

    /// `Last-Event-ID` (exclusive) or `start_from` (inclusive) as the last seq already seen.
    ///
    /// `Last-Event-ID` wins when both are given: an EventSource reconnects to the URL it was opened with
    /// (`?start_from=` included) and sends the last id it got, which is where it must go on.
    private func resumePoint(_ request: Request) throws(APIError) -> Seq? {
        var startFrom: Seq?
        if let text = request.query("start_from") {
            guard let start = Seq(text) else { throw .badRequest("start_from must be a seq (an unsigned integer), got '\(text)'") }
            startFrom = start == 0 ? 0 : start - 1
        }
        if let text = request.headers[.lastEventID] {
            guard let last = Seq(text) else { throw .badRequest("Last-Event-ID must be a seq, got '\(text)'") }
            return last
        }
        return startFrom
    }
}

extension HTTPField.Name {
    static let lastEventID = Self("Last-Event-ID")!
}
