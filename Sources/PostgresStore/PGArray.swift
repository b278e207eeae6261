/// PostgreSQL array literals for text-format parameters (`$1::text[]`), so one statement carries a whole batch.
///
/// Every element is double-quoted with `"` and `\` escaped, which the array parser reads back verbatim
/// (a NUL, which PostgreSQL text cannot hold, as U+FFFD); `nil` becomes an unquoted `NULL`. Values stay parameters, never SQL text.
enum PGArray {
    static func literal(_ items: [String?]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(2 + items.reduce(0) { $0 + ($1?.utf8.count ?? 4) + 3 })
        bytes.append(UInt8(ascii: "{"))
        for (i, item) in items.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            guard var item else {
                bytes.append(contentsOf: "NULL".utf8)
                continue
            }
            bytes.append(UInt8(ascii: "\""))
            item.withUTF8 { appendEscaped($0, to: &bytes) }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `source` with `"` and `\\` backslash-escaped, copying the runs between them whole. PostgreSQL text
    /// cannot hold a NUL: one becomes U+FFFD, so that a batch never fails (and is retried forever) over it.
    private static func appendEscaped(_ source: UnsafeBufferPointer<UInt8>, to bytes: inout [UInt8]) {
        var runStart = 0
        for (i, b) in source.enumerated() where b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") || b == 0 {
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: source[runStart..<i]))
            if b == 0 {
                bytes.append(contentsOf: [0xEF, 0xBF, 0xBD])
                runStart = i + 1
            } else {
                bytes.append(UInt8(ascii: "\\"))
                runStart = i
            }
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: source[runStart...]))
    }

    static func literal(_ items: [String]) -> String {
        literal(items.map { Optional($0) })
    }

    static func literal<N: BinaryInteger>(_ items: [N]) -> String {
        "{" + items.map { String($0) }.joined(separator: ",") + "}"
    }

    static func literal<N: BinaryInteger>(_ items: [N?]) -> String {
        "{" + items.map { $0.map { String($0) } ?? "NULL" }.joined(separator: ",") + "}"
    }
}
