//! `sixfold up` as a user runs it: a real process that starts six storage
//! nodes and two equal data nodes, which elect a writer; writes land, the
//! replica serves them (READONLY), `sixfold status` reports the nodes and
//! the lease, `sixfold failover` hands the writer's role over, SIGTERM to its whole process group stops every child and
//! `sixfold up` itself, and a second `sixfold up` on the same directory
//! brings every key back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use redis::Commands;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Up {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Up {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

/// Starts `sixfold up` in a process group of its own; returns it and the
/// elected writer's port.
fn up(dir: &Path, base: u16) -> (Up, u16) {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sixfold"))
        .process_group(0)
        .arg("up")
        .arg("--dir")
        .arg(dir)
        .args(["--port", &base.to_string(), "--storage-port", &(base + 10).to_string()])
        .args(["--metrics-port", &(base + 20).to_string(), "--bin-dir"])
        .arg(sixfold_harness::cluster::bin_dir())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let u = Up { child, lines };
    let line = wait_line(&u, "the cluster is up", Duration::from_secs(120));
    let port = line.split("-p ").nth(1).and_then(|r| r.split(' ').next()).and_then(|p| p.parse().ok());
    (u, port.unwrap_or_else(|| panic!("no writer port in '{line}'")))
}

/// Waits for a line containing `text`; returns it.
fn wait_line(u: &Up, text: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match u.lines.recv_timeout(left) {
            Ok(l) if l.contains(text) => return l,
            Ok(l) => seen.push(l),
            Err(_) => panic!("no '{text}' from sixfold up; it printed:\n{}", seen.join("\n")),
        }
    }
}

fn conn(port: u16) -> redis::Connection {
    let c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let conn = c.get_connection_with_timeout(Duration::from_secs(5)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    conn
}

/// The metric names in the Grafana dashboard's queries.
fn dashboard_metrics() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/grafana/dashboards/sixfold.json");
    let dash: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut names = Vec::new();
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(at) = rest.find("sixfold_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                    .collect();
                rest = &rest[at + name.len()..];
                names.push(name);
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

#[test]
fn up_serves_stops_on_sigterm_and_brings_the_data_back() {
    let dir = std::env::temp_dir().join(format!("sixfold-up-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let base = 21_000 + (std::process::id() % 500) as u16 * 40;
    let (mut first, writer) = up(&dir, base);
    assert!([base, base + 1].contains(&writer), "the writer is one of the two data nodes: {writer}");
    let replica = if writer == base { base + 1 } else { base };
    let mut w = conn(writer);
    for i in 0..500 {
        let _: () = w.set(format!("key:{i}"), i).unwrap();
    }
    assert_eq!(redis::cmd("WAIT").arg(1).arg(10_000).query::<i64>(&mut w).unwrap(), 1, "the replica applied them");
    let mut r = conn(replica);
    let moved = r.get::<_, i64>("key:499").unwrap_err();
    assert!(moved.to_string().contains(&format!("127.0.0.1:{writer}")), "reads go to the writer: {moved}");
    let _: () = redis::cmd("READONLY").query(&mut r).unwrap();
    assert_eq!(r.get::<_, i64>("key:499").unwrap(), 499, "a READONLY connection reads from the replica");
    // Every process serves its metrics, and together they export every
    // metric the Grafana dashboard uses.
    let mut exported = String::new();
    for port in (base + 20)..(base + 28) {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        std::io::Write::write_all(&mut s, b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        let mut body = String::new();
        std::io::Read::read_to_string(&mut s, &mut body).unwrap();
        assert!(body.starts_with("HTTP/1.") && body.contains(" 200 "), "metrics on {port}: {body:.200}");
        exported.push_str(&body);
    }
    let names = dashboard_metrics();
    assert!(names.len() >= 15, "the dashboard uses {names:?}");
    for name in &names {
        let line_start = |l: &str| l.starts_with(name.as_str()) && l[name.len()..].starts_with(['{', ' ']);
        assert!(exported.lines().any(line_start), "the dashboard's {name} is not exported by any process");
    }
    let status = Command::new(env!("CARGO_BIN_EXE_sixfold")).args(["status", "--dir"]).arg(&dir).output().unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    for word in ["writer", "replica", "data-1", "data-2", "storage-6", "lease: held by", "in epoch"] {
        assert!(text.contains(word), "sixfold status shows {word}: {text}");
    }
    // A planned failover to the other data node: nothing lost.
    let out = Command::new(env!("CARGO_BIN_EXE_sixfold")).args(["failover", "--dir"]).arg(&dir).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "sixfold failover: {said} {}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains(&format!("127.0.0.1:{replica}) is the writer")), "{said}");
    let mut n = conn(replica);
    assert_eq!(n.get::<_, i64>("key:499").unwrap(), 499, "the new writer has every write");
    let _: () = n.set("after", "failover").unwrap();
    // SIGTERM to the whole process group (as `timeout`, systemd or
    // `kill -- -PGID` send it) stops everything; the ports are free again.
    let group = format!("-{}", first.child.id());
    assert!(Command::new("kill").args(["-TERM", "--", &group]).status().unwrap().success());
    wait_line(&first, "stopped", Duration::from_secs(40));
    assert!(first.child.wait().unwrap().success());
    assert!(std::net::TcpStream::connect(("127.0.0.1", writer)).is_err(), "the writer stopped");
    drop(first);
    // Again on the same directory: every key is back.
    let (_second, writer) = up(&dir, base);
    let mut w = conn(writer);
    for i in 0..500 {
        assert_eq!(w.get::<_, Option<i64>>(format!("key:{i}")).unwrap(), Some(i), "key:{i} lost across restarts");
    }
    assert_eq!(
        w.get::<_, Option<String>>("after").unwrap().as_deref(),
        Some("failover"),
        "the write after the failover"
    );
    drop(_second);
    let _ = std::fs::remove_dir_all(&dir);
}
