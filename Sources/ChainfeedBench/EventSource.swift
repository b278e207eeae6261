import ChainfeedCore
import NIOCore
import NIOPosix
import RedisBus

/// Where the events of a run come from, and the clock every latency starts at.
///
/// - `watch`: the real writer publishes (simulator → `chainfeed ingest` → Redis); the bench subscribes to the
///   same bus channel and stamps the moment each event appears on it.
/// - `relay`: as `watch`, and each matching event is POSTed at once to an nchan publisher as the very frame
///   Chainfeed would send, so nchan gets the same events, bytes and pace; stamped when seen on the bus.
/// - `publish`: the bench is the writer's stand-in: it publishes events in the bus wire format
///   (`BusWireFormat`) at a fixed rate, each for one account; stamped when sent.
enum SourceMode: String, Sendable {
    case watch, relay, publish
}

/// The source's state, owned by its event loop.
final class SourceState {
    var recording = false
    /// Publish (or first-seen) time of each recorded event, and how many deliveries it owes.
    var publishedAt: [UInt64: UInt64] = [:]
    var owed: [UInt64: Int] = [:]
    var firstRecordedAt: UInt64?
    var lastRecordedAt: UInt64?
    var busFrames = 0
    var busEvents = 0
    var nextSeq: UInt64 = 1
    var published = 0
    var publishStart: UInt64 = 0
    var relay: (any Channel)?
    var redis: (any Channel)?

    struct Snapshot: Sendable {
        var publishedAt: [UInt64: UInt64]
        var owed: [UInt64: Int]
        var firstRecordedAt: UInt64?
        var busEvents: Int
    }
}

struct SourceSettings: Sendable {
    var mode: SourceMode
    var redisHost: String
    var redisPort: Int
    var channelPrefix: String
    var topics: Set<Topic>
    /// Deliveries each matching event owes (the number of subscribed connections in `watch`/`relay`).
    var owedPerEvent: Int
    var relayHost: String = ""
    var relayPort: Int = 0
    var relayPath: String = ""
    var rate: Int = 0
    var accounts: Int = 1
}

/// Runs the event source on one event loop.
final class EventSource: Sendable {
    let loop: any EventLoop
    let settings: SourceSettings
    private let state: NIOLoopBoundBox<SourceState>

    init(loop: any EventLoop, settings: SourceSettings) {
        self.loop = loop
        self.settings = settings
        self.state = NIOLoopBoundBox.makeBoxSendingValue(SourceState(), eventLoop: loop)
    }

    /// Connects to Redis (and the relay target); in `watch`/`relay` subscribes at once.
    func start() async throws {
        let redis = try await connect(host: settings.redisHost, port: settings.redisPort) { [self] channel in
            RESPHandler { [self] value in self.onRedis(value) }
        }
        if settings.mode != .publish {
            var command = ByteBuffer()
            RESPValue.command([ByteBuffer(string: "SUBSCRIBE"), ByteBuffer(string: settings.channelPrefix + ":events")], into: &command)
            try await redis.writeAndFlush(command)
        }
        if settings.mode == .relay {
            let relay = try await connect(host: settings.relayHost, port: settings.relayPort) { _ in DiscardingHandler() }
            try await loop.submit { [state] in state.value.relay = relay }.get()
        }
        try await loop.submit { [state] in state.value.redis = redis }.get()
    }

