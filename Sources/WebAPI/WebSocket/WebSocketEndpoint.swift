import ChainfeedCore
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Accepts `/ws` upgrades and gives each connection its ``WebSocketSession`` in the channel pipeline.
struct WebSocketEndpoint: Sendable {
    let hub: FanOut
    let limits: WebSocketLimits
    let logger: Logger

    /// Whether an upgrade request for `uri` is upgraded: `/ws`, with a valid shortcut if it has one.
    /// One that is not is routed as plain HTTP, where the `/ws` route answers 400 with the reason.
    func accepts(uri: String) -> Bool {
        let uri = URI(uri)
        guard uri.path == "/ws" else { return false }
        do {
            _ = try Self.shortcut(uri)
            return true
        } catch {
            return false
        }
    }

    /// Puts the session behind NIO's frame codec, on the channel's event loop, once the upgrade is written.
    func open(_ channel: any Channel, uri: String) throws {
        let shortcut = (try? Self.shortcut(URI(uri))) ?? nil
        let sink = WebSocketSink(channel: channel, maxPendingBytes: limits.maxPendingBytes, metrics: hub.sinkMetrics(.webSocket))
        let session = WebSocketSession(hub: hub, sink: sink, limits: limits, logger: logger, shortcut: shortcut)
        try channel.pipeline.syncOperations.addHandler(WebSocketConnectionHandler(session: session, limits: limits))
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
