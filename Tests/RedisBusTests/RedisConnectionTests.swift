import ChainfeedTestSupport
import Foundation
import NIOCore
import RedisBus
import Testing

@Suite struct RedisConnectionTests {
    /// Runs `body` on a fresh connection with a key prefix of its own; the prefix's keys are deleted afterwards.
    private func withConnection(_ body: (RedisConnection, String) async throws -> Void) async throws {
        let connection = try await RedisConnection.connect(url: try TestRedis.url(), timeout: .seconds(2))
        let prefix = TestRedis.prefix()
        do {
            try await body(connection, prefix)
        } catch {
            await cleanUp(connection, prefix)
            throw error
        }
        await cleanUp(connection, prefix)
    }

    private func cleanUp(_ connection: RedisConnection, _ prefix: String) async {
        do {
            if await !connection.isOpen { try await connection.reconnect() }
            let keys = try await connection.command(["KEYS", "\(prefix):*"])
            let names = (keys.array ?? []).compactMap { value -> RedisArgument? in
                if case .bulkString(let b) = value { RedisArgument(b) } else { nil }
            }
            if !names.isEmpty { _ = try await connection.command(["DEL"] + names) }
        } catch {
            Issue.record("could not delete the test keys: \(error)")
        }
        await connection.close()
    }

    @Test("PING answers PONG")
    func ping() async throws {
        try await withConnection { connection, _ in
            let pong = try await connection.command(["PING"])
            #expect(pong == .simpleString("PONG"))
        }
    }

    @Test("pipelined commands come back in order from one call")
    func pipeline() async throws {
        try await withConnection { connection, prefix in
            let key = RedisArgument("\(prefix):counter")
            let replies = try await connection.send([
                ["SET", key, "10"], ["INCR", key], ["INCRBY", key, RedisArgument(5)], ["GET", key], ["GET", "\(prefix):missing"],
            ])
            #expect(replies == [.simpleString("OK"), .integer(11), .integer(16), .bulkString(ByteBuffer(string: "16")), .null])
            #expect(try await connection.send([]) == [])
        }
    }

    @Test("keys and values are binary safe: NUL, CR LF, spaces and invalid UTF-8 pass unchanged")
    func binarySafe() async throws {
        try await withConnection { connection, prefix in
            let value: [UInt8] = [0, 13, 10, 32, 0xFF, 0xFE, 36, 42] + Array("%s %d \"x\"\r\n".utf8)
            let key = RedisArgument(bytes: Array("\(prefix):bin\0\r\n key".utf8))
            let replies = try await connection.send([["SET", key, RedisArgument(bytes: value)], ["GET", key], ["STRLEN", key]])
            #expect(replies == [.simpleString("OK"), .bulkString(ByteBuffer(bytes: value)), .integer(Int64(value.count))])
        }
    }

    @Test("an error reply comes back as a value and the connection stays usable")
    func errorReply() async throws {
        try await withConnection { connection, prefix in
            let replies = try await connection.send([["NOSUCHCOMMAND", "x"], ["SET", "\(prefix):k", "v"], ["INCR", "\(prefix):k"]])
            guard case .error(let unknown) = replies[0], case .error(let notInteger) = replies[2] else {
                Issue.record("expected error replies, got \(replies)")
                return
            }
            #expect(unknown.hasPrefix("ERR"))
            #expect(notInteger.hasPrefix("ERR"))
            #expect(replies[1] == .simpleString("OK"))
            #expect(try await connection.command(["PING"]) == .simpleString("PONG"))
        }
    }

    @Test("a command without arguments is refused before it is sent")
    func emptyCommand() async throws {
        try await withConnection { connection, _ in
            await #expect(throws: RedisBusError.emptyCommand) { try await connection.send([["PING"], []]) }
            let pong = try await connection.command(["PING"])
            #expect(pong == .simpleString("PONG"))
        }
    }

    @Test("a connection killed by the server reports the loss, then reconnect makes it usable again")
    func lostAndReconnected() async throws {
        try await withConnection { connection, _ in
            let id = try #require(try await connection.command(["CLIENT", "ID"]).integer)
            let killer = try await RedisConnection.connect(url: try TestRedis.url())
            #expect(try await killer.command(["CLIENT", "KILL", "ID", RedisArgument(id)]) == .integer(1))
            await killer.close()
            do {
                _ = try await connection.command(["PING"])
                Issue.record("a command on a killed connection succeeded")
            } catch let error as RedisBusError {
                #expect(error.isConnectionError)
            }
            #expect(await !connection.isOpen)
            // Until reconnected, commands keep failing with the same typed error.
            await #expect(throws: RedisBusError.self) { try await connection.command(["PING"]) }
            try await connection.reconnect()
            #expect(try await connection.command(["PING"]) == .simpleString("PONG"))
        }
    }

    @Test("close is idempotent and later commands throw closed")
    func close() async throws {
        let connection = try await RedisConnection.connect(url: try TestRedis.url())
        #expect(await connection.isOpen)
        await connection.close()
        await connection.close()
        #expect(await !connection.isOpen)
        await #expect(throws: RedisBusError.closed) { try await connection.command(["PING"]) }
        await #expect(throws: RedisBusError.closed) { try await connection.reconnect() }
    }

    @Test("a bad URL is refused with a typed error")
    func badURL() async {
        await #expect(throws: RedisBusError.self) { try await RedisConnection.connect(url: "postgres://localhost:6379") }
        do {
            _ = try await RedisConnection.connect(url: "redis://host:notaport")
        } catch let error as RedisBusError {
            guard case .invalidURL = error else {
                Issue.record("expected invalidURL, got \(error)")
                return
            }
        } catch {
            Issue.record("expected a RedisBusError, got \(error)")
        }
    }

    @Test("a port where nothing listens gives connectionFailed at once")
    func unreachable() async throws {
        let port = try freePort()
        do {
            _ = try await RedisConnection.connect(url: "redis://127.0.0.1:\(port)", timeout: .seconds(2))
            Issue.record("connected to a port where nothing listens")
        } catch let error as RedisBusError {
            guard case .connectionFailed = error else {
                Issue.record("expected connectionFailed, got \(error)")
                return
            }
            #expect(!error.description.contains("\(port)"))
        }
    }

    @Test("a wrong password is refused with a typed error naming AUTH")
    func wrongPassword() async throws {
        let url = try TestRedis.url().replacingOccurrences(of: "redis://", with: "redis://:wrong-password@")
        do {
            _ = try await RedisConnection.connect(url: url)
            Issue.record("logged in with a wrong password")
        } catch let error as RedisBusError {
            guard case .commandFailed(let command, _) = error else {
                Issue.record("expected commandFailed, got \(error)")
                return
            }
            #expect(command == "AUTH")
            #expect(!error.description.contains("wrong-password"))
        }
    }
}
