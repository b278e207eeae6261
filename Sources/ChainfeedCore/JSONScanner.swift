/// Reads named fields out of one JSON text without building the whole document.
///
/// A node payload is mostly fields Chainfeed keeps only raw (session code, approvals, execution effects);
/// `JSONDecoder` turned all of them into Foundation values and was most of the writer's CPU. The scanner checks the
/// whole text against the JSON grammar once (RFC 8259: no trailing commas, no leading zeros, escapes and control
/// characters as the grammar says, nesting bounded by ``maxDepth``), then materialises only the strings and
/// integers it is asked for. An object is indexed on demand: its keys and where each value starts.
struct JSONScanner {
    /// Nesting deeper than this is refused rather than recursed into.
    static let maxDepth = 512

    let bytes: [UInt8]

    /// Scans `text`; throws unless it is exactly one JSON value, with optional whitespace around it.
    init(_ text: String) throws(JSONScanError) {
        bytes = Array(text.utf8)
        var i = skipWhitespace(0)
        guard i < bytes.count else { throw JSONScanError(offset: i, reason: "no JSON value") }
        i = try skipValue(i, depth: 0)
        i = skipWhitespace(i)
        guard i == bytes.count else { throw JSONScanError(offset: i, reason: "text after the JSON value") }
    }

    /// Where the root value starts.
    var root: Int { skipWhitespace(0) }

    enum ValueType: Equatable {
        case object, array, string, number, bool, null
    }

    // MARK: Reading values (the text is known to be valid JSON)

