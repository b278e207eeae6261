import Foundation
import Testing
@testable import ChainfeedCore

/// The hand-written JSON must be the very bytes `JSONEncoder` (sorted keys, unescaped slashes) writes.
@Suite struct JSONTextTests {
    func reference(_ value: some Encodable) throws -> String {
        String(decoding: try JSONText.encoder.encode(value), as: UTF8.self)
    }

    static let strings: [String] = [
        "", "plain", "01ab/cd", "quote \" and backslash \\", "tab\tnew\nline\rcr", "\u{8}\u{c}",
        String((0..<0x80).map { Character(Unicode.Scalar(UInt8($0))) }), "é ü 日本 🚀", "\u{2028}\u{2029}\u{7f}",
    ]

    @Test("quote writes what JSONEncoder writes, for every ASCII character and some others", arguments: strings)
    func quote(_ s: String) throws {
        #expect(JSONText.quote(s) == (try reference(s)))
    }

    @Test("every record is written as its Encodable conformance writes them, nil fields included")
    func records() throws {
        for s in Self.strings {
            let block = Block(blockHash: s, parentHash: "p", timestamp: s, eraId: 7, proposer: s, height: UInt64.max, deploys: [s, "x"])
            #expect(JSONText.encode(block) == (try reference(block)))
            let empty = Block(blockHash: "b", parentHash: "p", timestamp: "t", eraId: 0, proposer: "q", height: 0, deploys: [])
            #expect(JSONText.encode(empty) == (try reference(empty)))
            let full = Deploy(deployHash: s, account: s, state: .processed, cost: "1", errorMessage: s, blockHash: "b", timestamp: "t")
            #expect(JSONText.encode(full) == (try reference(full)))
            let bare = Deploy(deployHash: s, state: .accepted)
            #expect(JSONText.encode(bare) == (try reference(bare)))
            for height in [nil, UInt64(12)] {
                let signature = FinalitySignature(blockHash: s, blockHeight: height, eraId: 3, publicKey: s, signature: "sig")
                #expect(JSONText.encode(signature) == (try reference(signature)))
            }
            #expect(JSONText.encode(Step(eraId: 9)) == (try reference(Step(eraId: 9))))
            let fault = Fault(eraId: 1, publicKey: s, timestamp: s)
            #expect(JSONText.encode(fault) == (try reference(fault)))
        }
    }
}
