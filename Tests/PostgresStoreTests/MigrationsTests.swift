import ChainfeedCore
import Testing

@testable import PostgresStore

@Suite struct MigrationsTests {
    @Test func `migrating again applies nothing and concurrent runs apply each version once`() async throws {
        try await TestDatabase.withSchema(migrate: false) { schema in
            let url = try TestServers.databaseURL
            async let a = Migrations.migrate(databaseURL: url, schema: schema)
            async let b = Migrations.migrate(databaseURL: url, schema: schema)
            let reports = try await [a, b]
            #expect(reports.flatMap(\.applied) == [Migrations.latestVersion])
            #expect(reports.allSatisfy { $0.to == Migrations.latestVersion })
            let again = try await Migrations.migrate(databaseURL: url, schema: schema)
            #expect(again == Migrations.Report(from: Migrations.latestVersion, to: Migrations.latestVersion, applied: []))
            let versions = try await TestDatabase.admin(schema: schema) { c in
                try c.query("SELECT version FROM schema_version ORDER BY version").rows.map { $0[0] }
            }
            #expect(versions == (1...Migrations.latestVersion).map { String($0) })
        }
    }

    @Test func `stores refuse a missing, outdated or newer schema with a clear message`() async throws {
        try await TestDatabase.withSchema(migrate: false) { schema in
            let url = try TestServers.databaseURL
            await #expect(throws: PostgresError.schemaMissing(required: Migrations.latestVersion)) {
                try await PostgresEventStore(databaseURL: url, configuration: .init(schema: schema))
            }
            await #expect(throws: PostgresError.schemaMissing(required: Migrations.latestVersion)) {
                try await PostgresEventReader(databaseURL: url, configuration: .init(schema: schema))
            }
            #expect(PostgresError.schemaMissing(required: 1).description.contains("chainfeed migrate"))

            try await Migrations.migrate(databaseURL: url, schema: schema)
            try await TestDatabase.admin(schema: schema) { c in
                try c.query("INSERT INTO schema_version (version, summary) VALUES (99, 'from the future')")
            }
            let newer = PostgresError.schemaTooNew(found: 99, supported: Migrations.latestVersion)
            await #expect(throws: newer) {
                try await PostgresEventStore(databaseURL: url, configuration: .init(schema: schema))
            }
            // Readers keep reading a newer (additive) schema.
            let reader = try await PostgresEventReader(databaseURL: url, configuration: .init(schema: schema))
            #expect(try await reader.status().headSeq == 0)
            await reader.close()

            try await TestDatabase.admin(schema: schema) { c in
                try c.query("DELETE FROM schema_version")
                try c.query("INSERT INTO schema_version (version, summary) VALUES (0, 'from the past')")
            }
            let outdated = PostgresError.schemaOutdated(found: 0, required: Migrations.latestVersion)
            await #expect(throws: outdated) {
                try await PostgresEventStore(databaseURL: url, configuration: .init(schema: schema))
            }
            #expect(outdated.description.contains("run `chainfeed migrate`"))
        }
    }

    @Test func `a schema name that is not a plain identifier is refused`() async throws {
        let url = try TestServers.databaseURL
        for name in ["Upper", "with-dash", "1digit", "quote\"", "", String(repeating: "a", count: 64)] {
            await #expect(throws: PostgresError.invalidSchemaName(name)) {
                try await Migrations.migrate(databaseURL: url, schema: name)
            }
        }
    }
}
