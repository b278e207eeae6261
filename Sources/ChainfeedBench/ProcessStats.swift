#if canImport(Glibc)
import Glibc
#endif

/// CPU time and resident memory of processes, read from `/proc` (Linux only).
struct ProcessStats: Sendable, Equatable {
    /// User + system CPU seconds, summed over the processes.
    var cpuSeconds: Double
    /// `VmRSS` in KiB, summed over the processes.
    var rssKiB: Int

    static let clockTicks = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// The sum over `pids` (`0` reads this process); a process that is gone counts as zero.
    static func read(_ pids: [Int32]) -> ProcessStats {
        var total = ProcessStats(cpuSeconds: 0, rssKiB: 0)
        for pid in pids {
            let base = pid == 0 ? "/proc/self" : "/proc/\(pid)"
            if let stat = readText(base + "/stat"), let close = stat.lastIndex(of: ")") {
                // Fields after "(comm)": state is field 3, utime 14, stime 15.
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                if fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) {
                    total.cpuSeconds += (utime + stime) / clockTicks
                }
            }
            if let status = readText(base + "/status") {
                for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
                    let digits = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first
                    total.rssKiB += digits.flatMap { Int($0) } ?? 0
                }
            }
        }
        return total
    }

    static func readText(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Raises the soft open-file limit to the hard one (10,000 sockets need it).
    static func raiseOpenFileLimit() -> Int {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        return Int(limit.rlim_cur)
    }
}

/// Monotonic nanoseconds, the one clock every stamp in the bench uses.
@inline(__always)
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}
