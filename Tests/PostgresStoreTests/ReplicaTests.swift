import ChainfeedCore
import ChainfeedTestSupport
import Foundation
import Testing

@testable import PostgresStore

@Suite struct ReplicaTests {
    private func replicaReader(_ schema: String, applicationName: String = "chainfeed-test-reader") async throws -> PostgresEventReader {
        let url = try TestServers.replicaURL
        let configuration = PostgresEventReader.Configuration(schema: schema, connections: 2, applicationName: applicationName)
        // The replica has the schema once it has replayed the migration.
        var reader: PostgresEventReader?
        _ = try await TestDatabase.eventually {
            reader = try await PostgresEventReader(databaseURL: url, configuration: configuration)
            return true
        }
        return try #require(reader)
    }

    @Test func `a reader on the streaming replica serves what the primary stored once it has caught up`() async throws {
        try await TestDatabase.withStore { store, schema in
            let events = try Fixtures.storableEvents() + (1...30).map { Synthetic.block(height: UInt64($0)) }
            let result = try await store.store(events, checkpoints: [NodeCheckpoint(stream: "http://n/events", lastEventId: 3)])
            let head = try #require(result.stored.last?.seq)
            let reader = try await replicaReader(schema)
            #expect(try await TestDatabase.eventually { try await reader.status().headSeq == head })
            #expect(try await reader.headSeq() == head)
            #expect(try await reader.replicationLag() != nil)
            try await ReferenceComparison.expectSameReads(reader, store, events: events)
            await reader.close()
            let primary = try await PostgresEventReader(databaseURL: try TestServers.databaseURL, configuration: .init(schema: schema))
            #expect(try await primary.replicationLag() == nil)
            #expect(try await primary.headSeq() == head)
            await primary.close()
        }
    }

    @Test func `a reader re-opens sessions the server ended and answers the same read`() async throws {
        try await TestDatabase.withStore { store, schema in
            _ = try await store.store([Synthetic.block(height: 1)], checkpoints: [])
            let name = "chainfeed-test-" + String(UUID().uuidString.prefix(8)).lowercased()
            let reader = try await replicaReader(schema, applicationName: name)
            #expect(try await TestDatabase.eventually { try await reader.status().headSeq == 1 })
            // As a replica restart does: the server ends every session of the reader.
            let ended = try await TestDatabase.admin(url: try TestServers.replicaURL) { c in
                try c.query("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", [name]).scalar
            }
            #expect(ended == "2")
            #expect(try await reader.status().headSeq == 1)
            #expect(try await reader.blocks(PageRequest()).itemCount == 1)
            await reader.close()
        }
    }

    @Test func `the replica refuses writes and the read-only role can only read`() async throws {
        try await TestDatabase.withStore { store, schema in
            _ = try await store.store([Synthetic.block(height: 1)], checkpoints: [])
            let replica = try TestServers.replicaURL
            let error = await #expect(throws: PostgresError.self) {
                try await TestDatabase.admin(url: replica, schema: schema) { c in
                    try c.query("INSERT INTO counters (name, value) VALUES ('x', 1)")
                }
            }
            #expect(error.map { if case .server("25006", _, _) = $0 { true } else { false } } == true)

            try runReadOnlyRoleScript(schema: schema)
            let readerURL = try TestServers.databaseURL.replacingOccurrences(of: "postgres@", with: "chainfeed_reader@")
            let reader = try await PostgresEventReader(databaseURL: readerURL, configuration: .init(schema: schema))
            #expect(try await reader.blocks(PageRequest()).items.map(\.height) == [1])
            await reader.close()
            // Even a session that turns read-only mode off lacks the privilege to write.
            let refused = await #expect(throws: PostgresError.self) {
                try await TestDatabase.admin(url: readerURL, schema: schema) { c in
                    try c.query("SET default_transaction_read_only = off")
                    try c.query("INSERT INTO counters (name, value) VALUES ('x', 1)")
                }
            }
            #expect(refused.map { if case .server("42501", _, _) = $0 { true } else { false } } == true)
        }
    }

    private func runReadOnlyRoleScript(schema: String) throws {
        let environment = ProcessInfo.processInfo.environment
        let bin = environment["CHAINFEED_TEST_PG_BIN"] ?? "/usr/lib/postgresql/15/bin"
        let script = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("deploy/readonly-role.sql")
        let psql = Process()
        psql.executableURL = URL(fileURLWithPath: bin + "/psql")
        psql.arguments = [try TestServers.databaseURL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "schema=\(schema)", "-f", script.path]
        psql.standardOutput = FileHandle.nullDevice
        try psql.run()
        psql.waitUntilExit()
        #expect(psql.terminationStatus == 0, "psql -f deploy/readonly-role.sql failed")
    }
}
