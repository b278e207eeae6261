/// An ordered JSON value, rendered compactly on one line as the node's serde_json does.
///
/// The simulator builds every payload with this instead of `JSONEncoder`, so key order follows the node's
/// field order and no value ever goes through `Double`.
enum JSON: Sendable {
    case object([(String, JSON)])
    case array([JSON])
    case string(String)
    case uint(UInt64)
    case int(Int64)
    case bool(Bool)
    case null
    /// Text that is already compact JSON (a block rendered once and embedded in several messages).
    case raw(String)

    static func obj(_ pairs: KeyValuePairs<String, JSON>) -> JSON {
        .object(pairs.map { ($0.key, $0.value) })
    }

    static func str(_ s: String?) -> JSON {
        s.map(JSON.string) ?? .null
    }

    static func num(_ n: Int) -> JSON { .int(Int64(n)) }

    var text: String {
        var out = ""
        render(into: &out)
        return out
    }

    func render(into out: inout String) {
        switch self {
        case .object(let pairs):
            out.append("{")
            for (i, (key, value)) in pairs.enumerated() {
                if i > 0 { out.append(",") }
                Self.quote(key, into: &out)
                out.append(":")
                value.render(into: &out)
            }
            out.append("}")
        case .array(let items):
            out.append("[")
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(",") }
                item.render(into: &out)
            }
            out.append("]")
        case .string(let s):
            Self.quote(s, into: &out)
        case .uint(let n):
            out.append(String(n))
        case .int(let n):
            out.append(String(n))
        case .bool(let b):
            out.append(b ? "true" : "false")
        case .null:
            out.append("null")
        case .raw(let text):
            out.append(text)
        }
    }

    static func quote(_ s: String, into out: inout String) {
        out.append("\"")
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        out.append("\"")
    }
}
