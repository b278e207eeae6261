import ChainfeedCore
import NIOCore

/// How events and heartbeats travel on Redis between the writer and the web replicas.
///
/// **Events channel** (`<prefix>:events`): each PUBLISH carries one *frame*, a run of consecutive events of a
/// batch in `seq` order. A batch larger than `maxFrameBytes` is split over several frames (all published in
/// one pipelined round trip), so no single message can push a subscriber towards Redis's 32 MB output-buffer
/// limit. All integers are big-endian; every string is a `u32` byte length and that many UTF-8 bytes.
///
/// ```
/// frame   := "CF" (0x43 0x46)  version:u8 (= 1)  count:u32  event × count      (nothing after)
/// event   := seq:u64  fields:u8  kind:str
///            [topic:str] [account:str] [proposer:str] [blockHash:str] [deployHash:str] [eraId:u64]
///            raw:str  data:str
/// fields  := bit 0 topic, 1 account, 2 proposer, 3 blockHash, 4 deployHash, 5 eraId (others must be 0);
///            a bracketed item is present only when its bit is set
/// str     := length:u32  UTF-8 bytes
/// ```
///
/// A topic the reader does not know decodes as `nil` (the event still reaches `all` subscribers). A frame with
/// another magic or version, a truncated frame or trailing bytes is rejected as a whole with
/// ``RedisBusError/malformedMessage(reason:)``; subscribers count and skip it.
///
/// **Heartbeat channel** (`<prefix>:heartbeat`): the head `seq` in ASCII decimal (`4711`), readable with
/// `redis-cli subscribe`.
public enum BusWireFormat {
    /// The version byte this build writes and the only one it reads.
    public static let version: UInt8 = 1
    /// The default largest frame: big batches split into frames of about this many bytes.
    public static let defaultMaxFrameBytes = 1 << 20

    private static let magic: UInt16 = 0x4346  // "CF"
    private static let headerBytes = 2 + 1 + 4
    /// The smallest encoded event: seq, fields, and three empty strings.
    private static let minimumEventBytes = 8 + 1 + 3 * 4

    private enum Field {
        static let topic: UInt8 = 1 << 0
        static let account: UInt8 = 1 << 1
        static let proposer: UInt8 = 1 << 2
        static let blockHash: UInt8 = 1 << 3
        static let deployHash: UInt8 = 1 << 4
        static let eraId: UInt8 = 1 << 5
        static let all: UInt8 = (1 << 6) - 1
    }

    // MARK: Events

    /// Encodes `events` into frames of at most `maxFrameBytes` each (an event larger than that gets a frame of its
    /// own), keeping their order; no frames for no events.
    public static func encode(_ events: [StoredEvent], maxFrameBytes: Int = defaultMaxFrameBytes) -> [ByteBuffer] {
        guard !events.isEmpty else { return [] }
        let sizes = events.map(encodedSize)
        var remaining = sizes.reduce(0, +)
        var frames: [ByteBuffer] = []
        var frame = ByteBuffer()
        var count: UInt32 = 0
        for (event, size) in zip(events, sizes) {
            if count > 0, frame.readableBytes + size > maxFrameBytes {
                frame.setInteger(count, at: 3)
                frames.append(frame)
                count = 0
            }
            if count == 0 {
                frame = ByteBuffer()
                frame.reserveCapacity(headerBytes + min(remaining, max(maxFrameBytes, size)))
                frame.writeInteger(magic)
                frame.writeInteger(version)
                frame.writeInteger(UInt32(0))  // the count, set when the frame is complete
            }
            write(event, into: &frame)
            count += 1
            remaining -= size
        }
        frame.setInteger(count, at: 3)
        frames.append(frame)
        return frames
    }

    /// Decodes one frame; throws ``RedisBusError/malformedMessage(reason:)`` for anything but a whole, valid frame.
    public static func decode(_ frame: ByteBuffer) throws -> [StoredEvent] {
        var buffer = frame
        guard let magic = buffer.readInteger(as: UInt16.self), magic == Self.magic else { throw malformed("not a chainfeed frame") }
        guard let version = buffer.readInteger(as: UInt8.self), version == Self.version else {
            throw malformed("unsupported frame version")
        }
        guard let count = buffer.readInteger(as: UInt32.self) else { throw malformed("truncated header") }
        guard Int(count) <= buffer.readableBytes / minimumEventBytes else { throw malformed("event count exceeds the frame") }
        var events: [StoredEvent] = []
        events.reserveCapacity(Int(count))
        for _ in 0..<count {
            events.append(try readEvent(&buffer))
        }
        guard buffer.readableBytes == 0 else { throw malformed("trailing bytes after the last event") }
        return events
    }

