import ChainfeedCore
import Logging
import NIOCore

/// Limits of one web replica's WebSocket endpoint; each is answered with an error frame or a close code.
public struct WebSocketLimits: Sendable {
    /// Largest client frame; a bigger one closes with 1009.
    public var maxFrameSize: Int = 16 << 10
    public var maxSubscriptionsPerConnection: Int = 32
    /// Connections beyond this are closed at once with 1013.
    public var maxConnections: Int = 10_000
    /// Bytes a connection may have unwritten before it is closed with 4008.
    public var maxPendingBytes: Int = 1 << 20
    /// Ping interval (the connection closes when pongs stop).
    public var pingInterval: Duration = .seconds(30)

    public init() {}
}

/// One WebSocket client's subscriptions, driven by its frames on the channel's event loop.
///
/// Nothing runs for an idle connection: a frame is handled where it is read, and only a replay
/// gets a task, which ends when the subscription goes live.
final class WebSocketSession {
    let hub: FanOut
    let sink: WebSocketSink
    let limits: WebSocketLimits
    let logger: Logger
    /// The `/ws?topics=…&account=…&fromSeq=…` shortcut, already parsed.
    let shortcut: (filter: EventFilter, fromSeq: Seq?)?
    /// Replays under way, by subscription id; cancelled when the connection ends.
    private var replays: [String: Task<Void, Never>] = [:]
    private var attached = false

    init(hub: FanOut, sink: WebSocketSink, limits: WebSocketLimits, logger: Logger, shortcut: (filter: EventFilter, fromSeq: Seq?)?) {
        self.hub = hub
        self.sink = sink
        self.limits = limits
        self.logger = logger
        self.shortcut = shortcut
    }

    /// The connection is open: counts it against the replica's limit, then runs the shortcut.
    func open() {
        guard hub.attach(sink, limit: limits.maxConnections) else {
            sink.close(.tryAgainLater, reason: "too many connections on this replica; retry another")
            return
        }
        attached = true
        if let shortcut {
            subscribe(id: "default", filter: shortcut.filter, fromSeq: shortcut.fromSeq)
        }
    }

    /// The connection is gone: its subscriptions and replays end with it.
    func end() {
        for replay in replays.values { replay.cancel() }
        replays = [:]
        if attached {
            attached = false
            hub.detach(sink)
        }
    }

    /// A whole text message from the client.
    func receive(text: String) {
        guard attached else { return }
        let message: ClientMessage
        do throws(ClientMessage.Invalid) {
            message = try ClientMessage.parse(text)
        } catch {
            sink.sendControl(ServerFrame.error(id: error.id, code: "bad_request", message: error.message))
            return
        }
        switch message {
        case .subscribe(let id, let filter, let fromSeq):
            guard hub.subscriptionCount(of: sink) < limits.maxSubscriptionsPerConnection else {
                sink.sendControl(ServerFrame.error(id: id, code: "limit", message: "at most \(limits.maxSubscriptionsPerConnection) subscriptions per connection"))
                return
            }
            subscribe(id: id, filter: filter, fromSeq: fromSeq)
        case .unsubscribe(let id):
            replays.removeValue(forKey: id)?.cancel()
            if hub.unsubscribe(sink, id: id) {
                sink.sendControl(ServerFrame.unsubscribed(id: id))
            } else {
                sink.sendControl(ServerFrame.error(id: id, code: "bad_request", message: "no subscription '\(id)' on this connection"))
            }
        }
    }

    /// A message the endpoint cannot read (binary, or text that is not UTF-8): an error frame, and the connection stays.
    func reject(_ why: String) {
        sink.sendControl(ServerFrame.error(id: nil, code: "bad_request", message: why))
    }

    /// Registers now, in frame order; a replay runs in its own task and then goes live.
    private func subscribe(id: String, filter: EventFilter, fromSeq: Seq?) {
        let runner = SubscriptionRunner(hub: hub)
        let head: Seq
        do throws(SubscriptionError) {
            head = try runner.register(sink, id: id, filter: filter)
        } catch {
            sink.sendControl(ServerFrame.error(id: id, code: error.code, message: error.message))
            return
        }
        sink.sendControl(ServerFrame.subscribed(id: id, headSeq: head))
        guard let fromSeq else {
            hub.goLive(sink, id: id, replayedThrough: head)
            return
        }
        let sink = self.sink
        replays[id] = Task {
            do throws(SubscriptionError) {
                try await runner.complete(sink, id: id, filter: filter, fromSeq: fromSeq, head: head)
            } catch {
                sink.sendControl(ServerFrame.error(id: id, code: error.code, message: error.message))
            }
        }
    }
}
