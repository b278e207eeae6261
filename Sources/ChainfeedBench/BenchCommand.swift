import ArgumentParser

/// The load client and report printer of `scripts/bench.sh`.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chainfeed-bench",
        abstract: "Chainfeed's benchmark load client (run through scripts/bench.sh).",
        subcommands: [FanOutCommand.self, ReportCommand.self])
}
