import ChainfeedCore

/// Where subscriptions are found by what an event carries, so an event for one account costs about
/// the same with 10 or 10,000 unrelated subscribers.
///
/// A subscription with filter keys is indexed under one of them (the most selective); one without
/// keys is indexed under each of its topics (or `all`). An event looks up only its own keys and
/// topic, then checks the full filter on those few candidates.
struct SubscriptionIndex {
    struct Key: Hashable {
        var sink: Int
        var subscription: String
    }

    private enum Slot: Hashable {
        case account(String), proposer(String), blockHash(String), deployHash(String), era(UInt64)
        case topic(Topic), all
    }

    private var slots: [Slot: Set<Key>] = [:]
    private var filters: [Key: EventFilter] = [:]

    var count: Int { filters.count }

    mutating func insert(_ key: Key, filter: EventFilter) {
        filters[key] = filter
        for slot in Self.slots(of: filter) { slots[slot, default: []].insert(key) }
    }

    mutating func remove(_ key: Key) {
        guard let filter = filters.removeValue(forKey: key) else { return }
        for slot in Self.slots(of: filter) {
            slots[slot]?.remove(key)
            if slots[slot]?.isEmpty == true { slots[slot] = nil }
        }
    }

    func filter(of key: Key) -> EventFilter? { filters[key] }

    func keys(ofSink sink: Int) -> [Key] {
        filters.keys.filter { $0.sink == sink }
    }

    /// Every subscription whose filter matches the event.
    func matches(_ event: StoredEvent) -> [Key] {
        var candidates = slots[.all] ?? []
        if let topic = event.topic, let byTopic = slots[.topic(topic)] { candidates.formUnion(byTopic) }
        let k = event.keys
        if let a = k.account, let s = slots[.account(a)] { candidates.formUnion(s) }
        if let p = k.proposer, let s = slots[.proposer(p)] { candidates.formUnion(s) }
        if let b = k.blockHash, let s = slots[.blockHash(b)] { candidates.formUnion(s) }
        if let d = k.deployHash, let s = slots[.deployHash(d)] { candidates.formUnion(s) }
        if let e = k.eraId, let s = slots[.era(e)] { candidates.formUnion(s) }
        return candidates.filter { filters[$0]?.matches(event) == true }
    }

    private static func slots(of filter: EventFilter) -> [Slot] {
        if let d = filter.deployHash { return [.deployHash(d)] }
        if let b = filter.blockHash { return [.blockHash(b)] }
        if let a = filter.account { return [.account(a)] }
        if let p = filter.proposer { return [.proposer(p)] }
        if let e = filter.eraId { return [.era(e)] }
        guard let topics = filter.topics else { return [.all] }
        return topics.map { .topic($0) }
    }
}
