/// Any JSON value, decoded without loss for integers (a JSON-RPC request's `id` and `params`).
enum JSONValue: Decodable, Sendable, Equatable {
    case null
    case bool(Bool)
    case uint(UInt64)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let n = try? c.decode(UInt64.self) {
            self = .uint(n)
        } else if let n = try? c.decode(Int64.self) {
            self = .int(n)
        } else if let n = try? c.decode(Double.self) {
            self = .double(n)
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// Echoes the value back (a request `id`); numbers keep their digits.
    var json: JSON {
        switch self {
        case .null: .null
        case .bool(let b): .bool(b)
        case .uint(let n): .uint(n)
        case .int(let n): .int(n)
        case .double(let d): .raw(d.isFinite ? "\(d)" : "null")
        case .string(let s): .string(s)
        case .array(let a): .array(a.map(\.json))
        case .object(let o): .object(o.sorted { $0.key < $1.key }.map { ($0.key, $0.value.json) })
        }
    }
}
