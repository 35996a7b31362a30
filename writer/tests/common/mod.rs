//! Helpers for cross-process tests: start real `sixfold-server` and
//! `redis-server` processes on free 127.0.0.1 ports, kill them on drop, and
//! talk raw RESP to them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use sixfold_resp::{Frame, decode_frame};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
    pub port: u16,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_ready(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("server on port {port} exited early: {status}");
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("server on port {port} did not start");
}

/// Starts `sixfold-server` with extra flags.
pub fn sixfold(extra: &[&str]) -> Proc {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sixfold-server"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--seed", "1"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start sixfold-server");
    wait_ready(port, &mut child);
    Proc { child, port }
}

/// Starts Debian's `redis-server` without persistence.
pub fn redis() -> Proc {
    let port = free_port();
    let mut child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (apt-get install redis-server); .ci/run installs it");
    wait_ready(port, &mut child);
    Proc { child, port }
}

/// A raw RESP connection.
pub struct Raw {
    pub sock: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        sock.set_nodelay(true).unwrap();
        Raw { sock, buf: Vec::new() }
    }

    pub fn send(&mut self, args: &[&[u8]]) {
        let f = Frame::Array(args.iter().map(|a| Frame::Bulk(Bytes::copy_from_slice(a))).collect());
        self.sock.write_all(&f.to_bytes(sixfold_resp::Protocol::Resp2)).unwrap();
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).unwrap();
    }

    /// Reads one reply; `None` if the server closed the connection.
    pub fn read(&mut self) -> Option<Frame> {
        loop {
            if let Some((f, n)) = decode_frame(&self.buf).unwrap() {
                self.buf.drain(..n);
                return Some(f);
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.sock.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    pub fn cmd(&mut self, args: &[&str]) -> Frame {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.send(&a);
        self.read().expect("connection closed")
    }
}

pub fn bulk(s: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}
