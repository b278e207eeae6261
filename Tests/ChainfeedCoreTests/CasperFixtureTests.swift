import ChainfeedCore
import ChainfeedTestSupport
import Foundation
import Testing

/// Every real node payload decodes, to the kind its file names, with the dedup key of DESIGN.md invariant 1.
@Suite struct CasperFixtureTests {
    static let payloadNames: [String] = (try? Fixtures.casperPayloads().map(\.name)) ?? []

    @Test("the fixture folder holds payloads of every kind")
    func folderCoversEveryKind() throws {
        #expect(Self.payloadNames.count >= 30)
        let kinds = try Set(Fixtures.casperPayloads().map { try Fixtures.event($0.name).kindName })
        #expect(kinds == Set(EventKind.allCases.map(\.rawValue)))
    }

    @Test("every fixture decodes with the expected dedup key", arguments: payloadNames)
    func decodes(_ name: String) throws {
        let event = try Fixtures.event(name)
        let json = try JSONSerialization.jsonObject(with: Data(Fixtures.text(name).utf8), options: .fragmentsAllowed)
        #expect(event.dedupKey?.value == Self.expectedKey(json))
        #expect(event.kind != nil)
        #expect(name.lowercased().hasPrefix(event.kindName.lowercased()))
    }

    /// The dedup key, worked out from the raw JSON independently of the decoder.
    static func expectedKey(_ json: Any) -> String? {
        guard let object = json as? [String: Any], let (kind, body) = object.first else { return nil }
        let b = body as? [String: Any] ?? [:]
        func txHash(_ v: Any?) -> String { ((v as? [String: Any])?.values.first as? String) ?? (v as? String ?? "") }
        func inner(_ d: [String: Any]) -> [String: Any] {
            for k in ["Version2", "Version1", "V2", "V1", "Deploy"] { if let x = d[k] as? [String: Any] { return x } }
            return d
        }
        switch kind {
        case "ApiVersion": return nil
        case "BlockAdded": return "block:\(b["block_hash"]!)"
        case "DeployAccepted": return "deploy:\(b["hash"]!):accepted"
        case "TransactionAccepted": return "deploy:\(inner(b)["hash"]!):accepted"
        case "DeployProcessed": return "deploy:\(b["deploy_hash"]!):\(b["block_hash"]!)"
        case "TransactionProcessed": return "deploy:\(txHash(b["transaction_hash"])):\(b["block_hash"]!)"
        case "DeployExpired": return "deploy:\(b["deploy_hash"]!):expired"
        case "TransactionExpired": return "deploy:\(txHash(b["transaction_hash"])):expired"
        case "FinalitySignature": let s = inner(b); return "sig:\(s["block_hash"]!):\(s["public_key"]!)"
        case "Step": return "step:\((b["era_id"] as! NSNumber).uint64Value)"
        case "Fault": return "fault:\((b["era_id"] as! NSNumber).uint64Value):\(b["public_key"]!)"
        default: return nil
        }
    }

