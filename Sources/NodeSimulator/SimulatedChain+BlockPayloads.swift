import ChainfeedCore

// The node's block and consensus JSON (BlockAdded, JSON-RPC blocks, FinalitySignature, Step, Fault), 1.x and 2.0,
// with fields in the node's order (see shared/fixtures/casper). Compact single-line JSON.

extension SimulatedChain {
    // MARK: Blocks

    /// The `block` value of `BlockAdded`: `{"Version2": …}` on 2.x, the 1.x block (with empty `proofs`) on 1.x.
    func blockValue(_ block: SimulatedBlock) -> JSON {
        switch version {
        case .v2: .obj(["Version2": plainBlock(block, proofs: nil)])
        case .v1: plainBlock(block, proofs: .array([]))
        }
    }

    /// `hash`, `header`, `body` and, if given, `proofs`.
    func plainBlock(_ block: SimulatedBlock, proofs: JSON?) -> JSON {
        var pairs: [(String, JSON)] = [("hash", .string(block.hash)), ("header", header(block)), ("body", body(block))]
        if let proofs { pairs.append(("proofs", proofs)) }
        return .object(pairs)
    }

    /// Every validator's signature over the block, as JSON-RPC `proofs`.
    func proofs(_ block: SimulatedBlock) -> JSON {
        .array(
            validators.indices.map { i in
                .obj(["public_key": .string(validators[i]), "signature": .string(signature(height: block.height, validator: i))])
            }
        )
    }

    private func header(_ block: SimulatedBlock) -> JSON {
        var pairs: [(String, JSON)] = [
            ("parent_hash", .string(block.parentHash)),
            ("state_root_hash", .string(block.stateRootHash)),
            ("body_hash", .string(block.bodyHash)),
            ("random_bit", .bool(block.randomBit)),
            ("accumulated_seed", .string(block.accumulatedSeed)),
            ("era_end", block.isSwitchBlock ? eraEnd(block) : .null),
            ("timestamp", .string(block.timestamp)),
            ("era_id", .uint(block.eraId)),
            ("height", .uint(block.height)),
            ("protocol_version", .string(protocolVersion)),
        ]
        if version == .v2 {
            pairs.append(("proposer", .string(block.proposer)))
            pairs.append(("current_gas_price", .uint(1)))
            pairs.append(("last_switch_block_hash", .str(block.lastSwitchBlockHash)))
        }
        return .object(pairs)
    }

    private func body(_ block: SimulatedBlock) -> JSON {
        switch version {
        case .v2:
            let lanes: [(String, JSON)] = (0...3).map { lane in
                (String(lane), .array(block.deploys.filter { $0.lane == lane }.map { .obj([$0.form.rawValue: .string($0.hash)]) }))
            }
            let rewarded = Array(repeating: JSON.array([.uint(rewardedBitmap)]), count: Int(min(block.height, 3)))
            return .obj(["transactions": .object(lanes), "rewarded_signatures": .array(rewarded)])
        case .v1:
            return .obj([
                "proposer": .string(block.proposer),
                "deploy_hashes": .array(block.deploys.filter { $0.lane != 0 }.map { .string($0.hash) }),
                "transfer_hashes": .array(block.deploys.filter { $0.lane == 0 }.map { .string($0.hash) }),
            ])
        }
    }

    /// One bit per validator, most significant first, for the first byte of `rewarded_signatures`.
    private var rewardedBitmap: UInt64 {
        let n = min(validators.count, 8)
        return UInt64(0xff << (8 - n) & 0xff)
    }

    private func weight(_ index: Int) -> String { String(1_000_000_000_000 * UInt64(index + 1) + 7_000_000) }

    private func reward(_ index: Int, era: UInt64) -> UInt64 {
        var rng = SplitMix64(seed: Digest.seed("reward", configuration.seed, era, UInt64(index)))
        return 100_000_000 + rng.next(below: 900_000_000)
    }

    private func eraEnd(_ block: SimulatedBlock) -> JSON {
        let weights = JSON.array(validators.indices.map { .obj(["validator": .string(validators[$0]), "weight": .string(weight($0))]) })
        switch version {
        case .v2:
            return .obj([
                "equivocators": .array([]),
                "inactive_validators": .array([]),
                "next_era_validator_weights": weights,
                "rewards": .object(validators.indices.map { (validators[$0], .array([.string(String(reward($0, era: block.eraId)))])) }),
                "next_era_gas_price": .uint(1),
            ])
        case .v1:
            return .obj([
                "era_report": .obj([
                    "equivocators": .array([]),
                    "rewards": .array(
                        validators.indices.map {
                            .obj(["validator": .string(validators[$0]), "amount": .uint(reward($0, era: block.eraId))])
                        }
                    ),
                    "inactive_validators": .array([]),
                ]),
                "next_era_validator_weights": weights,
            ])
        }
    }

    func blockAddedJSON(_ block: SimulatedBlock) -> String {
        JSON.obj(["BlockAdded": .obj(["block_hash": .string(block.hash), "block": blockValue(block)])]).text
    }

    // MARK: Consensus

    func finalitySignatureJSON(_ block: SimulatedBlock, validator index: Int) -> String {
        let signature = signature(height: block.height, validator: index)
        switch version {
        case .v1:
            return JSON.obj([
                "FinalitySignature": .obj([
                    "block_hash": .string(block.hash),
                    "era_id": .uint(block.eraId),
                    "signature": .string(signature),
                    "public_key": .string(validators[index]),
                ])
            ]).text
        case .v2:
            return JSON.obj([
                "FinalitySignature": .obj([
                    "V2": .obj([
                        "block_hash": .string(block.hash),
                        "block_height": .uint(block.height),
                        "era_id": .uint(block.eraId),
                        "chain_name_hash": .string(chainNameHash),
                        "signature": .string(signature),
                        "public_key": .string(validators[index]),
                    ])
                ])
            ]).text
        }
    }

    var chainNameHash: String { SHA256Hex.of(configuration.chainName) }

    func stepJSON(eraId: UInt64) -> String {
        let bids = validators.indices.map { Digest.hex("bid", configuration.seed, UInt64($0)) }
        let allocations = JSON.array(
            validators.indices.map { i in
                .obj([
                    "Validator": .obj([
                        "validator_public_key": .string(validators[i]), "amount": .string(String(reward(i, era: eraId))),
                    ])
                ])
            }
        )
        switch version {
        case .v1:
            let transforms =
                bids.map { JSON.obj(["key": .string("bid-" + $0), "transform": .string("Identity")]) }
                + [.obj(["key": .string("era-\(eraId)"), "transform": .obj(["WriteEraInfo": .obj(["seigniorage_allocations": allocations])])])]
            return JSON.obj([
                "Step": .obj([
                    "era_id": .uint(eraId),
                    "execution_effect": .obj(["operations": .array([]), "transforms": .array(transforms)]),
                ])
            ]).text
        case .v2:
            let effects =
                bids.map { JSON.obj(["key": .string("bid-" + $0), "kind": .string("Identity")]) }
                + [
                    .obj(["key": .string("era-\(eraId)"), "kind": .obj(["Write": .obj(["EraInfo": .obj(["seigniorage_allocations": allocations])])])])
                ]
            return JSON.obj(["Step": .obj(["era_id": .uint(eraId), "execution_effects": .array(effects)])]).text
        }
    }

    func faultJSON(_ block: SimulatedBlock, validator: String) -> String {
        JSON.obj([
            "Fault": .obj([
                "era_id": .uint(block.eraId), "public_key": .string(validator), "timestamp": .string(block.timestamp),
            ])
        ]).text
    }
}
