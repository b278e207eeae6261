import Foundation
import Synchronization

/// A redis-server of the test's own on a free port, which the test may shut down and start again.
///
/// The server runs in the foreground as this process's child (`--daemonize no`): Foundation's `Process` notices a
/// child's exit through a descriptor the child inherits, which a daemonising server would hold open for its life.
public final class OwnRedisServer: Sendable {
    public let port: Int
    private let directory: String
    private let process = Mutex<Process?>(nil)

    private init(port: Int, directory: String) {
        self.port = port
        self.directory = directory
    }

    /// Starts a server on a free port.
    public static func start() async throws -> OwnRedisServer {
        let directory = NSTemporaryDirectory() + "chainfeed-redis-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let server = OwnRedisServer(port: try freePort(), directory: directory)
        try await server.start()
        return server
    }

    public var url: String { "redis://127.0.0.1:\(port)" }

    public func start() async throws {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = [
            "redis-server", "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--dir", directory, "--logfile", directory + "/redis.log",
        ]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        server.standardInput = FileHandle.nullDevice
        try server.run()
        process.withLock { $0 = server }
        for _ in 0..<100 {
            if (try? await Self.run("redis-cli", ["-p", "\(port)", "ping"])) == "PONG" { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ProcessFailure("redis-server did not start on port \(port)")
    }

    /// `SHUTDOWN NOSAVE`: the server exits and every client connection is closed.
    public func shutdown() async throws {
        guard let server = process.withLock({ p in defer { p = nil }; return p }) else { return }
        _ = try? await Self.run("redis-cli", ["-p", "\(port)", "shutdown", "nosave"])
        for _ in 0..<100 where server.isRunning {
            try await Task.sleep(for: .milliseconds(50))
        }
        guard !server.isRunning else {
            kill(server.processIdentifier, SIGKILL)
            throw ProcessFailure("redis-server on port \(port) did not stop")
        }
    }

    /// Stops the server for good and removes its directory.
    public func remove() async {
        try? await shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs a short-lived tool from PATH (`redis-cli`) and returns its trimmed output, without blocking a
    /// cooperative thread.
    @discardableResult
    private static func run(_ tool: String, _ arguments: [String]) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        guard status == 0 else { throw ProcessFailure("\(tool) exited with \(status)") }
        // The answer is a few bytes, well within the pipe's buffer, so reading after the exit is safe.
        let data = output.fileHandleForReading.readDataToEndOfFile()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
