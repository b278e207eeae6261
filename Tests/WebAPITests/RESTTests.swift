import ChainfeedCore
import ChainfeedTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import WebAPI

/// REST shapes and status codes of every path, on the in-memory store.
///
/// The shapes are the original Casper event store's (`{data, pageCount, itemCount, pages}`, block and
/// deploy fields); ``RESTContract`` holds the checks so other stores run them unchanged.
@Suite struct RESTTests {
    @Test("REST answers as specified", arguments: RESTContract.names)
    func contract(_ name: String) async throws {
        try await RESTContract.run(name, on: InMemoryEventStore())
    }
}
