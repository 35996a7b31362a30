//! The writer's lease with real processes: a writer stopped (SIGSTOP) for
//! longer than its lease while a second writer takes over and changes a
//! key must not, once continued, answer a read with the old value — nor
//! acknowledge a write; it becomes a replica of the new writer, in place.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Fabric, client, free_port, replica_client, sixfold_on};
use std::io::{Read, Write};
use std::time::Duration;

/// Reads one RESP reply line (enough for these replies), or `None` if the
/// connection closed or timed out.
fn ask(sock: &mut std::net::TcpStream, cmd: &str) -> Option<String> {
    sock.write_all(cmd.as_bytes()).ok()?;
    let mut buf = [0u8; 512];
    match sock.read(&mut buf) {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
    }
}

#[test]
fn a_writer_past_its_lease_answers_no_read_and_no_write() {
    let fabric = Fabric::start("lease");
    let lease = ["--lease-ms", "600", "--lease-renew-ms", "100", "--clock-drift-ms", "50"].map(String::from);
    let args = [fabric.server_args(), lease.to_vec()].concat();
    let old = sixfold_on(free_port(), &args);
    let _: () = redis::cmd("SET").arg("k").arg("old").query(&mut client(old.port)).unwrap();
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", old.port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(ask(&mut sock, "GET k\r\n").as_deref(), Some("$3\r\nold\r\n"));
    let pid = old.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    let new = sixfold_on(free_port(), &args);
    let _: () = redis::cmd("SET").arg("k").arg("new").query(&mut client(new.port)).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert!(std::process::Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    let read = ask(&mut sock, "GET k\r\n");
    // -TRYAGAIN while its lease is over, -CLUSTERDOWN or -MOVED once it is
    // a replica (before and after it learned the new writer), or
    // the connection closed when it was demoted.
    let refused = |r: &String| ["-TRYAGAIN", "-MOVED", "-CLUSTERDOWN"].iter().any(|e| r.starts_with(e));
    assert!(read.as_ref().is_none_or(refused), "the old writer answered a read: {read:?}");
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", old.port));
    if let Ok(s) = sock.as_mut() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let write = ask(s, "SET k stale\r\n");
        assert!(write.as_ref().is_none_or(|r| r.starts_with('-')), "the old writer acknowledged a write: {write:?}");
    }
    let now: String = redis::cmd("GET").arg("k").query(&mut client(new.port)).unwrap();
    assert_eq!(now, "new");
    // The old writer is now a replica of the new one, in the same process.
    let mut old_mut = old;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        assert!(old_mut.child.try_wait().unwrap().is_none(), "the old writer stays up as a replica");
        let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut client(old_mut.port)).unwrap();
        let named = role.get(2) == Some(&redis::Value::Int(i64::from(new.port)));
        let read: Option<String> = redis::cmd("GET").arg("k").query(&mut replica_client(old_mut.port)).unwrap_or(None);
        if named && read.as_deref() == Some("new") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the old writer did not follow the new one: {role:?} {read:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let err = redis::cmd("SET").arg("k").arg("x").query::<()>(&mut client(old_mut.port)).unwrap_err();
    assert!(err.to_string().contains(&format!("127.0.0.1:{}", new.port)), "writes go to the new writer: {err}");
}
