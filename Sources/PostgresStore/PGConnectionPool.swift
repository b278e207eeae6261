import Logging
import Synchronization

/// A fixed set of sessions to one server, used round-robin; each session runs on its own thread.
final class PGConnectionPool: Sendable {
    private let connections: [PGConnection]
    private let next = Atomic<UInt>(0)

    private init(connections: [PGConnection]) {
        self.connections = connections
    }

    static func connect(url: String, size: Int, configuration: PGConnection.Configuration, logger: Logger) async throws -> PGConnectionPool {
        var connections: [PGConnection] = []
        do {
            for _ in 0..<max(1, size) {
                connections.append(try await PGConnection.connect(url: url, configuration: configuration, logger: logger))
            }
        } catch {
            for connection in connections { await connection.close() }
            throw error
        }
        return PGConnectionPool(connections: connections)
    }

    /// Runs `body` on the next session. If the server ended that session under it, once more on the same
    /// session, which re-opens itself first (a restarted server ended every session, so another one would
    /// fail alike). Timeouts and refused connections are not retried: they cost their budget once.
    /// Reads only: a retried body must be safe to repeat.
    func withConnection<T: Sendable>(_ body: @Sendable (isolated PGConnection) throws -> T) async throws -> T {
        let connection = connections[Int(next.wrappingAdd(1, ordering: .relaxed).oldValue % UInt(connections.count))]
        do {
            return try await connection.withSession(body)
        } catch let error as PostgresError where error.endedSession {
            return try await connection.withSession(body)
        }
    }

    /// Any one session, for work that must stay on one session.
    var first: PGConnection { connections[0] }

    func close() async {
        for connection in connections { await connection.close() }
    }
}
