import ChainfeedCore
import NIOCore
import Synchronization

/// One client connection as the hub sees it: frames are handed over without waiting.
///
/// `send` never blocks and never awaits: a sink that cannot take a frame (its unwritten bytes are
/// over its bound, the transport's own buffers included) closes itself as a slow consumer
/// (invariant 6). Replays use `sendReplay`, which waits for the frames to be written instead.
protocol EventSink: AnyObject, Sendable {
    var sinkID: Int { get }
    /// The wire form this sink speaks.
    var format: SinkFormat { get }
    /// Hands one encoded frame to the connection; never blocks.
    func send(_ frame: ByteBuffer)
    /// The event loop a sink writes on, if it has one: the hub then hops to each loop once per event and
    /// calls ``sendOnLoop(_:)`` for every sink of that loop, instead of one hop per sink.
    var eventLoop: (any EventLoop)? { get }
    /// ``send(_:)`` when already on ``eventLoop``; the frame may wait for ``flushOnLoop()``.
    func sendOnLoop(_ frame: ByteBuffer)
    /// Flushes what ``sendOnLoop(_:)`` wrote; on ``eventLoop``, cheap when there is nothing to flush.
    func flushOnLoop()
    /// Writes frames and waits until they are written (replay flow control); `false` once closed.
    func sendReplay(_ frames: [ByteBuffer]) async -> Bool
    /// Closes the connection with a reason (e.g. 4008 slow consumer).
    func close(_ code: CloseCode, reason: String)
}

enum SinkFormat: Sendable {
    /// WebSocket `event` frames carrying the subscription id.
    case webSocket
    /// The node's SSE framing.
    case sse
}

/// Close codes Chainfeed sends, one place for their numbers.
enum CloseCode: UInt16, Sendable {
    case normal = 1000
    case goingAway = 1001
    case protocolError = 1002
    case policyViolation = 1008
    case tooBig = 1009
    case tryAgainLater = 1013
    /// The client fell behind its bounded queue; it resumes with `fromSeq` and loses nothing.
    case slowConsumer = 4008
}

/// A process-wide id for each connection.
enum SinkIDs {
    private static let next = Synchronization.Atomic<Int>(0)
    static func make() -> Int { next.wrappingAdd(1, ordering: .relaxed).newValue }
}

extension EventSink {
    var eventLoop: (any EventLoop)? { nil }
    func sendOnLoop(_ frame: ByteBuffer) { send(frame) }
    func flushOnLoop() {}
}
