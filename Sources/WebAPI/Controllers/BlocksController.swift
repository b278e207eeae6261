import ChainfeedCore
import Hummingbird

/// `GET /block/{hash}` and `GET /blocks?page=&limit=`, in the original event store's shapes.
struct BlocksController {
    let reads: Reads

    func addRoutes(to router: Router<some RequestContext>) {
        router.get("/block/:hash") { request, context in try await block(request, context) }
        router.get("/blocks") { request, _ in try await blocks(request) }
    }

    func block(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let hash = try context.hashParameter("hash")
        let reader = try await reads.reader(for: request)
        guard let block = try await read({ try await reader.block(hash: hash) }) else {
            throw APIError.notFound("no block \(hash)")
        }
        return .json(JSONText.encode(block))
    }

    func blocks(_ request: Request) async throws -> Response {
        let page = try request.pageRequest()
        let reader = try await reads.reader(for: request)
        let result = try await read { try await reader.blocks(page) }
        return .json(PageJSON.render(result, path: "/blocks"))
    }
}

/// Runs a store read; an infrastructure failure answers 503, never a misleading 404.
func read<T>(_ body: () async throws -> T) async throws(APIError) -> T {
    do {
        return try await body()
    } catch let error as APIError {
        throw error
    } catch {
        throw .unavailable("the store did not answer: \(error)")
    }
}
