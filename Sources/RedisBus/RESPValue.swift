import NIOCore

/// A Redis reply, copied out of hiredis into Swift values (the C reply is freed in the call that read it).
public enum RESPValue: Sendable, Hashable {
    /// A status reply (`+OK`).
    case simpleString(String)
    /// An error reply (`-ERR …`): a refusal of one command; the connection stays usable.
    case error(String)
    case integer(Int64)
    /// A bulk string: arbitrary bytes.
    case bulkString(ByteBuffer)
    /// A nil bulk string or nil array.
    case null
    case array([RESPValue])

    /// The bytes of a bulk or status string as UTF-8 text (invalid sequences repaired); `nil` for other replies.
    public var string: String? {
        switch self {
        case .simpleString(let s): s
        case .bulkString(let b): String(buffer: b)
        default: nil
        }
    }

    /// The value of an integer reply; `nil` for other replies.
    public var integer: Int64? {
        if case .integer(let i) = self { i } else { nil }
    }

    /// The elements of an array reply; `nil` for other replies.
    public var array: [RESPValue]? {
        if case .array(let a) = self { a } else { nil }
    }
}

/// One argument of a Redis command: bytes, sent as they are (binary safe, never formatted or escaped).
public struct RedisArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByStringInterpolation {
    public var bytes: ByteBuffer

    public init(_ bytes: ByteBuffer) {
        self.bytes = bytes
    }

    /// The string's UTF-8 bytes.
    public init(_ string: String) {
        self.bytes = ByteBuffer(string: string)
    }

    public init(bytes: some Sequence<UInt8>) {
        self.bytes = ByteBuffer(bytes: bytes)
    }

    public init(_ value: some BinaryInteger) {
        self.init(String(value))
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }
}
