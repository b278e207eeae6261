/// Reads named fields out of one JSON text without building the whole document.
///
/// A node payload is mostly fields Chainfeed keeps only raw (session code, approvals, execution effects);
/// `JSONDecoder` turned all of them into Foundation values and was most of the writer's CPU. The scanner checks the
/// whole text against the JSON grammar once (RFC 8259: no trailing commas, no leading zeros, escapes and control
/// characters as the grammar says, nesting bounded by ``maxDepth``), then materialises only the strings and
/// integers it is asked for. An object is indexed on demand: where its keys and values start.
struct JSONScanner {
    /// Nesting deeper than this is refused rather than recursed into.
    static let maxDepth = 512

    let bytes: [UInt8]

    /// Scans `text`; throws unless it is exactly one JSON value, with optional whitespace around it.
    init(_ text: String) throws(JSONScanError) {
        bytes = Array(text.utf8)
        let checked: Result<Void, JSONScanError> = bytes.withUnsafeBufferPointer { b in
            let grammar = Grammar(b: b)
            var i = Text(b: b).skipWhitespace(0)
            guard i < b.count else { return .failure(JSONScanError(offset: i, reason: "no JSON value")) }
            do throws(JSONScanError) {
                i = try grammar.skipValue(i, depth: 0)
            } catch {
                return .failure(error)
            }
            i = Text(b: b).skipWhitespace(i)
            guard i == b.count else { return .failure(JSONScanError(offset: i, reason: "text after the JSON value")) }
            return .success(())
        }
        try checked.get()
    }

    /// Where the root value starts.
    var root: Int { bytes.withUnsafeBufferPointer { Text(b: $0).skipWhitespace(0) } }

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

    /// The members of the object at `i`, in text order: where each key and its value start.
    func members(at i: Int) -> [(key: Int, value: Int)] {
        bytes.withUnsafeBufferPointer { b in
            let text = Text(b: b)
            var out: [(key: Int, value: Int)] = []
            var j = text.skipWhitespace(i + 1)
            guard b[j] != UInt8(ascii: "}") else { return out }
            while true {
                let value = text.skipWhitespace(text.skipWhitespace(text.skipString(j)) + 1)  // past the colon
                out.append((j, value))
                j = text.skipWhitespace(text.skipValue(value))
                guard j < b.count, b[j] == UInt8(ascii: ",") else { return out }
                j = text.skipWhitespace(j + 1)
            }
        }
    }

    /// Where each element of the array at `i` starts.
    func elements(at i: Int) -> [Int] {
        bytes.withUnsafeBufferPointer { b in
            let text = Text(b: b)
            var out: [Int] = []
            var j = text.skipWhitespace(i + 1)
            guard b[j] != UInt8(ascii: "]") else { return out }
            while true {
                out.append(j)
                j = text.skipWhitespace(text.skipValue(j))
                guard j < b.count, b[j] == UInt8(ascii: ",") else { return out }
                j = text.skipWhitespace(j + 1)
            }
        }
    }

    /// Whether the string at `i` is `key`: compared as bytes, or decoded first when it has escapes.
    func string(at i: Int, equals key: String) -> Bool {
        let plain: Bool? = bytes.withUnsafeBufferPointer { b in
            let body = UnsafeBufferPointer(rebasing: b[(i + 1)..<(Text(b: b).skipString(i) - 1)])
            return body.contains(UInt8(ascii: "\\")) ? nil : body.elementsEqual(key.utf8)
        }
        return plain ?? (string(at: i) == key)
    }

    /// The string at `i`, escapes resolved.
    func string(at i: Int) -> String {
        bytes.withUnsafeBufferPointer { Text(b: $0).decodeString(i) }
    }

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
}

/// Why a text is not JSON: the byte offset and what the grammar expected there.
struct JSONScanError: Error, Equatable, CustomStringConvertible {
    var offset: Int
    var reason: String

    var description: String { "\(reason) at byte \(offset)" }
}

// MARK: - Checking the grammar

/// The strict pass over untrusted text, once per document.
private struct Grammar {
    let b: UnsafeBufferPointer<UInt8>

