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
