import Logging
import ServiceLifecycle

/// Paces the simulated node: one block per ``SimulatedNode/Configuration/blockInterval`` until
/// ``SimulatedNode/Configuration/maxBlocks``, then idles until shutdown.
///
/// On graceful shutdown it stops producing and ends every SSE stream with `"Shutdown"`.
struct BlockProducer: Service {
    let node: SimulatedNode

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { [node] in
                try await Self.produce(node)
            }
        } catch is CancellationError {
            // Cancelled instead of shut down gracefully: stop the same way.
        }
        node.shutDownEventStream()
        node.logger.info("block production stopped", metadata: [LogKey.blockHeight: "\(node.latestHeight.map(String.init) ?? "none")"])
    }

    private static func produce(_ node: SimulatedNode) async throws {
        let clock = ContinuousClock()
        let interval = node.configuration.blockInterval
        var deadline = clock.now + interval
        var produced = 0
        while produced < node.configuration.maxBlocks ?? .max {
            try await clock.sleep(until: deadline)
            node.produceBlock()
            produced += 1
            // After a stall, resume the pace instead of producing a burst of catch-up blocks.
            deadline = max(deadline + interval, clock.now)
        }
        try await gracefulShutdown()
    }
}
