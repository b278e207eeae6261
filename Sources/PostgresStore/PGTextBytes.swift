/// How text values become the bytes of PostgreSQL's text formats (array literals, `COPY` rows).
///
/// PostgreSQL text cannot hold a NUL at all: one is written as U+FFFD, so that a batch never fails (and is
/// retried forever) over one character.
enum PGTextBytes {
    /// Appends `value`, each byte for which `escape` names a letter written as a backslash and that letter;
    /// the runs between them are copied whole.
    static func append(_ value: String, to bytes: inout [UInt8], escape: (UInt8) -> UInt8?) {
        var value = value
        value.withUTF8 { source in
            var runStart = 0
            for (i, b) in source.enumerated() {
                let letter = b == 0 ? nil : escape(b)
                guard b == 0 || letter != nil else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: source[runStart..<i]))
                if let letter {
                    bytes.append(UInt8(ascii: "\\"))
                    bytes.append(letter)
                } else {
                    bytes.append(0xEF)  // U+FFFD
                    bytes.append(0xBF)
                    bytes.append(0xBD)
                }
                runStart = i + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: source[runStart...]))
        }
    }
}
