/// Schema version 1. Every list a REST page reads has a dense 1-based position kept at insert time and a
/// counter, so a page is `pos BETWEEN lo AND hi` (an index range scan of `limit` rows at any depth) and
/// `itemCount` is one counter row, never `COUNT(*)` or `OFFSET`. u64 values (heights, era ids) are
/// `numeric(20,0)`: they may exceed `bigint`.
enum SchemaV1 {
    static let statements: [String] = [
        // The global event log (invariants 1 and 2); filter keys as columns for `events(after:limit:filter:)`.
        """
        CREATE TABLE events (
            seq bigint PRIMARY KEY CHECK (seq > 0),
            dedup_key text NOT NULL UNIQUE,
            kind text NOT NULL,
            topic text,
            raw text NOT NULL,
            data text NOT NULL,
            account text,
            proposer text,
            block_hash text,
            deploy_hash text,
            era_id numeric(20,0))
        """,
        // (key, seq) indexes: a filtered log read is a range scan from `seq > after` on one of them.
        "CREATE INDEX events_topic_seq ON events (topic, seq)",
        "CREATE INDEX events_account_seq ON events (account, seq) WHERE account IS NOT NULL",
        "CREATE INDEX events_proposer_seq ON events (proposer, seq) WHERE proposer IS NOT NULL",
        "CREATE INDEX events_block_hash_seq ON events (block_hash, seq) WHERE block_hash IS NOT NULL",
        "CREATE INDEX events_deploy_hash_seq ON events (deploy_hash, seq) WHERE deploy_hash IS NOT NULL",
        "CREATE INDEX events_era_id_seq ON events (era_id, seq) WHERE era_id IS NOT NULL",
        """
        CREATE TABLE blocks (
            block_hash text PRIMARY KEY,
            pos bigint NOT NULL UNIQUE CHECK (pos > 0),
            height numeric(20,0) NOT NULL,
            parent_hash text NOT NULL,
            "timestamp" text NOT NULL,
            era_id numeric(20,0) NOT NULL,
            proposer text NOT NULL,
            state text NOT NULL,
            deploys jsonb NOT NULL)
        """,
        // The head height, and the writer's parent check by height.
        "CREATE INDEX blocks_height ON blocks (height)",
        """
        CREATE TABLE deploys (
            deploy_hash text PRIMARY KEY,
            account text,
            state text NOT NULL CHECK (state IN ('accepted', 'expired', 'processed')),
            cost text,
            error_message text,
            block_hash text,
            "timestamp" text)
        """,
        """
        CREATE TABLE account_deploys (
            account text NOT NULL,
            pos bigint NOT NULL CHECK (pos > 0),
            deploy_hash text NOT NULL UNIQUE,
            PRIMARY KEY (account, pos))
        """,
        "CREATE TABLE counters (name text PRIMARY KEY, value bigint NOT NULL)",
        "INSERT INTO counters (name, value) VALUES ('seq', 0), ('blocks', 0)",
        "CREATE TABLE account_counters (account text PRIMARY KEY, count bigint NOT NULL)",
        """
        CREATE TABLE checkpoints (
            stream text PRIMARY KEY,
            last_event_id bigint,
            head_height numeric(20,0),
            missed_events numeric(20,0) NOT NULL DEFAULT 0,
            updated_at timestamptz NOT NULL DEFAULT now())
        """,
    ]
}
