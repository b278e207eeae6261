import ChainfeedCore

/// The statements of one `store` transaction: lock the head, read what the plan needs, write it all at once.
///
/// A batch costs at most seven statements between `BEGIN` and `COMMIT`, whatever its size: the counters row
/// lock (which also serialises any two writers), the lock check, the stored dedup keys, the stored deploys,
/// the account counts, a `COPY` of the new events (the bulk of the bytes, on PostgreSQL's cheapest insert
/// path), and one statement whose data-modifying CTEs insert blocks, deploys, account entries, counters and
/// checkpoints from array parameters (`unnest($1::text[], …)`).
enum BatchWriter {
    /// Identifies the writer-lock session that must still hold the lock when the batch commits.
    struct LockToken: Sendable, Equatable {
        var backendPID: Int
        var key: Int64
    }

    /// - Parameter assumeNew: Skip reading which dedup keys are stored: the events' `COPY` fails on the unique
    ///   index if one is, and the caller retries with `false`. Worth it while batches hold no duplicates.
    static func store(
        _ batch: [IngestEvent], checkpoints: [NodeCheckpoint], lock: LockToken, assumeNew: Bool = false,
        on c: isolated PGConnection
    ) throws -> StoreResult {
        let head = try c.query("SELECT name, value FROM counters WHERE name IN ('seq', 'blocks') ORDER BY name FOR UPDATE")
        var counters: [String: Int64] = [:]
        for row in head.rows {
            counters[try row.text(0, "counters.name")] = Int64(try row.int(1, "counters.value"))
        }
        guard let seq = counters["seq"], let blocks = counters["blocks"], seq >= 0 else {
            throw PostgresError.malformedValue(column: "counters.value")
        }
        try checkLock(lock, on: c)

        let keys = batch.map(\.dedupKey.value)
        let stored = keys.isEmpty || assumeNew ? [] : try c.query(
            "SELECT dedup_key FROM events WHERE dedup_key = ANY($1::text[])", [PGArray.literal(keys)]
        ).rows.map { try $0.text(0, "events.dedup_key") }
        let plan = BatchPlan(batch: batch, alreadyStored: Set(stored), headSeq: Seq(seq), blockCount: blocks)
        let checkpoints = BatchPlan.lastPerStream(checkpoints)
        guard !plan.stored.isEmpty || !checkpoints.isEmpty else {
            return StoreResult(stored: [], duplicates: plan.duplicates)
        }

        let hashes = plan.deployHashes
        var existing: [String: Deploy] = [:]
        if !hashes.isEmpty {
            let rows = try c.query(
                "SELECT \(ReadQueries.deployColumns) FROM deploys WHERE deploy_hash = ANY($1::text[])",
                [PGArray.literal(hashes)])
            for row in rows.rows {
                let deploy = try ReadQueries.deploy(from: row)
                existing[deploy.deployHash] = deploy
            }
        }
        let changes = plan.mergeDeploys(existing: existing)
        var counts: [String: Int64] = [:]
        let accounts = Array(Set(changes.accountLinks.map(\.account)))
        if !accounts.isEmpty {
            let rows = try c.query(
                "SELECT account, count FROM account_counters WHERE account = ANY($1::text[])", [PGArray.literal(accounts)])
            for row in rows.rows {
                counts[try row.text(0, "account_counters.account")] = Int64(try row.int(1, "account_counters.count"))
            }
        }
        let numbered = BatchPlan.number(changes.accountLinks, counts: counts)

        if !plan.stored.isEmpty {
            // The dedup keys were read under the counters lock (or assumed new), so none of these rows exists: a
            // plain COPY, the bulk path; a unique violation rolls the whole batch back.
            let inserted = try c.copy(copyEvents) { send in try sendEventRows(plan, send) }
            guard inserted == plan.stored.count else {
                throw PostgresError.concurrentWriter(planned: plan.stored.count, inserted: inserted)
            }
        }
        try c.query(writeStatement, parameters(plan, changes.deploys, numbered, checkpoints))
        return StoreResult(stored: plan.stored, duplicates: plan.duplicates)
    }

    /// The writer-lock session must still hold the lock: if it died, a standby may be writing already.
    private static func checkLock(_ lock: LockToken, on c: isolated PGConnection) throws {
        let key = UInt64(bitPattern: lock.key)
        let held = try c.query(
            """
            SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = $1::integer
                AND classid = $2::oid AND objid = $3::oid AND objsubid = 1)
            """,
            [String(lock.backendPID), String(key >> 32), String(key & 0xffff_ffff)])
        guard held.scalar == "t" else { throw PostgresError.writerLockLost }
    }

    static let copyEvents = """
        COPY events (seq, dedup_key, kind, topic, raw, data, account, proposer, block_hash, deploy_hash, era_id) FROM STDIN
        """

