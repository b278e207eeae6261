import Synchronization

/// The in-process bus of the all-in-one: publishing calls every subscriber in order, synchronously.
public final class InMemoryEventBus: EventBus {
    private struct State {
        var nextID = 0
        var handlers: [Int: @Sendable (BusMessage) -> Void] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func publish(_ events: [StoredEvent]) {
        guard !events.isEmpty else { return }
        deliver(.events(events))
    }

    public func publishHeartbeat(headSeq: Seq) {
        deliver(.heartbeat(headSeq: headSeq))
    }

    private func deliver(_ message: BusMessage) {
        // Handlers run outside the lock: they may subscribe or cancel themselves.
        let handlers = state.withLock { Array($0.handlers.sorted { $0.key < $1.key }.map(\.value)) }
        for handler in handlers { handler(message) }
    }

    public func subscribe(_ handler: @escaping @Sendable (BusMessage) -> Void) -> BusSubscription {
        let id = state.withLock { s in
            s.nextID += 1
            s.handlers[s.nextID] = handler
            return s.nextID
        }
        return BusSubscription { [weak self] in
            _ = self?.state.withLock { $0.handlers.removeValue(forKey: id) }
        }
    }
}
