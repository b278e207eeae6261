import Crypto

/// Lowercase hex SHA-256, for content keys of kinds we cannot key by their fields.
package enum SHA256Hex {
    package static func of(_ text: String) -> String {
        of(bytes: Array(text.utf8))
    }

    package static func of(bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).hexString
    }
}

extension Sequence where Element == UInt8 {
    /// Lowercase hexadecimal, two digits per byte.
    package var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in self {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