    // MARK: Heartbeats

    public static func encodeHeartbeat(headSeq: Seq) -> ByteBuffer {
        ByteBuffer(string: String(headSeq))
    }

    public static func decodeHeartbeat(_ payload: ByteBuffer) throws -> Seq {
        let bytes = payload.readableBytesView
        guard !bytes.isEmpty, bytes.count <= 20, bytes.allSatisfy({ (48...57).contains($0) }),
            let seq = Seq(String(decoding: bytes, as: UTF8.self))
        else { throw malformed("heartbeat is not a decimal seq") }
        return seq
    }

    // MARK: Event layout

    private static func encodedSize(_ event: StoredEvent) -> Int {
        func optional(_ string: String?) -> Int { string.map { 4 + $0.utf8.count } ?? 0 }
        let keys = event.keys
        return minimumEventBytes + event.kind.utf8.count + event.raw.utf8.count + event.data.utf8.count
            + optional(event.topic?.rawValue) + optional(keys.account) + optional(keys.proposer)
            + optional(keys.blockHash) + optional(keys.deployHash) + (keys.eraId == nil ? 0 : 8)
    }

    private static func write(_ event: StoredEvent, into buffer: inout ByteBuffer) {
        let keys = event.keys
        var fields: UInt8 = 0
        if event.topic != nil { fields |= Field.topic }
        if keys.account != nil { fields |= Field.account }
        if keys.proposer != nil { fields |= Field.proposer }
        if keys.blockHash != nil { fields |= Field.blockHash }
        if keys.deployHash != nil { fields |= Field.deployHash }
        if keys.eraId != nil { fields |= Field.eraId }
        buffer.writeInteger(event.seq)
        buffer.writeInteger(fields)
        writeString(event.kind, into: &buffer)
        if let topic = event.topic { writeString(topic.rawValue, into: &buffer) }
        if let account = keys.account { writeString(account, into: &buffer) }
        if let proposer = keys.proposer { writeString(proposer, into: &buffer) }
        if let blockHash = keys.blockHash { writeString(blockHash, into: &buffer) }
        if let deployHash = keys.deployHash { writeString(deployHash, into: &buffer) }
        if let eraId = keys.eraId { buffer.writeInteger(eraId) }
        writeString(event.raw, into: &buffer)
        writeString(event.data, into: &buffer)
    }

    private static func readEvent(_ buffer: inout ByteBuffer) throws -> StoredEvent {
        guard let seq = buffer.readInteger(as: UInt64.self), let fields = buffer.readInteger(as: UInt8.self) else {
            throw malformed("truncated event")
        }
        guard fields & ~Field.all == 0 else { throw malformed("unknown field bits") }
        let kind = try readString(&buffer)
        var topic: Topic?
        if fields & Field.topic != 0 { topic = Topic(rawValue: try readString(&buffer)) }
        var keys = EventKeys()
        if fields & Field.account != 0 { keys.account = try readString(&buffer) }
        if fields & Field.proposer != 0 { keys.proposer = try readString(&buffer) }
        if fields & Field.blockHash != 0 { keys.blockHash = try readString(&buffer) }
        if fields & Field.deployHash != 0 { keys.deployHash = try readString(&buffer) }
        if fields & Field.eraId != 0 {
            guard let eraId = buffer.readInteger(as: UInt64.self) else { throw malformed("truncated era id") }
            keys.eraId = eraId
        }
        let raw = try readString(&buffer)
        let data = try readString(&buffer)
        return StoredEvent(seq: seq, kind: kind, topic: topic, keys: keys, raw: raw, data: data)
    }

    private static func writeString(_ string: String, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(string.utf8.count))
        buffer.writeString(string)
    }

    private static func readString(_ buffer: inout ByteBuffer) throws -> String {
        guard let length = buffer.readInteger(as: UInt32.self), let string = buffer.readString(length: Int(length)) else {
            throw malformed("truncated string")
        }
        return string
    }

    private static func malformed(_ reason: String) -> RedisBusError {
        .malformedMessage(reason: reason)
    }
}
