// The node's JSON shapes (1.x and 2.0), only as far as Chainfeed reads them. Everything else stays in the raw
// payload. u64 fields are read straight from their digits, never through Double.

/// Why a payload does not have the node's shape, naming the field by its path (`BlockAdded.block.header.height`).
struct WireShapeError: Error {
    var reason: String
}

/// One JSON object of a node payload, indexed by key, with the path that errors name.
struct WireObject {
    let scanner: JSONScanner
    let path: String
    private let members: [(key: Int, value: Int)]

    init(_ scanner: JSONScanner, at i: Int, path: String) throws(WireShapeError) {
        guard scanner.type(at: i) == .object else { throw WireShapeError(reason: "\(path): expected an object") }
        self.scanner = scanner
        self.path = path
        members = scanner.members(at: i)
    }

    var keys: [String] { members.map { scanner.string(at: $0.key) } }

    /// Where the value of `key` starts; `nil` when the key is absent or its value is `null` (as `decodeIfPresent`).
    func value(_ key: String) -> Int? {
        guard let i = members.first(where: { scanner.string(at: $0.key, equals: key) })?.value,
              scanner.type(at: i) != .null else { return nil }
        return i
    }

    private func required(_ key: String) throws(WireShapeError) -> Int {
        guard let i = value(key) else { throw WireShapeError(reason: "missing \(path).\(key)") }
        return i
    }

    func string(_ key: String) throws(WireShapeError) -> String {
        try string(at: required(key), path: "\(path).\(key)")
    }

    func optionalString(_ key: String) throws(WireShapeError) -> String? {
        guard let i = value(key) else { return nil }
        return try string(at: i, path: "\(path).\(key)")
    }

    func uint64(_ key: String) throws(WireShapeError) -> UInt64 {
        let i = try required(key)
        guard scanner.type(at: i) == .number, let n = scanner.uint64(at: i) else {
            throw WireShapeError(reason: "\(path).\(key): expected an unsigned 64-bit integer")
        }
        return n
    }

    func optionalUInt64(_ key: String) throws(WireShapeError) -> UInt64? {
        guard value(key) != nil else { return nil }
        return try uint64(key)
    }

    func object(_ key: String) throws(WireShapeError) -> WireObject {
        try WireObject(scanner, at: required(key), path: "\(path).\(key)")
    }

    func optionalObject(_ key: String) throws(WireShapeError) -> WireObject? {
        guard let i = value(key) else { return nil }
        return try WireObject(scanner, at: i, path: "\(path).\(key)")
    }

    /// An optional array, each element read by `element` (given its start and its path).
    func optionalArray<T>(_ key: String, _ element: (Int, String) throws(WireShapeError) -> T) throws(WireShapeError) -> [T]? {
        guard let i = value(key) else { return nil }
        guard scanner.type(at: i) == .array else { throw WireShapeError(reason: "\(path).\(key): expected an array") }
        var out: [T] = []
        for (n, e) in scanner.elements(at: i).enumerated() {
            out.append(try element(e, "\(path).\(key).\(n)"))
        }
        return out
    }

    func string(at i: Int, path: String) throws(WireShapeError) -> String {
        guard scanner.type(at: i) == .string else { throw WireShapeError(reason: "\(path): expected a string") }
        return scanner.string(at: i)
    }
}

/// Reads the node's shapes into Chainfeed's records. Hashes and keys are lowercased: the node sends lowercase,
/// CEP-57 tools may not, and they are compared lowercase everywhere.
enum CasperWire {
    // MARK: Blocks

    static func block(_ o: WireObject) throws(WireShapeError) -> Block {
        let blockHash = try o.string("block_hash")
        let b = try versioned(o.object("block"), keys: ["Version2", "Version1"])
        let header = try b.object("header")
        let body = try b.object("body")
        var proposer = try header.optionalString("proposer")
        if proposer == nil { proposer = try body.optionalString("proposer") }
        guard let proposer else {
            throw WireShapeError(reason: "missing \(b.path).proposer: neither header nor body names the proposer")
        }
        _ = try b.string("hash")
        let parentHash = try header.string("parent_hash")
        let timestamp = try header.string("timestamp")
        let eraId = try header.uint64("era_id")
        let height = try header.uint64("height")
        let deploys = try allHashes(body)
        return Block(
            blockHash: hex(blockHash), parentHash: hex(parentHash), timestamp: timestamp, eraId: eraId,
            proposer: hex(proposer), height: height, deploys: deploys.map(hex))
    }

    /// Every deploy and transaction hash a block body names: 1.x lists, 2.0 lanes in lane order, then the
    /// 2.0 pre-release category lists.
    private static func allHashes(_ body: WireObject) throws(WireShapeError) -> [String] {
        let string = { (i: Int, path: String) throws(WireShapeError) -> String in try body.string(at: i, path: path) }
        var out = try (body.optionalArray("deploy_hashes", string) ?? []) + (body.optionalArray("transfer_hashes", string) ?? [])
        if let lanes = try body.optionalObject("transactions") {
            for lane in lanes.keys.sorted(by: { (Int($0) ?? .max, $0) < (Int($1) ?? .max, $1) }) {
                out += try lanes.optionalArray(lane) { (i, path) throws(WireShapeError) in try transactionHash(lanes, at: i, path: path) } ?? []
            }
        }
        for category in ["mint", "auction", "install_upgrade", "standard"] {
            out += try body.optionalArray(category) { (i, path) throws(WireShapeError) in try transactionHash(body, at: i, path: path) } ?? []
        }
        return out
    }

    /// A 1.x payload as is, or the same fields inside the first of the 2.0 version wrappers present.
    private static func versioned(_ o: WireObject, keys: [String]) throws(WireShapeError) -> WireObject {
        for key in keys {
            if let inner = try o.optionalObject(key) { return inner }
        }
        return o
    }

