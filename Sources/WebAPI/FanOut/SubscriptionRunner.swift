import ChainfeedCore
import NIOCore

/// Why a subscription could not start; shown to the client.
enum SubscriptionError: Error, Equatable {
    case duplicateID(String)
    case beyondHead(fromSeq: Seq, head: Seq)
    case storeUnavailable(String)
    /// No read database has applied the head yet; the client retries shortly.
    case storeBehind(String)

    var code: String {
        switch self {
        case .duplicateID: "bad_request"
        case .beyondHead: "beyond_head"
        case .storeUnavailable, .storeBehind: "unavailable"
        }
    }

    var message: String {
        switch self {
        case .duplicateID(let id): "subscription id '\(id)' is already in use on this connection"
        case .beyondHead(let from, let head): "fromSeq \(from) is beyond the head (\(head)); resume from a seq you have seen"
        case .storeUnavailable(let why): "the store did not answer: \(why)"
        case .storeBehind(let why): why
        }
    }
}

/// Starts a subscription with optional replay, joining the live stream with no gap and no duplicate.
///
/// The subscription is registered first, so live events after the head at that moment are held;
/// the store is replayed up to that head (waiting, bounded, for a lagging read replica); then the
/// held events after it are sent and the subscription goes live (invariant 5).
struct SubscriptionRunner {
    let hub: FanOut
    /// How long a `fromSeq` beyond the head, or a lagging read replica, may be waited for.
    var waitBound: Duration = .seconds(5)
    var pageSize = 100

    /// Registers the subscription at once (so limits and duplicate ids are checked in frame order)
    /// and returns the head at registration; live events are held until ``complete`` runs.
    func register(_ sink: any EventSink, id: String, filter: EventFilter) throws(SubscriptionError) -> Seq {
        do {
            // Held until `goLive` even without a replay, so `subscribed` is the first frame.
            return try hub.subscribe(sink, id: id, filter: filter, replaying: true)
        } catch {
            throw .duplicateID(id)
        }
    }

    /// Replays the store after `fromSeq` up to `head` (none when `fromSeq` is nil), then goes live.
    func complete(_ sink: any EventSink, id: String, filter: EventFilter, fromSeq: Seq?, head: Seq) async throws(SubscriptionError) {
        guard let fromSeq else {
            hub.goLive(sink, id: id, replayedThrough: head)
            return
        }
        hub.countReplayStarted()
        do {
            let replayed = try await replay(sink, id: id, filter: filter, after: fromSeq, through: head)
            hub.goLive(sink, id: id, replayedThrough: replayed)
        } catch {
            _ = hub.unsubscribe(sink, id: id)
            throw error
        }
    }

    /// Both steps: calls `subscribed` before any event frame is sent.
    func start(
        _ sink: any EventSink, id: String, filter: EventFilter, fromSeq: Seq?,
        subscribed: (Seq) -> Void
    ) async throws(SubscriptionError) {
        let head = try register(sink, id: id, filter: filter)
        subscribed(head)
        try await complete(sink, id: id, filter: filter, fromSeq: fromSeq, head: head)
    }

    /// Sends the stored matching events in `(after, through]`; returns the seq the replay covers.
    private func replay(_ sink: any EventSink, id: String, filter: EventFilter, after: Seq, through head: Seq) async throws(SubscriptionError) -> Seq {
        if after > head {
            // A client may have seen an event this replica has not delivered yet: wait a little.
            guard await hub.waitForHead(after, timeout: waitBound) else {
                throw .beyondHead(fromSeq: after, head: hub.headSeq)
            }
            return after
        }
        // Pin the replay to read databases that have applied `head` *before* reading a page: a short page is
        // then the end of the replay. (Reading a page first and the applied head after let a replica that
        // applied more in between end the replay early, and the events between were never sent.)
        let reader: any EventReader
        do {
            reader = try await hub.reads.reader(applied: head, within: waitBound)
        } catch let error as ReadConsistencyError {
            throw .storeBehind(error.description)
        } catch {
            throw .storeUnavailable("\(error)")
        }
        var cursor = after
        while cursor < head {
            let page: [StoredEvent]
            do {
                page = try await reader.events(after: cursor, limit: pageSize, filter: filter)
            } catch {
                throw .storeUnavailable("\(error)")
            }
            let wanted = page.filter { $0.seq <= head && filter.matches($0) }
            if !wanted.isEmpty {
                let frames = wanted.map { EncodedEvent($0).frame(sink.format, subscription: id) }
                guard await sink.sendReplay(frames) else { return head }
                hub.countReplayed(events: frames.count)
            }
            guard page.count == pageSize, let last = page.last, last.seq < head else { break }
            cursor = last.seq
        }
        return head
    }
}

extension EncodedEvent {
    func frame(_ format: SinkFormat, subscription: String) -> ByteBuffer {
        switch format {
        case .webSocket: webSocketFrame(subscription: subscription)
        case .sse: sse
        }
    }
}
