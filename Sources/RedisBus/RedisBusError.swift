/// Why a Redis operation failed.
///
/// `description` says what failed and what to do, without credentials or URLs; the library's or the server's own
/// text is only in `debugDescription`, for logs.
public enum RedisBusError: Error, Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The Redis URL is not `redis://[[user]:password@]host[:port][/db]`.
    case invalidURL(reason: String)
    /// The server could not be reached (refused, unknown host, no answer within the connect timeout).
    case connectionFailed(reason: String)
    /// An open connection broke under a command (server restart, network loss, protocol error).
    case connectionLost(reason: String)
    /// The server did not answer within the command timeout; the connection is dropped.
    case timedOut(after: Duration)
    /// The server refused a command of the connection's own setup (`AUTH`, `SELECT`, `SUBSCRIBE`, `PUBLISH`).
    case commandFailed(command: String, message: String)
    /// The server answered with a reply this module does not expect there.
    case unexpectedReply(command: String)
    /// The connection was closed by its owner.
    case closed
    /// A command without arguments.
    case emptyCommand
    /// A bus message did not decode (wrong version, truncated, damaged); it is counted and skipped.
    case malformedMessage(reason: String)
    /// The bus configuration cannot work (say, an empty channel prefix).
    case invalidConfiguration(reason: String)
    /// `run()` was called on a bus whose `run()` is already running: a bus has one subscription.
    case alreadyRunning

    /// True for failures of the connection rather than of a command: worth a reconnect and a retry.
    public var isConnectionError: Bool {
        switch self {
        case .connectionFailed, .connectionLost, .timedOut: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .invalidURL:
            "the Redis URL is not valid (expected redis://host:port or redis://host:port/db)"
        case .connectionFailed:
            "could not connect to Redis: check that the server is running and that the URL's host and port are right"
        case .connectionLost:
            "the Redis connection was lost; it is re-established on the next attempt"
        case .timedOut(let after):
            "Redis did not answer within \(after); the connection was dropped and is re-established on the next attempt"
        case .commandFailed(let command, _):
            "Redis refused \(command): check the server's configuration (ACL, password, database)"
        case .unexpectedReply(let command):
            "Redis answered \(command) with a reply of an unexpected type; is the server a Redis 2.8+ compatible server?"
        case .closed:
            "the Redis connection is closed"
        case .emptyCommand:
            "a Redis command needs at least one argument (its name)"
        case .malformedMessage:
            "a message on the Redis bus did not decode (another version of chainfeed, or a foreign publisher); it was skipped"
        case .invalidConfiguration(let reason):
            "the Redis bus configuration is not valid: \(reason)"
        case .alreadyRunning:
            "this Redis bus is already running; run each bus once (one subscription per process)"
        }
    }

    public var debugDescription: String {
        switch self {
        case .invalidURL(let reason), .connectionFailed(let reason), .connectionLost(let reason),
            .malformedMessage(let reason):
            "\(description) [\(reason)]"
        case .commandFailed(_, let message):
            "\(description) [\(message)]"
        default:
            description
        }
    }
}
