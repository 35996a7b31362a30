//! Local ports for processes a test or tool starts and may restart on the
//! same port. A port the kernel hands out for `bind(…:0)` lies in the
//! ephemeral range, where any client socket (a QUIC endpoint, a TCP
//! connect) may take it while the process that owned it is down between a
//! kill and its restart; ports below that range are taken only on request.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Lowest port handed out.
const PORT_MIN: u16 = 10_000;
/// Ports tried before giving up.
const TRIES_MAX: u32 = 10_000;

/// The first port of the kernel's ephemeral range (32768 if unknown).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// Where this process's walk through the port range starts: seeded once by
/// process id and time, so processes running at once draw from a spread of
/// ports and rarely meet.
fn process_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        u64::from(std::process::id()).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ nanos
    })
}

/// A port on 127.0.0.1, below the ephemeral range, that is free for both
/// TCP and UDP now. Within one process no port is handed out twice (until
/// the walk wraps around the range): tests running at once in one binary
/// kill and restart their processes on the ports they drew, and a port free
/// only because its process is down between a kill and a restart must not
/// go to another test (a CI run lost a node that way).
pub fn unused_local_port() -> std::io::Result<u16> {
    static DRAWN: AtomicU64 = AtomicU64::new(0);
    let end = ephemeral_start().max(PORT_MIN + 1_000);
    let span = u64::from(end - PORT_MIN);
    let seed = process_seed();
    for _ in 0..TRIES_MAX {
        let n = DRAWN.fetch_add(1, Ordering::Relaxed);
        let port = PORT_MIN + (seed.wrapping_add(n.wrapping_mul(7919)) % span) as u16;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        if TcpListener::bind(addr).is_ok() && UdpSocket::bind(addr).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, "no free local port below the ephemeral range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_below_the_ephemeral_range_and_bindable() {
        let a = unused_local_port().unwrap();
        let b = unused_local_port().unwrap();
        assert_ne!(a, b);
        for p in [a, b] {
            assert!(p >= PORT_MIN && p < ephemeral_start().max(PORT_MIN + 1_000));
            UdpSocket::bind(("127.0.0.1", p)).unwrap();
        }
    }

    #[test]
    fn a_port_is_not_handed_out_twice_while_its_process_is_down() {
        let drawn: Vec<u16> = (0..500).map(|_| unused_local_port().unwrap()).collect();
        let distinct: std::collections::HashSet<_> = drawn.iter().collect();
        assert_eq!(distinct.len(), drawn.len(), "a port was handed out twice");
    }
}
