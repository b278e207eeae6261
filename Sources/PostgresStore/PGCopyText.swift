/// Rows in the text format of `COPY … FROM STDIN`: tab between fields, newline after each row, `\N` for NULL.
///
/// A value's backslash, tab, newline and carriage return are backslash-escaped, so any text survives as is
/// (a NUL as U+FFFD, ``PGTextBytes``).
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
        guard let value else {
            bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "N")])
            return
        }
        PGTextBytes.append(value, to: &bytes) { b in
            switch b {
            case UInt8(ascii: "\\"): UInt8(ascii: "\\")
            case 0x09: UInt8(ascii: "t")
            case 0x0A: UInt8(ascii: "n")
            case 0x0D: UInt8(ascii: "r")
            default: nil
            }
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
