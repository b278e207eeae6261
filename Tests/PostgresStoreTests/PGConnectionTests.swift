import Foundation
import Testing

@testable import PostgresStore

@Suite struct PGConnectionTests {
    private func connect(_ configuration: PGConnection.Configuration = .init()) async throws -> PGConnection {
        try await PGConnection.connect(url: try TestServers.databaseURL, configuration: configuration)
    }

    @Test func `text parameters and array literals round-trip any text`() async throws {
        let connection = try await connect()
        let values: [String?] = [
            "plain", "", " spaced ", "quote \" here", "back\\slash", "{braces},commas", "NULL", nil, "null",
            "é ✓ 🦀", "line\nbreak\ttab", "\"", "\\", "{\"json\":[1,2]}",
        ]
        let rows = try await connection.query(
            "SELECT v FROM unnest($1::text[]) WITH ORDINALITY AS t(v, i) ORDER BY i", [PGArray.literal(values)])
        #expect(rows.map { $0[0] } == values)
        for value in values {
            #expect(try await connection.query("SELECT $1::text", [value]).scalar == value)
        }
        let numbers: [UInt64?] = [0, 1, nil, UInt64.max]
        let back = try await connection.query("SELECT unnest($1::numeric[])::text", [PGArray.literal(numbers)])
        #expect(back.map { $0[0] } == numbers.map { $0.map { String($0) } })
        await connection.close()
    }

    @Test func `COPY rows round-trip any text, NULLs and integers, and report the rows copied`() async throws {
        let connection = try await connect()
        let values: [String?] = [
            "plain", "", " spaced ", "tab\there", "line\nbreak", "cr\rhere", "back\\slash", "\\N", "\\.", nil,
            "é ✓ 🦀", "{\"json\":\"a\\\"b\\\\c\"}", "a\u{0}b",
        ]
        var text = PGCopyText()
        for (i, value) in values.enumerated() {
            text.field(UInt64(i) + UInt64(Int64.max))
            text.field(value)
            text.endRow()
        }
        let rows = text
        let copied = try await connection.transaction { c in
            try c.query("CREATE TEMP TABLE copy_test (n numeric(20,0), v text) ON COMMIT DROP")
            let n = try c.copy("COPY copy_test (n, v) FROM STDIN", rows)
            return (n, try c.query("SELECT n::text, v FROM copy_test ORDER BY n").map { [$0[0], $0[1]] })
        }
        #expect(copied.0 == values.count)
        // A NUL cannot be held by PostgreSQL text: it arrives as U+FFFD, never as a failed batch.
        let expected = values.map { $0?.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") }
        #expect(copied.1.map { $0[1] } == expected)
        #expect(copied.1.map { $0[0] } == values.indices.map { String(UInt64($0) + UInt64(Int64.max)) })
        #expect(try await connection.query("SELECT unnest($1::text[])", [PGArray.literal(["x\u{0}y"])]).scalar == "x\u{FFFD}y")
        await connection.close()
    }

    @Test func `a COPY the server refuses throws its error and the session goes on`() async throws {
        let connection = try await connect()
        var text = PGCopyText()
        text.field("not a number")
        text.endRow()
        let rows = text
        let error = await #expect(throws: PostgresError.self) {
            try await connection.transaction { c in
                try c.query("CREATE TEMP TABLE copy_bad (n bigint) ON COMMIT DROP")
                try c.copy("COPY copy_bad (n) FROM STDIN", rows)
            }
        }
        guard case .server(let state, _, _) = error else { Issue.record("not a server error: \(String(describing: error))"); return }
        #expect(state == "22P02")
        await #expect(throws: PostgresError.self) { try await connection.copy("COPY no_such_table FROM STDIN", rows) }
        #expect(try await connection.query("SELECT 1").scalar == "1")
        await connection.close()
    }