    /// The new events as COPY rows, in `seq` order, in chunks of about 256 KiB: the server inserts one chunk
    /// while the next is escaped.
    private static func sendEventRows(_ plan: BatchPlan, _ send: (PGCopyText) throws -> Void) throws {
        let chunkBytes = 256 << 10
        var rows = PGCopyText(reservingCapacity: chunkBytes + (64 << 10))
        for (event, key) in zip(plan.stored, plan.storedKeys) {
            rows.field(event.seq)
            rows.field(key)
            rows.field(event.kind)
            rows.field(event.topic?.rawValue)
            rows.field(event.raw)
            rows.field(event.data)
            rows.field(event.keys.account)
            rows.field(event.keys.proposer)
            rows.field(event.keys.blockHash)
            rows.field(event.keys.deployHash)
            rows.field(event.keys.eraId)
            rows.endRow()
            if rows.byteCount >= chunkBytes {
                try send(rows)
                rows.removeAll()
            }
        }
        if !rows.isEmpty { try send(rows) }
    }

    private static func parameters(
        _ plan: BatchPlan, _ deploys: [Deploy], _ accounts: (entries: [BatchPlan.AccountEntry], counts: [(account: String, count: Int64)]),
        _ checkpoints: [NodeCheckpoint]
    ) -> [String?] {
        let blocks = plan.blocks.map(\.block)
        return [
            PGArray.literal(blocks.map(\.blockHash)),
            PGArray.literal(plan.blocks.map(\.pos)),
            PGArray.literal(blocks.map(\.height)),
            PGArray.literal(blocks.map(\.parentHash)),
            PGArray.literal(blocks.map(\.timestamp)),
            PGArray.literal(blocks.map(\.eraId)),
            PGArray.literal(blocks.map(\.proposer)),
            PGArray.literal(blocks.map(\.state)),
            PGArray.literal(blocks.map { JSONText.encode($0.deploys) }),

            PGArray.literal(deploys.map(\.deployHash)),
            PGArray.literal(deploys.map(\.account)),
            PGArray.literal(deploys.map(\.state.rawValue)),
            PGArray.literal(deploys.map(\.cost)),
            PGArray.literal(deploys.map(\.errorMessage)),
            PGArray.literal(deploys.map(\.blockHash)),
            PGArray.literal(deploys.map(\.timestamp)),

            PGArray.literal(accounts.entries.map(\.account)),
            PGArray.literal(accounts.entries.map(\.pos)),
            PGArray.literal(accounts.entries.map(\.deployHash)),
            PGArray.literal(accounts.counts.map(\.account)),
            PGArray.literal(accounts.counts.map(\.count)),

            String(plan.headSeq),
            String(plan.blockCount),

            PGArray.literal(checkpoints.map(\.stream)),
            PGArray.literal(checkpoints.map(\.lastEventId)),
            PGArray.literal(checkpoints.map(\.headHeight)),
            PGArray.literal(checkpoints.map(\.missedEvents)),
        ]
    }

    /// Every write of a batch but the events in one statement; data-modifying CTEs always run to completion.
    static let writeStatement = """
        WITH new_blocks AS (
            INSERT INTO blocks (block_hash, pos, height, parent_hash, "timestamp", era_id, proposer, state, deploys)
            SELECT * FROM unnest($1::text[], $2::bigint[], $3::numeric[], $4::text[], $5::text[], $6::numeric[],
                                 $7::text[], $8::text[], $9::jsonb[])
            RETURNING 1),
        merged_deploys AS (
            INSERT INTO deploys (deploy_hash, account, state, cost, error_message, block_hash, "timestamp")
            SELECT * FROM unnest($10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[])
            ON CONFLICT (deploy_hash) DO UPDATE SET account = EXCLUDED.account, state = EXCLUDED.state,
                cost = EXCLUDED.cost, error_message = EXCLUDED.error_message, block_hash = EXCLUDED.block_hash,
                "timestamp" = EXCLUDED."timestamp"
            RETURNING 1),
        account_entries AS (
            INSERT INTO account_deploys (account, pos, deploy_hash)
            SELECT * FROM unnest($17::text[], $18::bigint[], $19::text[])
            RETURNING 1),
        account_counts AS (
            INSERT INTO account_counters (account, count)
            SELECT * FROM unnest($20::text[], $21::bigint[])
            ON CONFLICT (account) DO UPDATE SET count = EXCLUDED.count
            RETURNING 1),
        head AS (
            UPDATE counters SET value = CASE name WHEN 'seq' THEN $22::bigint ELSE $23::bigint END
            WHERE name IN ('seq', 'blocks')
            RETURNING 1),
        saved_checkpoints AS (
            INSERT INTO checkpoints (stream, last_event_id, head_height, missed_events, updated_at)
            SELECT stream, last_event_id, head_height, missed_events, now()
            FROM unnest($24::text[], $25::bigint[], $26::numeric[], $27::numeric[])
                AS c(stream, last_event_id, head_height, missed_events)
            ON CONFLICT (stream) DO UPDATE SET last_event_id = EXCLUDED.last_event_id,
                head_height = EXCLUDED.head_height, missed_events = EXCLUDED.missed_events,
                updated_at = EXCLUDED.updated_at
            RETURNING 1)
        SELECT 1
        """
}
