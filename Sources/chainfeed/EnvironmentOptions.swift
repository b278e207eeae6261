import ArgumentParser
import ChainfeedCore
import Foundation
import Logging
import RedisBus

/// Flags that fall back to `CHAINFEED_*` environment variables, resolved once at start.
enum Env {
    static func string(_ name: String) -> String? {
        guard let v = ProcessInfo.processInfo.environment[name], !v.isEmpty else { return nil }
        return v
    }

    static func int(_ flag: Int?, _ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        if let flag {
            guard range.contains(flag) else { throw CLIError("--\(flagName(name)) must be in \(range.lowerBound)…\(range.upperBound), got \(flag)") }
            return flag
        }
        guard let text = string(name) else { return value }
        guard let v = Int(text), range.contains(v) else {
            throw CLIError("\(name) must be an integer in \(range.lowerBound)…\(range.upperBound), got '\(text)'")
        }
        return v
    }

    static func list(_ flag: [String], _ name: String) -> [String] {
        if !flag.isEmpty { return flag }
        return string(name)?.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } ?? []
    }

    /// `CHAINFEED_DATABASE_URL` → `database-url`.
    static func flagName(_ env: String) -> String {
        env.replacingOccurrences(of: "CHAINFEED_", with: "").lowercased().replacingOccurrences(of: "_", with: "-")
    }

    static func nodes(_ flag: [String]) throws -> [NodeAddress] {
        try list(flag, "CHAINFEED_NODES").map { text throws(CLIError) in
            do throws(NodeAddressError) {
                return try NodeAddress.parse(text)
            } catch {
                throw CLIError(error.message)
            }
        }
    }

    static func postgresURL(_ flag: String?, _ name: String) throws -> String? {
        guard let url = flag ?? string(name) else { return nil }
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") || url.contains("=") else {
            throw CLIError("--\(flagName(name)) must be a postgresql:// URL or a libpq key=value string")
        }
        return url
    }

    static func redisURL(_ flag: String?) throws -> String? {
        guard let url = flag ?? string("CHAINFEED_REDIS_URL") else { return nil }
        guard url.hasPrefix("redis://") else { throw CLIError("--redis-url must be a redis://host:port URL, got '\(url)'") }
        return url
    }
}

/// Options every long-running command has.
struct CommonOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (env: CHAINFEED_LOG_LEVEL).")
    var logLevel: String?

    func resolvedLogLevel() throws -> Logger.Level {
        let text = logLevel ?? Env.string("CHAINFEED_LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw CLIError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
        }
        return level
    }
}

/// Where the bus runs: Redis, and the channel prefix that keeps clusters sharing one Redis apart.
struct RedisOptions: ParsableArguments {
    @Option(help: "Redis for the event bus, redis://host:port[/db]; without it: dev uses its in-process bus, ingest only stores, serve has no live push (env: CHAINFEED_REDIS_URL).")
    var redisURL: String?

    @Option(help: "Prefix of the Redis channels; writer and web replicas of one cluster must agree (env: CHAINFEED_REDIS_PREFIX).")
    var redisChannelPrefix: String?

    /// The Redis bus, or `nil` without `--redis-url`.
    func bus() throws -> RedisEventBus? {
        guard let url = try Env.redisURL(redisURL) else { return nil }
        let prefix = redisChannelPrefix ?? Env.string("CHAINFEED_REDIS_PREFIX") ?? "chainfeed"
        guard !prefix.isEmpty, prefix.allSatisfy({ $0.isLetter || $0.isNumber || "-_.:".contains($0) }) else {
            throw CLIError("--redis-channel-prefix must be letters, digits, '-', '_', '.', ':', got '\(prefix)'")
        }
        do {
            return try RedisEventBus(configuration: .init(url: url, channelPrefix: prefix), logger: Logger(label: "chainfeed.redis"))
        } catch {
            throw CLIError("--redis-url: \(error)")
        }
    }
}

/// How the PostgreSQL sessions of `dev`, `ingest` and `serve` run their statements.
struct PostgresOptions: ParsableArguments {
    @Option(help: "Prepare each query once per session: on or off; off behind a pooler in transaction mode that does not keep prepared statements (env: CHAINFEED_PG_PREPARED_STATEMENTS).")
    var pgPreparedStatements: String?

    /// Whether sessions prepare their queries (default on).
    func preparedStatements() throws -> Bool {
        let text = pgPreparedStatements ?? Env.string("CHAINFEED_PG_PREPARED_STATEMENTS") ?? "on"
        switch text.lowercased() {
        case "on", "true", "1": return true
        case "off", "false", "0": return false
        default: throw CLIError("--pg-prepared-statements must be on or off, got '\(text)'")
        }
    }
}

/// The slow-consumer bound of every command that serves live streams (`dev`, `serve`).
struct PendingBytesOption: ParsableArguments {
    @Option(help: "Bytes a connection may have unwritten before it is closed as a slow consumer (4008).")
    var maxPendingBytes: Int = 1 << 20

    /// The bound, checked.
    func validated() throws -> Int {
        guard (1024...(1 << 30)).contains(maxPendingBytes) else { throw CLIError("--max-pending-bytes must be in 1024…1073741824") }
        return maxPendingBytes
    }
}
