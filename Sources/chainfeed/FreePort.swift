#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loopback TCP port that is free now, for an in-process server whose address others must know first.
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw CLIError("cannot open a socket to find a free port") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa -> Bool in
            bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0
        }
    }
    guard bound else { throw CLIError("cannot find a free loopback port") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Refuses to start when `host:port` cannot be bound (taken by another process, or not an address of this
/// machine): one clear error line before any service starts, not a server that fails while the others run.
func requireListenable(host: String, port: Int) throws {
    guard port != 0 else { return }
    var hints = addrinfo()
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var found: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, String(port), &hints, &found) == 0, let info = found else {
        throw CLIError("cannot listen on '\(host)': not a host name or address this machine resolves")
    }
    defer { freeaddrinfo(info) }
    let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
    guard fd >= 0 else { return }  // let the server report it
    defer { close(fd) }
    var on: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
    guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
        switch errno {
        case EADDRINUSE: throw CLIError("port \(port) on \(host) is already in use: stop what listens there or pick another --port")
        case EADDRNOTAVAIL: throw CLIError("cannot listen on \(host): not an address of this machine")
        case EACCES: throw CLIError("not allowed to listen on port \(port): pick a port above 1023 or run with the right privilege")
        default: throw CLIError("cannot listen on \(host):\(port) (errno \(errno))")
        }
    }
}
