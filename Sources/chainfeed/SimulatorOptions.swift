import ArgumentParser
import NodeSimulator

/// The simulated node's options, shared by `simulate-node` and the all-in-one.
struct SimulatorOptions: ParsableArguments {
    @Option(help: "Milliseconds between blocks (env: CHAINFEED_BLOCK_INTERVAL_MS).")
    var blockIntervalMs: Int?

    @Option(help: "Deploys (transactions) per block (env: CHAINFEED_DEPLOYS_PER_BLOCK).")
    var deploysPerBlock: Int?

    @Option(help: "Seed of the simulated chain; the same seed gives the same chain (env: CHAINFEED_SEED).")
    var seed: UInt64?

    @Option(help: "Casper node generation to imitate: 2 (/events) or 1 (/events/main, /deploys, /sigs).")
    var casperVersion: Int = 2

    @Option(help: "Blocks per era; each era ends with a switch block and a Step.")
    var eraLength: Int = 10

    @Option(help: "Blocks generated at start, as if the node had been running.")
    var initialBlocks: Int = 0

    @Option(help: "Events kept for ?start_from= replay.")
    var bufferSize: Int = 5000

    @Option(help: "Misbehave: close each SSE connection after this many events.")
    var dropEvery: Int?

    @Option(help: "Misbehave: every this many blocks, restart the SSE ids (Shutdown, ids from 0, buffer cleared).")
    var restartIdsEvery: Int?

    @Option(help: "Misbehave: the block at this height carries a parent hash that breaks the chain.")
    var breakChainAt: UInt64?

    func configuration(host: String, port: Int) throws -> SimulatedNode.Configuration {
        guard let version = SimulatedNode.CasperVersion(rawValue: casperVersion) else {
            throw CLIError("--casper-version must be 1 or 2, got \(casperVersion)")
        }
        var c = SimulatedNode.Configuration(
            seed: seed ?? Env.string("CHAINFEED_SEED").flatMap { UInt64($0) } ?? 1,
            casperVersion: version, port: port)
        c.host = host
        c.blockInterval = .milliseconds(try Env.int(blockIntervalMs, "CHAINFEED_BLOCK_INTERVAL_MS", default: 1000, range: 1...3_600_000))
        c.deploysPerBlock = try Env.int(deploysPerBlock, "CHAINFEED_DEPLOYS_PER_BLOCK", default: 3, range: 0...10_000)
        c.eraLength = eraLength
        c.initialBlocks = initialBlocks
        c.bufferSize = bufferSize
        c.dropEvery = dropEvery
        c.restartEveryBlocks = restartIdsEvery
        c.breakChainAt = breakChainAt
        do {
            try c.validate()
        } catch {
            throw CLIError("\(error)")
        }
        return c
    }
}