    private func connect<H: ChannelInboundHandler>(
        host: String, port: Int, handler: @escaping @Sendable (any Channel) -> H
    ) async throws -> any Channel {
        try await ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(handler(channel))
                }
            }
            .connect(host: host, port: port).get()
    }

    /// Starts recording (and relaying, or publishing at the fixed rate).
    func begin() async throws {
        try await loop.submit { [self] in
            let s = state.value
            s.recording = true
            if settings.mode == .publish {
                s.publishStart = monotonicNanos()
                loop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(5)) { [self] task in
                    self.publishDue()
                }
            }
        }.get()
    }

    func snapshot() async throws -> SourceState.Snapshot {
        try await loop.submit { [state] in
            let s = state.value
            s.recording = false
            return SourceState.Snapshot(publishedAt: s.publishedAt, owed: s.owed, firstRecordedAt: s.firstRecordedAt, busEvents: s.busEvents)
        }.get()
    }

    /// Time of the first recorded event, if any yet.
    func firstRecorded() async throws -> UInt64? {
        try await loop.submit { [state] in state.value.firstRecordedAt }.get()
    }

    func stop() async {
        try? await loop.submit { [state] in
            let s = state.value
            s.recording = false
            s.relay?.close(promise: nil)
            s.redis?.close(promise: nil)
        }.get()
    }

    // MARK: Watching the writer

    private func onRedis(_ value: RESPValue) {
        guard case .array(let items?) = value, items.count == 3, case .bulk(let kind?) = items[0],
            kind.readableBytesView.elementsEqual("message".utf8), case .bulk(let payload?) = items[2]
        else { return }
        let now = monotonicNanos()
        let s = state.value
        s.busFrames += 1
        guard let events = try? BusWireFormat.decode(payload) else { return }
        s.busEvents += events.count
        guard s.recording else { return }
        var relayed = false
        for event in events {
            guard let topic = event.topic, settings.topics.contains(topic) else { continue }
            record(event.seq, at: now, owed: settings.owedPerEvent, in: s)
            if let relay = s.relay {
                relay.write(relayRequest(event), promise: nil)
                relayed = true
            }
        }
        if relayed { s.relay?.flush() }
    }

    private func record(_ seq: UInt64, at time: UInt64, owed: Int, in s: SourceState) {
        s.publishedAt[seq] = time
        s.owed[seq] = owed
        if s.firstRecordedAt == nil { s.firstRecordedAt = time }
        s.lastRecordedAt = time
    }

    /// `POST <path>` carrying the frame Chainfeed sends for the `/ws?…` shortcut subscription.
    private func relayRequest(_ event: StoredEvent) -> ByteBuffer {
        let body = "{\"type\":\"event\",\"subscription\":\"default\",\"seq\":\(event.seq),\"kind\":\(JSONText.quote(event.kind)),\"data\":\(event.data)}"
        var buffer = ByteBuffer()
        buffer.writeString(
            "POST \(settings.relayPath) HTTP/1.1\r\nHost: \(settings.relayHost)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
        )
        buffer.writeString(body)
        return buffer
    }

    // MARK: Publishing in the bus wire format

    private func publishDue() {
        let s = state.value
        guard s.recording, let redis = s.redis else { return }
        let now = monotonicNanos()
        let due = Int(Double(now - s.publishStart) / 1e9 * Double(settings.rate))
        guard due > s.published else { return }
        var events: [StoredEvent] = []
        events.reserveCapacity(due - s.published)
        while s.published < due {
            let seq = s.nextSeq
            events.append(Self.accountEvent(seq: seq, account: Self.account(Int((seq - 1) % UInt64(settings.accounts)))))
            s.nextSeq += 1
            s.published += 1
        }
        var command = ByteBuffer()
        for frame in BusWireFormat.encode(events) {
            RESPValue.command([ByteBuffer(string: "PUBLISH"), ByteBuffer(string: settings.channelPrefix + ":events"), frame], into: &command)
        }
        let sentAt = monotonicNanos()
        redis.writeAndFlush(command, promise: nil)
        for event in events { record(event.seq, at: sentAt, owed: 1, in: s) }
    }

    /// The `index`th account: an ed25519-style public key (`01` + 64 hex digits).
    static func account(_ index: Int) -> String {
        let hex = String(index, radix: 16)
        return "01" + String(repeating: "0", count: 64 - hex.count) + hex
    }

    static func hash(_ seq: UInt64, _ salt: String) -> String {
        let hex = String(seq, radix: 16)
        return salt + String(repeating: "0", count: 64 - salt.count - hex.count) + hex
    }

    /// A `DeployProcessed` for one account, shaped like the writer's (REST `data`, node JSON `raw`).
    static func accountEvent(seq: UInt64, account: String) -> StoredEvent {
        let deploy = hash(seq, "de")
        let block = hash(seq / 4, "b1")
        let data = """
            {"deployHash":"\(deploy)","account":"\(account)","state":"processed","cost":"100000000","errorMessage":null,"blockHash":"\(block)","timestamp":"2024-01-01T00:00:00.000Z"}
            """
        let raw = """
            {"DeployProcessed":{"deploy_hash":"\(deploy)","account":"\(account)","timestamp":"2024-01-01T00:00:00.000Z","ttl":"30m","dependencies":[],"block_hash":"\(block)","execution_result":{"Success":{"effect":{"operations":[],"transforms":[]},"transfers":[],"cost":"100000000"}}}}
            """
        return StoredEvent(
            seq: seq, kind: "DeployProcessed", topic: .deploys,
            keys: EventKeys(account: account, blockHash: block, deployHash: deploy), raw: raw, data: data)
    }
}
