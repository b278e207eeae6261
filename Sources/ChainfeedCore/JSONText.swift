import Foundation

/// Compact JSON encoding for payloads that are built once and shared by every reader.
package enum JSONText {
    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return e
    }()

    /// Encodes a value that cannot fail to encode (plain structs of strings and integers).
    package static func encode(_ value: some Encodable) -> String {
        // The domain types hold only strings, integers, arrays and optionals, which always encode.
        guard let data = try? encoder.encode(value) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Quotes a string as a JSON string literal.
    package static func quote(_ s: String) -> String {
        encode(s)
    }
}
