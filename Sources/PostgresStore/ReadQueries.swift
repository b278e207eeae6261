import ChainfeedCore
import Foundation

/// The reads behind `EventReader`, each a primary-key lookup or an index range scan of at most `limit` rows.
///
/// Pages come from `PageRequest.positions(count:)` over a counter, so page 1 and page 100,000 cost the same.
enum ReadQueries {
    static let blockColumns = "block_hash, parent_hash, \"timestamp\", era_id, proposer, state, height, deploys::text"
    static let deployColumns = "deploy_hash, account, state, cost, error_message, block_hash, \"timestamp\""
    static let eventColumns = "seq, kind, topic, raw, data, account, proposer, block_hash, deploy_hash, era_id"

    static func block(hash: String, on c: isolated PGConnection) throws -> Block? {
        try c.query("SELECT \(blockColumns) FROM blocks WHERE block_hash = $1", [hash]).rows.first.map(block(from:))
    }

    /// The first stored block at a height (forks are refused before storing, so there is one).
    static func block(height: UInt64, on c: isolated PGConnection) throws -> Block? {
        try c.query(
            "SELECT \(blockColumns) FROM blocks WHERE height = $1::numeric ORDER BY pos LIMIT 1", [String(height)]
        ).rows.first.map(block(from:))
    }

    /// The counter and the page in one statement (one round trip): every row carries the count after the
    /// block's columns, and a page past the end is one row of count and NULLs.
    static func blocks(_ request: PageRequest, on c: isolated PGConnection) throws -> Page<Block> {
        let rows = try c.query(blocksPage, [String(request.page), String(request.limit)]).rows
        let count = try pageCount(rows, column: 8, "counters.value")
        return Page(items: try rows.filter { $0[0] != nil }.map(block(from:)), itemCount: count, request: request)
    }

    /// `$1` page, `$2` limit; positions as `PageRequest.positions(count:)` computes them, newest first: positions
    /// are dense, so the `limit` highest at or below the page's top are its rows. `ORDER BY … LIMIT` (not
    /// `BETWEEN`) tells the planner it reads `limit` rows, so it walks the index even when it cannot know the
    /// bounds in advance; `least` keeps a huge page number from overflowing (past the count it is past the end).
    static let blocksPage = """
        SELECT \(blockColumns.split(separator: ", ").map { "b." + $0 }.joined(separator: ", ")), n.value
        FROM (SELECT value FROM counters WHERE name = 'blocks') n
        CROSS JOIN LATERAL (SELECT n.value - least($1::bigint - 1, n.value) * $2::bigint AS hi) r
        LEFT JOIN LATERAL (SELECT * FROM blocks WHERE pos <= r.hi ORDER BY pos DESC LIMIT $2::bigint) b ON true
        ORDER BY b.pos DESC
        """

    /// The count a page query carries in `column` of every row (no row: no counter, so nothing stored).
    private static func pageCount(_ rows: [PGRow], column: Int, _ name: String) throws -> Int {
        guard let text = rows.first?[column] else { return 0 }
        guard let count = Int(text) else { throw PostgresError.malformedValue(column: name) }
        return count
    }

    static func deploy(hash: String, on c: isolated PGConnection) throws -> Deploy? {
        try c.query("SELECT \(deployColumns) FROM deploys WHERE deploy_hash = $1", [hash]).rows.first.map(deploy(from:))
    }

    /// The account's counter and page in one statement, as ``blocks(_:on:)``.
    static func accountDeploys(account: String, _ request: PageRequest, on c: isolated PGConnection) throws -> Page<Deploy> {
        let rows = try c.query(accountDeploysPage, [account, String(request.page), String(request.limit)]).rows
        let count = try pageCount(rows, column: 7, "account_counters.count")
        return Page(items: try rows.filter { $0[0] != nil }.map(deploy(from:)), itemCount: count, request: request)
    }

