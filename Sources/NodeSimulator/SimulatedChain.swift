import ChainfeedCore

/// The deterministic chain behind the simulator: any block and its events, computed from the seed alone.
///
/// Every value is a pure function of the configuration and the height, so block `n` can be produced
/// (or re-rendered for JSON-RPC) in any order without keeping state. Usable in tests without HTTP.
public struct SimulatedChain: Sendable {
    public let configuration: SimulatedNode.Configuration
    /// The fixed validator set: ed25519 public keys (`01` + 64 hex).
    public let validators: [String]
    /// The accounts deploys are drawn from: ed25519 (`01` + 64 hex) and secp256k1 (`02` + 66 hex) keys.
    public let accounts: [String]
    /// `account-hash-…` of each account, for execution effects.
    let accountHashes: [String]
    let intervalMillis: Int64

    /// - Parameters:
    ///   - configuration: Seed and chain options; the stream and HTTP options are ignored here.
    public init(configuration: SimulatedNode.Configuration) {
        self.configuration = configuration
        let seed = configuration.seed
        validators = (0..<UInt64(max(configuration.validatorCount, 1))).map { "01" + Digest.hex("validator", seed, $0) }
        accounts = (0..<UInt64(max(configuration.accountCount, 1))).map { i in
            i % 3 == 2 ? "0203" + Digest.hex("account", seed, i) : "01" + Digest.hex("account", seed, i)
        }
        accountHashes = (0..<UInt64(accounts.count)).map { "account-hash-" + Digest.hex("account-hash", seed, $0) }
        intervalMillis = max(configuration.blockIntervalMillis, 1)
    }

    var version: SimulatedNode.CasperVersion { configuration.casperVersion }
    private var seed: UInt64 { configuration.seed }
    private var eraLength: UInt64 { UInt64(max(configuration.eraLength, 1)) }

    /// What the node reports as `ApiVersion` and `api_version`.
    public var apiVersion: String { version == .v2 ? "2.0.0" : "1.5.6" }
    /// The blocks' `protocol_version`.
    public var protocolVersion: String { version == .v2 ? "2.0.0" : "1.5.6" }
    /// `/status` `build_version` (1.x nodes append the commit, which the sidecar splits off at `-`).
    public var buildVersion: String { version == .v2 ? "2.0.0" : "1.5.6-a5a2b3c0" }

    // MARK: Header values

    public func blockHash(at height: UInt64) -> String {
        Digest.hex("block", seed, height)
    }

    /// Block `height − 1`'s hash, except at ``SimulatedNode/Configuration/breakChainAt``.
    public func parentHash(at height: UInt64) -> String {
        if height == configuration.breakChainAt { return Digest.hex("fork", seed, height) }
        if height == 0 { return String(repeating: "0", count: 64) }
        return blockHash(at: height - 1)
    }

    public func eraId(at height: UInt64) -> UInt64 { height / eraLength }

    public func isSwitchBlock(at height: UInt64) -> Bool { height % eraLength == eraLength - 1 }

    public func timestampMillis(at height: UInt64) -> Int64 {
        configuration.genesisTimeMillis &+ Int64(truncatingIfNeeded: height) &* intervalMillis
    }

    public func proposer(at height: UInt64) -> String {
        var rng = SplitMix64(seed: Digest.seed("proposer", seed, height))
        return validators[Int(rng.next(below: UInt64(validators.count)))]
    }

    // MARK: Blocks

    public func block(at height: UInt64) -> SimulatedBlock {
        let era = eraId(at: height)
        let millis = timestampMillis(at: height)
        var rng = SplitMix64(seed: Digest.seed("header", seed, height))
        return SimulatedBlock(
            height: height,
            hash: blockHash(at: height),
            parentHash: parentHash(at: height),
            stateRootHash: Digest.hex("state-root", seed, height),
            bodyHash: Digest.hex("body", seed, height),
            accumulatedSeed: Digest.hex("accumulated-seed", seed, height),
            randomBit: rng.next() & 1 == 1,
            eraId: era,
            timestampMillis: millis,
            timestamp: NodeFormat.timestamp(millis: millis),
            proposer: proposer(at: height),
            isSwitchBlock: isSwitchBlock(at: height),
            lastSwitchBlockHash: era == 0 ? nil : blockHash(at: era * eraLength - 1),
            deploys: deploys(at: height, blockMillis: millis)
        )
    }

