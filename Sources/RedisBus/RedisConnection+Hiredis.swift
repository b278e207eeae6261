#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

internal import CHiredis

/// The hiredis calls themselves. They take the context from the owning actor and run on its thread only.
extension RedisConnection {
    static func open(
        _ address: RedisAddress, connectTimeout: Duration, commandTimeout: Duration
    ) throws -> UnsafeMutablePointer<redisContext> {
        guard let context = redisConnectWithTimeout(address.host, Int32(address.port), timeValue(connectTimeout)) else {
            throw RedisBusError.connectionFailed(reason: "out of memory")
        }
        guard context.pointee.err == 0 else {
            let reason = errorString(context)
            redisFree(context)
            throw RedisBusError.connectionFailed(reason: reason)
        }
        // Socket timeouts bound every blocking read and write; keep-alive notices a vanished peer.
        guard redisSetTimeout(context, timeValue(commandTimeout)) == REDIS_OK, redisEnableKeepAlive(context) == REDIS_OK else {
            let reason = errorString(context)
            redisFree(context)
            throw RedisBusError.connectionFailed(reason: reason)
        }
        return context
    }

    /// Appends each command to the context's output buffer (nothing is written yet).
    static func append(_ context: UnsafeMutablePointer<redisContext>, _ commands: [[RedisArgument]]) throws {
        // One contiguous copy of every argument; argv points into it, and hiredis copies it into its buffer.
        var total = 1
        for command in commands { for argument in command { total += argument.bytes.readableBytes } }
        var storage: [UInt8] = []
        storage.reserveCapacity(total)
        for command in commands { for argument in command { storage.append(contentsOf: argument.bytes.readableBytesView) } }
        storage.append(0)  // never empty, so the base address is never nil
        try storage.withUnsafeBufferPointer { buffer in
            let base = UnsafeRawPointer(buffer.baseAddress!)
            var offset = 0
            var argv: [UnsafePointer<CChar>?] = []
            var lengths: [Int] = []
            for command in commands {
                argv.removeAll(keepingCapacity: true)
                lengths.removeAll(keepingCapacity: true)
                for argument in command {
                    argv.append((base + offset).assumingMemoryBound(to: CChar.self))
                    lengths.append(argument.bytes.readableBytes)
                    offset += argument.bytes.readableBytes
                }
                try check(redisAppendCommandArgv(context, Int32(argv.count), &argv, lengths), context, timeout: nil)
            }
        }
    }

    /// Writes the output buffer to the socket, blocking until it is all written (each write within `timeout`).
    static func flush(_ context: UnsafeMutablePointer<redisContext>, timeout: Duration) throws {
        var done: Int32 = 0
        repeat {
            try check(redisBufferWrite(context, &done), context, timeout: timeout)
        } while done == 0
    }

    /// Flushes pending commands and reads the next reply (each read within `timeout`).
    static func readReply(_ context: UnsafeMutablePointer<redisContext>, timeout: Duration) throws -> RESPValue {
        var reply: UnsafeMutableRawPointer?
        try check(redisGetReply(context, &reply), context, timeout: timeout)
        guard let reply else { throw RedisBusError.connectionLost(reason: "no reply") }
        defer { freeReplyObject(reply) }
        return value(reply.assumingMemoryBound(to: redisReply.self))
    }

    /// The next reply already buffered or arriving within `timeout`; `nil` if none.
    ///
    /// Waits with `poll` rather than a blocking read, so an idle subscription neither times out the context nor
    /// keeps its owner from noticing cancellation.
    static func nextPushedReply(_ context: UnsafeMutablePointer<redisContext>, timeout: Duration) throws -> RESPValue? {
        let deadline = ContinuousClock.now + timeout
        while true {
            var reply: UnsafeMutableRawPointer?
            try check(redisGetReplyFromReader(context, &reply), context, timeout: nil)
            if let reply {
                defer { freeReplyObject(reply) }
                return value(reply.assumingMemoryBound(to: redisReply.self))
            }
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { return nil }
            var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(clamping: remaining.milliseconds + 1))
            if ready == 0 { return nil }
            if ready < 0 {
                guard errno == EINTR else { throw RedisBusError.connectionLost(reason: "poll failed: errno \(errno)") }
                continue
            }
            // Readable (or closed: the read then reports end of file). One read, never blocking.
            try check(redisBufferRead(context), context, timeout: nil)
        }
    }

    /// Copies a reply tree into Swift values (the caller frees the C reply).
    static func value(_ reply: UnsafeMutablePointer<redisReply>) -> RESPValue {
        let r = reply.pointee
        func bytes() -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: r.str, count: r.str == nil ? 0 : r.len) }
        switch r.type {
        case REDIS_REPLY_STRING:
            return .bulkString(ByteBuffer(bytes: bytes()))
        case REDIS_REPLY_STATUS:
            return .simpleString(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(r.integer))
        case REDIS_REPLY_ARRAY:
            var elements: [RESPValue] = []
            elements.reserveCapacity(r.elements)
            for i in 0..<r.elements {
                elements.append(r.element[i].map(value) ?? .null)
            }
            return .array(elements)
        default:  // REDIS_REPLY_NIL
            return .null
        }
    }

    /// Throws the module's error for a failed hiredis call, with the context's `errstr`.
    ///
    /// - Parameters:
    ///   - timeout: The socket timeout in force, reported when the failure was one (`EAGAIN`).
    ///   - call: Where it failed, for the error's detail.
    static func check(
        _ rc: Int32, _ context: UnsafeMutablePointer<redisContext>, timeout: Duration?, where call: String = #function
    ) throws {
        guard rc != REDIS_OK else { return }
        let code = errno
        let kind = context.pointee.err
        let reason = errorString(context)
        if kind == REDIS_ERR_IO, code == EAGAIN || code == EWOULDBLOCK, let timeout {
            throw RedisBusError.timedOut(after: timeout)
        }
        switch kind {
        case REDIS_ERR_EOF: throw RedisBusError.connectionLost(reason: "\(call): the server closed the connection")
        case REDIS_ERR_PROTOCOL: throw RedisBusError.connectionLost(reason: "\(call): protocol error: \(reason)")
        default: throw RedisBusError.connectionLost(reason: "\(call): \(reason)")
        }
    }

    static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return bytes.isEmpty ? "unknown hiredis error" : String(decoding: bytes, as: UTF8.self)
        }
    }

    private static func timeValue(_ duration: Duration) -> timeval {
        let micros = max(1000, duration.milliseconds * 1000)
        return timeval(tv_sec: .init(micros / 1_000_000), tv_usec: .init(micros % 1_000_000))
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}
