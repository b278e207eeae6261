/// Metadata keys for the Redis bus logs, one spelling each.
enum LogKey {
    static let address = "redis.address"
    static let channel = "redis.channel"
    static let role = "redis.role"
    static let error = "error.message"
    static let errorType = "error.type"
    static let retryIn = "retry.in"
    static let batchSize = "batch.size"
    static let frames = "redis.frames"
}
