/// Where a Redis server listens and how to log in: parsed from `redis://[[user]:password@]host[:port][/db]`.
///
/// `description` shows the host, port and database only, never the credentials, so an address can be logged.
public struct RedisAddress: Sendable, Hashable, CustomStringConvertible {
    public static let defaultPort = 6379

    /// A host name, an IPv4 address or an IPv6 address (without brackets).
    public var host: String
    public var port: Int
    /// The logical database (`SELECT`); pub/sub ignores it, but other commands do not.
    public var database: Int
    /// The ACL user (Redis 6+); `nil` logs in as `default` when a password is given.
    public var username: String?
    public var password: String?

    /// - Parameters:
    ///   - host: A host name or IP address.
    ///   - port: The TCP port, in `1...65535`.
    ///   - database: The logical database, `0` for the default.
    ///   - username: The ACL user, if any.
    ///   - password: The password (`AUTH`), if any.
    public init(host: String, port: Int = defaultPort, database: Int = 0, username: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.database = database
        self.username = username
        self.password = password
    }

    /// Parses a `redis://` URL; throws ``RedisBusError/invalidURL(reason:)`` for anything else.
    public init(url: String) throws {
        func invalid(_ reason: String) -> RedisBusError { .invalidURL(reason: reason) }
        guard !url.utf8.contains(0) else { throw invalid("contains a NUL byte") }
        guard let schemeEnd = url.firstRange(of: "://") else { throw invalid("no scheme (expected redis://)") }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "redis" else {
            throw invalid(scheme == "rediss" ? "TLS (rediss://) is not supported" : "scheme '\(scheme)' is not redis")
        }
        var rest = url[schemeEnd.upperBound...]
        guard !rest.contains("?"), !rest.contains("#") else { throw invalid("query strings and fragments are not supported") }

        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var hostPort = rest
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            hostPort = rest[rest.index(after: at)...]
            guard let colon = userinfo.firstIndex(of: ":") else { throw invalid("credentials need the form user:password or :password") }
            let user = try Self.percentDecoded(userinfo[..<colon])
            username = user.isEmpty ? nil : user
            password = try Self.percentDecoded(userinfo[userinfo.index(after: colon)...])
        }

        var host: Substring
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw invalid("unclosed IPv6 bracket") }
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("unexpected text after the IPv6 address") }
                portText = after.dropFirst()
            }
        } else if let colon = hostPort.firstIndex(of: ":") {
            host = hostPort[..<colon]
            portText = hostPort[hostPort.index(after: colon)...]
        } else {
            host = hostPort
        }
        guard !host.isEmpty else { throw invalid("no host") }
        var port = Self.defaultPort
        if let portText {
            guard let value = Self.decimal(portText), (1...65535).contains(value) else { throw invalid("port is not in 1...65535") }
            port = value
        }
        var database = 0
        if !path.isEmpty {
            guard let value = Self.decimal(path), value <= Int(Int32.max) else { throw invalid("the path must be a database number") }
            database = value
        }
        self.init(host: String(host), port: port, database: database, username: username, password: password)
    }

    public var description: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return database == 0 ? "\(host):\(port)" : "\(host):\(port)/\(database)"
    }

    // MARK: Parsing helpers

    private static func decimal(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 10, text.utf8.allSatisfy({ (48...57).contains($0) }) else { return nil }
        return Int(text)
    }

    private static func percentDecoded(_ text: Substring) throws -> String {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                throw RedisBusError.invalidURL(reason: "bad percent escape in the credentials")
            }
            bytes.append(high << 4 | low)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 48...57: byte - 48
        case 65...70: byte - 55
        case 97...102: byte - 87
        default: nil
        }
    }
}
