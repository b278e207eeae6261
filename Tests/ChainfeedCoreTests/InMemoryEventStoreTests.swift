import ChainfeedCore
import ChainfeedTestSupport
import Testing

@Suite struct InMemoryEventStoreTests {
    @Test("the in-memory store keeps the store contract", arguments: EventStoreContract.names)
    func contract(_ name: String) async throws {
        try await EventStoreContract.run(name, on: InMemoryEventStore())
    }
}
