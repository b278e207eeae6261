import ChainfeedTestSupport
import Ingest
import NIOCore
import Testing

/// The SSE parser against the WHATWG event-stream rules and the Casper node's real framing.
@Suite struct SSEParserTests {
    /// The node's literal output: two connections' worth (ApiVersion, BlockAdded, Shutdown, ApiVersion, BlockAdded).
    static let casperSample = Array((try? Fixtures.text("sse-stream-sample-v2.txt"))?.utf8 ?? "".utf8)

    /// Feeds `chunks` in order to one parser and collects every message.
    static func parse(_ chunks: [[UInt8]], maxEventBytes: Int = 16 << 20) -> (messages: [SSEMessage], parser: SSEParser) {
        var parser = SSEParser(maxEventBytes: maxEventBytes)
        var messages: [SSEMessage] = []
        for chunk in chunks {
            messages += parser.feed(chunk)
        }
        return (messages, parser)
    }

    static func parse(_ text: String, maxEventBytes: Int = 16 << 20) -> (messages: [SSEMessage], parser: SSEParser) {
        parse([Array(text.utf8)], maxEventBytes: maxEventBytes)
    }

    static func checkCasperSample(_ messages: [SSEMessage]) {
        #expect(messages.map(\.id) == [nil, "1", "2", nil, "3"])
        #expect(messages.map(\.event) == [nil, nil, nil, nil, nil])
        #expect(messages.count == 5)
        guard messages.count == 5 else { return }
        #expect(messages[0].data == #"{"ApiVersion":"2.0.0"}"#)
        #expect(messages[1].data.hasPrefix(#"{"BlockAdded":{"block_hash":"bb5332a4"#))
        #expect(messages[2].data == #""Shutdown""#)
        #expect(messages[3].data == #"{"ApiVersion":"2.0.1"}"#)
        #expect(messages[4].data.hasPrefix(#"{"BlockAdded":{"block_hash":"8d7b3337"#))
        #expect(messages.allSatisfy { !$0.data.contains("\n") })
    }

    // MARK: Casper framing

    @Test("the node's sample stream gives its five messages, ids and keep-alives")
    func casperSampleWhole() throws {
        try #require(Self.casperSample.count > 1000)
        let (messages, parser) = Self.parse([Self.casperSample])
        Self.checkCasperSample(messages)
        #expect(parser.commentCount == 6)
        #expect(parser.lastEventID == "3")
        #expect(parser.skippedEventCount == 0)
    }

    @Test("the sample split in two at every byte boundary parses the same")
    func casperSampleEverySplit() {
        let bytes = Self.casperSample
        for split in 0...bytes.count {
            let (messages, parser) = Self.parse([Array(bytes[..<split]), Array(bytes[split...])])
            Self.checkCasperSample(messages)
            #expect(parser.commentCount == 6)
        }
    }

    @Test("the sample fed one byte at a time parses the same")
    func casperSampleByteByByte() {
        let (messages, _) = Self.parse(Self.casperSample.map { [$0] })
        Self.checkCasperSample(messages)
    }

    @Test("the sample parses the same with CRLF and with lone CR line endings")
    func casperSampleOtherLineEndings() throws {
        let text = try Fixtures.text("sse-stream-sample-v2.txt")
        for ending in ["\r\n", "\r"] {
            let bytes = Array(text.replacingOccurrences(of: "\n", with: ending).utf8)
            Self.checkCasperSample(Self.parse([bytes]).messages)
            for split in stride(from: 0, through: bytes.count, by: 7) {
                Self.checkCasperSample(Self.parse([Array(bytes[..<split]), Array(bytes[split...])]).messages)
            }
        }
    }

    @Test("a ByteBuffer is parsed from its readable bytes, like the same bytes in an array")
    func byteBuffer() {
        var parser = SSEParser()
        var buffer = ByteBuffer(string: "data:already read\n\n")
        buffer.moveReaderIndex(to: buffer.writerIndex)
        buffer.writeBytes(Self.casperSample)
        Self.checkCasperSample(parser.feed(buffer))
    }

    // MARK: Line endings

