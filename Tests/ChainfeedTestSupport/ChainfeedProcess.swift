import Foundation
import Synchronization

/// A real `chainfeed` process for end-to-end tests: started with arguments, read, signalled, awaited.
public final class ChainfeedProcess: Sendable {
    private let process: Process
    private let output = TextBuffer()
    private let errors = TextBuffer()

    /// The binary under test: `CHAINFEED_BIN`, else the debug build next to the package.
    public static var binary: String {
        if let path = ProcessInfo.processInfo.environment["CHAINFEED_BIN"], !path.isEmpty { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/chainfeed").path
    }

    /// Starts `chainfeed arguments…` with extra environment variables.
    public init(_ arguments: [String], environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("CHAINFEED_") && key != "CHAINFEED_BIN" && !key.hasPrefix("CHAINFEED_TEST") {
            env.removeValue(forKey: key)
        }
        env.merge(environment) { $1 }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        self.process = process
        out.fileHandleForReading.readabilityHandler = { [output] handle in
            let data = handle.availableData
            output.append(data)
        }
        err.fileHandleForReading.readabilityHandler = { [errors] handle in
            let data = handle.availableData
            errors.append(data)
        }
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    public var stdout: String { output.text }
    public var stderr: String { errors.text }
    public var isRunning: Bool { process.isRunning }

    /// The first `http://127.0.0.1:PORT` the process printed, waiting up to `timeout`.
    public func announcedURL(timeout: Duration = .seconds(60)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let range = stdout.range(of: #"http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) {
                return String(stdout[range])
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ProcessFailure("no URL announced; stderr: \(stderr.suffix(2000))")
    }

    public func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits for the exit up to `timeout`; `nil` if still running.
    public func waitForExit(timeout: Duration) async throws -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { return nil }
            try await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    /// Kills the process if it still runs (test cleanup).
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}

/// Text a pipe handler appends to while the test reads it.
final class TextBuffer: Sendable {
    private let state = Mutex("")
    func append(_ data: Data) { state.withLock { $0 += String(decoding: data, as: UTF8.self) } }
    var text: String { state.withLock { $0 } }
}

public struct ProcessFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A loopback port that is free now.
public func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard ok else { throw ProcessFailure("no free port") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Runs a short-lived tool (`psql`, `curl`) from PATH to its end and returns its status and standard output,
/// without blocking a cooperative thread (a 2-core machine's test pool has two): the output is read to its end
/// on a thread of its own while the exit is polled.
public func runTool(_ arguments: [String]) async throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let reader = pipe.fileHandleForReading
    let data: Data = await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: reader.readDataToEndOfFile()) }.start()
    }
    while process.isRunning {
        try await Task.sleep(for: .milliseconds(20))
    }
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
