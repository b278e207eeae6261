/// Metadata keys for the ingest logs, one spelling each.
enum LogKey {
    static let node = "node.url"
    static let stream = "node.stream"
    static let eventID = "node.event.id"
    static let apiVersion = "node.api_version"
    static let kind = "event.kind"
    static let headSeq = "event.seq.head"
    static let batchSize = "batch.size"
    static let error = "error.message"
    static let errorType = "error.type"
    static let retryIn = "retry.in"
    static let missed = "node.events.missed"
    static let startFrom = "node.start_from"
}
