import ChainfeedCore
import ChainfeedTestSupport
import NIOCore
import RedisBus
import Testing

@Suite struct RedisEventBusTests {
    private func bus(_ prefix: String, maxFrameBytes: Int = BusWireFormat.defaultMaxFrameBytes) throws -> RedisEventBus {
        try RedisEventBus(configuration: TestRedis.configuration(url: TestRedis.url(), prefix: prefix, maxFrameBytes: maxFrameBytes))
    }

    /// The number of Redis subscriptions to a channel (`PUBSUB NUMSUB`).
    private func subscriberCount(_ channel: String) async throws -> Int64 {
        let connection = try await RedisConnection.connect(url: try TestRedis.url())
        defer { Task { await connection.close() } }
        let reply = try await connection.command(["PUBSUB", "NUMSUB", RedisArgument(channel)])
        return try #require(reply.array?.last?.integer)
    }

    @Test("a published batch reaches a subscriber on another bus in seq order, equal to what was published")
    func publishSubscribe() async throws {
        let (publisher, subscriber, inbox, subscription) = try TestRedis.pair()
        defer { subscription.cancel() }
        let first = SampleEvents.batch(from: 1, count: 50)
        let second = SampleEvents.batch(from: 51, count: 7)
        try await TestRedis.running(subscriber) {
            try await inbox.waitUntilLive()
            #expect(subscriber.isSubscribed)
            try await publisher.publish(first)
            try await publisher.publish([])
            try await publisher.publish(second)
            try await inbox.wait(for: "57 events") { $0.events.count >= 57 }
        }
        #expect(inbox.events == first + second)
        #expect(inbox.all.first == .reconnected)
        #expect(!subscriber.isSubscribed)
    }

    @Test("two subscribing buses both get every event")
    func twoSubscribers() async throws {
        let prefix = TestRedis.prefix()
        let publisher = try bus(prefix)
        let one = try bus(prefix)
        let two = try bus(prefix)
        let inboxOne = Inbox()
        let inboxTwo = Inbox()
        let subscriptions = [one.subscribe(inboxOne.handler), two.subscribe(inboxTwo.handler)]
        defer { subscriptions.forEach { $0.cancel() } }
        let events = SampleEvents.batch(from: 1, count: 20)
        try await TestRedis.running(one, two) {
            try await inboxOne.waitUntilLive()
            try await inboxTwo.waitUntilLive()
            for chunk in stride(from: 0, to: events.count, by: 3) {
                try await publisher.publish(Array(events[chunk..<min(chunk + 3, events.count)]))
            }
            try await inboxOne.wait(for: "every event on bus one") { $0.events.count >= events.count }
            try await inboxTwo.wait(for: "every event on bus two") { $0.events.count >= events.count }
        }
        #expect(inboxOne.events == events)
        #expect(inboxTwo.events == events)
    }

    @Test("handlers of one bus share its one Redis subscription and get the same messages")
    func oneSubscriptionPerBus() async throws {
        let prefix = TestRedis.prefix()
        let publisher = try bus(prefix)
        let subscriber = try bus(prefix)
        let inboxes = [Inbox(), Inbox(), Inbox()]
        let subscriptions = inboxes.map { subscriber.subscribe($0.handler) }
        defer { subscriptions.forEach { $0.cancel() } }
        try await TestRedis.running(subscriber) {
            try await inboxes[0].waitUntilLive()
            #expect(try await subscriberCount(subscriber.configuration.eventsChannel) == 1)
            #expect(try await subscriberCount(subscriber.configuration.heartbeatChannel) == 1)
            try await publisher.publish(SampleEvents.batch(from: 1, count: 4))
            try await publisher.publishHeartbeat(headSeq: 4)
            for inbox in inboxes {
                try await inbox.wait(for: "the events and the heartbeat") { $0.heartbeats == [4] }
            }
        }
        #expect(inboxes[1].all == inboxes[0].all)
        #expect(inboxes[2].all == inboxes[0].all)
    }

