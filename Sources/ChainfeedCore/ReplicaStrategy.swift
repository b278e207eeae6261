import Synchronization

/// How a web replica picks among its read databases (DESIGN.md "Read replicas").
public enum ReplicaStrategy: String, Sendable, CaseIterable {
    /// Stick to the first healthy one, fail over in order.
    case single
    /// Start each query at the next one, try in order until one answers.
    case roundRobin = "round-robin"
    /// `single` over the replica's own zone, falling back to all when the zone has none healthy.
    case preferZoneSingle = "prefer-zone-single"
    /// `round-robin` over the own zone, falling back to all.
    case preferZoneRoundRobin = "prefer-zone-round-robin"
    /// `single` over the own zone only; fails when the zone has none.
    case zoneSingle = "zone-single"
    /// `round-robin` over the own zone only; fails when the zone has none.
    case zoneRoundRobin = "zone-round-robin"

    var roundRobin: Bool { [.roundRobin, .preferZoneRoundRobin, .zoneRoundRobin].contains(self) }
    var zoned: Bool { ![.single, .roundRobin].contains(self) }
    var strictZone: Bool { [.zoneSingle, .zoneRoundRobin].contains(self) }

    /// The order in which to try `zones` (one per replica, `nil` = unlabelled) for query number `turn`.
    ///
    /// Pure, so the choice is testable without databases.
    public func order(zones: [String?], ownZone: String?, turn: Int) -> [Int] {
        let all = Array(zones.indices)
        var preferred = all
        var rest: [Int] = []
        if zoned {
            preferred = all.filter { zones[$0] != nil && zones[$0] == ownZone }
            rest = strictZone ? [] : all.filter { !preferred.contains($0) }
        }
        func rotate(_ list: [Int]) -> [Int] {
            guard roundRobin, !list.isEmpty else { return list }
            let k = turn % list.count
            return Array(list[k...] + list[..<k])
        }
        return rotate(preferred) + rotate(rest)
    }
}
