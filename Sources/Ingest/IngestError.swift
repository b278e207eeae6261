/// What failed while reading a node's event stream, and what the caller should do about it.
///
/// `description` never holds a URL or credentials (it ends up in client-facing logs and status pages);
/// `debugDescription` adds the node URL, with any user info removed, and the low-level reason.
public enum IngestError: Error, Sendable, Equatable {
    /// The configured node URL is not an absolute `http`/`https` URL with a host. The payload says what is
    /// wrong with it, never the URL itself (it may hold credentials). Fix the configuration: retrying cannot help.
    case invalidNodeURL(String)
    /// The request failed before the node sent a response head: connection refused, DNS, TLS, connect timeout.
    /// Retry with backoff, or fail over to another node.
    case nodeUnreachable(url: String, reason: String)
    /// The node answered with a status other than 200: 404 for a wrong path, 422 for a malformed `start_from`,
    /// 503 when it has reached its subscriber limit. Retry with backoff (503), or fix the path (404, 422).
    case nodeHTTPStatus(url: String, status: Int)
    /// No byte at all, not even a keep-alive comment, arrived for `timeout`. The connection has been closed:
    /// reconnect with `start_from` set to the last id seen.
    case streamIdle(url: String, timeout: Duration)
    /// The connection broke in the middle of the stream (reset, or closed before the body ended).
    /// Reconnect with `start_from` set to the last id seen.
    case connectionLost(url: String, reason: String)
    /// The task reading the stream was cancelled, and the connection has been closed. Do not retry.
    case cancelled
}

extension IngestError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .invalidNodeURL(let problem):
            "Invalid node event stream URL: \(problem)."
        case .nodeUnreachable:
            "The node's event stream could not be reached."
        case .nodeHTTPStatus(_, let status):
            "The node's event stream answered with HTTP status \(status)."
        case .streamIdle(_, let timeout):
            "The node's event stream sent nothing for \(timeout); the connection was closed."
        case .connectionLost:
            "The connection to the node's event stream was lost mid-stream."
        case .cancelled:
            "Reading the node's event stream was cancelled."
        }
    }
}

extension IngestError: CustomDebugStringConvertible {
    public var debugDescription: String {
        switch self {
        case .invalidNodeURL, .cancelled, .nodeHTTPStatus, .streamIdle:
            "\(self.description) (\(self.url ?? "no URL"))"
        case .nodeUnreachable(let url, let reason), .connectionLost(let url, let reason):
            "\(self.description) (\(url)): \(reason)"
        }
    }

    /// The node URL the error is about, user info removed; `nil` when the error concerns no connection.
    public var url: String? {
        switch self {
        case .nodeUnreachable(let url, _), .nodeHTTPStatus(let url, _), .streamIdle(let url, _),
            .connectionLost(let url, _):
            url
        case .invalidNodeURL, .cancelled:
            nil
        }
    }
}
