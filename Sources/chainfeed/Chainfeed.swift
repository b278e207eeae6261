import ArgumentParser
import Foundation

/// `chainfeed`: with no subcommand, the all-in-one development server (`dev`).
@main
struct Chainfeed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chainfeed",
        abstract: "Stores Casper node events once and fans them out over REST, WebSocket and SSE.",
        discussion: """
            Every option can also be set through its environment variable (shown as env: …); \
            a flag given on the command line wins.
            """,
        subcommands: [DevCommand.self, IngestCommand.self, ServeCommand.self, MigrateCommand.self, SimulateNodeCommand.self],
        defaultSubcommand: DevCommand.self
    )

    /// Runs the command; a bad flag or a failure ends with one line on stderr and a non-zero exit.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                // --help, --version: the full text, on stdout.
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message = (error as? CLIError)?.description
                ?? fullMessage(for: error).split(separator: "\n").first.map(String.init)
                ?? "\(error)"
            FileHandle.standardError.write(Data("chainfeed: \(message.replacingOccurrences(of: "Error: ", with: ""))\n".utf8))
            Foundation.exit(code == .success ? 1 : code.rawValue)
        }
    }
}
