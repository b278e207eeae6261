/// The embedded default store, and the reference the PostgreSQL store is tested against.
///
/// Every list keeps a dense insertion position, so a page is an O(limit) slice and counts are counters.
public actor InMemoryEventStore: EventStore {
    private var log: [StoredEvent] = []
    private var dedup: Set<DedupKey> = []
    private var blockList: [Block] = []
    private var blockIndex: [String: Int] = [:]
    private var deploysByHash: [String: Deploy] = [:]
    private var accountLists: [String: [String]] = [:]
    private var accountOf: [String: String] = [:]
    private var checkpoints: [String: NodeCheckpoint] = [:]
    private var headHeight: UInt64?

    public init() {}

    // MARK: Writes

    public func store(_ batch: [IngestEvent], checkpoints newCheckpoints: [NodeCheckpoint]) -> StoreResult {
        var stored: [StoredEvent] = []
        var duplicates = 0
        for event in batch {
            guard dedup.insert(event.dedupKey).inserted else {
                duplicates += 1
                continue
            }
            let entry = StoredEvent(seq: Seq(log.count + 1), event)
            log.append(entry)
            stored.append(entry)
            apply(event.payload)
        }
        for checkpoint in newCheckpoints {
            checkpoints[checkpoint.stream] = checkpoint
        }
        return StoreResult(stored: stored, duplicates: duplicates)
    }

    private func apply(_ payload: NodeEvent.Payload) {
        switch payload {
        case .block(let block):
            blockIndex[block.blockHash] = blockList.count
            blockList.append(block)
            headHeight = max(headHeight ?? 0, block.height)
        case .deploy(let update):
            let merged = deploysByHash[update.deployHash].map { $0.merged(with: update) } ?? update
            deploysByHash[update.deployHash] = merged
            if let account = merged.account, accountOf[merged.deployHash] == nil {
                accountOf[merged.deployHash] = account
                accountLists[account, default: []].append(merged.deployHash)
            }
        case .signature, .step, .fault, .unknown, .apiVersion, .shutdown:
            break
        }
    }

    public func checkpoint(stream: String) -> NodeCheckpoint? {
        checkpoints[stream]
    }

    // MARK: Reads

    public func block(hash: String) -> Block? {
        blockIndex[hash].map { blockList[$0] }
    }

    public func blocks(_ request: PageRequest) -> Page<Block> {
        let items = request.positions(count: blockList.count).map { range in
            range.reversed().map { blockList[$0 - 1] }
        } ?? []
        return Page(items: items, itemCount: blockList.count, request: request)
    }

    public func deploy(hash: String) -> Deploy? {
        deploysByHash[hash]
    }

    public func accountDeploys(account: String, _ request: PageRequest) -> Page<Deploy> {
        let list = accountLists[account] ?? []
        let items = request.positions(count: list.count).map { range in
            range.reversed().compactMap { deploysByHash[list[$0 - 1]] }
        } ?? []
        return Page(items: items, itemCount: list.count, request: request)
    }

    public func events(after: Seq, limit: Int, filter: EventFilter) -> [StoredEvent] {
        guard after < Seq(log.count) else { return [] }
        var out: [StoredEvent] = []
        for event in log[Int(after)...] where filter.matches(event) {
            out.append(event)
            if out.count == limit { break }
        }
        return out
    }

    public func status() -> StoreStatus {
        StoreStatus(
            headSeq: Seq(log.count), headHeight: headHeight, blockCount: blockList.count,
            checkpoints: checkpoints.values.sorted { $0.stream < $1.stream })
    }
}
