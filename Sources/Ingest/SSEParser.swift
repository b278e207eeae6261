import NIOCore

/// One event dispatched by ``SSEParser``: the fields of one blank-line-terminated block that carried data.
public struct SSEMessage: Sendable, Equatable {
    /// The `id` field of this very event, or `nil` if it had none. Unlike the spec's sticky last event ID
    /// (``SSEParser/lastEventID``), an event without an `id:` line does not inherit the previous one: the Casper
    /// node sends its `ApiVersion` message without an id, and that must stay visible.
    public var id: String?
    /// The `event` field, or `nil` when absent or empty (the spec's default type, "message").
    public var event: String?
    /// The `data` lines joined by "\n".
    public var data: String
    /// The `retry` field of this event, in milliseconds, if it had a valid one.
    public var retry: Int?

    /// - Parameters:
    ///   - id: The event's own `id` field.
    ///   - event: The event type, `nil` for the default.
    ///   - data: The data lines joined by "\n".
    ///   - retry: The reconnection time in milliseconds.
    public init(id: String? = nil, event: String? = nil, data: String, retry: Int? = nil) {
        self.id = id
        self.event = event
        self.data = data
        self.retry = retry
    }
}

/// An incremental `text/event-stream` parser, following the WHATWG HTML "event stream interpretation".
///
/// It works on bytes, not characters: CR and LF never occur inside a multi-byte UTF-8 sequence, so a line can be
/// cut at any chunk boundary and is only decoded (invalid sequences become U+FFFD) once it is complete.
///
/// Memory is bounded by `maxEventBytes`. An event, or a single line, that would grow past it is **skipped**, not
/// thrown: its bytes are discarded as they arrive, its other fields (its `id` in particular) are still read, and
/// the skip is counted in ``skippedEventCount`` / ``lastSkippedEventID``. Throwing would be worse for Casper:
/// reconnecting with an inclusive `start_from` would replay the same oversized event and fail forever, whereas a
/// skipped id is a gap the caller can see and fill.
public struct SSEParser: Sendable {
    /// The largest event (data, event type and current line together) kept in memory.
    public let maxEventBytes: Int
    /// The spec's sticky last event ID: the value of the latest valid `id` field, even from events with no data.
    public private(set) var lastEventID: String?
    /// The latest valid `retry` value, in milliseconds.
    public private(set) var reconnectionTime: Int?
    /// Comment lines seen (the node's keep-alives are comment lines `:`).
    public private(set) var commentCount = 0
    /// Events dropped because they grew past `maxEventBytes`.
    public private(set) var skippedEventCount = 0
    /// The `id` field of the last skipped event, if it had one.
    public private(set) var lastSkippedEventID: String?

    // MARK: Line state

    /// The bytes of the current, unterminated line.
    private var line: [UInt8] = []
    private var lineMode = LineMode.normal
    /// The previous chunk ended in CR: a LF at the start of the next one belongs to the same CRLF.
    private var afterCR = false
    /// How many bytes of a leading UTF-8 byte order mark have matched; `nil` once the stream start is past.
    private var bomMatched: Int? = 0

    // MARK: Event state (reset at each blank line)

    private var data: [UInt8] = []
    private var eventType: [UInt8] = []
    private var eventID: String?
    private var eventRetry: Int?
    private var eventOversized = false

    private enum LineMode {
        case normal
        /// A line starting with ":": skipped without being buffered.
        case comment
        /// A line that grew past the limit: skipped up to its end.
        case discarding
    }

    /// - Parameter maxEventBytes: The most bytes one event may hold in memory; larger events are skipped.
    public init(maxEventBytes: Int = 16 << 20) {
        precondition(maxEventBytes > 0, "maxEventBytes must be positive")
        self.maxEventBytes = maxEventBytes
    }

    /// Bytes held for the unfinished line and event; never more than `maxEventBytes`.
    public var bufferedByteCount: Int { line.count + data.count + eventType.count }

    // MARK: Feeding