    /// `$1` account, `$2` page, `$3` limit.
    static let accountDeploysPage = """
        SELECT \(deployColumns.split(separator: ", ").map { "x." + $0 }.joined(separator: ", ")), n.count
        FROM (SELECT count FROM account_counters WHERE account = $1) n
        CROSS JOIN LATERAL (SELECT n.count - least($2::bigint - 1, n.count) * $3::bigint AS hi) r
        LEFT JOIN LATERAL (
            SELECT d.*, a.pos FROM account_deploys a JOIN deploys d ON d.deploy_hash = a.deploy_hash
            WHERE a.account = $1 AND a.pos <= r.hi ORDER BY a.pos DESC LIMIT $3::bigint
        ) x ON true
        ORDER BY x.pos DESC
        """

    static func events(after: Seq, limit: Int, filter: EventFilter, on c: isolated PGConnection) throws -> [StoredEvent] {
        guard let (sql, parameters) = eventsQuery(after: after, limit: limit, filter: filter) else { return [] }
        return try c.query(sql, parameters).rows.map(event(from:))
    }

    /// The log query for a filter; `nil` when nothing can match (an empty topic set).
    ///
    /// Filter keys go in the `WHERE` clause, where their `(key, seq)` indexes serve them. Topics without keys
    /// become one `(topic, seq)` range scan per topic, merged by `seq`, so a rare topic never walks the log.
    static func eventsQuery(after: Seq, limit: Int, filter: EventFilter) -> (sql: String, parameters: [String?])? {
        if let topics = filter.topics, topics.isEmpty { return nil }
        // `seq > after` past bigint's range matches nothing; the in-memory store has no limit for limit < 1.
        var parameters: [String?] = [String(min(after, Seq(Int64.max))), limit > 0 ? String(limit) : nil]
        func parameter(_ value: String, _ cast: String = "") -> String {
            parameters.append(value)
            return "$\(parameters.count)\(cast)"
        }
        var conditions = ["seq > $1::bigint"]
        if let v = filter.deployHash { conditions.append("deploy_hash = \(parameter(v))") }
        if let v = filter.blockHash { conditions.append("block_hash = \(parameter(v))") }
        if let v = filter.account { conditions.append("account = \(parameter(v))") }
        if let v = filter.eraId { conditions.append("era_id = \(parameter(String(v), "::numeric"))") }
        if let v = filter.proposer { conditions.append("proposer = \(parameter(v))") }
        let topics = filter.topics.map { $0.map(\.rawValue).sorted() }
        if let topics, topics.count == 1 {
            conditions.append("topic = \(parameter(topics[0]))")
        } else if let topics, filter.hasKeys {
            conditions.append("topic = ANY(\(parameter(PGArray.literal(topics), "::text[]")))")
        }
        let select = "SELECT \(eventColumns) FROM events WHERE \(conditions.joined(separator: " AND ")) ORDER BY seq LIMIT $2::bigint"
        guard let topics, !filter.hasKeys, topics.count > 1 else { return (select, parameters) }
        let branches = topics.map { topic in
            "(SELECT \(eventColumns) FROM events WHERE topic = \(parameter(topic)) AND seq > $1::bigint ORDER BY seq LIMIT $2::bigint)"
        }
        return ("SELECT * FROM (\(branches.joined(separator: " UNION ALL "))) AS e ORDER BY seq LIMIT $2::bigint", parameters)
    }

    static func status(on c: isolated PGConnection) throws -> StoreStatus {
        let head = try c.query("""
            SELECT (SELECT value FROM counters WHERE name = 'seq'), (SELECT value FROM counters WHERE name = 'blocks'),
                   (SELECT max(height) FROM blocks)
            """)
        guard let row = head.rows.first else { throw PostgresError.malformedValue(column: "counters.value") }
        let checkpoints = try c.query("SELECT stream, last_event_id, head_height, missed_events FROM checkpoints")
            .rows.map(checkpoint(from:))
        return StoreStatus(
            headSeq: try row.optionalUInt64(0, "counters.value") ?? 0, headHeight: try row.optionalUInt64(2, "blocks.height"),
            blockCount: Int(try row.optionalUInt64(1, "counters.value") ?? 0),
            checkpoints: checkpoints.sorted { $0.stream < $1.stream })
    }

