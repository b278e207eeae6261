import ChainfeedCore
import NIOCore

/// One event as the stream keeps it: its id, its endpoint (`nil`: every endpoint) and its SSE frame.
struct StreamEvent: Sendable {
    var id: UInt32
    var channel: LegacyChannel?
    /// `data:<json>\nid:<id>\n\n`, built once and shared by every client.
    var frame: ByteBuffer

    init(id: UInt32, channel: LegacyChannel?, json: String) {
        self.id = id
        self.channel = channel
        var frame = ByteBuffer()
        frame.reserveCapacity(json.utf8.count + 20)
        frame.writeString("data:")
        frame.writeString(json)
        frame.writeString("\nid:")
        frame.writeString(String(id))
        frame.writeString("\n\n")
        self.frame = frame
    }

    /// Whether a client of `endpoint` (`nil`: the single 2.x endpoint) receives this event.
    func isDelivered(to endpoint: LegacyChannel?) -> Bool {
        endpoint == nil || channel == nil || channel == endpoint
    }
}

/// The replay buffer: the last `capacity` events, whose ids are consecutive (mod 2^32) from the oldest.
struct EventRing {
    let capacity: Int
    private var storage: [StreamEvent] = []
    private var head = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
    }

    var count: Int { storage.count }

    mutating func append(_ event: StreamEvent) {
        if storage.count < capacity {
            storage.append(event)
        } else {
            storage[head] = event
            head = (head + 1) % capacity
        }
    }

    mutating func removeAll() {
        storage.removeAll(keepingCapacity: true)
        head = 0
    }

    private func event(at offset: Int) -> StreamEvent {
        storage[(head + offset) % storage.count]
    }

    var oldestId: UInt32? { storage.isEmpty ? nil : event(at: 0).id }
    var newestId: UInt32? { storage.isEmpty ? nil : event(at: storage.count - 1).id }

    /// The frames of the events with id ≥ `startFrom` (inclusive) for `endpoint`, as the node replays them.
    ///
    /// An id older than the oldest buffered event replays the whole buffer; one newer than the newest replays
    /// nothing. Ids are compared relative to the oldest one, so a counter that wrapped past `UInt32.max` still
    /// orders correctly.
    func replay(from startFrom: UInt32, for endpoint: LegacyChannel?) -> [ByteBuffer] {
        guard let oldest = oldestId else { return [] }
        let offset = startFrom &- oldest
        let first: Int
        if offset < UInt32(storage.count) {
            first = Int(offset)
        } else if oldest &- startFrom <= UInt32.max / 2 {
            first = 0
        } else {
            return []
        }
        var out: [ByteBuffer] = []
        out.reserveCapacity(storage.count - first)
        for i in first..<storage.count {
            let e = event(at: i)
            if e.isDelivered(to: endpoint) { out.append(e.frame) }
        }
        return out
    }

    /// The ids currently buffered, oldest first.
    var ids: [UInt32] { (0..<storage.count).map { event(at: $0).id } }
}
