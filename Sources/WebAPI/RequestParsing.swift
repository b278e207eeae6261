import ChainfeedCore
import Hummingbird

/// Query and path parsing shared by the controllers: every malformed value becomes a 400 naming it.
extension Request {
    func query(_ name: String) -> String? {
        uri.queryParameters[name[...]].map(String.init)
    }

    func pageRequest() throws(APIError) -> PageRequest {
        do {
            return try PageRequest.parse(page: query("page"), limit: query("limit"))
        } catch {
            throw .badRequest(error.message)
        }
    }

    /// Topics and filter keys in the `/ws` shortcut form: `?topics=a,b&account=…`.
    func eventFilter() throws(APIError) -> EventFilter {
        var keys: [String: String] = [:]
        for name in EventFilter.keyNames {
            if let v = query(name) { keys[name] = v }
        }
        do {
            return try EventFilter.parse(topics: query("topics").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }, keys: keys)
        } catch {
            throw .badRequest(error.message)
        }
    }

    /// Refuses query parameters that the route does not know, so a typo is not silently ignored.
    func requireKnownParameters(_ known: Set<String>) throws(APIError) {
        for (name, _) in uri.queryParameters where !known.contains(String(name)) {
            throw .badRequest("unknown parameter '\(name)'; this path takes \(known.sorted().joined(separator: ", "))")
        }
    }
}

extension RequestContext {
    /// A path hash, lowercased; 400 unless it is 64 hex digits.
    func hashParameter(_ name: String) throws(APIError) -> String {
        guard let raw = parameters.get(name) else { throw .badRequest("missing \(name)") }
        let value = raw.lowercased()
        guard Identifiers.isHash(value) else { throw .badRequest("\(name) '\(raw)' is not 64 hex digits") }
        return value
    }

    /// A path account, lowercased; 400 unless it is a public key or account hash.
    func accountParameter(_ name: String) throws(APIError) -> String {
        guard let raw = parameters.get(name) else { throw .badRequest("missing \(name)") }
        let value = raw.lowercased()
        guard Identifiers.isAccount(value) else {
            throw .badRequest("\(name) '\(raw)' is not a public key (01… or 02… hex) or account-hash-…")
        }
        return value
    }
}
