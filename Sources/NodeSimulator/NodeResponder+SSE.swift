import ChainfeedCore
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

extension NodeResponder {
    /// How one client's stream ended.
    enum StreamEnd: String {
        case dropEvery
        case restart
        case shutdown
        case slowConsumer
        case cancelled

        init(_ reason: EventHub.EndReason) {
            switch reason {
            case .restart: self = .restart
            case .shutdown: self = .shutdown
            case .slowConsumer: self = .slowConsumer
            case .cancelled: self = .cancelled
            }
        }
    }

    /// The node's SSE response: `ApiVersion` without an id, the replay, then live events and keep-alives.
    func eventStream(endpoint: LegacyChannel?, startFrom: UInt32?, channel: any Channel, logger: Logger) -> Response {
        let node = self.node
        guard node.subscriberCount < node.configuration.maxSubscribers else {
            return Self.text(.serviceUnavailable, "server has reached limit of subscribers\n")
        }
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody { writer in
                // Subscribed as the body starts, so the replay snapshot and the live queue meet where the client is.
                guard
                    let subscription = node.hub.subscribe(
                        endpoint: endpoint,
                        startFrom: startFrom,
                        onDrop: {
                            channel.close(mode: .all, promise: nil)
                        }
                    )
                else {
                    try await writer.finish(nil)
                    return
                }
                defer { node.hub.unsubscribe(subscription.id) }
                var logger = logger
                logger[metadataKey: LogKey.sseClientId] = "\(subscription.id)"
                logger.debug(
                    "sse client connected",
                    metadata: [LogKey.ssePath: "\(endpoint?.path ?? "/events")", LogKey.sseStartFrom: "\(startFrom.map(String.init) ?? "none")"]
                )
                let end = try await withGracefulShutdownHandler {
                    try await Self.stream(subscription, node: node, to: &writer)
                } onGracefulShutdown: {
                    node.shutDownEventStream()
                    // A client that stopped reading would hold its write, and the server's shutdown, forever.
                    channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(mode: .all, promise: nil) }
                }
                logger.debug("sse client stream ended", metadata: [LogKey.sseEndReason: "\(end.rawValue)"])
                if end == .slowConsumer {
                    throw ChannelError.ioOnClosedChannel
                }
                try await writer.finish(nil)
            }
        )
    }

    private static func stream(
        _ subscription: EventHub.Subscription,
        node: SimulatedNode,
        to writer: inout any ResponseBodyWriter
    ) async throws -> StreamEnd {
        var budget = node.configuration.dropEvery ?? .max
        try await writer.write(ByteBuffer(string: "data:{\"ApiVersion\":\"\(node.chain.apiVersion)\"}\n\n"))
        var replay = subscription.replay[...]
        while !replay.isEmpty {
            let chunk = replay.prefix(min(512, budget))
            replay = replay.dropFirst(chunk.count)
            try await writer.write(merge(chunk))
            budget -= chunk.count
            if budget == 0 { return .dropEvery }
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            let hub = node.hub
            let interval = node.configuration.keepAliveInterval
            group.addTask {
                while (try? await Task.sleep(for: interval)) != nil {
                    hub.requestKeepAlive(subscription.id)
                }
            }
            defer { group.cancelAll() }
            var lastWrite = ContinuousClock.now
            while true {
                switch await hub.next(subscription.id) {
                case .frames(let frames):
                    let chunk = frames.prefix(budget)
                    try await writer.write(merge(chunk))
                    lastWrite = .now
                    budget -= chunk.count
                    if budget == 0 { return .dropEvery }
                case .keepAlive:
                    // Like warp's keep-alive: a comment only after an interval without anything written.
                    guard ContinuousClock.now - lastWrite >= interval else { continue }
                    try await writer.write(ByteBuffer(string: ":\n\n"))
                    lastWrite = .now
                case .end(let reason):
                    return StreamEnd(reason)
                }
            }
        }
    }

    /// One buffer for a batch of frames: one write and one flush instead of one per event.
    private static func merge(_ frames: some Collection<ByteBuffer>) -> ByteBuffer {
        if frames.count == 1, let only = frames.first { return only }
        var out = ByteBuffer()
        out.reserveCapacity(frames.reduce(0) { $0 + $1.readableBytes })
        for frame in frames { out.writeImmutableBuffer(frame) }
        return out
    }
}
