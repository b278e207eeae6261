import ChainfeedCore
import Hummingbird

/// `/health` (the process is alive), `/ready` (it can serve), `/status` (where ingest stands), `/metrics`.
struct StatusController {
    let services: WebServices

    func addRoutes(to router: Router<some RequestContext>) {
        router.get("/health") { _, _ in Response.json("{\"status\":\"ok\"}") }
        router.get("/ready") { _, _ in await ready() }
        router.get("/status") { _, _ in try await status() }
        router.get("/metrics") { _, _ in metrics() }
    }

    func ready() async -> Response {
        var problems: [String] = []
        do {
            _ = try await services.reader.status()
        } catch {
            problems.append("store: \(error)")
        }
        for check in services.readinessChecks {
            if let problem = await check() { problems.append(problem) }
        }
        if problems.isEmpty {
            return .json("{\"status\":\"ready\"}")
        }
        return .json(JSONText.encode(["status": "not ready", "error": problems.joined(separator: "; ")]), status: .serviceUnavailable)
    }

    struct Body: Encodable {
        var role: String
        var state: String
        var headSeq: Seq
        var headHeight: UInt64?
        var blockCount: Int
        /// The best node height known, minus the stored head height.
        var lagBlocks: UInt64?
        var follower: FollowerStatus?
        var checkpoints: [NodeCheckpoint]
    }

    func status() async throws -> Response {
        let store = try await read { try await services.reader.status() }
        let follower = await services.followerStatus?()
        let best = follower?.nodes.compactMap(\.nodeHeight).max()
        let lag = best.map { node in node > (store.headHeight ?? 0) ? node - (store.headHeight ?? 0) : 0 }
        let body = Body(
            role: services.role, state: follower?.state.rawValue ?? "serving",
            headSeq: store.headSeq, headHeight: store.headHeight, blockCount: store.blockCount,
            lagBlocks: lag, follower: follower, checkpoints: store.checkpoints)
        return .json(JSONText.encode(body))
    }

    func metrics() -> Response {
        guard let text = services.metricsText?() else {
            return .json("{\"error\":\"metrics are not enabled in this process\"}", status: .notFound)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