    /// Parses the next chunk of the stream and returns the events it completed, in order.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [SSEMessage] {
        var messages: [SSEMessage] = []
        let done: Void? = bytes.withContiguousStorageIfAvailable { scan(UnsafeRawBufferPointer($0), into: &messages) }
        if done == nil {
            Array(bytes).withUnsafeBytes { scan($0, into: &messages) }
        }
        return messages
    }

    /// Parses the readable bytes of `buffer` in place, without copying them, and returns the completed events.
    public mutating func feed(_ buffer: ByteBuffer) -> [SSEMessage] {
        var messages: [SSEMessage] = []
        buffer.withUnsafeReadableBytes { scan($0, into: &messages) }
        return messages
    }

    private mutating func scan(_ bytes: UnsafeRawBufferPointer, into messages: inout [SSEMessage]) {
        var start = bytes.startIndex
        if let matched = bomMatched {
            start = skipByteOrderMark(bytes, matched: matched)
        }
        while start < bytes.endIndex {
            if afterCR {
                afterCR = false
                if bytes[start] == .lf {
                    start += 1
                    continue
                }
            }
            let end = bytes[start...].firstIndex { $0 == .lf || $0 == .cr } ?? bytes.endIndex
            append(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
            guard end < bytes.endIndex else { return }
            afterCR = bytes[end] == .cr
            endLine(into: &messages)
            start = end + 1
        }
    }

    /// Drops a UTF-8 BOM at the very start of the stream, which may itself be split across chunks.
    /// Returns where the stream's content starts in `bytes`.
    private mutating func skipByteOrderMark(_ bytes: UnsafeRawBufferPointer, matched: Int) -> Int {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        var matched = matched
        var index = bytes.startIndex
        while index < bytes.endIndex, matched < bom.count {
            guard bytes[index] == bom[matched] else {
                // Not a BOM after all: the bytes held back are ordinary content of the first line.
                bomMatched = nil
                bom[..<matched].withUnsafeBytes { append($0) }
                return index
            }
            matched += 1
            index += 1
        }
        bomMatched = matched == bom.count ? nil : matched
        return index
    }

    // MARK: Lines

    private mutating func append(_ segment: UnsafeRawBufferPointer) {
        guard !segment.isEmpty, lineMode == .normal else { return }
        if line.isEmpty, segment[0] == .colon {
            lineMode = .comment
            return
        }
        guard bufferedByteCount + segment.count <= maxEventBytes else {
            lineMode = .discarding
            markOversized()
            return
        }
        line.append(contentsOf: segment)
    }

    private mutating func endLine(into messages: inout [SSEMessage]) {
        switch lineMode {
        case .comment:
            commentCount += 1
        case .discarding:
            break
        case .normal:
            if line.isEmpty {
                dispatch(into: &messages)
            } else {
                process(line[...])
            }
        }
        lineMode = .normal
        Self.clear(&line)
    }

    private mutating func process(_ line: ArraySlice<UInt8>) {
        let name: ArraySlice<UInt8>
        var value: ArraySlice<UInt8> = []
        if let colon = line.firstIndex(of: .colon) {
            name = line[..<colon]
            value = line[(colon + 1)...]
            if value.first == .space { value = value.dropFirst() }
        } else {
            name = line  // "a field without a colon has an empty value"
        }

        if name.elementsEqual("data".utf8) {
            guard !eventOversized else { return }
            data.append(contentsOf: value)
            data.append(.lf)
        } else if name.elementsEqual("id".utf8) {
            guard !value.contains(0) else { return }
            let id = String(decoding: value, as: UTF8.self)
            eventID = id
            lastEventID = id
        } else if name.elementsEqual("event".utf8) {
            eventType = Array(value)
        } else if name.elementsEqual("retry".utf8) {
            guard !value.isEmpty, value.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                let milliseconds = Int(String(decoding: value, as: UTF8.self))
            else { return }
            eventRetry = milliseconds
            reconnectionTime = milliseconds
        }
        // Any other field name is ignored, as the spec says.
    }

    // MARK: Events

    private mutating func markOversized() {
        eventOversized = true
        Self.clear(&line)
        Self.clear(&data)
        Self.clear(&eventType)
    }

    private mutating func dispatch(into messages: inout [SSEMessage]) {
        defer {
            Self.clear(&data)
            Self.clear(&eventType)
            eventID = nil
            eventRetry = nil
            eventOversized = false
        }
        if eventOversized {
            skippedEventCount += 1
            lastSkippedEventID = eventID
            return
        }
        // An event with no data line is not dispatched; `data:` with an empty value is (its buffer holds "\n").
        guard !data.isEmpty else { return }
        data.removeLast()
        messages.append(
            SSEMessage(
                id: eventID,
                event: eventType.isEmpty ? nil : String(decoding: eventType, as: UTF8.self),
                data: String(decoding: data, as: UTF8.self),
                retry: eventRetry
            )
        )
    }

    /// Empties a buffer, but gives back the memory of a rare huge event instead of holding it for the connection.
    private static func clear(_ buffer: inout [UInt8]) {
        buffer.removeAll(keepingCapacity: buffer.capacity <= 64 << 10)
    }
}

extension UInt8 {
    fileprivate static let lf = UInt8(ascii: "\n")
    fileprivate static let cr = UInt8(ascii: "\r")
    fileprivate static let colon = UInt8(ascii: ":")
    fileprivate static let space = UInt8(ascii: " ")
}
