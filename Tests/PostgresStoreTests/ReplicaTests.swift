import ChainfeedCore
import ChainfeedTestSupport
import Foundation
import Logging
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

    @Test func `a minSeq read waits for a paused replica to replay, and a lagging replica is skipped for one that has the data`() async throws {
        try await TestDatabase.withStore { store, schema in
            _ = try await store.store([Synthetic.block(height: 1)], checkpoints: [])
            let replica = try await replicaReader(schema)
            #expect(try await TestDatabase.eventually { try await replica.headSeq() == 1 })
            let primary = try await PostgresEventReader(databaseURL: try TestServers.databaseURL, configuration: .init(schema: schema))
            func member(_ reader: PostgresEventReader) -> ReplicaSet.Member {
                .init(reader: reader, zone: nil, replayLag: { try await reader.replicationLag() })
            }
            let infrastructure: @Sendable (any Error) -> Bool = { ($0 as? PostgresError)?.isConnectionError == true }
            let replicaOnly = ReplicaSet(members: [member(replica)], strategy: .single, ownZone: nil, isInfrastructureError: infrastructure)
            let both = ReplicaSet(
                members: [member(replica), member(primary)], strategy: .single, ownZone: nil, maxLag: .milliseconds(300),
                isInfrastructureError: infrastructure)
            let second = Synthetic.block(height: 2)
            guard case .block(let block) = second.payload else { Issue.record("not a block"); return }

            // Replay paused on the shared replica for about a second: the replica lags behind the primary.
            let replicaURL = try TestServers.replicaURL
            _ = try await TestDatabase.admin(url: replicaURL) { c in try c.query("SELECT pg_wal_replay_pause()") }
            do {
                let head = try #require(try await store.store([second], checkpoints: []).stored.last?.seq)
                async let waited = replicaOnly.reader(applied: head, within: .seconds(30)).block(hash: block.blockHash)
                try await Task.sleep(for: .milliseconds(600))
                #expect(try await replica.headSeq() == head - 1, "replay was not paused")
                await both.refresh()
                #expect(both.health.map(\.lagging) == [true, false])
                #expect(try await both.block(hash: block.blockHash)?.height == 2, "the lagging replica answered a stale 404")
                _ = try await TestDatabase.admin(url: replicaURL) { c in try c.query("SELECT pg_wal_replay_resume()") }
                #expect(try await waited?.height == 2, "the minSeq read did not see the block once the replica replayed it")
            } catch {
                _ = try? await TestDatabase.admin(url: replicaURL) { c in try c.query("SELECT pg_wal_replay_resume()") }
                throw error
            }
            await both.refresh()
            #expect(both.health.map(\.lagging) == [false, false])
            await replica.close()
            await primary.close()
        }
    }

    @Test func `a read database not usable at start fails over until it is, then is connected and read`() async throws {
        let dead = DeferredEventReader(databaseURL: "postgresql://postgres@127.0.0.1:\(try freePort())/none", logger: Logger(label: "test"))
        let refused = await #expect(throws: PostgresError.self) { try await dead.status() }
        #expect(refused?.isConnectionError == true, "a ReplicaSet must move on from a database that is down")
        await dead.close()

        try await TestDatabase.withSchema(migrate: false) { schema in
            let url = try TestServers.databaseURL
            let reader = DeferredEventReader(databaseURL: url, configuration: .init(schema: schema), logger: Logger(label: "test"))
            await #expect(throws: PostgresError.self) { try await reader.status() }  // no schema yet
            let early = await #expect(throws: PostgresError.self) { try await reader.status() }
            #expect(early?.isConnectionError == true, "between attempts a read fails over at once")
            try await Migrations.migrate(databaseURL: url, schema: schema)
            #expect(try await TestDatabase.eventually(timeout: .seconds(30)) { try await reader.appliedSeq() == 0 })
            #expect(try await reader.blocks(PageRequest()).itemCount == 0)
            await reader.close()
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

            try await runReadOnlyRoleScript(schema: schema)
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

    private func runReadOnlyRoleScript(schema: String) async throws {
        let environment = ProcessInfo.processInfo.environment
        let bin = environment["CHAINFEED_TEST_PG_BIN"] ?? "/usr/lib/postgresql/15/bin"
        let script = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("deploy/readonly-role.sql")
        let psql = try await runTool([
            bin + "/psql", try TestServers.databaseURL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "schema=\(schema)", "-f", script.path,
        ])
        #expect(psql.status == 0, "psql -f deploy/readonly-role.sql failed")
    }
}
