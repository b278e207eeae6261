import ChainfeedCore
import Hummingbird
import NIOCore

/// Request context that keeps the connection, so a client too slow for the stream can be disconnected.
struct NodeRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Answers like a Casper node: SSE on the event paths, `GET /status`, `POST /rpc`, and the node's own
/// 404 text for any other path.
///
/// A plain responder rather than a `Router`, so unknown paths and bad queries get the node's exact bodies.
struct NodeResponder: HTTPResponder {
    typealias Context = NodeRequestContext

    let node: SimulatedNode

    func respond(to request: Request, context: NodeRequestContext) async throws -> Response {
        var path = request.uri.path
        if path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        switch path {
        case "/status":
            guard request.method == .get || request.method == .head else { return Self.methodNotAllowed }
            return Self.json(node.statusJSON())
        case "/rpc":
            guard request.method == .post else { return Self.methodNotAllowed }
            return try await rpc(request)
        default:
            break
        }
        guard let endpoint = endpoint(for: path) else {
            return Self.text(.notFound, invalidPathMessage)
        }
        guard request.method == .get else { return Self.methodNotAllowed }
        let startFrom: UInt32?
        switch Self.parseStreamQuery(request.uri.query) {
        case .live: startFrom = nil
        case .replay(let id): startFrom = id
        case .invalid: return Self.text(.unprocessableContent, "invalid query: expected single field 'start_from=<EVENT ID>'\n")
        }
        return eventStream(endpoint: endpoint, startFrom: startFrom, channel: context.channel, logger: context.logger)
    }

    private func rpc(_ request: Request) async throws -> Response {
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: 1 << 20)
        } catch {
            return Self.json(SimulatedNode.rpcError(id: .null, .invalidRequest, data: "request body is larger than 1 MiB"))
        }
        return Self.json(node.rpcResponse(to: body.readableBytesView))
    }

    // MARK: Paths

    /// The SSE endpoint a path names: `.some(nil)` is 2.x `/events`, `.some(channel)` a 1.x endpoint.
    private func endpoint(for path: String) -> LegacyChannel?? {
        switch node.configuration.casperVersion {
        case .v2:
            return path == "/events" ? .some(nil) : nil
        case .v1:
            return LegacyChannel.allCases.first { $0.path == path }.map { .some($0) }
        }
    }

    private var invalidPathMessage: String {
        switch node.configuration.casperVersion {
        case .v2: "invalid path: expected '/events'\n"
        case .v1: "invalid path: expected '/events/main', '/events/deploys' or '/events/sigs'\n"
        }
    }

    /// What an event path's query asks for.
    enum StreamQuery: Equatable {
        case live
        case replay(from: UInt32)
        case invalid
    }

    /// The node's query rule: empty means no replay; otherwise exactly one field, `start_from=<u32>`.
    static func parseStreamQuery(_ query: String?) -> StreamQuery {
        guard let query, !query.isEmpty else { return .live }
        let fields = query.split(separator: "&", omittingEmptySubsequences: true)
        guard fields.count == 1 else { return .invalid }
        let parts = fields[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == "start_from", let id = UInt32(parts[1]) else { return .invalid }
        return .replay(from: id)
    }

    // MARK: Plain responses

    static func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/plain; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: body))
        )
    }

    static func json(_ body: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: body))
        )
    }

    static var methodNotAllowed: Response { text(.methodNotAllowed, "HTTP method not allowed\n") }
}
