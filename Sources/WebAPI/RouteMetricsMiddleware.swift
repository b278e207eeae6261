import HTTPTypes
import Hummingbird
import Metrics
import Synchronization

/// Times every request by its route pattern (`/blocks/{height}`), never its raw path, so the label
/// set stays bounded: one `chainfeed_http_request_duration_seconds` histogram per route and status.
///
/// The time is until the response head is ready: a REST body is already built by then; for the SSE
/// streams it is the time to open the stream, not the stream's life.
struct RouteMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    private let timers = RouteTimers()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            timers.record(route: context.endpointPath, status: response.status, elapsed: start.duration(to: .now))
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            timers.record(route: context.endpointPath, status: status, elapsed: start.duration(to: .now))
            throw error
        }
    }
}

/// The timers by route and status, made on first use and then reused (a lookup, not a registration, per request).
final class RouteTimers: Sendable {
    private struct Key: Hashable {
        var route: String
        var status: Int
    }

    private let timers = Mutex<[Key: Metrics.Timer]>([:])

    func record(route: String?, status: HTTPResponse.Status, elapsed: Duration) {
        // Requests that matched no route share one label value, whatever their path (Hummingbird's own name for it).
        let key = Key(route: route ?? "NotFound", status: status.code)
        let timer = timers.withLock { cache in
            if let timer = cache[key] { return timer }
            let timer = Metrics.Timer(
                label: "chainfeed_http_request_duration_seconds",
                dimensions: [("route", key.route), ("status", String(key.status))],
                preferredDisplayUnit: .seconds)
            cache[key] = timer
            return timer
        }
        let (seconds, attoseconds) = elapsed.components
        timer.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
