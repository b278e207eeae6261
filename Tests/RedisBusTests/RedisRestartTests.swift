import ChainfeedCore
import ChainfeedTestSupport
import RedisBus
import Testing

/// Each test owns a redis-server on a free port, which it shuts down and starts again.
@Suite struct RedisRestartTests {
    private func withOwnServer(_ body: (OwnRedisServer) async throws -> Void) async throws {
        let server = try await OwnRedisServer.start()
        do {
            try await body(server)
        } catch {
            await server.remove()
            throw error
        }
        await server.remove()
    }

    @Test("the subscriber survives a Redis restart: it reports reconnected and later publishes arrive")
    func subscriberSurvivesRestart() async throws {
        try await withOwnServer { server in
            let (publisher, subscriber, inbox, subscription) = try TestRedis.pair(url: server.url)
            defer { subscription.cancel() }
            let before = SampleEvents.batch(from: 1, count: 3)
            let after = SampleEvents.batch(from: 4, count: 3)
            try await TestRedis.running(subscriber) {
                try await inbox.waitUntilLive()
                try await publisher.publish(before)
                try await inbox.wait(for: "the events before the restart") { $0.events.count >= 3 }

                try await server.shutdown()
                try await server.start()
                try await inbox.waitUntilLive(count: 2)
                // The publisher's connection went stale with the restart: it reconnects once and sends again.
                try await publisher.publish(after)
                try await publisher.publishHeartbeat(headSeq: 6)
                try await inbox.wait(for: "the events after the restart") { $0.heartbeats == [6] }
            }
            #expect(inbox.all == [.reconnected, .events(before), .reconnected, .events(after), .heartbeat(headSeq: 6)])
        }
    }

    @Test("a subscription whose server stops answering is caught by its keep-alive PING and re-established")
    func keepAliveNoticesSilentServer() async throws {
        try await withOwnServer { server in
            let (publisher, subscriber, inbox, subscription) = try TestRedis.pair(url: server.url)
            defer { subscription.cancel() }
            try await TestRedis.running(subscriber) {
                try await inbox.waitUntilLive()
                // The connection stays open but nothing is answered: only the keep-alive can notice.
                let admin = try await RedisConnection.connect(url: server.url)
                let paused = try await admin.command(["CLIENT", "PAUSE", "3000", "ALL"])
                #expect(paused == .simpleString("OK"))
                await admin.close()
                try await inbox.waitUntilLive(count: 2)
                try await publisher.publish(SampleEvents.batch(from: 1, count: 2))
                try await inbox.wait(for: "the events after the pause") { $0.events.count >= 2 }
            }
            #expect(inbox.all == [.reconnected, .reconnected, .events(SampleEvents.batch(from: 1, count: 2))])
        }
    }

    @Test("publishing after the server is gone throws a typed connection error, without hanging")
    func publishWithoutServer() async throws {
        try await withOwnServer { server in
            let publisher = try RedisEventBus(configuration: TestRedis.configuration(url: server.url, prefix: TestRedis.prefix()))
            try await publisher.publish(SampleEvents.batch(from: 1, count: 2))
            try await server.shutdown()
            for _ in 0..<3 {
                do {
                    try await publisher.publish(SampleEvents.batch(from: 3, count: 2))
                    Issue.record("published with the server gone")
                } catch let error as RedisBusError {
                    #expect(error.isConnectionError)
                }
            }
            await #expect(throws: RedisBusError.self) { try await publisher.publishHeartbeat(headSeq: 4) }
            // Once the server is back (and the backoff has passed), publishing works again.
            try await server.start()
            try await Task.sleep(for: .milliseconds(250))
            try await publisher.publish(SampleEvents.batch(from: 5, count: 1))
        }
    }
}
