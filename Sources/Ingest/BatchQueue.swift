import DequeModule

/// A bounded hand-off from the node streams to the writer that batches by itself.
///
/// `put` suspends while the queue is full (back-pressure reaches the node's TCP stream); `take`
/// returns everything waiting, up to `max`, so while one batch commits the next one gathers.
actor BatchQueue<Element: Sendable> {
    private var items: Deque<Element> = []
    private var producers: Deque<CheckedContinuation<Void, Never>> = []
    private var consumer: CheckedContinuation<Void, Never>?
    private var finished = false
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Adds an element, waiting for room; returns `false` once the queue is finished.
    @discardableResult
    func put(_ element: Element) async -> Bool {
        await put(contentsOf: [element])
    }

    /// Adds elements in order, waiting for room first (the queue may then exceed its capacity by this call's
    /// elements, so that they stay together); returns `false` once the queue is finished.
    @discardableResult
    func put(contentsOf elements: [Element]) async -> Bool {
        guard !elements.isEmpty else { return !finished }
        while items.count >= capacity && !finished {
            await withCheckedContinuation { producers.append($0) }
        }
        guard !finished else { return false }
        items.append(contentsOf: elements)
        consumer?.resume()
        consumer = nil
        return true
    }

    /// Up to `max` elements in arrival order, waiting for at least one; `nil` once finished and drained.
    func take(max: Int) async -> [Element]? {
        while items.isEmpty {
            if finished { return nil }
            await withCheckedContinuation { consumer = $0 }
        }
        let n = Swift.min(max, items.count)
        let batch = Array(items.prefix(n))
        items.removeFirst(n)
        while let producer = producers.popFirst() { producer.resume() }
        return batch
    }

    /// No more elements are accepted; `take` drains what is left, then returns `nil`.
    func finish() {
        finished = true
        consumer?.resume()
        consumer = nil
        while let producer = producers.popFirst() { producer.resume() }
    }

    var count: Int { items.count }
}
