//! `sixfold up` as a user runs it: a real process that starts six storage
//! nodes, a writer and a replica; writes land, the replica serves them,
//! `sixfold status` reports the nodes, SIGTERM stops every child, and a
//! second `sixfold up` on the same directory brings every key back.
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

fn up(dir: &Path, base: u16) -> Up {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sixfold"))
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
    wait_line(&u, "the cluster is up", Duration::from_secs(120));
    u
}

fn wait_line(u: &Up, text: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match u.lines.recv_timeout(left) {
            Ok(l) if l.contains(text) => return seen,
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
    let (writer, replica) = (base, base + 1);
    let mut first = up(&dir, base);
    let mut w = conn(writer);
    for i in 0..500 {
        let _: () = w.set(format!("key:{i}"), i).unwrap();
    }
    assert_eq!(redis::cmd("WAIT").arg(1).arg(10_000).query::<i64>(&mut w).unwrap(), 1, "the replica applied them");
    assert_eq!(conn(replica).get::<_, i64>("key:499").unwrap(), 499);
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
    assert!(text.contains("writer") && text.contains("replica-1") && text.contains("storage-6"), "{text}");
    // SIGTERM stops everything; the ports are free again.
    assert!(Command::new("kill").args(["-TERM", &first.child.id().to_string()]).status().unwrap().success());
    wait_line(&first, "stopped", Duration::from_secs(40));
    assert!(first.child.wait().unwrap().success());
    assert!(std::net::TcpStream::connect(("127.0.0.1", writer)).is_err(), "the writer stopped");
    drop(first);
    // Again on the same directory: every key is back.
    let _second = up(&dir, base);
    let mut w = conn(writer);
    for i in 0..500 {
        assert_eq!(w.get::<_, Option<i64>>(format!("key:{i}")).unwrap(), Some(i), "key:{i} lost across restarts");
    }
    drop(_second);
    let _ = std::fs::remove_dir_all(&dir);
}