    /// Checks the value at `i` and returns the index just past it.
    func skipValue(_ i: Int, depth: Int) throws(JSONScanError) -> Int {
        guard i < b.count else { throw JSONScanError(offset: i, reason: "unexpected end of text") }
        switch b[i] {
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
        guard depth <= JSONScanner.maxDepth else { throw JSONScanError(offset: open, reason: "nested deeper than \(JSONScanner.maxDepth)") }
        let text = Text(b: b)
        var i = text.skipWhitespace(open + 1)
        if i < b.count, b[i] == close { return i + 1 }
        while true {
            if keyed {
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw JSONScanError(offset: i, reason: "expected a key") }
                i = text.skipWhitespace(try skipString(i))
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw JSONScanError(offset: i, reason: "expected ':'") }
                i = text.skipWhitespace(i + 1)
            }
            i = text.skipWhitespace(try skipValue(i, depth: depth))
            guard i < b.count else { throw JSONScanError(offset: i, reason: "unexpected end of text") }
            if b[i] == close { return i + 1 }
            guard b[i] == UInt8(ascii: ",") else { throw JSONScanError(offset: i, reason: "expected ',' or '\(Character(Unicode.Scalar(close)))'") }
            i = text.skipWhitespace(i + 1)
        }
    }

    private func skipString(_ open: Int) throws(JSONScanError) -> Int {
        var i = open + 1
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") { return i + 1 }
            if c < 0x20 { throw JSONScanError(offset: i, reason: "control character in a string") }
            if c == UInt8(ascii: "\\") {
                guard i + 1 < b.count else { break }
                switch b[i + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    guard i + 5 < b.count, (2...5).allSatisfy({ hexValue(b[i + $0]) != nil }) else {
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
        guard i + n <= b.count else { throw JSONScanError(offset: i, reason: "unexpected end of text") }
        for k in 0..<n where b[i + k] != word.utf8Start[k] {
            throw JSONScanError(offset: i, reason: "unexpected character")
        }
        return i + n
    }

    private func skipNumber(_ start: Int) throws(JSONScanError) -> Int {
        var i = start
        func digits() -> Int {
            let from = i
            while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") { i += 1 }
            return i - from
        }
        if b[i] == UInt8(ascii: "-") { i += 1 }
        let intStart = i
        let intDigits = digits()
        guard intDigits > 0 else { throw JSONScanError(offset: start, reason: "bad number") }
        guard intDigits == 1 || b[intStart] != UInt8(ascii: "0") else { throw JSONScanError(offset: start, reason: "leading zero") }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { throw JSONScanError(offset: start, reason: "bad number") }
        }
        if i < b.count, b[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw JSONScanError(offset: start, reason: "bad number") }
        }
        return i
    }
}

// MARK: - Reading checked text

/// Moves through text the grammar pass has accepted, so it skips without checking again.
private struct Text {
    let b: UnsafeBufferPointer<UInt8>

    func skipWhitespace(_ start: Int) -> Int {
        var i = start
        while i < b.count {
            switch b[i] {
            case 0x20, 0x0A, 0x0D, 0x09: i += 1
            default: return i
            }
        }
        return i
    }

    /// The index just past the value at `i`.
    func skipValue(_ i: Int) -> Int {
        switch b[i] {
        case UInt8(ascii: "\""):
            return skipString(i)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            var j = i
            while j < b.count {
                switch b[j] {
                case UInt8(ascii: "\""):
                    j = skipString(j)
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return j + 1 }
                default:
                    break
                }
                j += 1
            }
            return j
        default:  // a number or a literal: up to the next delimiter
            var j = i
            while j < b.count {
                switch b[j] {
                case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x0A, 0x0D, 0x09: return j
                default: j += 1
                }
            }
            return j
        }
    }

    /// The index just past the closing quote of the string whose opening quote is at `open`.
    func skipString(_ open: Int) -> Int {
        var i = open + 1
        while i < b.count {
            switch b[i] {
            case UInt8(ascii: "\""): return i + 1
            case UInt8(ascii: "\\"): i += 2
            default: i += 1
            }
        }
        return i
    }

    /// The string whose opening quote is at `open`, escapes resolved; a lone surrogate becomes U+FFFD, as
    /// Foundation decodes it.
    func decodeString(_ open: Int) -> String {
        var i = open + 1
        while b[i] != UInt8(ascii: "\"") && b[i] != UInt8(ascii: "\\") { i += 1 }
        if b[i] == UInt8(ascii: "\"") {  // no escapes: the common case, one copy
            return String(decoding: UnsafeBufferPointer(rebasing: b[(open + 1)..<i]), as: UTF8.self)
        }
        var out: [UInt8] = Array(b[(open + 1)..<i])
        var pendingHigh: UInt32?
        while b[i] != UInt8(ascii: "\"") {
            guard b[i] == UInt8(ascii: "\\") else {
                if let high = pendingHigh { appendScalar(high, to: &out); pendingHigh = nil }
                out.append(b[i])
                i += 1
                continue
            }
            let e = b[i + 1]
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
            let unit = (0..<4).reduce(UInt32(0)) { $0 << 4 | UInt32(hexValue(b[i + $1]) ?? 0) }
            i += 4
            if let high = pendingHigh {
                pendingHigh = nil
                if (0xDC00...0xDFFF).contains(unit) {
                    appendScalar(0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00), to: &out)
                    continue
                }
                appendScalar(high, to: &out)
            }
            if (0xD800...0xDBFF).contains(unit) { pendingHigh = unit } else { appendScalar(unit, to: &out) }
        }
        if let high = pendingHigh { appendScalar(high, to: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    private func appendScalar(_ value: UInt32, to out: inout [UInt8]) {
        out.append(contentsOf: String(Unicode.Scalar(value) ?? "\u{FFFD}").utf8)
    }
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}
