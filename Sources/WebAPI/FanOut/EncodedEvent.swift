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
        var sse = "id:\(event.seq)\n"
        // The node sends one-line JSON; a payload with line breaks is split into data lines.
        for line in event.raw.split(separator: "\n", omittingEmptySubsequences: false) {
            sse += "data:\(line)\n"
        }
        sse += "\n"
        self.sse = ByteBuffer(string: sse)
    }

    /// The WebSocket frame payload for one subscription id.
    func webSocketFrame(subscription: String) -> ByteBuffer {
        ByteBuffer(string: "{\"type\":\"event\",\"subscription\":\(JSONText.quote(subscription))\(webSocketTail)")
    }
}
