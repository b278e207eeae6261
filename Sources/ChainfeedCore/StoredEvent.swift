/// A node event prepared for storage: its identity, routing keys and normalised `data` computed once.
public struct IngestEvent: Sendable, Equatable {
    public var dedupKey: DedupKey
    public var kind: String
    public var topic: Topic?
    public var keys: EventKeys
    /// The node's JSON as received.
    public var raw: String
    /// The normalised `data` (REST shape), encoded once.
    public var data: String
    public var payload: NodeEvent.Payload

    /// Prepares a storable event; `nil` for stream-control messages (`ApiVersion`, `Shutdown`).
    public init?(_ event: NodeEvent) {
        guard event.isStorable, let key = event.dedupKey else { return nil }
        self.dedupKey = key
        self.kind = event.kindName
        self.topic = event.kind?.topic
        self.keys = event.keys
        self.raw = event.raw
        self.data = event.normalizedJSON()
        self.payload = event.payload
    }
}

/// One entry of the global event log, as replicas replay and deliver it.
public struct StoredEvent: Sendable, Equatable {
    public var seq: Seq
    public var kind: String
    public var topic: Topic?
    public var keys: EventKeys
    /// The node's JSON as received (re-broadcast on the SSE paths).
    public var raw: String
    /// The normalised `data` (REST shape).
    public var data: String

    public init(seq: Seq, kind: String, topic: Topic?, keys: EventKeys, raw: String, data: String) {
        self.seq = seq
        self.kind = kind
        self.topic = topic
        self.keys = keys
        self.raw = raw
        self.data = data
    }

    public init(seq: Seq, _ event: IngestEvent) {
        self.init(seq: seq, kind: event.kind, topic: event.topic, keys: event.keys, raw: event.raw, data: event.data)
    }

    /// The 1.x channel this kind travelled on (unknown kinds go on `main`).
    public var legacyChannel: LegacyChannel {
        EventKind(rawValue: kind)?.legacyChannel ?? .main
    }

    /// `{"seq":…,"kind":…,"data":…}`: the log entry shape of `GET /events`.
    public var logEntryJSON: String {
        "{\"seq\":\(seq),\"kind\":\(JSONText.quote(kind)),\"data\":\(data)}"
    }
}

/// Where the writer stands on one node stream; saved in the same transaction as the events it covers.
public struct NodeCheckpoint: Sendable, Equatable, Codable {
    /// The stream's identity: its SSE URL.
    public var stream: String
    /// The node's SSE id of the last event stored from this stream.
    public var lastEventId: UInt32?
    /// The highest block height stored from this stream.
    public var headHeight: UInt64?
    /// Events the node no longer had when the writer resumed (counted, never hidden).
    public var missedEvents: UInt64

    public init(stream: String, lastEventId: UInt32? = nil, headHeight: UInt64? = nil, missedEvents: UInt64 = 0) {
        self.stream = stream
        self.lastEventId = lastEventId
        self.headHeight = headHeight
        self.missedEvents = missedEvents
    }
}

/// What one batch did: the events newly stored (in `seq` order) and how many were already there.
public struct StoreResult: Sendable, Equatable {
    public var stored: [StoredEvent]
    public var duplicates: Int

    public init(stored: [StoredEvent], duplicates: Int) {
        self.stored = stored
        self.duplicates = duplicates
    }
}

/// The store's head and per-stream checkpoints, for `/status`.
public struct StoreStatus: Sendable, Equatable {
    public var headSeq: Seq
    public var headHeight: UInt64?
    public var blockCount: Int
    public var checkpoints: [NodeCheckpoint]

    public init(headSeq: Seq, headHeight: UInt64?, blockCount: Int, checkpoints: [NodeCheckpoint]) {
        self.headSeq = headSeq
        self.headHeight = headHeight
        self.blockCount = blockCount
        self.checkpoints = checkpoints
    }
}
