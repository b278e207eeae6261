import ChainfeedCore
import Hummingbird

/// A REST failure with the status and `{"error": …}` body clients of the original event store expect.
public enum APIError: HTTPResponseError, Equatable {
    /// The request is malformed (bad hash, page, limit, parameter); the message says which part.
    case badRequest(String)
    /// A well-formed request for something that is not stored.
    case notFound(String)
    /// The store or a replica cannot answer now; retry later.
    case unavailable(String)

    public var status: HTTPResponse.Status {
        switch self {
        case .badRequest: .badRequest
        case .notFound: .notFound
        case .unavailable: .serviceUnavailable
        }
    }

    public var message: String {
        switch self {
        case .badRequest(let m), .notFound(let m), .unavailable(let m): m
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        .json("{\"error\":\(JSONText.quote(message))}", status: status)
    }
}

extension Response {
    /// A response whose body is JSON text already encoded.
    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
