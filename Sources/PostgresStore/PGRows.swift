/// The rows of one statement, copied out of libpq in text format (`nil` is SQL NULL).
public struct PGRows: Sendable, RandomAccessCollection {
    public let columns: [String]
    public let rows: [PGRow]
    /// The row count the server reported for an INSERT, UPDATE or DELETE (`PQcmdTuples`), if any.
    public let affectedRows: Int?

    public init(columns: [String], rows: [PGRow], affectedRows: Int?) {
        self.columns = columns
        self.rows = rows
        self.affectedRows = affectedRows
    }

    public var startIndex: Int { rows.startIndex }
    public var endIndex: Int { rows.endIndex }
    public subscript(position: Int) -> PGRow { rows[position] }
}

/// One row in text format.
public struct PGRow: Sendable, Equatable {
    public let values: [String?]

    public init(_ values: [String?]) {
        self.values = values
    }

    public subscript(column: Int) -> String? { values[column] }
}

// MARK: Decoding

extension PGRow {
    func text(_ i: Int, _ name: String) throws -> String {
        guard let v = values[i] else { throw PostgresError.malformedValue(column: name) }
        return v
    }

    func uint64(_ i: Int, _ name: String) throws -> UInt64 {
        guard let v = try optionalUInt64(i, name) else { throw PostgresError.malformedValue(column: name) }
        return v
    }

    func optionalUInt64(_ i: Int, _ name: String) throws -> UInt64? {
        guard let v = values[i] else { return nil }
        guard let n = UInt64(v) else { throw PostgresError.malformedValue(column: name) }
        return n
    }

    func int(_ i: Int, _ name: String) throws -> Int {
        guard let v = values[i], let n = Int(v) else { throw PostgresError.malformedValue(column: name) }
        return n
    }

    func bool(_ i: Int, _ name: String) throws -> Bool {
        switch values[i] {
        case "t": return true
        case "f": return false
        default: throw PostgresError.malformedValue(column: name)
        }
    }
}

extension PGRows {
    /// The single value of a one-row, one-column answer (`nil` for no row or NULL).
    var scalar: String? {
        rows.first?.values.first ?? nil
    }
}
