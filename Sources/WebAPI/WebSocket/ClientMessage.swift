import ChainfeedCore
import Foundation

/// A frame from a WebSocket client: `subscribe` or `unsubscribe`.
enum ClientMessage: Equatable {
    case subscribe(id: String, filter: EventFilter, fromSeq: Seq?)
    case unsubscribe(id: String)

    /// A client frame that cannot be acted on; `id` is echoed when the frame had one.
    struct Invalid: Error, Equatable {
        var id: String?
        var message: String
    }

    private struct Wire: Decodable {
        var action: String?
        var id: String?
        var topics: [String]?
        var filter: [String: FilterValue]?
        var fromSeq: Seq?
    }

    /// Filter values arrive as strings, or as numbers for `eraId`.
    private struct FilterValue: Decodable {
        var text: String
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) {
                text = s
            } else if let n = try? c.decode(UInt64.self) {
                text = String(n)
            } else {
                throw DecodingError.typeMismatch(String.self, .init(codingPath: decoder.codingPath, debugDescription: "a filter value must be a string or an unsigned integer"))
            }
        }
    }

    static let maxIDLength = 128

    static func parse(_ text: String) throws(Invalid) -> ClientMessage {
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: Data(text.utf8))
        } catch {
            throw Invalid(id: nil, message: "malformed frame: expected a JSON object with action, id, topics, filter, fromSeq")
        }
        guard let id = wire.id, !id.isEmpty, id.count <= maxIDLength else {
            throw Invalid(id: nil, message: "id must be a non-empty string of at most \(maxIDLength) characters")
        }
        switch wire.action {
        case "subscribe":
            do {
                let filter = try EventFilter.parse(topics: wire.topics ?? ["all"], keys: (wire.filter ?? [:]).mapValues(\.text))
                return .subscribe(id: id, filter: filter, fromSeq: wire.fromSeq)
            } catch {
                throw Invalid(id: id, message: error.message)
            }
        case "unsubscribe":
            return .unsubscribe(id: id)
        case let other:
            throw Invalid(id: id, message: "unknown action '\(other ?? "")'; actions are subscribe, unsubscribe")
        }
    }
}

/// Server → client frames other than events.
enum ServerFrame {
    static func subscribed(id: String, headSeq: Seq) -> String {
        "{\"type\":\"subscribed\",\"id\":\(JSONText.quote(id)),\"headSeq\":\(headSeq)}"
    }

    static func unsubscribed(id: String) -> String {
        "{\"type\":\"unsubscribed\",\"id\":\(JSONText.quote(id))}"
    }

    static func error(id: String?, code: String, message: String) -> String {
        "{\"type\":\"error\",\"id\":\(id.map(JSONText.quote) ?? "null"),\"code\":\(JSONText.quote(code)),\"message\":\(JSONText.quote(message))}"
    }
}
