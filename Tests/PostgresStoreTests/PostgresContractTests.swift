import ChainfeedCore
import ChainfeedTestSupport
import Testing

@testable import PostgresStore

/// The shared `EventStore` contract, each check on a fresh schema of the real PostgreSQL primary.
@Suite struct PostgresContractTests {
    @Test("PostgresEventStore keeps the EventStore contract", arguments: EventStoreContract.names)
    func contract(_ name: String) async throws {
        try await TestDatabase.withStore { store, _ in
            try await EventStoreContract.run(name, on: store)
        }
    }

    @Test("REST answers as specified from PostgreSQL", arguments: RESTContract.names)
    func rest(_ name: String) async throws {
        try await TestDatabase.withStore { store, _ in
            try await RESTContract.run(name, on: store)
        }
    }
}
