import ChainfeedTestSupport
import Foundation
import Testing

@testable import ChainfeedCore

/// The scanner holds node payloads to the JSON grammar and reads the fields the decoder asks for exactly.
@Suite struct JSONScannerTests {
    @Test("valid documents are accepted, as JSONSerialization accepts them", arguments: [
        "{}", "[]", "0", "-0", "1.5e+10", "-12.25E-3", "true", "false", "null", #""""#, " \n\t{ \"a\" : [ 1 , {\"b\":null} ] } \r\n",
        #"{"a":{"b":{"c":[[],[{}],"x"]}}}"#, #""\u00e9\ud83e\udd80\"\\\/\b\f\n\r\t""#, "18446744073709551616",
    ])
    func accepts(_ text: String) throws {
        _ = try JSONScanner(text)
        #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)) != nil)
    }

    @Test("text that breaks the grammar is refused with an offset, never read", arguments: [
        "", " ", "{", "}", "[1,]", #"{"a":1,}"#, "01", "-01", "1.", ".5", "-", "1e", "1e+", "+1", "tru", "nul", "True",
        #""\x""#, #""\u12g4""#, #""abc"#, #"{"a" 1}"#, "{a:1}", "[1 2]", "\"a\u{01}b\"", "{} {}", "[]]", "'a'", "NaN",
        #"{"a":1 "b":2}"#, "[\"a\"\n", "\u{FEFF}{}",
    ])
    func refuses(_ text: String) {
        #expect(throws: JSONScanError.self) { try JSONScanner(text) }
    }

    @Test("nesting is bounded: deep enough for any payload, never a stack overflow")
    func depth() throws {
        let ok = String(repeating: "[", count: JSONScanner.maxDepth) + String(repeating: "]", count: JSONScanner.maxDepth)
        _ = try JSONScanner(ok)
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONScanError.self) { try JSONScanner(deep) }
        let unclosed = String(repeating: #"{"a":"#, count: 100_000)
        #expect(throws: JSONScanError.self) { try JSONScanner(unclosed) }
    }

    @Test("strings are read with every escape resolved, lone surrogates as U+FFFD")
    func strings() throws {
        let cases: [(String, String)] = [
            (#""plain""#, "plain"),
            (#""\"\\\/\b\f\n\r\t""#, "\"\\/\u{08}\u{0C}\n\r\t"),
            (#""\u00e9\u00E9 é""#, "éé é"),
            (#""\ud83e\udd80 🦀""#, "🦀 🦀"),
            (#""a\ud83eb""#, "a\u{FFFD}b"),
            (#""\ud83e\n""#, "\u{FFFD}\n"),
            (#""\udd80""#, "\u{FFFD}"),
            (#""\ud83e""#, "\u{FFFD}"),
            (#""nul\u0000byte""#, "nul\u{0}byte"),
        ]
        for (text, expected) in cases {
            let s = try JSONScanner(text)
            #expect(s.string(at: s.root) == expected, "\(text)")
        }
    }

    @Test("objects list their keys in text order; values are found where they start")
    func members() throws {
        let s = try JSONScanner(#"{ "b" : [1, {"x":2}], "a\u0041": "v", "n": null, "e": {} }"#)
        let m = s.members(at: s.root)
        #expect(m.map { s.string(at: $0.key) } == ["b", "aA", "n", "e"])
        #expect(s.string(at: m[1].key, equals: "aA") && !s.string(at: m[1].key, equals: "a"))
        #expect(s.string(at: m[0].key, equals: "b") && !s.string(at: m[0].key, equals: "bb"))
        #expect(m.map { s.type(at: $0.value) } == [.array, .string, .null, .object])
        #expect(s.elements(at: m[0].value).map { s.type(at: $0) } == [.number, .object])
        #expect(s.string(at: m[1].value) == "v")
        #expect(s.members(at: m[3].value).isEmpty)
    }

    @Test("u64 values are read exactly; a sign, fraction, exponent or overflow is not a u64")
    func unsigned() throws {
        let cases: [(String, UInt64?)] = [
            ("0", 0), ("9007199254740993", 9_007_199_254_740_993), ("18446744073709551615", .max),
            ("18446744073709551616", nil), ("-1", nil), ("1.0", nil), ("1e2", nil), ("1E2", nil),
        ]
        for (text, expected) in cases {
            let s = try JSONScanner(text)
            #expect(s.uint64(at: s.root) == expected, "\(text)")
        }
    }

    @Test("every prefix and byte flip of every fixture decodes or throws a typed error, never crashes")
    func truncationsAndFlips() throws {
        for fixture in try Fixtures.casperPayloads() {
            let bytes = Array(try Fixtures.text(fixture.name).trimmingCharacters(in: .whitespacesAndNewlines).utf8)
            for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 64)) {
                let prefix = String(decoding: bytes[..<cut], as: UTF8.self)
                #expect(throws: CasperDecodeError.self) { try CasperEventDecoder().decode(prefix) }
            }
            for at in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 64)) {
                for replacement in [UInt8(ascii: "\""), UInt8(ascii: "}"), UInt8(ascii: "1"), UInt8(ascii: "\\")] {
                    var flipped = bytes
                    flipped[at] = replacement
                    _ = try? CasperEventDecoder().decode(String(decoding: flipped, as: UTF8.self))
                }
            }
        }
    }
}