    private func deploys(at height: UInt64, blockMillis: Int64) -> [SimulatedDeploy] {
        var rng = SplitMix64(seed: Digest.seed("deploys", seed, height))
        let made = (0..<UInt64(max(configuration.deploysPerBlock, 0))).map { i in
            makeDeploy(hash: Digest.hex("deploy", seed, height, i), blockMillis: blockMillis, rng: &rng)
        }
        // The body lists lanes in order (2.x) or deploys before transfers (1.x); events follow that order.
        let rank: (SimulatedDeploy) -> Int = { version == .v2 ? $0.lane : ($0.lane == 0 ? 1 : 0) }
        return made.enumerated().sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }.map(\.element)
    }

    private func makeDeploy(hash: String, blockMillis: Int64, rng: inout SplitMix64) -> SimulatedDeploy {
        let account = accounts[Int(rng.next(below: UInt64(accounts.count)))]
        let laneDraw = rng.next(below: 20)
        let lane = laneDraw < 8 ? 0 : laneDraw == 8 ? 1 : laneDraw == 9 ? 2 : 3
        let form: SimulatedDeploy.Form = version == .v2 && rng.next() & 1 == 1 ? .version1 : .deploy
        let millis = blockMillis - 1 - Int64(rng.next(below: UInt64(min(intervalMillis, 60_000))))
        let failed = rng.oneIn(8)
        let messages = ["Out of gas error", "User error: 1", "ApiError::InsufficientPayment [19]", "Insufficient funds"]
        return SimulatedDeploy(
            hash: hash,
            account: account,
            timestampMillis: millis,
            timestamp: NodeFormat.timestamp(millis: millis),
            form: form,
            lane: lane,
            amount: 2_500_000_000 + rng.next(below: 1_000_000) * 1_000_000,
            cost: String(100_000_000 + rng.next(below: 30_000) * 100_000),
            errorMessage: failed ? messages[Int(rng.next(below: UInt64(messages.count)))] : nil
        )
    }

    /// A deploy accepted at `height` that no block includes; it expires ``expiryDelay`` blocks later.
    func orphan(acceptedAt height: UInt64) -> SimulatedDeploy? {
        var rng = SplitMix64(seed: Digest.seed("orphan", seed, height))
        guard rng.oneIn(6) else { return nil }
        var deploy = makeDeploy(hash: Digest.hex("orphan-deploy", seed, height), blockMillis: timestampMillis(at: height), rng: &rng)
        deploy.errorMessage = nil
        return deploy
    }

    static let expiryDelay: UInt64 = 3

    /// The orphan whose `Expired` event belongs to block `height` (only if this node emitted its `Accepted`).
    func expiring(at height: UInt64) -> SimulatedDeploy? {
        guard height >= configuration.startHeight + Self.expiryDelay else { return nil }
        return orphan(acceptedAt: height - Self.expiryDelay)
    }

    /// The validator reported for an equivocation in block `height`'s era, rarely.
    func faultyValidator(at height: UInt64) -> String? {
        var rng = SplitMix64(seed: Digest.seed("fault", seed, height))
        guard rng.oneIn(40) else { return nil }
        return validators[Int(rng.next(below: UInt64(validators.count)))]
    }

    /// A validator's signature over a block (`01` + 128 hex, an ed25519 signature's shape).
    func signature(height: UInt64, validator: Int) -> String {
        "01" + Digest.hex("signature-r", seed, height, UInt64(validator)) + Digest.hex("signature-s", seed, height, UInt64(validator))
    }

    // MARK: Events

    /// The events block `height` causes, in node order: accepted deploys, `BlockAdded`, processed deploys,
    /// finality signatures, the era's `Step` on a switch block, an expired deploy now and then, rarely a `Fault`.
    public func events(forBlockAt height: UInt64) -> [SimulatedEvent] {
        let block = block(at: height)
        let kinds = SimulatedDeploy.kinds(version)
        var out: [SimulatedEvent] = []
        out.reserveCapacity(eventCount(forBlockAt: height))
        for deploy in block.deploys {
            out.append(SimulatedEvent(kind: kinds.accepted, json: acceptedJSON(deploy)))
        }
        if let orphan = orphan(acceptedAt: height) {
            out.append(SimulatedEvent(kind: kinds.accepted, json: acceptedJSON(orphan)))
        }
        out.append(SimulatedEvent(kind: .blockAdded, json: blockAddedJSON(block)))
        for deploy in block.deploys {
            out.append(SimulatedEvent(kind: kinds.processed, json: processedJSON(deploy, in: block)))
        }
        for index in validators.indices {
            out.append(SimulatedEvent(kind: .finalitySignature, json: finalitySignatureJSON(block, validator: index)))
        }
        if block.isSwitchBlock {
            out.append(SimulatedEvent(kind: .step, json: stepJSON(eraId: block.eraId)))
        }
        if let expired = expiring(at: height) {
            out.append(SimulatedEvent(kind: kinds.expired, json: expiredJSON(expired)))
        }
        if let validator = faultyValidator(at: height) {
            out.append(SimulatedEvent(kind: .fault, json: faultJSON(block, validator: validator)))
        }
        return out
    }

    /// `events(forBlockAt:).count` without rendering any JSON (to skip blocks the replay buffer would drop).
    public func eventCount(forBlockAt height: UInt64) -> Int {
        let deploys = max(configuration.deploysPerBlock, 0)
        var count = 2 * deploys + 1 + validators.count
        if orphan(acceptedAt: height) != nil { count += 1 }
        if isSwitchBlock(at: height) { count += 1 }
        if expiring(at: height) != nil { count += 1 }
        if faultyValidator(at: height) != nil { count += 1 }
        return count
    }
}
