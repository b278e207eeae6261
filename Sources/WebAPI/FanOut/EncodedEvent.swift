import ChainfeedCore
import NIOCore

/// An event encoded once per replica, in every wire form its subscribers need.
struct EncodedEvent: Sendable {
    let event: StoredEvent
    /// `,"seq":…,"kind":…,"data":…}`: the part of a WebSocket event frame after the subscription id.
    let webSocketTail: String
    /// `id:SEQ\ndata:RAW\n\n`, the node's own SSE framing.
    let sse: ByteBuffer

    init(_ event: StoredEvent) {
        self.event = event
        self.webSocketTail = ",\"seq\":\(event.seq),\"kind\":\(JSONText.quote(event.kind)),\"data\":\(event.data)}"
        var sse = ByteBuffer()
        sse.reserveCapacity(event.raw.utf8.count + 32)
        sse.writeString("id:\(event.seq)\ndata:")
        if event.raw.utf8.contains(UInt8(ascii: "\n")) {
            // The node sends one-line JSON; a payload with line breaks is split into data lines.
            let lines = event.raw.split(separator: "\n", omittingEmptySubsequences: false)
            for (i, line) in lines.enumerated() {
                if i > 0 { sse.writeString("\ndata:") }
                sse.writeSubstring(line)
            }
        } else {
            sse.writeString(event.raw)
        }
        sse.writeString("\n\n")
        self.sse = sse
    }

    /// The WebSocket frame payload for one subscription id, with the frame's header written just before it.
    ///
    /// The readable bytes are the payload; a ``WebSocketSink`` moves the reader index back over the header
    /// (``WebSocketWire``) and writes the whole frame below NIO's frame encoder: one buffer shared by every
    /// connection, no header allocated per connection.
    func webSocketFrame(subscription: String) -> ByteBuffer {
        let payload = "{\"type\":\"event\",\"subscription\":\(JSONText.quote(subscription))\(webSocketTail)"
        return WebSocketWire.textFrame(payload)
    }
}

/// An unmasked server text frame (RFC 6455 §5.2), header and payload in one buffer.
enum WebSocketWire {
    static func headerLength(payloadLength n: Int) -> Int { n < 126 ? 2 : (n <= 0xFFFF ? 4 : 10) }

    /// The payload readable, its frame header in the bytes before the reader index.
    static func textFrame(_ payload: String) -> ByteBuffer {
        let n = payload.utf8.count
        let header = headerLength(payloadLength: n)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(header + n)
        writeHeader(&buffer, payloadLength: n)
        buffer.writeString(payload)
        buffer.moveReaderIndex(forwardBy: header)
        return buffer
    }

    static func writeHeader(_ buffer: inout ByteBuffer, payloadLength n: Int) {
        buffer.writeInteger(UInt8(0x81))  // FIN + text
        if n < 126 {
            buffer.writeInteger(UInt8(n))
        } else if n <= 0xFFFF {
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(n))
        } else {
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(n))
        }
    }

    /// The whole frame when `payload` carries its header just before it (as ``textFrame(_:)`` makes it).
    ///
    /// ByteBuffer's `get` accessors only read readable bytes, so the reader index moves back over the header first.
    static func wholeFrame(_ payload: ByteBuffer) -> ByteBuffer? {
        let n = payload.readableBytes
        let header = headerLength(payloadLength: n)
        let start = payload.readerIndex - header
        guard start >= 0 else { return nil }
        var frame = payload
        frame.moveReaderIndex(to: start)
        guard frame.getInteger(at: start, as: UInt8.self) == 0x81 else { return nil }
        let lengthOK: Bool = switch header {
        case 2: frame.getInteger(at: start + 1, as: UInt8.self) == UInt8(n)
        case 4: frame.getInteger(at: start + 1, as: UInt8.self) == 126 && frame.getInteger(at: start + 2, as: UInt16.self) == UInt16(n)
        default: frame.getInteger(at: start + 1, as: UInt8.self) == 127 && frame.getInteger(at: start + 2, as: UInt64.self) == UInt64(n)
        }
        return lengthOK ? frame : nil
    }
}
