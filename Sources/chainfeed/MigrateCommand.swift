import ArgumentParser
import Logging
import PostgresStore

/// Creates or upgrades the PostgreSQL schema, then exits.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create or upgrade the PostgreSQL schema, then exit."
    )

    @Option(help: "PostgreSQL primary, postgresql://user@host:port/db (env: CHAINFEED_DATABASE_URL).")
    var databaseURL: String?

    @OptionGroup var common: CommonOptions

    func run() async throws {
        guard let url = try Env.postgresURL(databaseURL, "CHAINFEED_DATABASE_URL") else {
            throw CLIError("migrate needs --database-url (or CHAINFEED_DATABASE_URL)")
        }
        Observability.bootstrap(logLevel: try common.resolvedLogLevel())
        let logger = Logger(label: "chainfeed.migrate")
        do {
            let report = try await Migrations.migrate(databaseURL: url, logger: logger)
            print("schema at version \(Migrations.latestVersion) (\(report))")
        } catch {
            throw CLIError("migrate failed: \(error)")
        }
    }
}
