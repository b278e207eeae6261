extension PGConnection {
    /// How a session is opened and set up.
    public struct Configuration: Sendable, Equatable {
        /// The schema unqualified names resolve to (`search_path`); `nil` keeps the server's default (`public`).
        public var schema: String?
        /// The budget of one statement (`statement_timeout`, and a client-side deadline 5 s later); `nil` for none.
        public var statementTimeout: Duration?
        /// How long opening a session may take (libpq `connect_timeout`, whole seconds, at least 2).
        public var connectTimeout: Duration
        /// Shown in `pg_stat_activity`.
        public var applicationName: String
        /// Sessions refuse writes (`default_transaction_read_only`), as a web replica's must (invariant 8).
        public var readOnly: Bool
        /// Re-open a broken session on its next use. Off for a session whose locks must not silently vanish.
        public var reconnect: Bool
        /// Prepare each query once per session and run it by name. Off behind a pooler that hands a
        /// session's statements to other server sessions (PgBouncer in transaction mode before 1.21).
        public var preparedStatements: Bool

        /// - Parameters:
        ///   - schema: The schema to use; a lowercase identifier (`[a-z_][a-z0-9_]*`).
        ///   - statementTimeout: The budget of one statement; `nil` for none (migrations).
        ///   - connectTimeout: The budget of opening a session.
        ///   - applicationName: The name the server shows for the session.
        ///   - readOnly: Refuse writes in this session.
        ///   - reconnect: Re-open a broken session on its next use.
        ///   - preparedStatements: Prepare each query once per session.
        public init(
            schema: String? = nil, statementTimeout: Duration? = .seconds(30), connectTimeout: Duration = .seconds(5),
            applicationName: String = "chainfeed", readOnly: Bool = false, reconnect: Bool = true,
            preparedStatements: Bool = true
        ) {
            self.preparedStatements = preparedStatements
            self.schema = schema
            self.statementTimeout = statementTimeout
            self.connectTimeout = connectTimeout
            self.applicationName = applicationName
            self.readOnly = readOnly
            self.reconnect = reconnect
        }

        /// libpq connection keywords that precede the URL; the URL's own values override them.
        var connectionDefaults: [(keyword: String, value: String)] {
            [
                ("connect_timeout", String(max(2, connectTimeout.components.seconds))),
                ("application_name", applicationName),
                // Swift strings are UTF-8 whatever the database's encoding.
                ("client_encoding", "UTF8"),
                // Notice a vanished server within ~25 s instead of the kernel's two hours.
                ("keepalives", "1"), ("keepalives_idle", "10"), ("keepalives_interval", "5"), ("keepalives_count", "3"),
            ]
        }

        /// `set_config` pairs applied to every (re)opened session.
        var sessionSettings: [(name: String, value: String)] {
            var settings: [(name: String, value: String)] = [
                ("statement_timeout", statementTimeout.map { "\(max(1, $0.milliseconds))ms" } ?? "0"),
                ("client_min_messages", "warning"),
                // The server notices a vanished client (and frees its locks) within ~25 s too.
                ("tcp_keepalives_idle", "10"), ("tcp_keepalives_interval", "5"), ("tcp_keepalives_count", "3"),
            ]
            if let schema { settings.append(("search_path", PGConnection.quoted(identifier: schema))) }
            if readOnly { settings.append(("default_transaction_read_only", "on")) }
            return settings
        }
    }

    /// Refuses schema names that are not plain lowercase identifiers, so quoting them is always exact.
    static func validate(schema: String) throws {
        let bytes = Array(schema.utf8)
        let ok = !bytes.isEmpty && bytes.count <= 63
            && bytes.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 95 }
            && !(48...57).contains(bytes[0])
        guard ok else { throw PostgresError.invalidSchemaName(schema) }
    }

    /// A validated identifier in double quotes, for the few statements that cannot take it as a parameter (DDL).
    static func quoted(identifier: String) -> String {
        "\"" + identifier.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}
