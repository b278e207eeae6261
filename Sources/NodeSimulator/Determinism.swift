import ChainfeedCore
import Crypto

/// SplitMix64: a tiny PRNG whose output is fixed by its seed on every platform and Swift version.
///
/// The standard library's generators and `random(in:using:)` may change their algorithm between
/// releases, so the simulator draws only through this type.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in `0..<bound` (`bound` > 0); the modulo bias is irrelevant for test data.
    mutating func next(below bound: UInt64) -> UInt64 {
        next() % bound
    }

    /// `true` with probability 1/`n`.
    mutating func oneIn(_ n: UInt64) -> Bool {
        next(below: n) == 0
    }
}

/// SHA-256 over a domain tag and little-endian integers: the only source of every hash and key.
enum Digest {
    static func bytes(_ tag: String, _ values: [UInt64]) -> [UInt8] {
        var input = Array(tag.utf8)
        input.append(0)
        for v in values {
            withUnsafeBytes(of: v.littleEndian) { input.append(contentsOf: $0) }
        }
        return Array(SHA256.hash(data: input))
    }

    /// 64 lowercase hex digits.
    static func hex(_ tag: String, _ values: UInt64...) -> String {
        bytes(tag, values).hexString
    }

    /// The first 8 bytes as a seed for ``SplitMix64``.
    static func seed(_ tag: String, _ values: UInt64...) -> UInt64 {
        bytes(tag, values).prefix(8).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }
}

/// Text formats of the node that Foundation would render differently per platform.
enum NodeFormat {
    /// `2024-01-01T00:00:16.384Z`: ISO-8601 UTC with milliseconds, as the node prints timestamps.
    static func timestamp(millis: Int64) -> String {
        let (secs, ms) = floorDivMod(millis, 1000)
        let (days, secOfDay) = floorDivMod(secs, 86_400)
        let (y, m, d) = civil(fromDays: days)
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(secOfDay / 3600, 2)):\(pad(secOfDay / 60 % 60, 2)):"
            + "\(pad(secOfDay % 60, 2)).\(pad(ms, 3))Z"
    }

    /// humantime's format (`1day 2h 3m 4s 384ms`, `0s`), used for `uptime` and `round_length`.
    static func humantime(millis: Int64) -> String {
        guard millis > 0 else { return "0s" }
        let days = millis / 86_400_000
        let parts: [(Int64, String)] = [
            (days, days == 1 ? "day" : "days"),
            (millis / 3_600_000 % 24, "h"),
            (millis / 60_000 % 60, "m"),
            (millis / 1000 % 60, "s"),
            (millis % 1000, "ms"),
        ]
        return parts.filter { $0.0 > 0 }.map { "\($0.0)\($0.1)" }.joined(separator: " ")
    }

    /// A CLValue U512's `bytes`: a length byte, then the little-endian value without trailing zeros.
    static func u512Bytes(_ value: UInt64) -> String {
        var le: [UInt8] = []
        var v = value
        while v > 0 {
            le.append(UInt8(v & 0xff))
            v >>= 8
        }
        return ([UInt8(le.count)] + le).hexString
    }

    private static func floorDivMod(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let q = a >= 0 ? a / b : (a - b + 1) / b
        return (q, a - q * b)
    }

    /// Howard Hinnant's days-from-civil inverse (proleptic Gregorian calendar).
    private static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    private static func pad(_ n: Int64, _ width: Int) -> String {
        let s = String(n)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
