/// Why a node message could not be decoded; the stream goes on without it.
public enum CasperDecodeError: Error, Equatable, CustomStringConvertible {
    /// The text is not JSON, or not an object with one top-level key (or the string `"Shutdown"`).
    case notAnEvent(reason: String)
    /// The kind is known but its fields do not have the node's shape.
    case malformedPayload(kind: String, reason: String)

    public var description: String {
        switch self {
        case .notAnEvent(let reason): "node message is not a Casper event: \(reason)"
        case .malformedPayload(let kind, let reason): "\(kind) payload does not have the node's shape: \(reason)"
        }
    }
}

/// Turns one SSE `data` payload of a Casper 1.x or 2.0 node into a normalised ``NodeEvent``.
///
/// Reads only the fields Chainfeed keeps (``CasperWire``) with ``JSONScanner``; the rest of the payload is checked
/// to be JSON and kept raw.
public struct CasperEventDecoder: Sendable {
    public init() {}

    public func decode(_ raw: String) throws(CasperDecodeError) -> NodeEvent {
        let scanner: JSONScanner
        do {
            scanner = try JSONScanner(raw)
        } catch {
            throw .notAnEvent(reason: "not JSON: \(error)")
        }
        let root = scanner.root
        switch scanner.type(at: root) {
        case .object:
            break
        case .string where scanner.string(at: root) == EventKind.shutdown.rawValue:
            return NodeEvent(kindName: EventKind.shutdown.rawValue, raw: raw, payload: .shutdown)
        case .string:
            throw .notAnEvent(reason: "a bare string that is not \"Shutdown\"")
        default:
            throw .notAnEvent(reason: "not a JSON object")
        }
        let envelope: WireObject
        do {
            envelope = try WireObject(scanner, at: root, path: "")
        } catch {
            throw .notAnEvent(reason: error.reason)
        }
        let keys = envelope.keys
        guard keys.count == 1, let kind = keys.first else {
            throw .notAnEvent(reason: "expected one top-level key, found \(keys.count)")
        }
        guard let known = EventKind(rawValue: kind) else {
            return NodeEvent(kindName: kind, raw: raw, payload: .unknown)
        }
        do {
            return NodeEvent(kindName: kind, raw: raw, payload: try Self.payload(known, envelope, kind))
        } catch {
            throw .malformedPayload(kind: kind, reason: error.reason)
        }
    }

    private static func payload(_ kind: EventKind, _ envelope: WireObject, _ key: String) throws(WireShapeError) -> NodeEvent.Payload {
        func body() throws(WireShapeError) -> WireObject {
            guard let i = envelope.value(key) else { throw WireShapeError(reason: "\(key): expected an object, found null") }
            return try WireObject(envelope.scanner, at: i, path: key)
        }
        switch kind {
        case .apiVersion:
            guard let i = envelope.value(key) else { throw WireShapeError(reason: "\(key): expected a string, found null") }
            return .apiVersion(try envelope.string(at: i, path: key))
        case .shutdown: return .shutdown
        case .blockAdded: return .block(try CasperWire.block(body()))
        case .deployAccepted: return .deploy(try CasperWire.deployAccepted(body()))
        case .transactionAccepted: return .deploy(try CasperWire.transactionAccepted(body()))
        case .deployProcessed: return .deploy(try CasperWire.deployProcessed(body()))
        case .transactionProcessed: return .deploy(try CasperWire.transactionProcessed(body()))
        case .deployExpired: return .deploy(try CasperWire.deployExpired(body()))
        case .transactionExpired: return .deploy(try CasperWire.transactionExpired(body()))
        case .finalitySignature: return .signature(try CasperWire.finalitySignature(body()))
        case .step: return .step(try CasperWire.step(body()))
        case .fault: return .fault(try CasperWire.fault(body()))
        }
    }
}
