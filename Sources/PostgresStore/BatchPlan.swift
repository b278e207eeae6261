import ChainfeedCore

/// What one `store` call writes, worked out in Swift from the rows it read, step for step as
/// `InMemoryEventStore` does it, so both stores give the same answers for the same batches.
///
/// Pure: the SQL that reads its inputs and writes its outputs is in `BatchWriter`.
struct BatchPlan: Sendable {
    /// The newly stored events, with their `seq`, in batch order.
    private(set) var stored: [StoredEvent] = []
    /// The dedup keys of `stored`, index for index.
    private(set) var storedKeys: [String] = []
    private(set) var duplicates = 0
    /// New blocks with their dense insertion position.
    private(set) var blocks: [(pos: Int64, block: Block)] = []
    /// The deploy events among the new ones, in `seq` order.
    private(set) var deployUpdates: [Deploy] = []
    private(set) var headSeq: Seq
    private(set) var blockCount: Int64

    /// Gives each event whose dedup key is neither stored nor earlier in the batch the next `seq`.
    init(batch: [IngestEvent], alreadyStored: Set<String>, headSeq: Seq, blockCount: Int64) {
        self.headSeq = headSeq
        self.blockCount = blockCount
        var seen = alreadyStored
        for event in batch {
            guard seen.insert(event.dedupKey.value).inserted else {
                duplicates += 1
                continue
            }
            self.headSeq += 1
            stored.append(StoredEvent(seq: self.headSeq, event))
            storedKeys.append(event.dedupKey.value)
            switch event.payload {
            case .block(let block):
                self.blockCount += 1
                blocks.append((self.blockCount, block))
            case .deploy(let update):
                deployUpdates.append(update)
            case .signature, .step, .fault, .unknown, .apiVersion, .shutdown:
                break
            }
        }
    }

    /// The deploy hashes whose stored rows the merge needs.
    var deployHashes: [String] {
        var seen = Set<String>()
        return deployUpdates.map(\.deployHash).filter { seen.insert($0).inserted }
    }

    /// The merged deploys to upsert, and the deploys that join an account's list, in order.
    struct DeployChanges: Sendable, Equatable {
        var deploys: [Deploy] = []
        var accountLinks: [AccountLink] = []
    }

    struct AccountLink: Sendable, Equatable {
        var account: String
        var deployHash: String
    }

    /// Folds the updates into the stored rows (`Deploy.merged(with:)`: the higher state wins, known fields
    /// stay). A deploy joins its account's list the first time its merged row names an account.
    func mergeDeploys(existing: [String: Deploy]) -> DeployChanges {
        var current = existing
        var order: [String] = []
        var touched = Set<String>()
        var changes = DeployChanges()
        for update in deployUpdates {
            let before = current[update.deployHash]
            let merged = before.map { $0.merged(with: update) } ?? update
            if touched.insert(update.deployHash).inserted { order.append(update.deployHash) }
            current[update.deployHash] = merged
            if let account = merged.account, before?.account == nil {
                changes.accountLinks.append(AccountLink(account: account, deployHash: merged.deployHash))
            }
        }
        changes.deploys = order.compactMap { current[$0] }
        return changes
    }

    /// An account list entry with its dense per-account position.
    struct AccountEntry: Sendable, Equatable {
        var account: String
        var pos: Int64
        var deployHash: String
    }

    /// Numbers the new links after each account's stored count; returns the entries and the new counts.
    static func number(_ links: [AccountLink], counts: [String: Int64]) -> (entries: [AccountEntry], counts: [(account: String, count: Int64)]) {
        var counts = counts
        var order: [String] = []
        var touched = Set<String>()
        var entries: [AccountEntry] = []
        for link in links {
            let next = (counts[link.account] ?? 0) + 1
            if touched.insert(link.account).inserted { order.append(link.account) }
            counts[link.account] = next
            entries.append(AccountEntry(account: link.account, pos: next, deployHash: link.deployHash))
        }
        return (entries, order.map { ($0, counts[$0] ?? 0) })
    }

    /// One checkpoint per stream, the last given winning, as the in-memory store's dictionary does.
    static func lastPerStream(_ checkpoints: [NodeCheckpoint]) -> [NodeCheckpoint] {
        var index: [String: Int] = [:]
        var out: [NodeCheckpoint] = []
        for checkpoint in checkpoints {
            if let i = index[checkpoint.stream] {
                out[i] = checkpoint
            } else {
                index[checkpoint.stream] = out.count
                out.append(checkpoint)
            }
        }
        return out
    }
}
