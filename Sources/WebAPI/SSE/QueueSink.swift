import DequeModule
import NIOCore
import Synchronization

/// A bounded outbound queue drained by one response-writing task (the SSE paths).
///
/// The hub only appends; a queue over its byte bound closes the stream (the client resumes with
/// `Last-Event-ID`). The writer task takes everything queued at once and writes it as one chunk.
final class QueueSink: EventSink {
    let sinkID = SinkIDs.make()
    let format = SinkFormat.sse
    private let maxQueuedBytes: Int
    private let metrics: SinkMetrics
    private let state = Mutex(State())

    private struct State {
        var queue: Deque<ByteBuffer> = []
        var queuedBytes = 0
        var closed = false
        /// Closed for falling behind: event frames still coming from the hub are counted as dropped.
        var slow = false
        var waiter: CheckedContinuation<Void, Never>?
        /// Resumed when the writer has written everything queued (replay flow control).
        var drained: [CheckedContinuation<Void, Never>] = []
    }

    init(maxQueuedBytes: Int, metrics: SinkMetrics) {
        self.maxQueuedBytes = maxQueuedBytes
        self.metrics = metrics
    }

    func send(_ frame: ByteBuffer) {
        enqueue([frame], bounded: true)
    }

    func sendReplay(_ frames: [ByteBuffer]) async -> Bool {
        enqueue(frames, bounded: false)
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.closed || s.queue.isEmpty { return true }
                s.drained.append(c)
                return false
            }
            if now { c.resume() }
        }
        return state.withLock { !$0.closed }
    }

    func close(_ code: CloseCode, reason: String) {
        let (waiter, drained) = state.withLock { s in
            s.closed = true
            defer {
                s.waiter = nil
                s.drained = []
            }
            return (s.waiter, s.drained)
        }
        waiter?.resume()
        drained.forEach { $0.resume() }
    }

    private func enqueue(_ frames: [ByteBuffer], bounded: Bool) {
        var slow = false
        var dropped = false
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard !s.closed else {
                dropped = bounded && s.slow
                return nil
            }
            let size = frames.reduce(0) { $0 + $1.readableBytes }
            if bounded && s.queuedBytes + size > maxQueuedBytes {
                slow = true
                s.slow = true
                return nil
            }
            s.queue.append(contentsOf: frames)
            s.queuedBytes += size
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
        if dropped { metrics.droppedMessages.increment() }
        if slow {
            metrics.slowConsumerClosed()
            close(.slowConsumer, reason: "slow consumer")
        }
    }

    /// Everything queued, waiting up to `timeout` for something; `nil` once closed; empty on timeout.
    func next(timeout: Duration) async -> ByteBuffer? {
        let take = { () -> ByteBuffer?? in
            self.state.withLock { s -> ByteBuffer?? in
                if s.queue.isEmpty { return s.closed ? .some(nil) : .none }
                var out = ByteBuffer()
                while let b = s.queue.popFirst() {
                    var b = b
                    out.writeBuffer(&b)
                }
                s.queuedBytes = 0
                return .some(out)
            }
        }
        if let ready = take() { return ready }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.wake()
            }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if !s.queue.isEmpty || s.closed { return true }
                    s.waiter = c
                    return false
                }
                if now { c.resume() }
            }
            group.cancelAll()
        }
        return take() ?? ByteBuffer()
    }

    /// Called by the writer after a chunk went out: releases replays waiting for the queue to drain.
    func wroteChunk() {
        let drained = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            guard s.queue.isEmpty else { return [] }
            defer { s.drained = [] }
            return s.drained
        }
        drained.forEach { $0.resume() }
    }

    private func wake() {
        let w = state.withLock { s -> CheckedContinuation<Void, Never>? in
            defer { s.waiter = nil }
            return s.waiter
        }
        w?.resume()
    }
}