    static func checkpoint(stream: String, on c: isolated PGConnection) throws -> NodeCheckpoint? {
        try c.query("SELECT stream, last_event_id, head_height, missed_events FROM checkpoints WHERE stream = $1", [stream])
            .rows.first.map(checkpoint(from:))
    }

    // MARK: Rows

    /// A `jsonb` array of strings as PostgreSQL prints it (`["a", "b"]`). Deploy hashes have no escapes, so
    /// they are cut out of the bytes directly; text with a backslash goes through `JSONDecoder`.
    static func stringArray(_ text: String) -> [String]? {
        var text = text
        return text.withUTF8 { bytes -> [String]? in
            guard !bytes.contains(UInt8(ascii: "\\")) else {
                return try? JSONDecoder().decode([String].self, from: Data(bytes))
            }
            var i = 0
            func skipSpaces() { while i < bytes.count, bytes[i] == UInt8(ascii: " ") { i += 1 } }
            func take(_ byte: UInt8) -> Bool {
                guard i < bytes.count, bytes[i] == byte else { return false }
                i += 1
                return true
            }
            var out: [String] = []
            skipSpaces()
            guard take(UInt8(ascii: "[")) else { return nil }
            skipSpaces()
            if !take(UInt8(ascii: "]")) {
                repeat {
                    skipSpaces()
                    guard take(UInt8(ascii: "\"")) else { return nil }
                    let start = i
                    while i < bytes.count, bytes[i] != UInt8(ascii: "\"") { i += 1 }
                    guard i < bytes.count else { return nil }
                    out.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self))
                    i += 1
                    skipSpaces()
                } while take(UInt8(ascii: ","))
                guard take(UInt8(ascii: "]")) else { return nil }
            }
            skipSpaces()
            return i == bytes.count ? out : nil
        }
    }

    static func block(from row: PGRow) throws -> Block {
        guard let deploys = stringArray(try row.text(7, "blocks.deploys")) else {
            throw PostgresError.malformedValue(column: "blocks.deploys")
        }
        return Block(
            blockHash: try row.text(0, "blocks.block_hash"), parentHash: try row.text(1, "blocks.parent_hash"),
            timestamp: try row.text(2, "blocks.timestamp"), eraId: try row.uint64(3, "blocks.era_id"),
            proposer: try row.text(4, "blocks.proposer"), state: try row.text(5, "blocks.state"),
            height: try row.uint64(6, "blocks.height"), deploys: deploys)
    }

    static func deploy(from row: PGRow) throws -> Deploy {
        guard let state = DeployState(rawValue: try row.text(2, "deploys.state")) else {
            throw PostgresError.malformedValue(column: "deploys.state")
        }
        return Deploy(
            deployHash: try row.text(0, "deploys.deploy_hash"), account: row[1], state: state, cost: row[3],
            errorMessage: row[4], blockHash: row[5], timestamp: row[6])
    }

    static func event(from row: PGRow) throws -> StoredEvent {
        let topic: Topic?
        if let name = row[2] {
            guard let t = Topic(rawValue: name) else { throw PostgresError.malformedValue(column: "events.topic") }
            topic = t
        } else {
            topic = nil
        }
        return StoredEvent(
            seq: try row.uint64(0, "events.seq"), kind: try row.text(1, "events.kind"), topic: topic,
            keys: EventKeys(
                account: row[5], proposer: row[6], blockHash: row[7], deployHash: row[8],
                eraId: try row.optionalUInt64(9, "events.era_id")),
            raw: try row.text(3, "events.raw"), data: try row.text(4, "events.data"))
    }

    static func checkpoint(from row: PGRow) throws -> NodeCheckpoint {
        let lastEventId = try row.optionalUInt64(1, "checkpoints.last_event_id")
        guard lastEventId.map({ $0 <= UInt64(UInt32.max) }) ?? true else {
            throw PostgresError.malformedValue(column: "checkpoints.last_event_id")
        }
        return NodeCheckpoint(
            stream: try row.text(0, "checkpoints.stream"), lastEventId: lastEventId.map { UInt32($0) },
            headHeight: try row.optionalUInt64(2, "checkpoints.head_height"),
            missedEvents: try row.uint64(3, "checkpoints.missed_events"))
    }
}
