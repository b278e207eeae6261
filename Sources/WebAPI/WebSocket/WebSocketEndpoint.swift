import ChainfeedCore
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore

extension Result {
    var success: Success? {
        if case .success(let value) = self { value } else { nil }
    }
}

/// Accepts `/ws` upgrades and hands each connection to a ``WebSocketSession``.
struct WebSocketEndpoint: Sendable {
    let hub: FanOut
    let limits: WebSocketLimits
    let logger: Logger

    func shouldUpgrade(_ request: HTTPRequest, channel: any Channel) -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        let uri = URI(request.path ?? "/")
        // A bad shortcut is not upgraded: the plain `/ws` route then answers 400 with the reason.
        guard uri.path == "/ws", let parsed = Result(catching: { () throws(APIError) in try Self.shortcut(uri) }).success else {
            return .dontUpgrade
        }
        let shortcut = parsed
        let sink = WebSocketSink(channel: channel, maxPendingBytes: limits.maxPendingBytes, metrics: hub.sinkMetrics(.webSocket))
        let session = WebSocketSession(hub: hub, sink: sink, limits: limits, logger: logger, shortcut: shortcut)
        return .upgrade([:]) { inbound, _, _ in
            await session.run(inbound: inbound)
        }
    }

    /// The subscription the URL asks for (`topics`, filter keys, `fromSeq`), or `nil` for none.
    static func shortcut(_ uri: URI) throws(APIError) -> (filter: EventFilter, fromSeq: Seq?)? {
        let q = uri.queryParameters
        var keys: [String: String] = [:]
        for name in EventFilter.keyNames {
            if let v = q[name[...]] { keys[name] = String(v) }
        }
        for (name, _) in q where !(EventFilter.keyNames + ["topics", "fromSeq"]).contains(String(name)) {
            throw .badRequest("unknown parameter '\(name)'; /ws takes topics, fromSeq, \(EventFilter.keyNames.joined(separator: ", "))")
        }
        let topics = q["topics"].map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        var fromSeq: Seq?
        if let text = q["fromSeq"] {
            guard let v = Seq(String(text)) else { throw .badRequest("fromSeq must be a seq (an unsigned integer), got '\(text)'") }
            fromSeq = v
        }
        guard topics != nil || !keys.isEmpty || fromSeq != nil else { return nil }
        do throws(FilterError) {
            return (try EventFilter.parse(topics: topics ?? ["all"], keys: keys), fromSeq)
        } catch {
            throw .badRequest(error.message)
        }
    }
}
