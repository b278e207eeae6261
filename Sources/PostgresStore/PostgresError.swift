/// Why a PostgreSQL operation failed.
///
/// `description` says what failed and what to do, without credentials, URLs or SQL values; the server's own
/// text (which may quote values) is only in `debugDescription`, for logs.
public enum PostgresError: Error, Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The database URL is not a libpq connection URI (`postgresql://…`) or `key=value` string.
    case invalidURL(reason: String)
    /// The server could not be reached or refused the session.
    case connectionFailed(message: String)
    /// The session ended under a statement (server restart, network loss, terminated backend).
    case connectionLost(message: String)
    /// The server refused a statement; `sqlState` is the five-character SQLSTATE code.
    case server(sqlState: String, message: String, detail: String?)
    /// No answer within the statement time budget; the session is reset before its next use.
    case timedOut(after: Duration)
    /// The connection was closed by its owner.
    case closed
    /// A parameter holds a NUL byte, which PostgreSQL text cannot store.
    case invalidParameter(index: Int)
    /// A schema name that is not a plain lowercase identifier.
    case invalidSchemaName(String)
    /// The database has no Chainfeed schema at all.
    case schemaMissing(required: Int)
    /// The database schema is older than this build needs.
    case schemaOutdated(found: Int, required: Int)
    /// The database schema is newer than this build knows.
    case schemaTooNew(found: Int, supported: Int)
    /// `store` was called without holding the writer lock (DESIGN.md invariant 7).
    case writerLockNotHeld
    /// The session that held the writer lock ended: another writer may be writing now.
    case writerLockLost
    /// A stored value did not decode into its Swift type.
    case malformedValue(column: String)
    /// The server answered a statement with a result kind this module never asks for (such as COPY).
    case unsupportedResult(status: String)
    /// The events insert stored fewer rows than planned: another writer wrote under us.
    case concurrentWriter(planned: Int, inserted: Int)

    /// True for failures of the connection rather than of the statement: worth a retry elsewhere or later.
    public var isConnectionError: Bool {
        switch self {
        case .connectionFailed, .connectionLost, .timedOut:
            true
        case .server(let state, _, _):
            // 08: connection exception; 57P01…57P05: shutdown, crash, cannot connect now, idle timeouts.
            state.hasPrefix("08") || state.hasPrefix("57P")
        default:
            false
        }
    }

    /// True when the server ended the session under a statement: the same statement on a re-opened session
    /// may well succeed (a restarted server, a terminated backend). Not for timeouts or refused connections.
    public var endedSession: Bool {
        switch self {
        case .connectionLost: true
        case .server(let state, _, _): state.hasPrefix("08") || state.hasPrefix("57P")
        default: false
        }
    }

    public var description: String {
        switch self {
        case .invalidURL:
            "the database URL is not a valid PostgreSQL connection URL (expected postgresql://user@host:port/database)"
        case .connectionFailed:
            "could not connect to PostgreSQL: check that the server is running and that the URL's host, port, user and database are right"
        case .connectionLost:
            "the PostgreSQL connection was lost; it is re-established on the next use"
        case .server(let state, _, _):
            "PostgreSQL refused the statement (SQLSTATE \(state)): \(Self.advice(forSQLState: state))"
        case .timedOut(let after):
            "PostgreSQL did not answer within \(after); the session will be reset"
        case .closed:
            "the PostgreSQL connection is closed"
        case .invalidParameter(let index):
            "statement parameter \(index) contains a NUL byte, which PostgreSQL text cannot hold"
        case .invalidSchemaName(let name):
            "schema name '\(name)' must be a lowercase identifier (a-z, 0-9, _), at most 63 characters"
        case .schemaMissing(let required):
            "the database has no Chainfeed schema: run `chainfeed migrate` (schema version \(required))"
        case .schemaOutdated(let found, let required):
            "the database schema is version \(found) but this build needs \(required): run `chainfeed migrate`"
        case .schemaTooNew(let found, let supported):
            "the database schema is version \(found), newer than this build's \(supported): upgrade chainfeed before writing"
        case .writerLockNotHeld:
            "this process does not hold the writer lock; acquire it before storing events (only one writer may write)"
        case .writerLockLost:
            "the writer lock's database session ended, so another writer may have taken over; stop writing and re-acquire the lock"
        case .malformedValue(let column):
            "the stored value of column '\(column)' does not decode; the data or the schema is damaged"
        case .unsupportedResult(let status):
            "PostgreSQL answered with an unsupported result (\(status))"
        case .concurrentWriter(let planned, let inserted):
            "another writer stored events concurrently (\(inserted) of \(planned) inserted); the batch was rolled back"
        }
    }

    public var debugDescription: String {
        switch self {
        case .invalidURL(let reason):
            "\(description) [\(reason)]"
        case .connectionFailed(let message), .connectionLost(let message):
            "\(description) [\(message)]"
        case .server(_, let message, let detail):
            "\(description) [\(message)\(detail.map { "; \($0)" } ?? "")]"
        default:
            description
        }
    }

    /// What a SQLSTATE class means for the operator.
    static func advice(forSQLState state: String) -> String {
        switch state {
        case "57014": return "the statement ran past statement_timeout"
        case "40001", "40P01": return "a serialization failure or deadlock; retry"
        case "25006": return "the session is read-only (a replica or the read-only role); write through the primary"
        case "42501": return "the role lacks a privilege for this statement"
        case "42P01", "42703": return "a table or column is missing: run `chainfeed migrate`"
        case "3D000": return "the database does not exist: create it first"
        case "53300": return "the server has too many connections"
        default: break
        }
        switch state.prefix(2) {
        case "08": return "the connection failed"
        case "23": return "a constraint was violated"
        case "28": return "authentication failed: check the user and password"
        case "53": return "the server ran out of a resource"
        case "57": return "the server is shutting down or refused the session"
        case "22": return "a value is out of range or malformed"
        default: return "see the server log"
        }
    }
}