    // MARK: Deploys and transactions

    static func deployAccepted(_ o: WireObject) throws(WireShapeError) -> Deploy {
        let header = try o.object("header")
        return Deploy(deployHash: hex(try o.string("hash")), account: hex(try header.string("account")), state: .accepted,
                      timestamp: try header.optionalString("timestamp"))
    }

    /// `{"Deploy": deploy}` or `{"Version1": transaction}`.
    static func transactionAccepted(_ o: WireObject) throws(WireShapeError) -> Deploy {
        if let deploy = try o.optionalObject("Deploy") { return try deployAccepted(deploy) }
        guard let t = try o.optionalObject("Version1") else {
            throw WireShapeError(reason: "\(o.path): transaction neither Deploy nor Version1")
        }
        // Released 2.0 names it `payload`; pre-releases named it `header`.
        var header = try t.optionalObject("payload")
        if header == nil { header = try t.optionalObject("header") }
        guard let h = header else {
            throw WireShapeError(reason: "\(t.path): transaction without payload")
        }
        return Deploy(deployHash: hex(try t.string("hash")), account: hex(try initiator(h.object("initiator_addr"))),
                      state: .accepted, timestamp: try h.optionalString("timestamp"))
    }

    static func deployProcessed(_ o: WireObject) throws(WireShapeError) -> Deploy {
        let result = try executionResult(o.object("execution_result"))
        return Deploy(
            deployHash: hex(try o.string("deploy_hash")), account: hex(try o.string("account")), state: .processed,
            cost: result.cost, errorMessage: result.errorMessage, blockHash: hex(try o.string("block_hash")),
            timestamp: try o.optionalString("timestamp"))
    }

    static func transactionProcessed(_ o: WireObject) throws(WireShapeError) -> Deploy {
        let hash = try transactionHash(o, at: o.value("transaction_hash"), path: "\(o.path).transaction_hash")
        let account = try initiator(o.object("initiator_addr"))
        let result = try executionResult(o.object("execution_result"))
        return Deploy(
            deployHash: hex(hash), account: hex(account), state: .processed,
            cost: result.cost, errorMessage: result.errorMessage, blockHash: hex(try o.string("block_hash")),
            timestamp: try o.optionalString("timestamp"))
    }

    static func deployExpired(_ o: WireObject) throws(WireShapeError) -> Deploy {
        Deploy(deployHash: hex(try o.string("deploy_hash")), state: .expired)
    }

    static func transactionExpired(_ o: WireObject) throws(WireShapeError) -> Deploy {
        let hash = try transactionHash(o, at: o.value("transaction_hash"), path: "\(o.path).transaction_hash")
        return Deploy(deployHash: hex(hash), state: .expired)
    }

    /// A transaction hash: `{"Deploy": hex}` / `{"Version1": hex}` (2.0), or a bare hex string.
    private static func transactionHash(_ parent: WireObject, at i: Int?, path: String) throws(WireShapeError) -> String {
        guard let i else { throw WireShapeError(reason: "missing \(path)") }
        if parent.scanner.type(at: i) == .string { return parent.scanner.string(at: i) }
        let o = try WireObject(parent.scanner, at: i, path: path)
        guard let key = o.keys.first else { throw WireShapeError(reason: "\(path): empty transaction hash") }
        return try o.string(key)
    }

    /// `{"PublicKey": hex}` or `{"AccountHash": "account-hash-…"}`.
    private static func initiator(_ o: WireObject) throws(WireShapeError) -> String {
        if let pk = try o.optionalString("PublicKey") { return pk }
        if let ah = try o.optionalString("AccountHash") { return ah }
        throw WireShapeError(reason: "\(o.path): initiator without PublicKey or AccountHash")
    }

    /// `{"Success"|"Failure": {cost, error_message?}}` (1.x and 2.0 `Version1`), or a 2.0 `Version2` result.
    private static func executionResult(_ o: WireObject) throws(WireShapeError) -> (cost: String?, errorMessage: String?) {
        if let v2 = try o.optionalObject("Version2") {
            return (try v2.optionalString("cost"), try v2.optionalString("error_message"))
        }
        if let v1 = try o.optionalObject("Version1") { return try executionResult(v1) }
        if let ok = try o.optionalObject("Success") { return (try ok.optionalString("cost"), nil) }
        if let failed = try o.optionalObject("Failure") {
            return (try failed.optionalString("cost"), try failed.optionalString("error_message") ?? "")
        }
        throw WireShapeError(reason: "\(o.path): unknown execution result")
    }

    // MARK: Signatures, steps, faults

    /// A 1.x flat signature, or a 2.0 `{"V2": …}` / `{"V1": …}` wrapper.
    static func finalitySignature(_ o: WireObject) throws(WireShapeError) -> FinalitySignature {
        let f = try versioned(o, keys: ["V2", "V1"])
        return FinalitySignature(
            blockHash: hex(try f.string("block_hash")), blockHeight: try f.optionalUInt64("block_height"),
            eraId: try f.uint64("era_id"), publicKey: hex(try f.string("public_key")), signature: hex(try f.string("signature")))
    }

    static func step(_ o: WireObject) throws(WireShapeError) -> Step {
        Step(eraId: try o.uint64("era_id"))
    }

    static func fault(_ o: WireObject) throws(WireShapeError) -> Fault {
        Fault(eraId: try o.uint64("era_id"), publicKey: hex(try o.string("public_key")), timestamp: try o.string("timestamp"))
    }

    private static func hex(_ s: String) -> String {
        s.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) ? s.lowercased() : s
    }
}
