import Synchronization

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
/// A missing row is an answer, not a failure: it never moves the query to another replica. ``refresh(knownHead:)``
/// (run every second or so by the web replica) learns each database's applied head and replay lag: a replica
/// that is behind and has replayed nothing for longer than `maxLag`, or that did not answer, moves to the back
/// of every order, so it only answers when no healthy one can. `?minSeq=` reads go to a replica that has applied
/// the seq (``reader(applied:within:)``).
public final class ReplicaSet: EventReader {
    public struct Member: Sendable {
        public var reader: any EventReader
        public var zone: String?
        /// How long since the database replayed its last commit; `nil` when it is not a streaming replica.
        public var replayLag: (@Sendable () async throws -> Duration?)?

        public init(reader: any EventReader, zone: String?, replayLag: (@Sendable () async throws -> Duration?)? = nil) {
            self.reader = reader
            self.zone = zone
            self.replayLag = replayLag
        }
    }

    /// What the last ``refresh(knownHead:)`` learnt of one member.
    public struct Health: Sendable, Equatable {
        /// The applied head (`seq`); 0 until known.
        public var appliedSeq: Seq = 0
        public var replayLag: Duration?
        public var reachable = true
        /// Behind the known head with a replay lag above the bound: skipped while others are healthy.
        public var lagging = false

        public var healthy: Bool { reachable && !lagging }
    }

    private let members: [Member]
    private let strategy: ReplicaStrategy
    private let ownZone: String?
    private let maxLag: Duration
    private let isInfrastructureError: @Sendable (any Error) -> Bool
    private let turn = Atomic<Int>(0)
    private let state: Mutex<[Health]>

    /// - Parameters:
    ///   - members: the read databases, each with its zone label.
    ///   - strategy: how to choose among them.
    ///   - ownZone: this web replica's zone.
    ///   - maxLag: the replay lag past which a replica that is behind is skipped.
    ///   - isInfrastructureError: which errors mean "try another replica" (connection lost, timeout).
    public init(
        members: [Member], strategy: ReplicaStrategy, ownZone: String?, maxLag: Duration = .seconds(10),
        isInfrastructureError: @escaping @Sendable (any Error) -> Bool
    ) {
        self.members = members
        self.strategy = strategy
        self.ownZone = ownZone
        self.maxLag = maxLag
        self.isInfrastructureError = isInfrastructureError
        self.state = Mutex(Array(repeating: Health(), count: members.count))
    }

    /// What each member looked like at the last refresh, in member order.
    public var health: [Health] { state.withLock { $0 } }

    /// Asks every member its applied head and replay lag, and marks the unreachable and lagging ones.
    ///
    /// - Parameter knownHead: the newest `seq` known from elsewhere (the bus); the members' own heads count too.
    public func refresh(knownHead: Seq = 0) async {
        var fresh = [Health]()
        for member in members {
            var health = Health()
            do {
                health.appliedSeq = try await member.reader.appliedSeq()
                health.replayLag = try await member.replayLag?()
            } catch {
                health.reachable = false
            }
            fresh.append(health)
        }
        let head = max(knownHead, fresh.map(\.appliedSeq).max() ?? 0)
        for i in fresh.indices where fresh[i].reachable {
            fresh[i].lagging = fresh[i].appliedSeq < head && (fresh[i].replayLag ?? .zero) > maxLag
        }
        state.withLock { $0 = fresh }
    }

    /// Refreshes every `interval` until the task is cancelled.
    public func monitor(every interval: Duration, knownHead: @escaping @Sendable () async -> Seq = { 0 }) async {
        while !Task.isCancelled {
            await refresh(knownHead: await knownHead())
            try? await Task.sleep(for: interval)
        }
    }

    /// The strategy's order for the next query, healthy members first.
    func order() throws -> [Int] {
        let order = strategy.order(zones: members.map(\.zone), ownZone: ownZone, turn: turn.wrappingAdd(1, ordering: .relaxed).oldValue)
        guard !order.isEmpty else { throw ReplicaSetError.noReplicaInZone(ownZone) }
        let health = state.withLock { $0 }
        return order.filter { health[$0].healthy } + order.filter { !health[$0].healthy }
    }

    /// Runs `body` on the members of `order` in turn until one answers, failing over on infrastructure errors.
    func read<T>(_ order: [Int], _ body: (any EventReader) async throws -> T) async throws -> T {
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

    func read<T>(_ body: (any EventReader) async throws -> T) async throws -> T {
        // `single` tries in preference order every time: the first healthy one answers, and a
        // replica that comes back is used again at once.
        try await read(try order(), body)
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

    /// The newest applied head among the members that answer.
    public func appliedSeq() async throws -> Seq {
        var best: Seq?
        var last: (any Error)?
        for member in members {
            do {
                best = max(best ?? 0, try await member.reader.appliedSeq())
            } catch {
                last = error
            }
        }
        guard let best else { throw ReplicaSetError.allReplicasFailed(lastError: last.map { "\($0)" } ?? "none") }
        return best
    }

    /// The members, in the strategy's order, that have applied `seq`: the heads from the last refresh are
    /// trusted when they suffice, and asked again when they do not.
    public func reader(applied seq: Seq, within budget: Duration) async throws -> any EventReader {
        let deadline = ContinuousClock.now + budget
        let order = try order()
        while true {
            let known = state.withLock { health in order.filter { health[$0].appliedSeq >= seq } }
            if !known.isEmpty { return Selection(set: self, order: known) }
            var caughtUp: [Int] = []
            for index in order {
                guard let head = try? await members[index].reader.appliedSeq() else { continue }
                state.withLock { $0[index].appliedSeq = max($0[index].appliedSeq, head) }
                if head >= seq { caughtUp.append(index) }
            }
            if !caughtUp.isEmpty { return Selection(set: self, order: caughtUp) }
            guard ContinuousClock.now < deadline else { throw ReadConsistencyError.notApplied(seq: seq, waited: budget) }
            try await Task.sleep(for: ReadConsistencyError.pollInterval)
        }
    }

    /// Some members of a set, in a fixed order: the ones a `?minSeq=` read may use.
    struct Selection: EventReader {
        let set: ReplicaSet
        let order: [Int]

        func block(hash: String) async throws -> Block? { try await set.read(order) { try await $0.block(hash: hash) } }
        func blocks(_ page: PageRequest) async throws -> Page<Block> { try await set.read(order) { try await $0.blocks(page) } }
        func deploy(hash: String) async throws -> Deploy? { try await set.read(order) { try await $0.deploy(hash: hash) } }
        func accountDeploys(account: String, _ page: PageRequest) async throws -> Page<Deploy> {
            try await set.read(order) { try await $0.accountDeploys(account: account, page) }
        }
        func events(after: Seq, limit: Int, filter: EventFilter) async throws -> [StoredEvent] {
            try await set.read(order) { try await $0.events(after: after, limit: limit, filter: filter) }
        }
        func status() async throws -> StoreStatus { try await set.read(order) { try await $0.status() } }
    }
}
