/// PostgreSQL array literals for text-format parameters (`$1::text[]`), so one statement carries a whole batch.
///
/// Every element is double-quoted with `"` and `\` escaped, which the array parser reads back verbatim
/// (a NUL as U+FFFD, ``PGTextBytes``); `nil` becomes an unquoted `NULL`. Values stay parameters, never SQL text.
enum PGArray {
    static func literal(_ items: [String?]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(2 + items.reduce(0) { $0 + ($1?.utf8.count ?? 4) + 3 })
        bytes.append(UInt8(ascii: "{"))
        for (i, item) in items.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            guard let item else {
                bytes.append(contentsOf: "NULL".utf8)
                continue
            }
            bytes.append(UInt8(ascii: "\""))
            PGTextBytes.append(item, to: &bytes) { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") ? $0 : nil }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
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