    @Test("a heartbeat reaches subscribers with the head seq, in order with events")
    func heartbeat() async throws {
        let (publisher, subscriber, inbox, subscription) = try TestRedis.pair()
        defer { subscription.cancel() }
        let events = SampleEvents.batch(from: 1, count: 3)
        try await TestRedis.running(subscriber) {
            try await inbox.waitUntilLive()
            try await publisher.publishHeartbeat(headSeq: 0)
            try await publisher.publish(events)
            try await publisher.publishHeartbeat(headSeq: 3)
            try await publisher.publishHeartbeat(headSeq: UInt64.max)
            try await inbox.wait(for: "three heartbeats") { $0.heartbeats.count >= 3 }
        }
        #expect(inbox.all == [
            .reconnected, .heartbeat(headSeq: 0), .events(events), .heartbeat(headSeq: 3), .heartbeat(headSeq: UInt64.max),
        ])
    }

    @Test("a batch larger than the frame limit arrives whole, in seq order, over several messages")
    func largeBatch() async throws {
        let (publisher, subscriber, inbox, subscription) = try TestRedis.pair(publisherMaxFrameBytes: 2048)
        defer { subscription.cancel() }
        let events = SampleEvents.batch(from: 1, count: 1000)
        try await TestRedis.running(subscriber) {
            try await inbox.waitUntilLive()
            try await publisher.publish(events)
            try await inbox.wait(for: "1000 events") { $0.events.count >= 1000 }
        }
        #expect(inbox.events == events)
        #expect(inbox.all.count > 2)
    }

    @Test("an undecodable message is skipped and later events still arrive")
    func malformedMessages() async throws {
        let (publisher, subscriber, inbox, subscription) = try TestRedis.pair()
        defer { subscription.cancel() }
        let events = SampleEvents.batch(from: 1, count: 2)
        let foreign = try await RedisConnection.connect(url: try TestRedis.url())
        try await TestRedis.running(subscriber) {
            try await inbox.waitUntilLive()
            let channel = RedisArgument(subscriber.configuration.eventsChannel)
            let heartbeat = RedisArgument(subscriber.configuration.heartbeatChannel)
            let replies = try await foreign.send([
                ["PUBLISH", channel, "not a frame"],
                ["PUBLISH", channel, RedisArgument(bytes: [0x43, 0x46, 1, 0, 0, 0, 9])],
                ["PUBLISH", heartbeat, "soon"],
                ["PUBLISH", channel, ""],
            ])
            #expect(replies == Array(repeating: .integer(1), count: 4))
            try await publisher.publish(events)
            try await inbox.wait(for: "the valid events") { $0.events.count >= 2 }
        }
        await foreign.close()
        #expect(inbox.all == [.reconnected, .events(events)])
    }

    @Test("cancelled handlers get nothing more, and the subscription closes when the last one leaves")
    func cancelling() async throws {
        let prefix = TestRedis.prefix()
        let publisher = try bus(prefix)
        let subscriber = try bus(prefix)
        let staying = Inbox()
        let leaving = Inbox()
        let stay = subscriber.subscribe(staying.handler)
        let leave = subscriber.subscribe(leaving.handler)
        try await TestRedis.running(subscriber) {
            try await staying.waitUntilLive()
            try await publisher.publish(SampleEvents.batch(from: 1, count: 1))
            try await leaving.wait(for: "the first event") { $0.events.count == 1 }
            leave.cancel()
            try await publisher.publish(SampleEvents.batch(from: 2, count: 1))
            try await staying.wait(for: "the second event") { $0.events.count == 2 }
            stay.cancel()
            try await staying.wait(for: "the subscription to close") { _ in !subscriber.isSubscribed }
            #expect(try await subscriberCount(subscriber.configuration.eventsChannel) == 0)
            // A new handler opens it again, and hears that it went live.
            let again = Inbox()
            let back = subscriber.subscribe(again.handler)
            defer { back.cancel() }
            try await again.waitUntilLive()
            try await publisher.publish(SampleEvents.batch(from: 3, count: 1))
            try await again.wait(for: "the third event") { $0.events.map(\.seq) == [3] }
        }
        #expect(leaving.events.map(\.seq) == [1])
        #expect(staying.events.map(\.seq) == [1, 2])
    }

    @Test("a bad URL or configuration is refused with a typed error before anything connects")
    func badConfiguration() throws {
        #expect(throws: RedisBusError.self) { try RedisEventBus(configuration: .init(url: "redis//localhost")) }
        #expect(throws: RedisBusError.self) { try RedisEventBus(configuration: .init(url: "redis://localhost", channelPrefix: "")) }
        #expect(throws: RedisBusError.self) { try RedisEventBus(configuration: .init(url: "redis://localhost", maxFrameBytes: 10)) }
        #expect(throws: RedisBusError.self) { try RedisEventBus(configuration: .init(url: "redis://localhost", commandTimeout: .zero)) }
    }

    @Test("publishing to a port where nothing listens fails quickly with a typed connection error")
    func unreachable() async throws {
        let bus = try RedisEventBus(configuration: TestRedis.configuration(url: "redis://127.0.0.1:\(try freePort())", prefix: "x"))
        for _ in 0..<3 {
            do {
                try await bus.publish(SampleEvents.batch(from: 1, count: 1))
                Issue.record("published to a port where nothing listens")
            } catch let error as RedisBusError {
                #expect(error.isConnectionError)
            }
        }
        await #expect(throws: RedisBusError.self) { try await bus.publishHeartbeat(headSeq: 1) }
        await #expect(throws: RedisBusError.self) { try await bus.ping() }
    }

    @Test("ping answers once Redis is reachable")
    func ping() async throws {
        try await bus(TestRedis.prefix()).ping()
    }

    @Test("run ends when its task is cancelled, and a bus runs only once")
    func runOnce() async throws {
        let subscriber = try bus(TestRedis.prefix())
        let inbox = Inbox()
        let subscription = subscriber.subscribe(inbox.handler)
        defer { subscription.cancel() }
        try await TestRedis.running(subscriber) {
            try await inbox.waitUntilLive()
        }
        await #expect(throws: RedisBusError.alreadyRunning) { try await subscriber.run() }
        await #expect(throws: RedisBusError.closed) { try await subscriber.publishHeartbeat(headSeq: 1) }
    }
}
