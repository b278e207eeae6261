import ChainfeedCore

// The node's deploy and transaction JSON (Accepted, Processed, Expired), 1.x and 2.0, with fields in the node's
// order (see shared/fixtures/casper). Compact single-line JSON.

extension SimulatedChain {
    // MARK: Deploys and transactions

    private func u512(_ value: UInt64) -> JSON {
        .obj(["cl_type": .string("U512"), "bytes": .string(NodeFormat.u512Bytes(value)), "parsed": .string(String(value))])
    }

    private func approvals(_ deploy: SimulatedDeploy) -> JSON {
        // Signatures carry the signer's algorithm tag: 01 ed25519, 02 secp256k1.
        let signature =
            String(deploy.account.prefix(2)) + Digest.hex("approval-r", configuration.seed, hashSeed(deploy.hash))
            + Digest.hex("approval-s", configuration.seed, hashSeed(deploy.hash))
        return .array([.obj(["signer": .string(deploy.account), "signature": .string(signature)])])
    }

    private func hashSeed(_ hex: String) -> UInt64 { UInt64(hex.prefix(16), radix: 16) ?? 0 }

    /// A 1.x deploy, also the payload of a 2.x `{"Deploy": …}` transaction.
    private func deployValue(_ deploy: SimulatedDeploy) -> JSON {
        let session: JSON
        if deploy.lane == 0 {
            let target = accounts[Int(hashSeed(deploy.hash) % UInt64(accounts.count))]
            session = .obj([
                "Transfer": .obj([
                    "args": .array([
                        .array([.string("amount"), u512(deploy.amount)]),
                        .array([.string("target"), .obj(["cl_type": .string("PublicKey"), "bytes": .string(target), "parsed": .string(target)])]),
                        .array([.string("id"), .obj(["cl_type": .obj(["Option": .string("U64")]), "bytes": .string("00"), "parsed": .null])]),
                    ])
                ])
            ])
        } else {
            session = .obj([
                "StoredContractByHash": .obj([
                    "hash": .string(Digest.hex("contract", configuration.seed, UInt64(deploy.lane))),
                    "entry_point": .string(deploy.lane == 1 ? "delegate" : "call"),
                    "args": .array([.array([.string("amount"), u512(deploy.amount)])]),
                ])
            ])
        }
        return .obj([
            "hash": .string(deploy.hash),
            "header": .obj([
                "account": .string(deploy.account),
                "timestamp": .string(deploy.timestamp),
                "ttl": .string("30m"),
                "gas_price": .uint(1),
                "body_hash": .string(Digest.hex("deploy-body", configuration.seed, hashSeed(deploy.hash))),
                "dependencies": .array([]),
                "chain_name": .string(configuration.chainName),
            ]),
            "payment": .obj([
                "ModuleBytes": .obj([
                    "module_bytes": .string(""), "args": .array([.array([.string("amount"), u512(2_500_000_000)])]),
                ])
            ]),
            "session": session,
            "approvals": approvals(deploy),
        ])
    }

    /// A 2.x `Version1` transaction.
    private func transactionValue(_ deploy: SimulatedDeploy) -> JSON {
        let (entryPoint, target): (String, JSON) =
            switch deploy.lane {
            case 0: ("Transfer", .string("Native"))
            case 1: ("Delegate", .string("Native"))
            case 2:
                (
                    "call",
                    .obj([
                        "Session": .obj([
                            "is_install_upgrade": .bool(true), "module_bytes": .string(""), "runtime": .string("VmCasperV1"),
                        ])
                    ])
                )
            default:
                (
                    "call",
                    .obj([
                        "Stored": .obj([
                            "id": .obj(["ByHash": .string(Digest.hex("contract", configuration.seed, 3))]), "runtime": .string("VmCasperV1"),
                        ])
                    ])
                )
            }
        return .obj([
            "hash": .string(deploy.hash),
            "payload": .obj([
                "initiator_addr": .obj(["PublicKey": .string(deploy.account)]),
                "timestamp": .string(deploy.timestamp),
                "ttl": .string("30m"),
                "chain_name": .string(configuration.chainName),
                "pricing_mode": .obj(["Fixed": .obj(["additional_computation_factor": .uint(0), "gas_price_tolerance": .uint(1)])]),
                "fields": .obj([
                    "args": .obj(["Named": .array([.array([.string("amount"), u512(deploy.amount)])])]),
                    "entry_point": .string(entryPoint),
                    "scheduling": .string("Standard"),
                    "target": target,
                ]),
            ]),
            "approvals": approvals(deploy),
        ])
    }

