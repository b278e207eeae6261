/// Shape checks for the hashes and accounts that REST paths and filters take (400 before any lookup).
public enum Identifiers {
    /// A block, deploy or transaction hash: 64 hex digits.
    public static func isHash(_ s: String) -> Bool {
        s.utf8.count == 64 && isHex(s.utf8)
    }

    /// A public key (`01` + 64 hex for ed25519, `02` + 66 hex for secp256k1) or `account-hash-` + 64 hex.
    public static func isAccount(_ s: String) -> Bool {
        let u = Array(s.utf8)
        if s.hasPrefix("account-hash-") {
            return isHash(String(s.dropFirst("account-hash-".count)))
        }
        guard isHex(u[...]) else { return false }
        if s.hasPrefix("01") { return u.count == 66 }
        if s.hasPrefix("02") { return u.count == 68 }
        return false
    }

    private static func isHex<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        !bytes.isEmpty && bytes.allSatisfy { (48...57).contains($0) || (97...102).contains($0) || (65...70).contains($0) }
    }
}
