import ChainfeedCore
import Foundation
import Testing

@testable import PostgresStore

/// The servers of `scripts/test-servers.sh`: from the environment, else from the script's env file.
/// A missing server fails the test that needs it; nothing is skipped.
enum TestServers {
    static func value(_ name: String) throws -> String {
        if let value = ProcessInfo.processInfo.environment[name], !value.isEmpty { return value }
        let dir = ProcessInfo.processInfo.environment["CHAINFEED_TEST_SERVERS_DIR"] ?? "/tmp/chainfeed-test-servers"
        if let text = try? String(contentsOfFile: dir + "/env", encoding: .utf8) {
            for line in text.split(separator: "\n") {
                let assignment = line.hasPrefix("export ") ? line.dropFirst("export ".count) : line[...]
                let parts = assignment.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0] == name { return String(parts[1]) }
            }
        }
        Issue.record("\(name) is not set: run `bash scripts/test-servers.sh start && source <(bash scripts/test-servers.sh env)`")
        throw TestServersMissing(name: name)
    }

    static var databaseURL: String { get throws { try value("CHAINFEED_TEST_DATABASE_URL") } }
    static var replicaURL: String { get throws { try value("CHAINFEED_TEST_REPLICA_URL") } }

    struct TestServersMissing: Error, CustomStringConvertible {
        var name: String
        var description: String { "\(name) is not set and the test servers' env file is missing" }
    }
}

/// A schema of its own per test (`t_<random>`), migrated, and dropped at the end.
enum TestDatabase {
    static func withSchema<T: Sendable>(migrate: Bool = true, _ body: (String) async throws -> T) async throws -> T {
        let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20)
        let url = try TestServers.databaseURL
        do {
            if migrate {
                try await Migrations.migrate(databaseURL: url, schema: schema)
            } else {
                try await admin { c in try c.query("CREATE SCHEMA \(PGConnection.quoted(identifier: schema))") }
            }
            let result = try await body(schema)
            try await drop(schema)
            return result
        } catch {
            do {
                try await drop(schema)
            } catch let dropError {
                Issue.record("could not drop test schema \(schema): \(dropError)")
            }
            throw error
        }
    }

    /// A migrated schema and a store on it that holds the writer lock.
    static func withStore<T: Sendable>(
        _ configuration: PostgresEventStore.Configuration = .init(), _ body: (PostgresEventStore, String) async throws -> T
    ) async throws -> T {
        try await withSchema { schema in
            var configuration = configuration
            configuration.connection.schema = schema
            let store = try await PostgresEventStore(databaseURL: try TestServers.databaseURL, configuration: configuration)
            do {
                #expect(try await store.acquireWriterLock(wait: false))
                let result = try await body(store, schema)
                await store.close()
                return result
            } catch {
                await store.close()
                throw error
            }
        }
    }

    /// Runs `body` on a fresh superuser session to the primary (or `url`), in the default schema.
    @discardableResult
    static func admin<T: Sendable>(url: String? = nil, schema: String? = nil, _ body: @Sendable (isolated PGConnection) throws -> T) async throws -> T {
        let connection = try await PGConnection.connect(
            url: try url ?? TestServers.databaseURL, configuration: .init(schema: schema, applicationName: "chainfeed-test-admin"))
        do {
            let result = try await connection.withSession(body)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    static func drop(_ schema: String) async throws {
        try await admin { c in try c.query("DROP SCHEMA IF EXISTS \(PGConnection.quoted(identifier: schema)) CASCADE") }
    }

    /// Retries `body` until it returns true, for at most `timeout`; a bound, not a timing assertion.
    static func eventually(timeout: Duration = .seconds(15), _ body: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? await body()) == true { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await body()
    }
}