    func acceptedJSON(_ deploy: SimulatedDeploy) -> String {
        switch version {
        case .v1:
            JSON.obj(["DeployAccepted": deployValue(deploy)]).text
        case .v2:
            JSON.obj([
                "TransactionAccepted": .obj([
                    deploy.form.rawValue: deploy.form == .deploy ? deployValue(deploy) : transactionValue(deploy)
                ])
            ]).text
        }
    }

    func processedJSON(_ deploy: SimulatedDeploy, in block: SimulatedBlock) -> String {
        let transfers: JSON =
            deploy.lane == 0 && deploy.errorMessage == nil
            ? .array([.string("transfer-" + Digest.hex("transfer", configuration.seed, hashSeed(deploy.hash)))]) : .array([])
        let accountHash = accountHashes[accounts.firstIndex(of: deploy.account) ?? 0]
        switch version {
        case .v1:
            var outcome: [(String, JSON)] = [
                (
                    "effect",
                    .obj([
                        "operations": .array([]),
                        "transforms": .array([
                            .obj(["key": .string(accountHash), "transform": .string("Identity")])
                        ]),
                    ])
                ),
                ("transfers", transfers),
                ("cost", .string(deploy.cost)),
            ]
            if let message = deploy.errorMessage { outcome.append(("error_message", .string(message))) }
            return JSON.obj([
                "DeployProcessed": .obj([
                    "deploy_hash": .string(deploy.hash),
                    "account": .string(deploy.account),
                    "timestamp": .string(deploy.timestamp),
                    "ttl": .string("30m"),
                    "dependencies": .array([]),
                    "block_hash": .string(block.hash),
                    "execution_result": .object([(deploy.errorMessage == nil ? "Success" : "Failure", .object(outcome))]),
                ])
            ]).text
        case .v2:
            let limit: UInt64 = 2_500_000_000
            let cost = UInt64(deploy.cost) ?? limit
            return JSON.obj([
                "TransactionProcessed": .obj([
                    "transaction_hash": .obj([deploy.form.rawValue: .string(deploy.hash)]),
                    "initiator_addr": .obj(["PublicKey": .string(deploy.account)]),
                    "timestamp": .string(deploy.timestamp),
                    "ttl": .string("30m"),
                    "block_hash": .string(block.hash),
                    "execution_result": .obj([
                        "Version2": .obj([
                            "initiator": .obj(["PublicKey": .string(deploy.account)]),
                            "error_message": .str(deploy.errorMessage),
                            "current_price": .uint(1),
                            "limit": .string(String(max(limit, cost))),
                            "consumed": .string(String(cost / 10 * 9)),
                            "cost": .string(deploy.cost),
                            "refund": .string("0"),
                            "transfers": .array([]),
                            "size_estimate": .uint(300 + hashSeed(deploy.hash) % 500),
                            "effects": .array([.obj(["key": .string(accountHash), "kind": .string("Identity")])]),
                        ])
                    ]),
                    "messages": .array([]),
                ])
            ]).text
        }
    }

    func expiredJSON(_ deploy: SimulatedDeploy) -> String {
        switch version {
        case .v1: JSON.obj(["DeployExpired": .obj(["deploy_hash": .string(deploy.hash)])]).text
        case .v2: JSON.obj(["TransactionExpired": .obj(["transaction_hash": .obj([deploy.form.rawValue: .string(deploy.hash)])])]).text
        }
    }
}
