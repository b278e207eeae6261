import ChainfeedCore

/// Small hand-made events with chosen heights, hashes and accounts, for store and hub tests.
public enum Synthetic {
    /// A 64-hex-digit hash derived from a label, so tests can name what they mean.
    public static func hash(_ label: String) -> String {
        SHA256Hex.of(label)
    }

    /// An ed25519-style public key derived from a label.
    public static func account(_ label: String) -> String {
        "01" + SHA256Hex.of("account:" + label)
    }

    public static func block(height: UInt64, era: UInt64 = 1, proposer: String = "p", deploys: [String] = []) -> IngestEvent {
        let b = Block(
            blockHash: hash("block:\(height)"), parentHash: hash("block:\(height &- 1)"),
            timestamp: "2024-01-01T00:00:00.000Z", eraId: era, proposer: account(proposer),
            height: height, deploys: deploys.map { hash("deploy:" + $0) })
        return make("BlockAdded", .block(b), raw: "{\"BlockAdded\":{\"block_hash\":\"\(b.blockHash)\",\"height\":\(height)}}")
    }

    public static func deploy(_ label: String, state: DeployState, account: String? = "a", block: UInt64? = nil, cost: String? = nil) -> IngestEvent {
        let d = Deploy(
            deployHash: hash("deploy:" + label), account: account.map(Self.account), state: state,
            cost: cost, errorMessage: nil, blockHash: block.map { hash("block:\($0)") })
        let kind: EventKind = switch state {
        case .accepted: .deployAccepted
        case .processed: .deployProcessed
        case .expired: .deployExpired
        }
        return make(kind.rawValue, .deploy(d), raw: "{\"\(kind.rawValue)\":{\"deploy_hash\":\"\(d.deployHash)\"}}")
    }

    public static func step(era: UInt64) -> IngestEvent {
        make("Step", .step(Step(eraId: era)), raw: "{\"Step\":{\"era_id\":\(era)}}")
    }

    public static func signature(height: UInt64, validator: String) -> IngestEvent {
        let s = FinalitySignature(
            blockHash: hash("block:\(height)"), blockHeight: height, eraId: 1,
            publicKey: account(validator), signature: "01" + hash("sig:\(height):\(validator)"))
        return make("FinalitySignature", .signature(s), raw: "{\"FinalitySignature\":{\"block_hash\":\"\(s.blockHash)\"}}")
    }

    public static func unknown(_ kind: String, body: String) -> IngestEvent {
        make(kind, .unknown, raw: "{\"\(kind)\":\(body)}")
    }

    private static func make(_ kind: String, _ payload: NodeEvent.Payload, raw: String) -> IngestEvent {
        IngestEvent(NodeEvent(kindName: kind, raw: raw, payload: payload))!
    }
}