    @Test func `COPY sent in chunks lands whole, and a producer that fails ends it with nothing copied`() async throws {
        struct Stop: Error {}
        let connection = try await connect()
        let counts = try await connection.transaction { c in
            try c.query("CREATE TEMP TABLE copy_chunks (n bigint, v text) ON COMMIT DROP")
            let copied = try c.copy("COPY copy_chunks (n, v) FROM STDIN") { send in
                var rows = PGCopyText()
                for n in 1...10_000 {
                    rows.field(n)
                    rows.field(String(repeating: "x", count: n % 97))
                    rows.endRow()
                    if rows.byteCount >= 4096 {
                        try send(rows)
                        rows.removeAll()
                    }
                }
                try send(rows)
            }
            return (copied, try c.query("SELECT count(*), sum(n) FROM copy_chunks").map { [$0[0], $0[1]] })
        }
        #expect(counts.0 == 10_000)
        #expect(counts.1.first == ["10000", "50005000"])
        await #expect(throws: Stop.self) {
            try await connection.withSession { c in
                try c.query("CREATE TEMP TABLE copy_stop (n bigint)")
                try c.copy("COPY copy_stop (n) FROM STDIN") { send in
                    var rows = PGCopyText()
                    rows.field(1)
                    rows.endRow()
                    try send(rows)
                    throw Stop()
                }
            }
        }
        #expect(try await connection.query("SELECT count(*) FROM copy_stop").scalar == "0")
        await connection.close()
    }

    @Test func `queries are prepared once per session, again after a reset, and never when turned off`() async throws {
        let count = "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'chainfeed_%'"
        let connection = try await connect()
        for n in 1...3 {
            #expect(try await connection.query("SELECT $1::int + 1", [String(n)]).scalar == String(n + 1))
        }
        // The session setup, the statement above and this one: each prepared once, however often it ran.
        let prepared = try #require(Int(try await connection.query(count).scalar ?? ""))
        #expect(prepared == 3)
        #expect(try await connection.query(count).scalar == "3")

        let pid = await connection.backendPID
        try await TestDatabase.admin { a in try a.query("SELECT pg_terminate_backend($1::integer)", [String(pid)]) }
        await #expect(throws: PostgresError.self) { try await connection.query("SELECT 1") }
        #expect(try await connection.query("SELECT $1::int + 1", ["41"]).scalar == "42")

        // A schema change that alters a prepared statement's result: one error, then it is prepared afresh.
        try await connection.query("CREATE TEMP TABLE changing (a int)")
        try await connection.query("INSERT INTO changing VALUES (1)")
        #expect(try await connection.query("SELECT * FROM changing").map { $0.values } == [["1"]])
        try await connection.query("ALTER TABLE changing ADD COLUMN b int")
        _ = try? await connection.query("SELECT * FROM changing")
        #expect(try await connection.query("SELECT * FROM changing").map { $0.values } == [["1", nil]])
        await connection.close()

        let unnamed = try await connect(.init(preparedStatements: false))
        #expect(try await unnamed.query("SELECT $1::int + 1", ["1"]).scalar == "2")
        #expect(try await unnamed.query(count).scalar == "0")
        await unnamed.close()
    }

    @Test func `a NUL byte is refused before it reaches the server`() async throws {
        let connection = try await connect()
        await #expect(throws: PostgresError.invalidParameter(index: 2)) {
            try await connection.query("SELECT $1::text, $2::text", ["ok", "a\u{0}b"])
        }
        #expect(try await connection.query("SELECT 1").scalar == "1")
        await connection.close()
    }

    @Test func `a statement past its budget is stopped and the session stays usable`() async throws {
        let connection = try await connect(.init(statementTimeout: .milliseconds(100)))
        let error = await #expect(throws: PostgresError.self) {
            try await connection.query("SELECT pg_sleep(5)")
        }
        #expect(error.map { if case .server("57014", _, _) = $0 { true } else { false } } == true)
        #expect(try await connection.query("SELECT 2").scalar == "2")
        await connection.close()
    }

    @Test func `bad URLs and unreachable servers fail with descriptions free of credentials`() async throws {
        let invalid = await #expect(throws: PostgresError.self) {
            try await PGConnection.connect(url: "postgresql://user:secret@localhost/db?nosuchoption=secret")
        }
        #expect(invalid.map { if case .invalidURL = $0 { true } else { false } } == true)
        #expect(invalid?.description.contains("secret") == false)
        let unreachable = await #expect(throws: PostgresError.self) {
            try await PGConnection.connect(url: "postgresql://user:secret@127.0.0.1:1/db")
        }
        #expect(unreachable.map { if case .connectionFailed = $0 { true } else { false } } == true)
        #expect(unreachable?.isConnectionError == true)
        #expect(unreachable.map { !$0.description.contains("secret") && !$0.description.contains("127.0.0.1") } == true)
    }

    @Test func `close is idempotent and later statements throw closed`() async throws {
        let connection = try await connect()
        #expect(await connection.isOpen)
        await connection.close()
        await connection.close()
        #expect(await connection.isOpen == false)
        await #expect(throws: PostgresError.closed) { try await connection.query("SELECT 1") }
    }

    @Test func `statements run on the connection's own thread, not the cooperative pool`() async throws {
        let connection = try await connect()
        let name = try await connection.withSession { _ in Thread.current.name ?? "" }
        #expect(name.hasPrefix("NIO-ELT"), "ran on '\(name)'")
        await connection.close()
    }

    @Test func `a session the server ended is re-opened on next use unless reconnecting is off`() async throws {
        let connection = try await connect()
        let fixed = try await connect(.init(reconnect: false))
        for c in [connection, fixed] {
            let pid = await c.backendPID
            try await TestDatabase.admin { a in try a.query("SELECT pg_terminate_backend($1::integer)", [String(pid)]) }
            let error = await #expect(throws: PostgresError.self) { try await c.query("SELECT 1") }
            #expect(error?.isConnectionError == true)
        }
        #expect(try await connection.query("SELECT 3").scalar == "3")
        await #expect(throws: PostgresError.self) { try await fixed.query("SELECT 3") }
        await connection.close()
        await fixed.close()
    }

    @Test func `a failed transaction rolls back and the session goes on`() async throws {
        try await TestDatabase.withSchema(migrate: false) { schema in
            let connection = try await connect(.init(schema: schema))
            try await connection.query("CREATE TABLE t (v integer PRIMARY KEY)")
            await #expect(throws: PostgresError.self) {
                try await connection.transaction { c in
                    try c.query("INSERT INTO t VALUES (1)")
                    try c.query("INSERT INTO t VALUES (1)")
                }
            }
            #expect(try await connection.query("SELECT count(*) FROM t").scalar == "0")
            try await connection.transaction { c in try c.query("INSERT INTO t VALUES (1)") }
            #expect(try await connection.query("SELECT count(*) FROM t").scalar == "1")
            await connection.close()
        }
    }
}
