import ChainfeedCore
import Hummingbird

/// `GET /deploy/{hash}` and `GET /accountDeploys/{account}`: deploys and 2.0 transactions alike.
struct DeploysController {
    let reads: Reads

    func addRoutes(to router: Router<some RequestContext>) {
        router.get("/deploy/:hash") { request, context in try await deploy(request, context) }
        router.get("/accountDeploys/:account") { request, context in try await accountDeploys(request, context) }
    }

    func deploy(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let hash = try context.hashParameter("hash")
        let reader = try await reads.reader(for: request)
        guard let deploy = try await read({ try await reader.deploy(hash: hash) }) else {
            throw APIError.notFound("no deploy or transaction \(hash)")
        }
        return .json(JSONText.encode(deploy))
    }

    func accountDeploys(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let account = try context.accountParameter("account")
        let page = try request.pageRequest()
        let reader = try await reads.reader(for: request)
        let result = try await read { try await reader.accountDeploys(account: account, page) }
        return .json(PageJSON.render(result, path: "/accountDeploys/\(account)"))
    }
}
