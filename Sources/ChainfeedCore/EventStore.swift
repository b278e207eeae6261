/// What a web replica reads: the REST resources and the event log. Replicas hold only this (invariant 8).
public protocol EventReader: Sendable {
    func block(hash: String) async throws -> Block?
    /// Blocks, newest first.
    func blocks(_ page: PageRequest) async throws -> Page<Block>
    func deploy(hash: String) async throws -> Deploy?
    /// An account's deploys and transactions, newest first.
    func accountDeploys(account: String, _ page: PageRequest) async throws -> Page<Deploy>
    /// Log entries with `seq > after` that match `filter`, in `seq` order, at most `limit`.
    func events(after: Seq, limit: Int, filter: EventFilter) async throws -> [StoredEvent]
    func status() async throws -> StoreStatus
    /// The highest `seq` this reader can serve (a replica's applied head): for `?minSeq=` and lag checks.
    func appliedSeq() async throws -> Seq
    /// A reader that has applied `seq`, waiting up to `budget` for one (DESIGN.md "Read replicas": a client that
    /// has seen `seq` N never gets a stale answer); throws ``ReadConsistencyError/notApplied(seq:waited:)`` after.
    func reader(applied seq: Seq, within budget: Duration) async throws -> any EventReader
}

extension EventReader {
    public func appliedSeq() async throws -> Seq { try await status().headSeq }

    /// One store: waits until it has applied `seq`, polling its head.
    public func reader(applied seq: Seq, within budget: Duration) async throws -> any EventReader {
        let deadline = ContinuousClock.now + budget
        while try await appliedSeq() < seq {
            guard ContinuousClock.now < deadline else { throw ReadConsistencyError.notApplied(seq: seq, waited: budget) }
            try await Task.sleep(for: ReadConsistencyError.pollInterval)
        }
        return self
    }
}

/// Why a read that asked for `?minSeq=` got no answer.
public enum ReadConsistencyError: Error, Equatable, CustomStringConvertible {
    /// No read database had applied `seq` within the wait: retry shortly (HTTP 503).
    case notApplied(seq: Seq, waited: Duration)

    /// How often a waiting read looks at the applied head again.
    static let pollInterval: Duration = .milliseconds(20)

    public var description: String {
        switch self {
        case .notApplied(let seq, let waited):
            "no read database has applied seq \(seq) yet (waited \(waited)); retry shortly"
        }
    }
}

/// The writer's store: keeps every event once, with a gap-free `seq`, and checkpoints with the data.
public protocol EventStore: EventReader {
    /// Stores a batch in one transaction (DESIGN.md invariants 1–3).
    ///
    /// New events get the next `seq` values in batch order; events whose dedup key is already stored
    /// take none. The checkpoints (one per node stream the batch came from) are saved in the same
    /// transaction, replacing the stream's previous one.
    func store(_ batch: [IngestEvent], checkpoints: [NodeCheckpoint]) async throws -> StoreResult
    /// The saved resume point of a node stream, if any.
    func checkpoint(stream: String) async throws -> NodeCheckpoint?
}
