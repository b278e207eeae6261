import AsyncHTTPClient
import Foundation
import NIOCore

/// GETs JSON from a running process over a real socket.
enum HTTP {
    static func get(_ url: String) async throws -> (status: Int, json: Any?) {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 16 << 20)
        let json = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))
        return (Int(response.status.code), json)
    }

    static func text(_ url: String) async throws -> String {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        return String(buffer: try await response.body.collect(upTo: 16 << 20))
    }

    static func object(_ url: String) async throws -> [String: Any] {
        let (status, json) = try await get(url)
        guard status == 200, let object = json as? [String: Any] else {
            throw URLError(.badServerResponse, userInfo: ["url": url, "status": status])
        }
        return object
    }

    /// Polls `url` until `predicate` holds for its JSON object, up to `timeout`.
    static func waitFor(_ url: String, timeout: Duration = .seconds(60), _ predicate: ([String: Any]) -> Bool) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        var last: [String: Any] = [:]
        while ContinuousClock.now < deadline {
            if let object = try? await object(url) {
                last = object
                if predicate(object) { return object }
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw URLError(.timedOut, userInfo: ["url": url, "last": "\(last)"])
    }

    /// The whole `/events` log, paged by seq.
    static func eventLog(_ base: String) async throws -> [[String: Any]] {
        var after = 0
        var all: [[String: Any]] = []
        while true {
            let page = try await object("\(base)/events?after=\(after)&limit=100")
            guard let data = page["data"] as? [[String: Any]], let last = data.last?["seq"] as? Int else { return all }
            all += data
            after = last
        }
    }
}
