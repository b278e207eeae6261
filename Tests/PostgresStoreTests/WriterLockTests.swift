import ChainfeedCore
import ChainfeedTestSupport
import Testing

@testable import PostgresStore

@Suite struct WriterLockTests {
    private func makeStore(_ schema: String) async throws -> PostgresEventStore {
        try await PostgresEventStore(
            databaseURL: try TestServers.databaseURL,
            configuration: .init(schema: schema, readConnections: 1, writerLockPollInterval: .milliseconds(50)))
    }

    @Test func `a second writer waits as a standby until the first one's session closes`() async throws {
        try await TestDatabase.withSchema { schema in
            let first = try await makeStore(schema)
            let second = try await makeStore(schema)
            #expect(try await first.acquireWriterLock(wait: false))
            #expect(try await second.acquireWriterLock(wait: false) == false)

            let standby = Task { try await second.acquireWriterLock(wait: true) }
            _ = try await first.store([Synthetic.block(height: 1)], checkpoints: [])
            #expect(await second.holdsWriterLock == false)
            await #expect(throws: PostgresError.writerLockNotHeld) {
                try await second.store([Synthetic.block(height: 2)], checkpoints: [])
            }

            await first.close()
            #expect(try await standby.value)
            let taken = try await second.store([Synthetic.block(height: 1), Synthetic.block(height: 2)], checkpoints: [])
            #expect(taken.stored.map(\.seq) == [2])
            #expect(taken.duplicates == 1)
            await second.close()
        }
    }

    @Test func `a writer whose lock session ends stops writing and the standby takes over`() async throws {
        try await TestDatabase.withSchema { schema in
            let first = try await makeStore(schema)
            let second = try await makeStore(schema)
            #expect(try await first.acquireWriterLock(wait: false))
            let standby = Task { try await second.acquireWriterLock(wait: true) }

            // The lock's session dies (a crashed process, a restarted server, a network cut).
            let pid = try await first.lockToken().backendPID
            try await TestDatabase.admin { c in try c.query("SELECT pg_terminate_backend($1::integer)", [String(pid)]) }
            #expect(try await standby.value)

            await #expect(throws: PostgresError.writerLockLost) {
                try await first.store([Synthetic.block(height: 1)], checkpoints: [])
            }
            #expect(await first.holdsWriterLock == false)
            #expect(try await second.store([Synthetic.block(height: 1)], checkpoints: []).stored.map(\.seq) == [1])
            await #expect(throws: PostgresError.self) { try await first.checkWriterLock() }
            try await second.checkWriterLock()
            await first.close()
            await second.close()
        }
    }

    @Test func `writers of different schemas do not block each other`() async throws {
        try await TestDatabase.withSchema { a in
            try await TestDatabase.withSchema { b in
                let first = try await makeStore(a)
                let second = try await makeStore(b)
                #expect(try await first.acquireWriterLock(wait: false))
                #expect(try await second.acquireWriterLock(wait: false))
                await first.close()
                await second.close()
            }
        }
    }

    @Test func `a standby stops waiting when its task is cancelled`() async throws {
        try await TestDatabase.withSchema { schema in
            let first = try await makeStore(schema)
            let second = try await makeStore(schema)
            #expect(try await first.acquireWriterLock(wait: false))
            let standby = Task { try await second.acquireWriterLock(wait: true) }
            standby.cancel()
            await #expect(throws: CancellationError.self) { try await standby.value }
            await first.close()
            await second.close()
        }
    }
}

extension PostgresEventStore {
    /// The lock session's identity, for tests that end it from outside.
    func lockToken() async throws -> BatchWriter.LockToken {
        try await lock.heldToken()
    }
}
