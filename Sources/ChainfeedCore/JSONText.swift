import Foundation

/// Compact JSON encoding for payloads that are built once and shared by every reader.
///
/// The records (``Block``, ``Deploy``, ``FinalitySignature``, ``Step``, ``Fault``) and string literals are written
/// by hand: they are on every page read and every stored event, where Foundation's `JSONEncoder` was most of the CPU. The output is the
/// same bytes `JSONEncoder` gives with sorted keys and unescaped slashes (the tests hold the two equal).
package enum JSONText {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return e
    }()

    /// Encodes a value that cannot fail to encode (plain structs of strings and integers).
    package static func encode(_ value: some Encodable) -> String {
        if let record = value as? any JSONTextRecord { return record.jsonText }
        // The domain types hold only strings, integers, arrays and optionals, which always encode.
        guard let data = try? encoder.encode(value) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Quotes a string as a JSON string literal.
    package static func quote(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count + 2)
        appendQuoted(s, to: &out)
        return out
    }

    /// Appends `s` as a JSON string literal: `"` and `\` escaped, control characters as `JSONEncoder` writes them.
    package static func appendQuoted(_ s: String, to out: inout String) {
        out.append("\"")
        // Hashes, keys and most text need no escape: checked over the contiguous bytes, appended whole.
        var contiguous = s
        let plain = contiguous.withUTF8 { bytes in
            !bytes.contains { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 < 0x20 }
        }
        if plain {
            out.append(contiguous)
            out.append("\"")
            return
        }
        var plainStart = s.utf8.startIndex
        var index = plainStart
        let utf8 = s.utf8
        while index != utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 {
                out.append(contentsOf: s[plainStart..<index])
                out.append(escape(byte))
                plainStart = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        out.append(contentsOf: s[plainStart..<utf8.endIndex])
        out.append("\"")
    }

    private static func escape(_ byte: UInt8) -> String {
        switch byte {
        case UInt8(ascii: "\""): return "\\\""
        case UInt8(ascii: "\\"): return "\\\\"
        case 0x08: return "\\b"
        case 0x0C: return "\\f"
        case 0x0A: return "\\n"
        case 0x0D: return "\\r"
        case 0x09: return "\\t"
        default:
            let hex = String(byte, radix: 16)
            return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        }
    }
}

/// A record written as JSON by hand (sorted keys), as its `Encodable` conformance and `JSONEncoder` would write it.
package protocol JSONTextRecord {
    var jsonText: String { get }
}

/// Builds one JSON object with its keys given in sorted order.
struct JSONObjectWriter {
    private(set) var text: String
    private var first = true

    init() {
        text = "{"
        text.reserveCapacity(512)
    }

    private mutating func key(_ name: String) {
        text += first ? "\"" : ",\""
        first = false
        text += name
        text += "\":"
    }

    mutating func string(_ name: String, _ value: String?) {
        guard let value else { return }
        key(name)
        JSONText.appendQuoted(value, to: &text)
    }

    /// A string, or `null` when there is none (a stable shape).
    mutating func stringOrNull(_ name: String, _ value: String?) {
        guard let value else {
            key(name)
            text += "null"
            return
        }
        string(name, value)
    }

    mutating func number(_ name: String, _ value: UInt64) {
        key(name)
        text += String(value)
    }

    /// A number, left out when there is none (as a synthesized `Encodable` does).
    mutating func number(_ name: String, _ value: UInt64?) {
        guard let value else { return }
        number(name, value)
    }

    mutating func strings(_ name: String, _ values: [String]) {
        key(name)
        text += "["
        for (i, value) in values.enumerated() {
            if i > 0 { text += "," }
            JSONText.appendQuoted(value, to: &text)
        }
        text += "]"
    }

    mutating func end() -> String {
        text += "}"
        return text
    }
}

extension Block: JSONTextRecord {
    package var jsonText: String {
        var o = JSONObjectWriter()
        o.string("blockHash", blockHash)
        o.strings("deploys", deploys)
        o.number("eraId", eraId)
        o.number("height", height)
        o.string("parentHash", parentHash)
        o.string("proposer", proposer)
        o.string("state", state)
        o.string("timestamp", timestamp)
        return o.end()
    }
}

extension Deploy: JSONTextRecord {
    package var jsonText: String {
        var o = JSONObjectWriter()
        o.stringOrNull("account", account)
        o.stringOrNull("blockHash", blockHash)
        o.stringOrNull("cost", cost)
        o.string("deployHash", deployHash)
        o.stringOrNull("errorMessage", errorMessage)
        o.string("state", state.rawValue)
        o.stringOrNull("timestamp", timestamp)
        return o.end()
    }
}

extension FinalitySignature: JSONTextRecord {
    package var jsonText: String {
        var o = JSONObjectWriter()
        o.string("blockHash", blockHash)
        o.number("blockHeight", blockHeight)
        o.number("eraId", eraId)
        o.string("publicKey", publicKey)
        o.string("signature", signature)
        return o.end()
    }
}

extension Step: JSONTextRecord {
    package var jsonText: String {
        var o = JSONObjectWriter()
        o.number("eraId", eraId)
        return o.end()
    }
}

extension Fault: JSONTextRecord {
    package var jsonText: String {
        var o = JSONObjectWriter()
        o.number("eraId", eraId)
        o.string("publicKey", publicKey)
        o.string("timestamp", timestamp)
        return o.end()
    }
}
