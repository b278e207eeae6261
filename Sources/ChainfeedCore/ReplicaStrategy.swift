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

/// Why no read replica answered.
public enum ReplicaSetError: Error, CustomStringConvertible {
    /// A strict zone strategy found no replica in its zone.
    case noReplicaInZone(String?)
    /// Every candidate failed with an infrastructure error; the last one is kept.
    case allReplicasFailed(lastError: String)

    public var description: String {
        switch self {
        case .noReplicaInZone(let zone): "no read replica in zone \(zone ?? "(none)"); add one or use a prefer-zone strategy"
        case .allReplicasFailed(let last): "no read replica answered (last error: \(last)); check the read databases"
        }
    }
}

/// Reads from several read databases by a ``ReplicaStrategy``, failing over on infrastructure errors only.
///
/// A missing row is an answer, not a failure: it never moves the query to another replica.
public final class ReplicaSet: EventReader {
    public struct Member: Sendable {
        public var reader: any EventReader
        public var zone: String?
        public init(reader: any EventReader, zone: String?) {
            self.reader = reader
            self.zone = zone
        }
    }

    private let members: [Member]
    private let strategy: ReplicaStrategy
    private let ownZone: String?
    private let isInfrastructureError: @Sendable (any Error) -> Bool
    private let turn = Atomic<Int>(0)

    /// - Parameters:
    ///   - members: the read databases, each with its zone label.
    ///   - strategy: how to choose among them.
    ///   - ownZone: this web replica's zone.
    ///   - isInfrastructureError: which errors mean "try another replica" (connection lost, timeout).
    public init(members: [Member], strategy: ReplicaStrategy, ownZone: String?, isInfrastructureError: @escaping @Sendable (any Error) -> Bool) {
        self.members = members
        self.strategy = strategy
        self.ownZone = ownZone
        self.isInfrastructureError = isInfrastructureError
    }

    func read<T>(_ body: (any EventReader) async throws -> T) async throws -> T {
        // `single` tries in preference order every time: the first healthy one answers, and a
        // replica that comes back is used again at once.
        let order = strategy.order(zones: members.map(\.zone), ownZone: ownZone, turn: turn.wrappingAdd(1, ordering: .relaxed).oldValue)
        guard !order.isEmpty else { throw ReplicaSetError.noReplicaInZone(ownZone) }
        var last: (any Error)?
        for index in order {
            do {
                return try await body(members[index].reader)
            } catch {
                guard isInfrastructureError(error) else { throw error }
                last = error
            }
        }
        throw ReplicaSetError.allReplicasFailed(lastError: last.map { "\($0)" } ?? "none")
    }

    public func block(hash: String) async throws -> Block? { try await read { try await $0.block(hash: hash) } }
    public func blocks(_ page: PageRequest) async throws -> Page<Block> { try await read { try await $0.blocks(page) } }
    public func deploy(hash: String) async throws -> Deploy? { try await read { try await $0.deploy(hash: hash) } }
    public func accountDeploys(account: String, _ page: PageRequest) async throws -> Page<Deploy> {
        try await read { try await $0.accountDeploys(account: account, page) }
    }
    public func events(after: Seq, limit: Int, filter: EventFilter) async throws -> [StoredEvent] {
        try await read { try await $0.events(after: after, limit: limit, filter: filter) }
    }
    public func status() async throws -> StoreStatus { try await read { try await $0.status() } }
}
