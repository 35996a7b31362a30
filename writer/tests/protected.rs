//! Protected mode, beside Debian's `redis-server` (both listening on every
//! interface, neither with a password): a client from a non-loopback
//! address gets Redis's `-DENIED` text and is disconnected, a loopback
//! client is served; `CONFIG SET protected-mode no`, or a password, lets
//! the outside client in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Proc, free_port, wait_ready};
use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A non-loopback address of this host: the one a packet to another
/// network would leave from (no packet is sent), or else one on a dummy
/// interface (a veth pair) this test adds (as root), removed when the guard drops.
fn outside_ip() -> (IpAddr, Option<Veth>) {
    let routed = UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").and_then(|()| s.local_addr()))
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_loopback());
    if let Some(ip) = routed {
        return (ip, None);
    }
    let ip = "10.255.77.1";
    let ok = |args: &[&str]| Command::new("ip").args(args).status().is_ok_and(|s| s.success());
    let _ = ok(&["link", "del", VETH]);
    assert!(
        ok(&["link", "add", VETH, "type", "veth", "peer", "name", "sixfold-pm1"])
            && ok(&["addr", "add", &format!("{ip}/32"), "dev", VETH])
            && ok(&["link", "set", VETH, "up"])
            && ok(&["link", "set", "sixfold-pm1", "up"]),
        "this test needs a non-loopback IPv4 address: none is routed, and adding a veth interface failed (run as root)"
    );
    (ip.parse().unwrap(), Some(Veth))
}

/// The interface [`outside_ip`] may add (its veth peer goes with it).
const VETH: &str = "sixfold-pm0";

/// Removes that interface when dropped.
struct Veth;

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", VETH]).status();
    }
}

/// Everything a connection from `ip` to `port` gets after sending PING,
/// until the server closes it or goes quiet.
fn ping_from(ip: IpAddr, port: u16) -> String {
    let mut s = TcpStream::connect((ip, port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let _ = s.write_all(b"PING\r\n");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break out.extend_from_slice(b"<closed>"),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => break,
            // Reset: closed with the PING unread.
            Err(_) => break out.extend_from_slice(b"<closed>"),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn config_set(port: u16, name: &str, value: &str) {
    let _: () = redis::cmd("CONFIG").arg("SET").arg(name).arg(value).query(&mut common::client(port)).unwrap();
}

fn start(bin: &str, port: u16, args: &[String]) -> Proc {
    let mut child = Command::new(bin).args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_ready(port, &mut child);
    Proc { child, port }
}

#[test]
fn protected_mode_refuses_outside_clients_as_redis_does() {
    let (ip, _veth) = outside_ip();
    let (s, r) = (free_port(), free_port());
    let sixfold = start(
        env!("CARGO_BIN_EXE_sixfold-server"),
        s,
        &["--durability".into(), "none".into(), "--listen".into(), format!("0.0.0.0:{s}")],
    );
    let redis = start(
        "redis-server",
        r,
        &[
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            "--bind".into(),
            "0.0.0.0".into(),
            "--port".into(),
            r.to_string(),
        ],
    );
    let denied = ping_from(ip, redis.port);
    assert!(
        denied.starts_with("-DENIED Redis is running in protected mode") && denied.ends_with("<closed>"),
        "{denied}"
    );
    assert_eq!(ping_from(ip, sixfold.port), denied, "the same text, then the connection closes");
    for port in [sixfold.port, redis.port] {
        assert_eq!(ping_from("127.0.0.1".parse().unwrap(), port), "+PONG\r\n", "loopback clients are served");
        let got: Vec<String> =
            redis::cmd("CONFIG").arg("GET").arg("protected-mode").query(&mut common::client(port)).unwrap();
        assert_eq!(got, ["protected-mode", "yes"]);
    }
    // A password opens the door (the client must then authenticate).
    for port in [sixfold.port, redis.port] {
        config_set(port, "requirepass", "secret");
    }
    let noauth = ping_from(ip, redis.port);
    assert!(noauth.starts_with("-NOAUTH"), "{noauth}");
    assert_eq!(ping_from(ip, sixfold.port), noauth);
    // So does protected-mode no, without a password.
    for port in [sixfold.port, redis.port] {
        let mut c =
            redis::Client::open(format!("redis://:secret@127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
        let _: () = redis::cmd("CONFIG").arg("SET").arg("protected-mode").arg("no").query(&mut c).unwrap();
        let _: () = redis::cmd("CONFIG").arg("SET").arg("requirepass").arg("").query(&mut c).unwrap();
    }
    for port in [sixfold.port, redis.port] {
        assert_eq!(ping_from(ip, port), "+PONG\r\n");
    }
    let bad = |port: u16| {
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("protected-mode")
            .arg("maybe")
            .query::<()>(&mut common::client(port))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(bad(sixfold.port), bad(redis.port));
}

/// A deliberate difference from Redis: CONFIG GET never shows a password.
#[test]
fn config_get_never_shows_a_password() {
    let server = common::sixfold(&["--requirepass", "hunter2", "--masterauth", "other-secret"]);
    let url = format!("redis://:hunter2@127.0.0.1:{}/", server.port);
    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
    let all: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("*").query(&mut c).unwrap();
    assert!(!all.iter().any(|v| v.contains("hunter2") || v.contains("other-secret")), "{all:?}");
    for name in ["requirepass", "masterauth"] {
        let got: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(name).query(&mut c).unwrap();
        assert_eq!(got, [name, "<redacted>"]);
    }
    let none = common::sixfold(&[]);
    let got: Vec<String> =
        redis::cmd("CONFIG").arg("GET").arg("requirepass").query(&mut common::client(none.port)).unwrap();
    assert_eq!(got, ["requirepass", ""], "no password: empty, as Redis");
}
