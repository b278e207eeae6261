import ChainfeedCore
import NIOCore
import RedisBus
import Testing

@Suite struct BusWireFormatTests {
    private func roundTrip(_ events: [StoredEvent], maxFrameBytes: Int = BusWireFormat.defaultMaxFrameBytes) throws -> [StoredEvent] {
        try BusWireFormat.encode(events, maxFrameBytes: maxFrameBytes).flatMap(BusWireFormat.decode)
    }

    @Test("every kind of event survives a round trip unchanged")
    func samplesRoundTrip() throws {
        let events = SampleEvents.batch(from: 1, count: 25)
        #expect(try roundTrip(events) == events)
    }

    @Test("era ids near UInt64.max and seqs above 2^63 round-trip exactly")
    func hugeIntegers() throws {
        let eras: [UInt64] = [0, 1, UInt64(Int64.max), UInt64(Int64.max) + 1, UInt64.max - 1, UInt64.max]
        let events = eras.enumerated().map { i, era in
            StoredEvent(
                seq: UInt64.max - UInt64(eras.count) + UInt64(i), kind: "Step", topic: .steps, keys: EventKeys(eraId: era),
                raw: "{\"Step\":{\"era_id\":\(era)}}", data: "{\"eraId\":\(era)}")
        }
        let decoded = try roundTrip(events)
        #expect(decoded == events)
        #expect(decoded.map(\.keys.eraId) == eras)
    }

    @Test("unicode, quotes, newlines and NUL bytes in strings round-trip byte for byte")
    func awkwardText() throws {
        let raw = "{\"Fault\":{\"note\":\"line1\\nline2\",\"q\":\"\\\"\"}}\n\r\n\"quoted\" \u{0} tab\t é ✓ 🚀 𝄞"
        let event = StoredEvent(
            seq: 7, kind: "Fäült \"kind\"", topic: .faults,
            keys: EventKeys(account: "01ab\n", proposer: "", blockHash: "ünï", deployHash: "🚀", eraId: 3),
            raw: raw, data: "")
        let decoded = try roundTrip([event])
        #expect(decoded == [event])
        #expect(Array(decoded[0].raw.utf8) == Array(raw.utf8))
    }

    @Test("absent keys and topic stay absent, present empty strings stay present")
    func optionals() throws {
        let bare = StoredEvent(seq: 1, kind: "X", topic: nil, keys: EventKeys(), raw: "{}", data: "{}")
        let empty = StoredEvent(
            seq: 2, kind: "", topic: .deploys, keys: EventKeys(account: "", proposer: "", blockHash: "", deployHash: "", eraId: 0),
            raw: "", data: "")
        #expect(try roundTrip([bare, empty]) == [bare, empty])
    }

    @Test("a batch over the frame limit splits into several frames that decode in order")
    func splitsFrames() throws {
        let events = SampleEvents.batch(from: 100, count: 300)
        let frames = BusWireFormat.encode(events, maxFrameBytes: 4096)
        #expect(frames.count > 1)
        #expect(frames.allSatisfy { $0.readableBytes <= 4096 })
        #expect(try frames.flatMap(BusWireFormat.decode) == events)
    }

    @Test("an event larger than the frame limit gets a frame of its own")
    func oversizedEvent() throws {
        let big = StoredEvent(
            seq: 2, kind: "BlockAdded", topic: .blocks, keys: EventKeys(), raw: String(repeating: "x", count: 10_000), data: "{}")
        let small = SampleEvents.batch(from: 1, count: 1) + [big] + SampleEvents.batch(from: 3, count: 1)
        let frames = BusWireFormat.encode(small, maxFrameBytes: 2048)
        #expect(frames.count == 3)
        #expect(try frames.flatMap(BusWireFormat.decode) == small)
    }

    @Test("no events encode to no frames")
    func empty() {
        #expect(BusWireFormat.encode([]).isEmpty)
    }

    @Test("damaged frames are rejected with a typed error, never a crash")
    func damagedFrames() throws {
        let frame = try #require(BusWireFormat.encode(SampleEvents.batch(from: 1, count: 3)).first)
        let bytes = Array(frame.readableBytesView)
        var cases: [[UInt8]] = [
            [],
            Array("hello".utf8),
            Array(bytes.prefix(bytes.count - 1)),  // truncated
            bytes + [0],  // trailing byte
            [0x43, 0x46, 99] + bytes.dropFirst(3),  // unknown version
            [0x43, 0x46, 1, 0xFF, 0xFF, 0xFF, 0xFF],  // count far beyond the frame
        ]
        var badFields = bytes
        badFields[7 + 8] = 0xC0  // unknown field bits in the first event
        cases.append(badFields)
        // Every truncation point, too.
        for cut in stride(from: 0, to: bytes.count, by: 7) { cases.append(Array(bytes.prefix(cut))) }
        for damaged in cases {
            #expect(throws: RedisBusError.self) { try BusWireFormat.decode(ByteBuffer(bytes: damaged)) }
        }
    }

    @Test("a topic this build does not know decodes as no topic")
    func unknownTopic() throws {
        var frame = ByteBuffer()
        frame.writeInteger(UInt16(0x4346))
        frame.writeInteger(UInt8(1))
        frame.writeInteger(UInt32(1))
        frame.writeInteger(UInt64(5))
        frame.writeInteger(UInt8(1))  // topic only
        for text in ["Rollup", "rollups", "{}", "{}"] {
            frame.writeInteger(UInt32(text.utf8.count))
            frame.writeString(text)
        }
        let events = try BusWireFormat.decode(frame)
        #expect(events == [StoredEvent(seq: 5, kind: "Rollup", topic: nil, keys: EventKeys(), raw: "{}", data: "{}")])
    }

    @Test("heartbeats carry the head seq in decimal and reject anything else")
    func heartbeats() throws {
        for head: Seq in [0, 1, 4711, UInt64.max] {
            let payload = BusWireFormat.encodeHeartbeat(headSeq: head)
            #expect(String(buffer: payload) == String(head))
            #expect(try BusWireFormat.decodeHeartbeat(payload) == head)
        }
        for bad in ["", "-1", "12a", "18446744073709551616", " 1", "1.0"] {
            #expect(throws: RedisBusError.self) { try BusWireFormat.decodeHeartbeat(ByteBuffer(string: bad)) }
        }
    }
}
