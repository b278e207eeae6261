import ChainfeedCore
import Foundation

/// The real node payloads shipped with the tests (see Fixtures/casper/SOURCES.md).
public enum Fixtures {
    public static var casperDirectory: URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures/casper")
    }

    /// Every `*.json` event payload at the top of the fixture folder, by file name.
    public static func casperPayloads() throws -> [(name: String, text: String)] {
        let files = try FileManager.default.contentsOfDirectory(atPath: casperDirectory.path)
            .filter { $0.hasSuffix(".json") }
            .sorted()
        return try files.map { name in
            (name, try String(contentsOf: casperDirectory.appendingPathComponent(name), encoding: .utf8))
        }
    }

    public static func text(_ name: String) throws -> String {
        try String(contentsOf: casperDirectory.appendingPathComponent(name), encoding: .utf8)
    }

    /// A fixture payload decoded, its raw text compacted as the node sends it on the wire.
    public static func event(_ name: String) throws -> NodeEvent {
        try CasperEventDecoder().decode(compact(try text(name)))
    }

    /// Every storable fixture event, prepared for a store.
    public static func storableEvents() throws -> [IngestEvent] {
        try casperPayloads().compactMap { try IngestEvent(CasperEventDecoder().decode(compact($0.text))) }
    }

    /// One-line JSON, as on the node's wire.
    public static func compact(_ json: String) throws -> String {
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])
        let data = try JSONSerialization.data(withJSONObject: object, options: [.fragmentsAllowed, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}
