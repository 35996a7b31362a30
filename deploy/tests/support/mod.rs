//! What the `sixfold up` tests share: starting `sixfold up` as a user
//! runs it (its own process group, its output kept and shown when a test
//! fails), waiting for its lines, and reading a data node's INFO.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

pub struct Up {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    /// Everything it printed, shown when a test fails.
    printed: Arc<Mutex<Vec<String>>>,
}

impl Drop for Up {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let printed = self.printed.lock().map(|p| p.join("\n")).unwrap_or_default();
            eprintln!("sixfold up printed:\n{printed}");
        }
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

/// Starts `sixfold up` in a process group of its own; returns it and the
/// elected writer's port.
pub fn up(dir: &Path, base: u16) -> (Up, u16) {
    up_with(dir, base, &["--snapshot-every-records", "0"])
}

/// [`up`] with more arguments.
pub fn up_with(dir: &Path, base: u16, extra: &[&str]) -> (Up, u16) {
    up_env(dir, base, extra, &[])
}

/// [`up_with`], with more environment variables.
pub fn up_env(dir: &Path, base: u16, extra: &[&str], env: &[(&str, &str)]) -> (Up, u16) {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sixfold"))
        .envs(env.iter().copied())
        .process_group(0)
        .arg("up")
        .arg("--dir")
        .arg(dir)
        .args(["--port", &base.to_string(), "--storage-port", &(base + 10).to_string()])
        .args(["--metrics-port", &(base + 20).to_string(), "--bin-dir"])
        .arg(sixfold_harness::cluster::bin_dir())
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    let printed = Arc::new(Mutex::new(Vec::new()));
    let all = printed.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(mut all) = all.lock() {
                all.push(line.clone());
            }
            let _ = tx.send(line);
        }
    });
    let u = Up { child, lines, printed };
    let line = wait_line(&u, "the cluster is up", Duration::from_secs(120));
    let port = line.split("-p ").nth(1).and_then(|r| r.split(' ').next()).and_then(|p| p.parse().ok());
    (u, port.unwrap_or_else(|| panic!("no writer port in '{line}'")))
}

/// A field of `INFO persistence` on the data node at `port`.
pub fn persistence(port: u16, name: &str) -> String {
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut conn(port)).unwrap();
    let line = info.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')).map(str::to_string);
    line.unwrap_or_else(|| panic!("{name} in {info}")).trim().to_string()
}

/// Waits until `INFO persistence` on `port` shows `value` for `name`.
pub fn wait_persistence(port: u16, name: &str, value: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while persistence(port, name) != value {
        assert!(Instant::now() < deadline, "{name} on {port}: {} (waited for {value})", persistence(port, name));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for a line containing `text`; returns it.
pub fn wait_line(u: &Up, text: &str, within: Duration) -> String {
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

pub fn conn(port: u16) -> redis::Connection {
    let c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let conn = c.get_connection_with_timeout(Duration::from_secs(5)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    conn
}
