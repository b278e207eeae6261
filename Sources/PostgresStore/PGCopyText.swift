/// Rows in the text format of `COPY … FROM STDIN`: tab between fields, newline after each row, `\N` for NULL.
///
/// A value's backslash, tab, newline and carriage return are backslash-escaped, so any text survives as is.
/// PostgreSQL text cannot hold a NUL at all: one is written as U+FFFD, so that a batch never fails (and is
/// retried forever) over one character.
public struct PGCopyText: Sendable {
    private(set) var bytes: [UInt8] = []
    private var fieldsInRow = 0

    public init(reservingCapacity capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    public var isEmpty: Bool { bytes.isEmpty }

    /// The bytes written so far.
    public var byteCount: Int { bytes.count }

    /// Empties the text, keeping its storage for the next chunk.
    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        fieldsInRow = 0
    }

    /// Appends one text field (`nil`: SQL NULL).
    public mutating func field(_ value: String?) {
        separate()
        guard var value else {
            bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "N")])
            return
        }
        value.withUTF8 { source in
            var runStart = 0
            for (i, b) in source.enumerated() {
                let escaped: UInt8
                switch b {
                case 0x00:
                    bytes.append(contentsOf: UnsafeBufferPointer(rebasing: source[runStart..<i]))
                    bytes.append(contentsOf: [0xEF, 0xBF, 0xBD])
                    runStart = i + 1
                    continue
                case UInt8(ascii: "\\"): escaped = UInt8(ascii: "\\")
                case 0x09: escaped = UInt8(ascii: "t")
                case 0x0A: escaped = UInt8(ascii: "n")
                case 0x0D: escaped = UInt8(ascii: "r")
                default: continue
                }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: source[runStart..<i]))
                bytes.append(contentsOf: [UInt8(ascii: "\\"), escaped])
                runStart = i + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: source[runStart...]))
        }
    }

    /// Appends one integer field (`nil`: SQL NULL).
    public mutating func field<N: BinaryInteger>(_ value: N?) {
        guard let value else { return field(nil as String?) }
        separate()
        bytes.append(contentsOf: String(value).utf8)
    }

    /// Ends the current row.
    public mutating func endRow() {
        bytes.append(0x0A)
        fieldsInRow = 0
    }

    private mutating func separate() {
        if fieldsInRow > 0 { bytes.append(0x09) }
        fieldsInRow += 1
    }
}
