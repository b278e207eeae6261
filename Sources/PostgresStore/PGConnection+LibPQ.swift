#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

internal import CLibPQ

/// The libpq calls themselves. They take the handle from the owning actor and run on its thread only.
extension PGConnection {
    /// The client-side deadline comes this long after the server's own `statement_timeout`.
    static let clientGrace: Duration = .seconds(5)

    static func validate(url: String) throws {
        guard !url.utf8.contains(0) else { throw PostgresError.invalidURL(reason: "contains a NUL byte") }
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(url, &error) else {
            let reason = error.map { String(cString: $0) } ?? "unparsable"
            if let error { PQfreemem(error) }
            throw PostgresError.invalidURL(reason: trimmed(reason))
        }
        PQconninfoFree(options)
    }

    static func connectHandle(url: String, configuration: Configuration) throws -> OpaquePointer {
        let defaults = configuration.connectionDefaults
        let keywords = defaults.map(\.keyword) + ["dbname"]
        let values = defaults.map(\.value) + [url]
        let handle = try withCStrings(keywords + [nil]) { k in
            try withCStrings(values + [nil]) { v in
                // expand_dbname: the URL in `dbname` is parsed, and its values override the defaults before it.
                PQconnectdbParams(k, v, 1)
            }
        }
        guard let handle else { throw PostgresError.connectionFailed(message: "out of memory") }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = errorMessage(handle)
            PQfinish(handle)
            throw PostgresError.connectionFailed(message: message)
        }
        return handle
    }

    /// Sends one statement and collects its result, within the statement budget plus the client grace.
    static func run(_ handle: OpaquePointer, _ sql: String, _ parameters: [String?], budget: Duration?) throws -> PGRows {
        try sendAndCollect(handle, budget: budget) {
            try withCStrings(parameters) { values in
                PQsendQueryParams(handle, sql, Int32(values.count), nil, values, nil, nil, 0)
            }
        }
    }

    /// Prepares `sql` as the named statement `name` on this session (parameter types inferred by the server).
    static func prepare(_ handle: OpaquePointer, _ name: String, _ sql: String, budget: Duration?) throws {
        _ = try sendAndCollect(handle, budget: budget) { PQsendPrepare(handle, name, sql, 0, nil) }
    }

    /// Executes the prepared statement `name` and collects its result, as ``run(_:_:_:budget:)`` does.
    static func runPrepared(_ handle: OpaquePointer, _ name: String, _ parameters: [String?], budget: Duration?) throws -> PGRows {
        try sendAndCollect(handle, budget: budget) {
            try withCStrings(parameters) { values in
                PQsendQueryPrepared(handle, name, Int32(values.count), values, nil, nil, 0)
            }
        }
    }

    /// Sends with `send` (a `PQsend…` call) and collects every result, within the budget.
    private static func sendAndCollect(_ handle: OpaquePointer, budget: Duration?, _ send: () throws -> Int32) throws -> PGRows {
        guard try send() == 1 else { throw PostgresError.connectionLost(message: errorMessage(handle)) }
        return try collect(handle, deadline: deadline(budget), budget: budget)
    }

    /// When the client stops waiting: the statement budget plus the client grace, from now.
    private static func deadline(_ budget: Duration?) -> ContinuousClock.Instant? {
        budget.map { ContinuousClock.now + $0 + clientGrace }
    }

    /// Runs a `COPY … FROM STDIN` statement; `produce` hands over the data in COPY's text format, a chunk at a
    /// time, so the server inserts one chunk while the next is built. Returns the rows copied.
    static func copyIn(
        _ handle: OpaquePointer, _ sql: String, budget: Duration?, _ produce: (_ send: ([UInt8]) throws -> Void) throws -> Void
    ) throws -> Int {
        guard PQsendQueryParams(handle, sql, 0, nil, nil, nil, nil, 0) == 1 else {
            throw PostgresError.connectionLost(message: errorMessage(handle))
        }
        let deadline = Self.deadline(budget)
        guard let started = try nextResult(handle, deadline: deadline, budget: budget) else {
            throw PostgresError.unsupportedResult(status: "no result for COPY")
        }
        guard PQresultStatus(started) == PGRES_COPY_IN else {
            // The statement failed before any data (a missing table, say): report the server's error.
            let failure = convert(started, handle)
            _ = try? collect(handle, deadline: deadline, budget: budget)
            _ = try failure.get()
            throw PostgresError.unsupportedResult(status: "COPY did not start")
        }
        PQclear(started)
        do {
            try produce { chunk in
                let sent = chunk.withUnsafeBufferPointer { buffer -> Bool in
                    guard let base = buffer.baseAddress else { return true }
                    return base.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                        PQputCopyData(handle, $0, Int32(buffer.count)) == 1
                    }
                }
                guard sent else { throw PostgresError.connectionLost(message: errorMessage(handle)) }
            }
        } catch {
            // Ends the COPY as failed, so the session is left in a known state, then reports the first error.
            _ = PQputCopyEnd(handle, "the client stopped sending rows")
            _ = try? collect(handle, deadline: deadline, budget: budget)
            throw error
        }
        guard PQputCopyEnd(handle, nil) == 1 else { throw PostgresError.connectionLost(message: errorMessage(handle)) }
        return try collect(handle, deadline: deadline, budget: budget).affectedRows ?? 0
    }

    /// Reads every result of the statement in flight; the first failure wins over successes.
    private static func collect(_ handle: OpaquePointer, deadline: ContinuousClock.Instant?, budget: Duration?) throws -> PGRows {
        var outcome: Result<PGRows, PostgresError>?
        while let result = try nextResult(handle, deadline: deadline, budget: budget) {
            let next = convert(result, handle)
            switch (outcome, next) {
            case (nil, _), (.success, .failure): outcome = next
            default: break
            }
        }
        return try outcome?.get() ?? PGRows(columns: [], rows: [], affectedRows: nil)
    }

    /// The next result of the statement in flight, waiting for input within the deadline; `nil` when done.
    private static func nextResult(_ handle: OpaquePointer, deadline: ContinuousClock.Instant?, budget: Duration?) throws -> OpaquePointer? {
        while PQisBusy(handle) == 1 {
            try waitForInput(handle, deadline: deadline, budget: budget)
            guard PQconsumeInput(handle) == 1 else {
                throw PostgresError.connectionLost(message: errorMessage(handle))
            }
        }
        return PQgetResult(handle)
    }

    /// Copies a result into Swift values and clears it.
    private static func convert(_ result: OpaquePointer, _ handle: OpaquePointer) -> Result<PGRows, PostgresError> {
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        switch status {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY, PGRES_SINGLE_TUPLE:
            let fields = PQnfields(result)
            let tuples = PQntuples(result)
            let columns = (0..<fields).map { String(cString: PQfname(result, $0)) }
            var rows: [PGRow] = []
            rows.reserveCapacity(Int(tuples))
            for r in 0..<tuples {
                rows.append(PGRow((0..<fields).map { c in
                    guard PQgetisnull(result, r, c) == 0, let value = PQgetvalue(result, r, c) else { return nil }
                    let buffer = UnsafeRawBufferPointer(start: value, count: Int(PQgetlength(result, r, c)))
                    return String(decoding: buffer, as: UTF8.self)
                }))
            }
            let affected = PQcmdTuples(result).flatMap { Int(String(cString: $0)) }
            return .success(PGRows(columns: columns, rows: rows, affectedRows: affected))
        case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
            let message = field(result, "M") ?? trimmed(String(cString: PQresultErrorMessage(result)))
            guard PQstatus(handle) == CONNECTION_OK, let state = field(result, "C") else {
                return .failure(.connectionLost(message: message))
            }
            return .failure(.server(sqlState: state, message: message, detail: field(result, "D")))
        default:
            return .failure(.unsupportedResult(status: String(cString: PQresStatus(status))))
        }
    }

    /// A diagnostic field of an error result (`PG_DIAG_*`: `C` SQLSTATE, `M` message, `D` detail).
    private static func field(_ result: OpaquePointer, _ code: Unicode.Scalar) -> String? {
        PQresultErrorField(result, Int32(code.value)).map { String(cString: $0) }
    }

    private static func waitForInput(_ handle: OpaquePointer, deadline: ContinuousClock.Instant?, budget: Duration?) throws {
        let socket = PQsocket(handle)
        guard socket >= 0 else { throw PostgresError.connectionLost(message: "no socket") }
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        while true {
            var timeout: Int32 = -1
            if let deadline, let budget {
                let remaining = deadline - ContinuousClock.now
                guard remaining > .zero else { throw PostgresError.timedOut(after: budget) }
                timeout = Int32(clamping: remaining.milliseconds + 1)
            }
            let ready = poll(&descriptor, 1, timeout)
            if ready > 0 { return }
            if ready < 0 && errno != EINTR {
                throw PostgresError.connectionLost(message: "poll failed: errno \(errno)")
            }
        }
    }

    static func errorMessage(_ handle: OpaquePointer) -> String {
        PQerrorMessage(handle).map { trimmed(String(cString: $0)) } ?? "unknown libpq error"
    }

    private static func trimmed(_ s: String) -> String {
        var s = Substring(s)
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return String(s)
    }

    /// Passes strings to C as a NUL-terminated copy each; `nil` stays a null pointer (SQL NULL).
    static func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) throws -> R) throws -> R {
        var owned: [UnsafeMutablePointer<CChar>?] = []
        owned.reserveCapacity(strings.count)
        defer { owned.forEach { free($0) } }
        for (i, string) in strings.enumerated() {
            guard let string else {
                owned.append(nil)
                continue
            }
            var utf8 = string
            let copy = utf8.withUTF8 { bytes -> UnsafeMutablePointer<CChar>? in
                // A NUL would end the C string early: refuse it rather than send a truncated value.
                guard bytes.isEmpty || memchr(bytes.baseAddress!, 0, bytes.count) == nil,
                      let out = malloc(bytes.count + 1)?.assumingMemoryBound(to: CChar.self) else { return nil }
                if let base = bytes.baseAddress { memcpy(out, base, bytes.count) }
                out[bytes.count] = 0
                return out
            }
            guard let copy else { throw PostgresError.invalidParameter(index: i + 1) }
            owned.append(copy)
        }
        return try body(owned.map { $0.map { UnsafePointer($0) } })
    }
}
