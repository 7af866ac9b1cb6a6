//! Free loopback ports; also mounted by the benchmarks (which mount openssh.rs, whose
//! relays and connectors take their ports from here).

/// A loopback port free right now (the OS picks it; a process told to use it binds it
/// moments later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