    @Test("LF, CRLF and lone CR all end lines, mixed in one stream")
    func mixedLineEndings() {
        let (messages, _) = Self.parse("data:a\nid:1\n\ndata:b\r\nid:2\r\n\r\ndata:c\rid:3\r\rdata:d\r\ndata:e\n\r")
        #expect(messages == [
            SSEMessage(id: "1", data: "a"), SSEMessage(id: "2", data: "b"), SSEMessage(id: "3", data: "c"),
            SSEMessage(data: "d\ne"),
        ])
    }

    @Test("a CRLF split across two chunks is one line ending, not two")
    func crlfSplitAcrossChunks() {
        let (messages, _) = Self.parse([Array("data:a\r".utf8), Array("\ndata:b\r".utf8), Array("\n\r".utf8), Array("\n".utf8)])
        #expect(messages == [SSEMessage(data: "a\nb")])
    }

    @Test("a lone CR at the end of a chunk still ends the line when the next chunk starts with data")
    func crAtChunkEnd() {
        let (messages, _) = Self.parse([Array("data:a\r".utf8), Array("\r".utf8), Array("data:b\r\r".utf8)])
        #expect(messages == [SSEMessage(data: "a"), SSEMessage(data: "b")])
    }

    // MARK: Fields

    @Test("one space after the colon is stripped, a second one is kept")
    func leadingSpace() {
        let (messages, _) = Self.parse("data: a\n\ndata:  b\n\ndata:c \n\n")
        #expect(messages.map(\.data) == ["a", " b", "c "])
    }

    @Test("several data lines are joined with LF")
    func multiLineData() {
        let (messages, _) = Self.parse("data:first\ndata\ndata: third\n\n")
        #expect(messages == [SSEMessage(data: "first\n\nthird")])
    }

    @Test("the event field sets the type; an empty one means the default")
    func eventField() {
        let (messages, _) = Self.parse("event:BlockAdded\ndata:x\n\nevent:\ndata:y\n\n")
        #expect(messages == [SSEMessage(event: "BlockAdded", data: "x"), SSEMessage(data: "y")])
    }

    @Test("an event without a data field is not dispatched, but an empty data field is")
    func emptyData() {
        let (messages, _) = Self.parse("event:ping\n\nid:1\nretry:10\n\ndata:\n\ndata\n\n")
        #expect(messages == [SSEMessage(id: nil, data: ""), SSEMessage(data: "")])
    }

    @Test("an id without data updates the last event id but dispatches nothing; later events keep their own id")
    func idWithoutData() {
        let (messages, parser) = Self.parse("id:5\n\ndata:x\n\ndata:y\nid:6\n\n")
        #expect(messages == [SSEMessage(id: nil, data: "x"), SSEMessage(id: "6", data: "y")])
        #expect(parser.lastEventID == "6")
        let (_, afterFirst) = Self.parse("id:5\n\ndata:x\n\n")
        #expect(afterFirst.lastEventID == "5")
    }

    @Test("an id containing NUL is ignored")
    func idWithNul() {
        let (messages, parser) = Self.parse("id:7\n\ndata:x\nid:8\u{0}9\n\n")
        #expect(messages == [SSEMessage(data: "x")])
        #expect(parser.lastEventID == "7")
    }

    @Test("retry takes ASCII digits only")
    func retryField() {
        let (messages, parser) = Self.parse("retry:1500\ndata:a\n\nretry:15a0\ndata:b\n\nretry: 20\ndata:c\n\nretry:\ndata:d\n\nretry:-1\n\n")
        #expect(messages.map(\.retry) == [1500, nil, 20, nil])
        #expect(parser.reconnectionTime == 20)
    }

    @Test("unknown fields and a field name without a colon are ignored")
    func unknownFields() {
        let (messages, _) = Self.parse("foo:bar\nid\nDATA:x\ndata:y\nfoo\n\n")
        #expect(messages == [SSEMessage(id: "", data: "y")])
    }

    @Test("comment lines are counted as keep-alives and do not break an event")
    func comments() {
        let (messages, parser) = Self.parse(":\n\n: keep-alive\ndata:a\n:inside\ndata:b\n\n:")
        #expect(messages == [SSEMessage(data: "a\nb")])
        #expect(parser.commentCount == 3)  // the last one has no line ending yet
        var resumed = parser
        _ = resumed.feed(Array("\n".utf8))
        #expect(resumed.commentCount == 4)
    }

    @Test("an event cut off by the end of the input is not dispatched")
    func unterminatedEvent() {
        let (messages, parser) = Self.parse("data:a\n\ndata:b\nid:2\n")
        #expect(messages == [SSEMessage(data: "a")])
        #expect(parser.bufferedByteCount == 2)  // "b\n", held until the blank line
    }

    // MARK: Encoding

    @Test("a multi-byte character split at every byte gives the same text")
    func multiByteSplit() {
        let bytes = Array("data:héllo € 🚀\n\n".utf8)
        for split in 0...bytes.count {
            let (messages, _) = Self.parse([Array(bytes[..<split]), Array(bytes[split...])])
            #expect(messages == [SSEMessage(data: "héllo € 🚀")])
        }
    }

    @Test("invalid UTF-8 becomes U+FFFD")
    func invalidUTF8() {
        let (messages, _) = Self.parse([Array("data:a".utf8) + [0xFF, 0xC3] + Array("b\n\n".utf8)])
        #expect(messages == [SSEMessage(data: "a\u{FFFD}\u{FFFD}b")])
    }

    @Test("a byte order mark at the start of the stream is dropped, even split across chunks")
    func byteOrderMark() {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let event = Array("data:x\n\n".utf8)
        #expect(Self.parse([bom + event]).messages == [SSEMessage(data: "x")])
        #expect(Self.parse([[0xEF], [0xBB], [0xBF] + event]).messages == [SSEMessage(data: "x")])
        #expect(Self.parse([[0xEF, 0xBB], [0xBF], event]).messages == [SSEMessage(data: "x")])
    }

    @Test("only the first byte order mark is dropped; a second one is part of the field name")
    func secondByteOrderMark() {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let (messages, _) = Self.parse([bom + bom + Array("data:x\n\ndata:y\n\n".utf8)])
        #expect(messages == [SSEMessage(data: "y")])
    }

    @Test("bytes that only start like a byte order mark are kept")
    func partialByteOrderMark() {
        let (messages, _) = Self.parse([[0xEF, 0xBB], Array(":x\ndata:\u{FEFF}\n\n".utf8)])
        #expect(messages == [SSEMessage(data: "\u{FEFF}")])  // "\u{EF}\u{BB}:x" was a line of an unknown field
    }

    // MARK: Size bound

    @Test("an event over the limit is skipped and counted, with its id, and the stream goes on")
    func oversizedEventSkipped() {
        let big = String(repeating: "x", count: 100)
        let (messages, parser) = Self.parse("data:\(big)\nid:1\n\ndata:small\nid:2\n\n", maxEventBytes: 64)
        #expect(messages == [SSEMessage(id: "2", data: "small")])
        #expect(parser.skippedEventCount == 1)
        #expect(parser.lastSkippedEventID == "1")
        #expect(parser.lastEventID == "2")
    }

    @Test("an event that grows past the limit over many lines is skipped")
    func oversizedByManyLines() {
        let lines = String(repeating: "data:0123456789\n", count: 10)
        let (messages, parser) = Self.parse("\(lines)id:1\n\ndata:ok\n\n", maxEventBytes: 64)
        #expect(messages == [SSEMessage(data: "ok")])
        #expect(parser.skippedEventCount == 1)
    }

    @Test("memory stays within the limit while an oversized line streams in small chunks")
    func oversizedLineBounded() {
        var parser = SSEParser(maxEventBytes: 1024)
        #expect(parser.feed(Array("data:".utf8)).isEmpty)
        let chunk = [UInt8](repeating: UInt8(ascii: "y"), count: 100)
        for _ in 0..<1000 {
            #expect(parser.feed(chunk).isEmpty)
            #expect(parser.bufferedByteCount <= 1024)
        }
        let rest = parser.feed(Array("\nid:9\n\ndata:after\n\n".utf8))
        #expect(rest == [SSEMessage(data: "after")])
        #expect(parser.skippedEventCount == 1)
        #expect(parser.lastSkippedEventID == "9")
    }

    @Test("an event exactly at the limit is kept")
    func eventAtLimit() {
        // "data:" + 59 bytes = 64 bytes of line; the data buffer then holds 59 + 1 bytes.
        let value = String(repeating: "z", count: 59)
        let (messages, parser) = Self.parse("data:\(value)\n\n", maxEventBytes: 64)
        #expect(messages == [SSEMessage(data: value)])
        #expect(parser.skippedEventCount == 0)
    }

    @Test("a long comment line is discarded without being buffered")
    func longComment() {
        var parser = SSEParser(maxEventBytes: 16)
        _ = parser.feed(Array(":".utf8))
        _ = parser.feed([UInt8](repeating: UInt8(ascii: "c"), count: 10_000))
        #expect(parser.bufferedByteCount == 0)
        #expect(parser.feed(Array("\ndata:x\n\n".utf8)) == [SSEMessage(data: "x")])
        #expect(parser.commentCount == 1)
        #expect(parser.skippedEventCount == 0)
    }
}
