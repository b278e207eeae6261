/// Why a subscription or log query was refused; the message is shown to the client as is.
public struct FilterError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Which events a subscription or `/events` query wants: topics, and filter keys AND-ed together.
public struct EventFilter: Sendable, Equatable, Hashable {
    /// `nil` means every topic, kinds without a topic included (`all`).
    public var topics: Set<Topic>?
    public var account: String?
    public var proposer: String?
    public var blockHash: String?
    public var deployHash: String?
    public var eraId: UInt64?
    /// Only the kinds a 1.x node sent on this channel (the node-compatible SSE paths).
    public var channel: LegacyChannel?

    public init(
        topics: Set<Topic>? = nil, account: String? = nil, proposer: String? = nil,
        blockHash: String? = nil, deployHash: String? = nil, eraId: UInt64? = nil, channel: LegacyChannel? = nil
    ) {
        self.channel = channel
        self.topics = topics
        self.account = account
        self.proposer = proposer
        self.blockHash = blockHash
        self.deployHash = deployHash
        self.eraId = eraId
    }

    /// Every event.
    public static let all = EventFilter()

    /// The filter keys a client may name.
    public static let keyNames = ["account", "proposer", "blockHash", "deployHash", "eraId"]

    public var hasKeys: Bool {
        account != nil || proposer != nil || blockHash != nil || deployHash != nil || eraId != nil
    }

    public func matches(topic: Topic?, keys: EventKeys) -> Bool {
        if let topics {
            guard let topic, topics.contains(topic) else { return false }
        }
        if let account, keys.account != account { return false }
        if let proposer, keys.proposer != proposer { return false }
        if let blockHash, keys.blockHash != blockHash { return false }
        if let deployHash, keys.deployHash != deployHash { return false }
        if let eraId, keys.eraId != eraId { return false }
        return true
    }

    public func matches(_ event: StoredEvent) -> Bool {
        if let channel, event.legacyChannel != channel { return false }
        return matches(topic: event.topic, keys: event.keys)
    }

    /// Builds a filter from client text: topic names (`all` or any of ``Topic``) and filter key values.
    ///
    /// Unknown topics, unknown keys and malformed values are refused with a message naming them.
    public static func parse(topics topicNames: [String]?, keys: [String: String]) throws(FilterError) -> EventFilter {
        var filter = EventFilter()
        if let topicNames {
            var set = Set<Topic>()
            var all = false
            for name in topicNames {
                let trimmed = name.trimmingSpaces
                if trimmed == "all" {
                    all = true
                } else if let t = Topic(rawValue: trimmed) {
                    set.insert(t)
                } else {
                    throw FilterError("unknown topic '\(name)'; topics are \(Topic.allCases.map(\.rawValue).joined(separator: ", ")), all")
                }
            }
            if topicNames.isEmpty { throw FilterError("topics must name at least one topic") }
            filter.topics = all ? nil : set
        }
        for (key, value) in keys {
            let v = value.lowercased()
            switch key {
            case "account":
                guard Identifiers.isAccount(v) else { throw FilterError("account '\(value)' is not a public key or account hash") }
                filter.account = v
            case "proposer":
                guard Identifiers.isAccount(v) else { throw FilterError("proposer '\(value)' is not a public key") }
                filter.proposer = v
            case "blockHash":
                guard Identifiers.isHash(v) else { throw FilterError("blockHash '\(value)' is not 64 hex digits") }
                filter.blockHash = v
            case "deployHash":
                guard Identifiers.isHash(v) else { throw FilterError("deployHash '\(value)' is not 64 hex digits") }
                filter.deployHash = v
            case "eraId":
                guard let era = UInt64(value) else { throw FilterError("eraId '\(value)' is not an unsigned integer") }
                filter.eraId = era
            default:
                throw FilterError("unknown filter key '\(key)'; keys are \(keyNames.joined(separator: ", "))")
            }
        }
        return filter
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
