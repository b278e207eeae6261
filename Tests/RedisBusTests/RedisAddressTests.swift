import RedisBus
import Testing

@Suite struct RedisAddressTests {
    @Test("host, port and database are read from a redis URL")
    func parsesURLs() throws {
        #expect(try RedisAddress(url: "redis://127.0.0.1:6380") == RedisAddress(host: "127.0.0.1", port: 6380))
        #expect(try RedisAddress(url: "redis://cache.internal") == RedisAddress(host: "cache.internal", port: 6379))
        #expect(try RedisAddress(url: "redis://localhost:7000/3") == RedisAddress(host: "localhost", port: 7000, database: 3))
        #expect(try RedisAddress(url: "redis://localhost:7000/") == RedisAddress(host: "localhost", port: 7000))
        #expect(try RedisAddress(url: "REDIS://[::1]:6390") == RedisAddress(host: "::1", port: 6390))
    }

    @Test("credentials are percent-decoded and never shown in the description")
    func credentials() throws {
        let address = try RedisAddress(url: "redis://app:s%40cret%3A1@db.example:6379/2")
        #expect(address.username == "app")
        #expect(address.password == "s@cret:1")
        #expect(address.description == "db.example:6379/2")
        let passwordOnly = try RedisAddress(url: "redis://:pw@h:1")
        #expect(passwordOnly.username == nil)
        #expect(passwordOnly.password == "pw")
        #expect(!passwordOnly.description.contains("pw"))
    }

    @Test("anything but a plain redis URL is refused with a typed error")
    func refusesBadURLs() {
        let bad = [
            "", "localhost:6379", "http://localhost:6379", "rediss://localhost:6379", "redis://", "redis://:6379",
            "redis://host:0", "redis://host:65536", "redis://host:port", "redis://host:6379/db", "redis://host:6379/1/2",
            "redis://host:6379?timeout=1", "redis://user@host", "redis://[::1", "redis://[::1]x", "redis://:%zz@host",
            "redis://host\u{0}:6379",
        ]
        for url in bad {
            #expect(throws: RedisBusError.self, "\(url)") { try RedisAddress(url: url) }
        }
    }

    @Test("error descriptions carry no credentials")
    func errorsHideCredentials() {
        do {
            _ = try RedisAddress(url: "redis://u:topsecret@host:notaport")
            Issue.record("expected an error")
        } catch {
            #expect(!"\(error)".contains("topsecret"))
            #expect(!String(reflecting: error).contains("topsecret"))
        }
    }
}
