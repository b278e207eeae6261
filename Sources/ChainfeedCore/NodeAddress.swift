/// Where a node's three servers answer: SSE events, REST `/status`, and JSON-RPC.
///
/// `--node URL` names one base at which all three answer (the simulator); a real node's servers
/// listen on their own ports: `--node sse=URL,rest=URL,rpc=URL`.
public struct NodeAddress: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Base of the SSE paths (`/events`, or `/events/main` … on 1.x).
    public var sse: String
    /// Base of `/status`.
    public var rest: String
    /// The JSON-RPC endpoint itself.
    public var rpc: String

    public init(sse: String, rest: String, rpc: String) {
        self.sse = sse
        self.rest = rest
        self.rpc = rpc
    }

    public var description: String { sse }

    /// Parses `URL` or `sse=URL,rest=URL,rpc=URL`; every URL must be `http://` or `https://` with a host.
    public static func parse(_ text: String) throws(NodeAddressError) -> NodeAddress {
        let trimmed = text.trimmingSpaces
        guard trimmed.contains("=") else {
            let base = try validated(trimmed)
            return NodeAddress(sse: base, rest: base, rpc: base + "/rpc")
        }
        var parts: [String: String] = [:]
        for piece in trimmed.split(separator: ",") {
            let kv = piece.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, ["sse", "rest", "rpc"].contains(kv[0]) else {
                throw NodeAddressError("node '\(text)': expected URL or sse=URL,rest=URL,rpc=URL")
            }
            guard parts.updateValue(kv[1], forKey: kv[0]) == nil else {
                throw NodeAddressError("node '\(text)': \(kv[0]) given twice")
            }
        }
        guard let sse = parts["sse"] else { throw NodeAddressError("node '\(text)': sse=URL is required") }
        let sseBase = try validated(sse)
        let rest = try parts["rest"].map { url throws(NodeAddressError) in try validated(url) } ?? sseBase
        let rpc = try parts["rpc"].map { url throws(NodeAddressError) in try validated(url) } ?? (rest + "/rpc")
        return NodeAddress(sse: sseBase, rest: rest, rpc: rpc)
    }

    private static func validated(_ url: String) throws(NodeAddressError) -> String {
        var u = url
        while u.hasSuffix("/") { u.removeLast() }
        let lower = u.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
            throw NodeAddressError("node URL '\(url)' must start with http:// or https://")
        }
        let rest = u.drop { $0 != "/" }.dropFirst(2)
        let host = rest.prefix { $0 != "/" && $0 != ":" }
        guard !host.isEmpty, !u.contains(" ") else {
            throw NodeAddressError("node URL '\(url)' has no host")
        }
        return u
    }
}

/// A node given on the command line that cannot be used; the message names it.
public struct NodeAddressError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
