import Logging

/// The versioned schema: `chainfeed migrate` applies what is missing; stores check the version before use.
///
/// Each migration runs once, in order, inside one transaction that holds a transaction-level advisory lock,
/// so concurrent `migrate` runs wait for each other and a second run finds nothing to do.
public enum Migrations {
    /// A schema change, applied once.
    struct Migration: Sendable {
        var version: Int
        var summary: String
        var statements: [String]
    }

    /// The schema version this build reads and writes.
    public static var latestVersion: Int { all.last?.version ?? 0 }

    static let all: [Migration] = [
        Migration(version: 1, summary: "events, blocks, deploys, account lists, counters, checkpoints", statements: SchemaV1.statements),
    ]

    /// What a `migrate` run did.
    public struct Report: Sendable, Equatable {
        /// The version found before the run (0 for an empty database).
        public var from: Int
        public var to: Int
        public var applied: [Int]
    }

    /// Creates or upgrades the schema, then closes its session.
    ///
    /// - Parameters:
    ///   - databaseURL: The primary's URL; the role must be allowed to create tables (and the schema, if named).
    ///   - schema: The schema to migrate, created if missing; `nil` for the server's default (`public`).
    ///   - logger: Where each applied version is logged.
    @discardableResult
    public static func migrate(databaseURL: String, schema: String? = nil, logger: Logger = PGConnection.noLogger) async throws -> Report {
        let configuration = PGConnection.Configuration(
            schema: schema, statementTimeout: nil, applicationName: "chainfeed-migrate", reconnect: false)
        let connection = try await PGConnection.connect(url: databaseURL, configuration: configuration, logger: logger)
        do {
            let report = try await migrate(on: connection, schema: schema, logger: logger)
            await connection.close()
            return report
        } catch {
            await connection.close()
            throw error
        }
    }

    static func migrate(on connection: PGConnection, schema: String?, logger: Logger) async throws -> Report {
        let migrations = all
        let report = try await connection.transaction { c in
            // Concurrent runs on one schema wait here; the second finds everything applied.
            try c.query("SELECT pg_advisory_xact_lock($1::bigint)", [String(lockKey(schema: try schema ?? currentSchema(c)))])
            if let schema {
                // DDL takes no parameters: the name is validated and quoted (PGConnection.validate(schema:)).
                try c.query("CREATE SCHEMA IF NOT EXISTS \(PGConnection.quoted(identifier: schema))")
            }
            try c.query("""
                CREATE TABLE IF NOT EXISTS schema_version (
                    version integer PRIMARY KEY,
                    summary text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())
                """)
            let from = Int(try c.query("SELECT coalesce(max(version), 0) FROM schema_version").scalar ?? "0") ?? 0
            var applied: [Int] = []
            for migration in migrations where migration.version > from {
                for statement in migration.statements {
                    try c.query(statement)
                }
                try c.query(
                    "INSERT INTO schema_version (version, summary) VALUES ($1::integer, $2)",
                    [String(migration.version), migration.summary])
                applied.append(migration.version)
            }
            return Report(from: from, to: max(from, migrations.last?.version ?? 0), applied: applied)
        }
        for version in report.applied {
            logger.info("applied schema migration", metadata: ["schema.version": "\(version)"])
        }
        return report
    }

    /// The schema version in the session's schema; `nil` when there is none.
    static func installedVersion(_ c: isolated PGConnection) throws -> Int? {
        let exists = try c.query("SELECT to_regclass('schema_version') IS NOT NULL").scalar == "t"
        guard exists else { return nil }
        return try c.query("SELECT max(version) FROM schema_version").scalar.flatMap { Int($0) }
    }

    /// Refuses a schema this build cannot use: writers need exactly the latest, readers at least it.
    static func check(_ c: isolated PGConnection, forWriting: Bool) throws {
        let latest = latestVersion
        guard let found = try installedVersion(c) else { throw PostgresError.schemaMissing(required: latest) }
        if found < latest { throw PostgresError.schemaOutdated(found: found, required: latest) }
        if forWriting && found > latest { throw PostgresError.schemaTooNew(found: found, supported: latest) }
    }

    static func currentSchema(_ c: isolated PGConnection) throws -> String {
        try c.query("SELECT current_schema()").scalar ?? "public"
    }

    /// The advisory lock key that serialises migrations of one schema.
    static func lockKey(schema: String) -> Int64 {
        AdvisoryKey.of("chainfeed.migrate/" + schema)
    }
}

/// Stable 64-bit advisory lock keys from names (FNV-1a), the same in every process and build.
enum AdvisoryKey {
    static func of(_ name: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }
}