    @Test("heights and era ids beyond 2^53 are parsed exactly")
    func bigNumbers() throws {
        let raw = #"{"Fault":{"era_id":18446744073709551615,"public_key":"01aa","timestamp":"t"}}"#
        guard case .fault(let fault) = try CasperEventDecoder().decode(raw).payload else {
            Issue.record("not a fault"); return
        }
        #expect(fault.eraId == UInt64.max)
        let step = try CasperEventDecoder().decode(#"{"Step":{"era_id":9007199254740993,"execution_effects":[]}}"#)
        #expect(step.dedupKey?.value == "step:9007199254740993")
    }

    @Test("a 1.x block normalises to the REST shape")
    func legacyBlock() throws {
        guard case .block(let b) = try Fixtures.event("blockadded-1.json").payload else { Issue.record("not a block"); return }
        #expect(b.height == 6017012)
        #expect(b.eraId == 601701)
        #expect(b.proposer.hasPrefix("0203426736da2554ebf1"))
        #expect(b.deploys.count == 4)  // deploy_hashes and transfer_hashes
        #expect(b.state == "finalized")
    }

    @Test("a 2.0 block lists every lane's transactions and the header's proposer")
    func v2Block() throws {
        guard case .block(let b) = try Fixtures.event("blockadded-v2-1.json").payload else { Issue.record("not a block"); return }
        #expect(b.proposer.hasPrefix("01d3eec0445635f136ae"))
        #expect(b.deploys.count > 4)
        #expect(b.deploys.allSatisfy(Identifiers.isHash))
        guard case .block(let pre) = try Fixtures.event("blockadded-v2-2.json").payload else { Issue.record("not a block"); return }
        #expect(pre.proposer.hasPrefix("0202b55941afeb"))  // pre-release: proposer in the body
    }

    @Test("2.0 transactions normalise to the deploy shape")
    func transactions() throws {
        guard case .deploy(let accepted) = try Fixtures.event("transactionaccepted-v2-1.json").payload else { Issue.record("not a deploy"); return }
        #expect(accepted.state == .accepted)
        #expect(accepted.account == "020394489ced801f72d5ae25d66dfa4e5f7d045fa3f16085d780be901054d8386295")
        guard case .deploy(let processed) = try Fixtures.event("transactionprocessed-v2-3.json").payload else { Issue.record("not a deploy"); return }
        #expect(processed.state == .processed)
        #expect(processed.cost == "10000000000")
        #expect(processed.errorMessage == nil)
        guard case .deploy(let failed) = try Fixtures.event("deployprocessed-1.json").payload else { Issue.record("not a deploy"); return }
        #expect(failed.errorMessage?.isEmpty == false)
        guard case .deploy(let expired) = try Fixtures.event("transactionexpired-v2-deploy.json").payload else { Issue.record("not a deploy"); return }
        #expect(expired.state == .expired && expired.account == nil)
    }

    @Test("a 1.x deploy and the same deploy as a 2.0 transaction share their dedup keys")
    func crossVersionKeys() throws {
        #expect(try Fixtures.event("deployexpired-1.json").dedupKey == Fixtures.event("transactionexpired-v2-deploy.json").dedupKey)
        #expect(try Fixtures.event("deployprocessed-1.json").dedupKey == Fixtures.event("transactionprocessed-v2-deploy.json").dedupKey)
    }

    @Test("an unknown kind is kept raw with a content key")
    func unknownKind() throws {
        let e = try CasperEventDecoder().decode(#"{"SomethingNew":{"a":1}}"#)
        #expect(e.payload == .unknown)
        #expect(e.kindName == "SomethingNew")
        #expect(e.dedupKey?.value.hasPrefix("raw:SomethingNew:") == true)
        #expect(e.normalizedJSON() == #"{"SomethingNew":{"a":1}}"#)
    }

    @Test("malformed payloads throw a typed error, never crash", arguments: [
        "", "not json", "[]", "42", "\"Hello\"", "{}", #"{"A":1,"B":2}"#,
        #"{"BlockAdded":{}}"#, #"{"BlockAdded":{"block_hash":"x","block":{"Version2":{}}}}"#,
        #"{"Step":{"era_id":-1}}"#, #"{"Step":{"era_id":1.5}}"#, #"{"Step":{"era_id":18446744073709551616}}"#,
        #"{"DeployAccepted":null}"#, #"{"TransactionProcessed":{"transaction_hash":{}}}"#,
        #"{"FinalitySignature":{"V3":{}}}"#, #"{"ApiVersion":7}"#,
    ])
    func malformed(_ raw: String) {
        #expect(throws: CasperDecodeError.self) { try CasperEventDecoder().decode(raw) }
    }

    @Test("ApiVersion and Shutdown steer the stream and are not stored")
    func controlMessages() throws {
        let v = try Fixtures.event("apiversion-v2-1.json")
        #expect(v.payload == .apiVersion("2.0.0"))
        #expect(IngestEvent(v) == nil)
        let s = try Fixtures.event("shutdown-1.json")
        #expect(s.payload == .shutdown)
        #expect(IngestEvent(s) == nil)
    }
}
