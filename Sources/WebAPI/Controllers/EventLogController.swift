import ChainfeedCore
import Hummingbird

/// `GET /events?after=SEQ&limit=`: the event log by `seq` for catch-up clients, narrowed like `/ws`.
struct EventLogController {
    let reads: Reads
    /// Serves `/events` as a stream when the client asks for `text/event-stream` (the 2.x node path).
    let stream: StreamController?

    static let parameters: Set<String> = Set(["after", "limit", "topics", Reads.parameter] + EventFilter.keyNames)

    func addRoutes(to router: Router<some RequestContext>) {
        router.get("/events") { request, _ in try await events(request) }
    }

    func events(_ request: Request) async throws -> Response {
        if let stream, StreamController.wantsStream(request) {
            return try stream.stream(request, channel: nil)
        }
        try request.requireKnownParameters(Self.parameters)
        var after: Seq = 0
        if let text = request.query("after") {
            guard let value = Seq(text) else { throw APIError.badRequest("after must be a seq (an unsigned integer), got '\(text)'") }
            after = value
        }
        let limit: Int
        do {
            limit = try PageRequest.parseLimit(request.query("limit"))
        } catch {
            throw APIError.badRequest(error.message)
        }
        let filter = try request.eventFilter()
        let reader = try await reads.reader(for: request)
        let entries = try await read { try await reader.events(after: after, limit: limit, filter: filter) }
        var out = "{\"data\":["
        for (i, entry) in entries.enumerated() {
            if i > 0 { out += "," }
            out += entry.logEntryJSON
        }
        return .json(out + "]}")
    }
}