    func type(at i: Int) -> ValueType {
        switch bytes[i] {
        case UInt8(ascii: "{"): .object
        case UInt8(ascii: "["): .array
        case UInt8(ascii: "\""): .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): .bool
        case UInt8(ascii: "n"): .null
        default: .number
        }
    }

    /// The members of the object at `i`, in text order: each key and where its value starts.
    func members(at i: Int) -> [(key: String, value: Int)] {
        var out: [(key: String, value: Int)] = []
        var j = skipWhitespace(i + 1)
        guard bytes[j] != UInt8(ascii: "}") else { return out }
        while true {
            let (key, afterKey) = decodeString(j)
            let value = skipWhitespace(skipWhitespace(afterKey) + 1)  // past the colon
            out.append((key, value))
            // Valid text: the value ends where a skip says; depth was checked by init.
            j = skipWhitespace((try? skipValue(value, depth: 0)) ?? bytes.count)
            guard j < bytes.count, bytes[j] == UInt8(ascii: ",") else { return out }
            j = skipWhitespace(j + 1)
        }
    }

    /// Where each element of the array at `i` starts.
    func elements(at i: Int) -> [Int] {
        var out: [Int] = []
        var j = skipWhitespace(i + 1)
        guard bytes[j] != UInt8(ascii: "]") else { return out }
        while true {
            out.append(j)
            j = skipWhitespace((try? skipValue(j, depth: 0)) ?? bytes.count)
            guard j < bytes.count, bytes[j] == UInt8(ascii: ",") else { return out }
            j = skipWhitespace(j + 1)
        }
    }

    /// The string at `i`, escapes resolved.
    func string(at i: Int) -> String { decodeString(i).value }

    /// The number at `i` as an unsigned 64-bit integer, or `nil` for a sign, fraction, exponent or overflow.
    func uint64(at i: Int) -> UInt64? {
        var j = i
        var value: UInt64 = 0
        while j < bytes.count, bytes[j] >= UInt8(ascii: "0"), bytes[j] <= UInt8(ascii: "9") {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(bytes[j] - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            value = a
            j += 1
        }
        guard j > i else { return nil }  // a minus sign
        if j < bytes.count, bytes[j] == UInt8(ascii: ".") || bytes[j] | 0x20 == UInt8(ascii: "e") { return nil }
        return value
    }

    // MARK: Grammar

    private func skipWhitespace(_ start: Int) -> Int {
        var i = start
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x0A, 0x0D, 0x09: i += 1
            default: return i
            }
        }
        return i
    }

    /// Checks the value at `i` against the grammar and returns the index just past it.
    private func skipValue(_ i: Int, depth: Int) throws(JSONScanError) -> Int {
        guard i < bytes.count else { throw JSONScanError(offset: i, reason: "unexpected end of text") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try skipContainer(i, close: UInt8(ascii: "}"), keyed: true, depth: depth + 1)
        case UInt8(ascii: "["): return try skipContainer(i, close: UInt8(ascii: "]"), keyed: false, depth: depth + 1)
        case UInt8(ascii: "\""): return try skipString(i)
        case UInt8(ascii: "t"): return try skipLiteral(i, "true")
        case UInt8(ascii: "f"): return try skipLiteral(i, "false")
        case UInt8(ascii: "n"): return try skipLiteral(i, "null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try skipNumber(i)
        default: throw JSONScanError(offset: i, reason: "unexpected character")
        }
    }

    private func skipContainer(_ open: Int, close: UInt8, keyed: Bool, depth: Int) throws(JSONScanError) -> Int {
        guard depth <= Self.maxDepth else { throw JSONScanError(offset: open, reason: "nested deeper than \(Self.maxDepth)") }
        var i = skipWhitespace(open + 1)
        if i < bytes.count, bytes[i] == close { return i + 1 }
        while true {
            if keyed {
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw JSONScanError(offset: i, reason: "expected a key") }
                i = skipWhitespace(try skipString(i))
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw JSONScanError(offset: i, reason: "expected ':'") }
                i = skipWhitespace(i + 1)
            }
            i = skipWhitespace(try skipValue(i, depth: depth))
            guard i < bytes.count else { throw JSONScanError(offset: i, reason: "unexpected end of text") }
            if bytes[i] == close { return i + 1 }
            guard bytes[i] == UInt8(ascii: ",") else { throw JSONScanError(offset: i, reason: "expected ',' or '\(Character(Unicode.Scalar(close)))'") }
            i = skipWhitespace(i + 1)
        }
    }

    private func skipString(_ open: Int) throws(JSONScanError) -> Int {
        var i = open + 1
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { return i + 1 }
            if b < 0x20 { throw JSONScanError(offset: i, reason: "control character in a string") }
            if b == UInt8(ascii: "\\") {
                guard i + 1 < bytes.count else { break }
                switch bytes[i + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    guard i + 5 < bytes.count, (2...5).allSatisfy({ hexValue(bytes[i + $0]) != nil }) else {
                        throw JSONScanError(offset: i, reason: "bad \\u escape")
                    }
                    i += 6
                default:
                    throw JSONScanError(offset: i, reason: "bad escape")
                }
                continue
            }
            i += 1
        }
        throw JSONScanError(offset: open, reason: "unterminated string")
    }

    private func skipLiteral(_ i: Int, _ word: StaticString) throws(JSONScanError) -> Int {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw JSONScanError(offset: i, reason: "unexpected end of text") }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] {
            throw JSONScanError(offset: i, reason: "unexpected character")
        }
        return i + n
    }

    private func skipNumber(_ start: Int) throws(JSONScanError) -> Int {
        var i = start
        func digits() -> Int {
            let from = i
            while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") { i += 1 }
            return i - from
        }
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        let intStart = i
        let intDigits = digits()
        guard intDigits > 0 else { throw JSONScanError(offset: start, reason: "bad number") }
        guard intDigits == 1 || bytes[intStart] != UInt8(ascii: "0") else { throw JSONScanError(offset: start, reason: "leading zero") }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { throw JSONScanError(offset: start, reason: "bad number") }
        }
        if i < bytes.count, bytes[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw JSONScanError(offset: start, reason: "bad number") }
        }
        return i
    }

    /// The string whose opening quote is at `open`, and the index just past its closing quote.
    private func decodeString(_ open: Int) -> (value: String, end: Int) {
        var i = open + 1
        while bytes[i] != UInt8(ascii: "\"") && bytes[i] != UInt8(ascii: "\\") { i += 1 }
        if bytes[i] == UInt8(ascii: "\"") {  // no escapes: the common case, one copy
            return (String(decoding: bytes[(open + 1)..<i], as: UTF8.self), i + 1)
        }
        var out: [UInt8] = Array(bytes[(open + 1)..<i])
        var pendingHigh: UInt32?
        while bytes[i] != UInt8(ascii: "\"") {
            guard bytes[i] == UInt8(ascii: "\\") else {
                if let high = pendingHigh { appendScalar(high, to: &out); pendingHigh = nil }
                out.append(bytes[i])
                i += 1
                continue
            }
            let e = bytes[i + 1]
            i += 2
            guard e == UInt8(ascii: "u") else {
                if let high = pendingHigh { appendScalar(high, to: &out); pendingHigh = nil }
                switch e {
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                default: out.append(e)  // " \ /
                }
                continue
            }
            let unit = (0..<4).reduce(UInt32(0)) { $0 << 4 | UInt32(hexValue(bytes[i + $1]) ?? 0) }
            i += 4
            if let high = pendingHigh {
                pendingHigh = nil
                if (0xDC00...0xDFFF).contains(unit) {
                    appendScalar(0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00), to: &out)
                    continue
                }
                appendScalar(high, to: &out)  // a lone high surrogate: U+FFFD below
            }
            if (0xD800...0xDBFF).contains(unit) { pendingHigh = unit } else { appendScalar(unit, to: &out) }
        }
        if let high = pendingHigh { appendScalar(high, to: &out) }
        return (String(decoding: out, as: UTF8.self), i + 1)
    }

    /// Appends a scalar as UTF-8; a lone surrogate becomes U+FFFD, as Foundation decodes it.
    private func appendScalar(_ value: UInt32, to out: inout [UInt8]) {
        let scalar = Unicode.Scalar(value) ?? "\u{FFFD}"
        out.append(contentsOf: Array(String(Character(scalar)).utf8))
    }

    private func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Why a text is not JSON: the byte offset and what the grammar expected there.
struct JSONScanError: Error, Equatable, CustomStringConvertible {
    var offset: Int
    var reason: String

    var description: String { "\(reason) at byte \(offset)" }
}
