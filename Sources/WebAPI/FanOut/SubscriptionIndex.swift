import ChainfeedCore
import NIOCore

/// One subscription as the hub holds it: the index hands these out directly, so delivering an event
/// hashes nothing per subscriber.
final class Subscription {
    let key: SubscriptionIndex.Key
    let sink: any EventSink
    /// The sink's event loop, read once.
    let loop: (any EventLoop)?
    let filter: EventFilter
    /// Live events held while the subscription's replay runs; `nil` once it is live.
    var held: [EncodedEvent]?

    init(key: SubscriptionIndex.Key, sink: any EventSink, filter: EventFilter, replaying: Bool) {
        self.key = key
        self.sink = sink
        self.loop = sink.eventLoop
        self.filter = filter
        self.held = replaying ? [] : nil
    }
}

/// Where subscriptions are found by what an event carries, so an event for one account costs about
/// the same with 10 or 10,000 unrelated subscribers.
///
/// A subscription with filter keys is indexed under one of them (the most selective); one without
/// keys is indexed under each of its topics (or `all`). An event has one topic and at most one value
/// per key, so it finds each candidate under exactly one of its slots: no set union, no duplicates.
/// It then checks the full filter on those candidates.
struct SubscriptionIndex {
    struct Key: Hashable {
        var sink: Int
        var subscription: String
    }

    private enum Slot: Hashable {
        case account(String), proposer(String), blockHash(String), deployHash(String), era(UInt64)
        case topic(Topic), all
    }

    private var slots: [Slot: [ObjectIdentifier: Subscription]] = [:]
    private var bySink: [Int: [String: Subscription]] = [:]
    private(set) var count = 0

    /// Adds `subscription`; `false` if its connection already has one by that id.
    mutating func insert(_ subscription: Subscription) -> Bool {
        let key = subscription.key
        guard bySink[key.sink]?[key.subscription] == nil else { return false }
        bySink[key.sink, default: [:]][key.subscription] = subscription
        for slot in Self.slots(of: subscription.filter) { slots[slot, default: [:]][ObjectIdentifier(subscription)] = subscription }
        count += 1
        return true
    }

    @discardableResult
    mutating func remove(_ key: Key) -> Subscription? {
        guard let subscription = bySink[key.sink]?.removeValue(forKey: key.subscription) else { return nil }
        if bySink[key.sink]?.isEmpty == true { bySink[key.sink] = nil }
        for slot in Self.slots(of: subscription.filter) {
            slots[slot]?.removeValue(forKey: ObjectIdentifier(subscription))
            if slots[slot]?.isEmpty == true { slots[slot] = nil }
        }
        count -= 1
        return subscription
    }

    /// Removes every subscription of a connection; returns how many it had.
    mutating func removeAll(ofSink sink: Int) -> Int {
        guard let ids = bySink[sink]?.keys else { return 0 }
        for id in Array(ids) { remove(Key(sink: sink, subscription: id)) }
        return ids.count
    }

    func subscription(_ key: Key) -> Subscription? { bySink[key.sink]?[key.subscription] }

    func count(ofSink sink: Int) -> Int { bySink[sink]?.count ?? 0 }

    /// Calls `body` with every subscription whose filter matches the event.
    func forEachMatch(_ event: StoredEvent, _ body: (Subscription) -> Void) {
        func visit(_ slot: Slot) {
            guard let candidates = slots[slot] else { return }
            for subscription in candidates.values where subscription.filter.matches(event) { body(subscription) }
        }
        visit(.all)
        if let topic = event.topic { visit(.topic(topic)) }
        let k = event.keys
        if let a = k.account { visit(.account(a)) }
        if let p = k.proposer { visit(.proposer(p)) }
        if let b = k.blockHash { visit(.blockHash(b)) }
        if let d = k.deployHash { visit(.deployHash(d)) }
        if let e = k.eraId { visit(.era(e)) }
    }

    /// Every subscription whose filter matches the event.
    func matches(_ event: StoredEvent) -> [Subscription] {
        var found: [Subscription] = []
        forEachMatch(event) { found.append($0) }
        return found
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
