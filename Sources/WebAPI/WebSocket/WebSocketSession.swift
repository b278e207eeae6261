import ChainfeedCore
import HummingbirdWebSocket
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

/// One WebSocket client: reads its subscribe/unsubscribe frames and runs its subscriptions.
struct WebSocketSession {
    let hub: FanOut
    let sink: WebSocketSink
    let limits: WebSocketLimits
    let logger: Logger

    /// The `/ws?topics=…&account=…&fromSeq=…` shortcut, already parsed.
    var shortcut: (filter: EventFilter, fromSeq: Seq?)?

    func run(inbound: WebSocketInboundStream) async {
        guard hub.attach(sink, limit: limits.maxConnections) else {
            sink.close(.tryAgainLater, reason: "too many connections on this replica; retry another")
            return
        }
        defer {
            hub.detach(sink)
            sink.close(.normal, reason: "")
        }
        await withDiscardingTaskGroup { group in
            if let shortcut {
                subscribe(id: "default", filter: shortcut.filter, fromSeq: shortcut.fromSeq, group: &group)
            }
            do {
                for try await message in inbound.messages(maxSize: limits.maxFrameSize) {
                    guard case .text(let text) = message else {
                        sink.sendControl(ServerFrame.error(id: nil, code: "bad_request", message: "binary frames are not supported; send JSON text"))
                        continue
                    }
                    handle(text, group: &group)
                }
            } catch {
                logger.debug("websocket closed", metadata: ["error.message": "\(error)"])
            }
            group.cancelAll()
        }
    }

    private func handle(_ text: String, group: inout DiscardingTaskGroup) {
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
            subscribe(id: id, filter: filter, fromSeq: fromSeq, group: &group)
        case .unsubscribe(let id):
            if hub.unsubscribe(sink, id: id) {
                sink.sendControl(ServerFrame.unsubscribed(id: id))
            } else {
                sink.sendControl(ServerFrame.error(id: id, code: "bad_request", message: "no subscription '\(id)' on this connection"))
            }
        }
    }

    /// Registers now, in frame order; the replay (if any) runs beside the reading loop.
    private func subscribe(id: String, filter: EventFilter, fromSeq: Seq?, group: inout DiscardingTaskGroup) {
        let runner = SubscriptionRunner(hub: hub)
        let head: Seq
        do throws(SubscriptionError) {
            head = try runner.register(sink, id: id, filter: filter)
        } catch {
            sink.sendControl(ServerFrame.error(id: id, code: error.code, message: error.message))
            return
        }
        sink.sendControl(ServerFrame.subscribed(id: id, headSeq: head))
        group.addTask { [sink] in
            do throws(SubscriptionError) {
                try await runner.complete(sink, id: id, filter: filter, fromSeq: fromSeq, head: head)
            } catch {
                sink.sendControl(ServerFrame.error(id: id, code: error.code, message: error.message))
            }
        }
    }
}
