import ChainfeedCore
import Hummingbird

/// Where a REST read goes: the replica's reader, narrowed by `?minSeq=N` to a read database that has applied
/// `seq` N (DESIGN.md "Read replicas"), so a client that saw N on a WebSocket never reads an older state.
struct Reads: Sendable {
    let reader: any EventReader
    /// How long a `?minSeq=` read waits for a database to apply the seq before answering 503.
    let minSeqWait: Duration

    static let parameter = "minSeq"

    /// The reader for `request`: all of them, or those that have applied its `minSeq`.
    func reader(for request: Request) async throws(APIError) -> any EventReader {
        guard let text = request.query(Self.parameter) else { return reader }
        guard let seq = Seq(text) else {
            throw .badRequest("minSeq must be a seq (an unsigned integer), got '\(text)'")
        }
        guard seq > 0 else { return reader }
        do {
            return try await reader.reader(applied: seq, within: minSeqWait)
        } catch let error as ReadConsistencyError {
            throw .unavailable(error.description)
        } catch {
            throw .unavailable("the store did not answer: \(error)")
        }
    }
}
