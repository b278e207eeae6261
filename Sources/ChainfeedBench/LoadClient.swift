import NIOCore
import NIOPosix

/// Many WebSocket connections spread round-robin over a few event loops, one `LoopSamples` per loop.
struct LoadClient: Sendable {
    let loops: [any EventLoop]
    let samples: [NIOLoopBoundBox<LoopSamples>]
    let host: String
    let port: Int
    let readyOn: ReadyOn

    init(group: MultiThreadedEventLoopGroup, host: String, port: Int, readyOn: ReadyOn, maxSamples: Int = 40_000_000) {
        let loops = Array(group.makeIterator())
        self.loops = loops
        self.samples = loops.map { NIOLoopBoundBox.makeBoxSendingValue(LoopSamples(maxSamples: maxSamples / loops.count), eventLoop: $0) }
        self.host = host
        self.port = port
        self.readyOn = readyOn
    }

    struct Connected: Sendable {
        var channels: [any Channel]
        var seconds: Double
        var firstError: String?
    }

    /// Opens `count` connections, at most `concurrency` in flight, each ready once subscribed (or upgraded).
    func connect(count: Int, concurrency: Int, path: @escaping @Sendable (Int) -> String) async -> Connected {
        let start = monotonicNanos()
        var channels: [any Channel] = []
        channels.reserveCapacity(count)
        var firstError: String?
        await withTaskGroup(of: Result<any Channel, any Error>.self) { group in
            var next = 0
            func add() {
                let i = next
                next += 1
                group.addTask { await self.open(i, path: path(i)) }
            }
            while next < min(count, concurrency) { add() }
            while let result = await group.next() {
                switch result {
                case .success(let channel): channels.append(channel)
                case .failure(let error): if firstError == nil { firstError = "\(error)" }
                }
                if next < count { add() }
            }
        }
        return Connected(channels: channels, seconds: Double(monotonicNanos() - start) / 1e9, firstError: firstError)
    }

    private func open(_ index: Int, path: String) async -> Result<any Channel, any Error> {
        let loop = loops[index % loops.count]
        let samples = self.samples[index % loops.count]
        let ready = loop.makePromise(of: Void.self)
        var request = ByteBuffer()
        request.writeString(
            "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        let readyOn = self.readyOn
        do {
            let channel = try await ClientBootstrap(group: loop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(.seconds(10))
                .channelInitializer { [request] channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handler = WebSocketClientHandler(request: request, samples: samples.value, readyOn: readyOn, ready: ready)
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                }
                .connect(host: host, port: port).get()
            let timeout = loop.scheduleTask(in: .seconds(15)) { channel.close(promise: nil) }
            do {
                try await ready.futureResult.get()
                timeout.cancel()
                return .success(channel)
            } catch {
                timeout.cancel()
                try? await channel.close()
                return .failure(error)
            }
        } catch {
            ready.fail(error)
            return .failure(error)
        }
    }

    struct Received: Sendable {
        var parts: [LoopSamples.Snapshot]
        var disconnects: Int { parts.reduce(0) { $0 + $1.disconnects } }
        var closeCodes: [UInt16: Int] {
            parts.reduce(into: [:]) { all, part in all.merge(part.closeCodes, uniquingKeysWith: +) }
        }
    }

    /// What every loop received so far; from now on closes are the bench's own, not counted as disconnects.
    func snapshot() async -> Received {
        var parts: [LoopSamples.Snapshot] = []
        for (loop, box) in zip(loops, samples) {
            if let part = try? await loop.submit({
                box.value.stopping = true
                return box.value.snapshot
            }).get() {
                parts.append(part)
            }
        }
        return Received(parts: parts)
    }

    func close(_ channels: [any Channel]) async {
        for channel in channels { channel.close(promise: nil) }
        for channel in channels { try? await channel.closeFuture.get() }
    }
}
