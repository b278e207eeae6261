// The node's JSON shapes (1.x and 2.0), only as far as Chainfeed reads them. Everything else stays in
// the raw payload. u64 fields decode as UInt64 straight from their digits, never through Double.

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// A transaction hash: a bare hex string, or `{"Deploy": hex}` / `{"Version1": hex}`.
struct WireTransactionHash: Decodable {
    var hash: String

    init(from decoder: any Decoder) throws {
        // 2.0 wraps the hash in an object (`{"Version1": hex}`), the common case: tried first, as a failed
        // attempt costs a DecodingError.
        guard let c = try? decoder.container(keyedBy: AnyKey.self) else {
            hash = try decoder.singleValueContainer().decode(String.self)
            return
        }
        guard let key = c.allKeys.first else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "empty transaction hash"))
        }
        hash = try c.decode(String.self, forKey: key)
    }
}

/// `{"PublicKey": hex}` or `{"AccountHash": "account-hash-…"}`.
struct WireInitiator: Decodable {
    var account: String

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        if let pk = try c.decodeIfPresent(String.self, forKey: AnyKey(stringValue: "PublicKey")) {
            account = pk
        } else if let ah = try c.decodeIfPresent(String.self, forKey: AnyKey(stringValue: "AccountHash")) {
            account = ah
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "initiator without PublicKey or AccountHash"))
        }
    }
}

// MARK: Blocks

struct WireBlockAdded: Decodable {
    var block_hash: String
    var block: WireVersionedBlock
}

struct WireBlockHeader: Decodable {
    var parent_hash: String
    var timestamp: String
    var era_id: UInt64
    var height: UInt64
    var proposer: String?
}

struct WireBlockBody: Decodable {
    var proposer: String?
    // 1.x
    var deploy_hashes: [String]?
    var transfer_hashes: [String]?
    // 2.0: lanes keyed by lane id
    var transactions: [String: [WireTransactionHash]]?
    // 2.0 pre-releases: one list per category
    var mint: [WireTransactionHash]?
    var auction: [WireTransactionHash]?
    var install_upgrade: [WireTransactionHash]?
    var standard: [WireTransactionHash]?

    /// Every deploy and transaction hash the body names, lanes in lane order.
    var allHashes: [String] {
        var out = (deploy_hashes ?? []) + (transfer_hashes ?? [])
        if let lanes = transactions {
            for lane in lanes.keys.sorted(by: { (Int($0) ?? .max, $0) < (Int($1) ?? .max, $1) }) {
                out += lanes[lane, default: []].map(\.hash)
            }
        }
        for list in [mint, auction, install_upgrade, standard] {
            out += (list ?? []).map(\.hash)
        }
        return out
    }
}

struct WirePlainBlock: Decodable {
    var hash: String
    var header: WireBlockHeader
    var body: WireBlockBody
}

/// The version keys a 2.0 payload may be wrapped in, newest first.
protocol VersionKeys {
    static var keys: [String] { get }
}

/// Blocks: `{"Version2": …}` / `{"Version1": …}`.
enum BlockVersions: VersionKeys {
    static let keys = ["Version2", "Version1"]
}

/// Finality signatures: `{"V2": …}` / `{"V1": …}`.
enum SignatureVersions: VersionKeys {
    static let keys = ["V2", "V1"]
}

/// A 1.x payload as is, or the same fields inside one of the 2.0 version wrappers.
struct Versioned<Value: Decodable, Versions: VersionKeys>: Decodable {
    var value: Value

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        for version in Versions.keys {
            if let v = try c.decodeIfPresent(Value.self, forKey: AnyKey(stringValue: version)) {
                value = v
                return
            }
        }
        value = try Value(from: decoder)
    }
}

typealias WireVersionedBlock = Versioned<WirePlainBlock, BlockVersions>

// MARK: Deploys and transactions

struct WireDeployHeader: Decodable {
    var account: String
    var timestamp: String?
}

/// A 1.x deploy (also a 2.0 `Deploy` transaction).
struct WireDeploy: Decodable {
    var hash: String
    var header: WireDeployHeader
}

struct WireTransactionV1Header: Decodable {
    var initiator_addr: WireInitiator
    var timestamp: String?
}

struct WireTransactionV1: Decodable {
    var hash: String
    // Released 2.0 names it `payload`; pre-releases named it `header`.
    var payload: WireTransactionV1Header?
    var header: WireTransactionV1Header?
}

/// `{"Deploy": deploy}` or `{"Version1": transaction}`.
struct WireTransaction: Decodable {
    var hash: String
    var account: String
    var timestamp: String?

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        if let d = try c.decodeIfPresent(WireDeploy.self, forKey: AnyKey(stringValue: "Deploy")) {
            hash = d.hash
            account = d.header.account
            timestamp = d.header.timestamp
        } else if let t = try c.decodeIfPresent(WireTransactionV1.self, forKey: AnyKey(stringValue: "Version1")) {
            guard let h = t.payload ?? t.header else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "transaction without payload"))
            }
            hash = t.hash
            account = h.initiator_addr.account
            timestamp = h.timestamp
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "transaction neither Deploy nor Version1"))
        }
    }
}

/// `{"Success"|"Failure": {cost, error_message?}}` (1.x and 2.0 `Version1`), or a 2.0 `Version2` result.
struct WireExecutionResult: Decodable {
    var cost: String?
    var errorMessage: String?

    private struct Outcome: Decodable {
        var cost: String?
        var error_message: String?
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        if let v2 = try c.decodeIfPresent(Outcome.self, forKey: AnyKey(stringValue: "Version2")) {
            cost = v2.cost
            errorMessage = v2.error_message
            return
        }
        if c.contains(AnyKey(stringValue: "Version1")) {
            self = try c.decode(WireExecutionResult.self, forKey: AnyKey(stringValue: "Version1"))
            return
        }
        if let ok = try c.decodeIfPresent(Outcome.self, forKey: AnyKey(stringValue: "Success")) {
            cost = ok.cost
            errorMessage = nil
            return
        }
        if let failed = try c.decodeIfPresent(Outcome.self, forKey: AnyKey(stringValue: "Failure")) {
            cost = failed.cost
            errorMessage = failed.error_message ?? ""
            return
        }
        throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown execution result"))
    }
}

struct WireDeployProcessed: Decodable {
    var deploy_hash: String
    var account: String
    var timestamp: String?
    var block_hash: String
    var execution_result: WireExecutionResult
}

struct WireTransactionProcessed: Decodable {
    var transaction_hash: WireTransactionHash
    var initiator_addr: WireInitiator
    var timestamp: String?
    var block_hash: String
    var execution_result: WireExecutionResult
}

struct WireDeployExpired: Decodable {
    var deploy_hash: String
}

struct WireTransactionExpired: Decodable {
    var transaction_hash: WireTransactionHash
}

// MARK: Signatures, steps, faults

struct WireSignatureFields: Decodable {
    var block_hash: String
    var block_height: UInt64?
    var era_id: UInt64
    var signature: String
    var public_key: String
}

/// A 1.x flat signature, or a 2.0 `{"V1": …}` / `{"V2": …}` wrapper.
typealias WireFinalitySignature = Versioned<WireSignatureFields, SignatureVersions>

struct WireStep: Decodable {
    var era_id: UInt64
}

struct WireFault: Decodable {
    var era_id: UInt64
    var public_key: String
    var timestamp: String
}
