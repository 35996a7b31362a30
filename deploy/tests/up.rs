//! `sixfold up` as a user runs it: a real process that starts six storage
//! nodes and two equal data nodes, which elect a writer; writes land, the
//! replica serves them (READONLY), `sixfold status` reports the nodes and
//! the lease, `sixfold failover` hands the writer's role over, SIGTERM to its whole process group stops every child and
//! `sixfold up` itself, and a second `sixfold up` on the same directory
//! brings every key back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use redis::Commands;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{conn, persistence, up, up_env, up_with, wait_line, wait_persistence};

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
    let base = 21_000 + (std::process::id() % 100) as u16 * 40;
    let (mut first, writer) = up_with(&dir, base, &["--snapshot-every-records", "300"]);
    assert!([base, base + 1].contains(&writer), "the writer is one of the two data nodes: {writer}");
    let replica = if writer == base { base + 1 } else { base };
    let mut w = conn(writer);
    for i in 0..500 {
        let _: () = w.set(format!("key:{i}"), i).unwrap();
    }
    assert_eq!(redis::cmd("WAIT").arg(1).arg(10_000).query::<i64>(&mut w).unwrap(), 1, "the replica applied them");
    // The snapshotter `sixfold up` started makes and marks a snapshot once
    // the log is 300 records past the newest (none yet).
    let deadline = Instant::now() + Duration::from_secs(30);
    while persistence(writer, "snapshot_last_lsn") == "0" {
        assert!(Instant::now() < deadline, "no snapshot from the snapshotter");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(persistence(writer, "snapshot_last_lsn").parse::<u64>().unwrap() >= 300);
    assert!(dir.join("snapshots").join(persistence(writer, "snapshot_last")).exists(), "in the store");
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
    // With a password on the data nodes, status asks for it, and with it
    // (`--password` or redis-cli's REDISCLI_AUTH) reports as before.
    for port in [writer, replica] {
        let _: () = redis::cmd("CONFIG").arg("SET").arg("requirepass").arg("s3cret").query(&mut conn(port)).unwrap();
    }
    let status = |env: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sixfold"));
        c.args(["status", "--dir"]).arg(&dir).env_remove("REDISCLI_AUTH");
        if let Some(pw) = env {
            c.env("REDISCLI_AUTH", pw);
        }
        String::from_utf8_lossy(&c.output().unwrap().stdout).into_owned()
    };
    let text = status(None);
    assert!(text.contains("give --password or REDISCLI_AUTH"), "{text}");
    assert!(status(Some("wrong")).contains("the password was refused"), "with a wrong password");
    let text = status(Some("s3cret"));
    assert!(text.contains("writer") && text.contains("lease: held by"), "{text}");
    for port in [writer, replica] {
        let mut c = conn(port);
        let _: () = redis::cmd("AUTH").arg("s3cret").query(&mut c).unwrap();
        let _: () = redis::cmd("CONFIG").arg("SET").arg("requirepass").arg("").query(&mut c).unwrap();
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

/// `sixfold snapshot` with its arguments for the cluster in `dir`.
fn snapshot(dir: &Path, base: u16, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sixfold"))
        .arg("snapshot")
        .args(args)
        .arg("--dir")
        .arg(dir)
        .args(["--storage-port", &(base + 10).to_string()])
        .output()
        .unwrap()
}

/// The newest snapshot that verifies, restored, plus the log past it:
/// its digest (as `DEBUG DIGEST` shows it) and the LSN reached.
fn restore_and_replay(dir: &Path, base: u16) -> (String, u64, String) {
    use sixfold_snapshot::{LogSource, Position};
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = sixfold_objstore::open(&dir.join("snapshots").display().to_string()).await.unwrap();
        let (restored, _) = sixfold_snapshot::restore_newest(store.as_ref()).await.unwrap();
        let r = restored.expect("a snapshot verifies");
        let tls = sixfold_net::tls::TlsFiles::in_dir(&dir.join("certs"), "snapshotter");
        let endpoint = sixfold_net::tls::client_endpoint(&tls).unwrap();
        let storage = (0..6).map(|i| format!("127.0.0.1:{}", base + 10 + i).parse().unwrap()).collect();
        let src = LogSource { endpoint, storage, node_id: 3001, timeout: Duration::from_secs(5) };
        let h = r.header;
        let mut engine = r.engine;
        let from = Position { lsn: h.lsn, epoch: h.epoch, checksum: h.log_checksum };
        let at = sixfold_snapshot::catch_up(&mut engine, &src, from, |_| {}).await.unwrap();
        let hex: String = engine.digest().iter().map(|b| format!("{b:02x}")).collect();
        (hex, at.lsn, r.name)
    })
}

#[test]
fn snapshots_restore_to_the_replicas_state_and_survive_corruption_and_kills() {
    use rand::{Rng, SeedableRng};
    let dir = std::env::temp_dir().join(format!("sixfold-snap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let base = 25_000 + (std::process::id() % 100) as u16 * 40;
    // Ports below the ephemeral range (32768 on): a client connection
    // never holds one.
    let (_up, writer) = up(&dir, base);
    let replica = if writer == base { base + 1 } else { base };
    let mut w = conn(writer);
    let write_batch = |w: &mut redis::Connection, round: u32| {
        for i in 0..300 {
            let _: () = w.set(format!("key:{round}:{i}"), i).unwrap();
            let _: () = w.hset(format!("h:{}", i % 7), format!("f{round}"), i).unwrap();
            let _: () = w.zadd("z", format!("m{i}"), f64::from(i) / 3.0 + f64::from(round)).unwrap();
            let _: () = w.rpush(format!("l:{}", i % 5), round).unwrap();
        }
        let _: () = w.expire(format!("key:{round}:0"), 100_000).unwrap();
        assert_eq!(redis::cmd("WAIT").arg(1).arg(10_000).query::<i64>(w).unwrap(), 1);
    };
    write_batch(&mut w, 1);
    assert_eq!(persistence(writer, "snapshot_last"), "none");
    let out = snapshot(&dir, base, &["now"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && said.contains("verified"), "{said} {}", String::from_utf8_lossy(&out.stderr));
    // The writer logged its marker: every data node reports it.
    assert!(said.contains("marked in the log by the writer"), "{said}");
    let lsn = said.split("LSN ").nth(1).and_then(|r| r.split(' ').next()).unwrap();
    for port in [writer, replica] {
        wait_persistence(port, "snapshot_last_lsn", lsn);
        assert_eq!(persistence(port, "snapshot_last_status"), "verified");
        assert_eq!(persistence(port, "snapshot_last_keys"), said.split(", ").nth(1).unwrap().trim_end_matches(" keys"));
    }
    // Only a snapshot within the committed log is marked, only by the writer.
    let bad = sixfold_wire::SnapshotMarker { lsn: 1 << 40, ..Default::default() }.encode();
    let e = redis::cmd("REPLCONF").arg("SNAPSHOT-MARKER").arg(&bad[..]).query::<()>(&mut conn(writer)).unwrap_err();
    assert!(e.to_string().contains("not in the committed log"), "{e}");
    let e = redis::cmd("REPLCONF").arg("SNAPSHOT-MARKER").arg(&b"junk"[..]).query::<()>(&mut conn(writer)).unwrap_err();
    assert!(e.to_string().contains("invalid snapshot marker"), "{e}");
    // A committed marker lets the storage nodes drop the log below it: the
    // writer logs one only for a snapshot in its store, as the marker names it.
    let fake = sixfold_wire::SnapshotMarker { lsn: 2, name: "snapshots/none.snap".into(), ..Default::default() };
    let e = redis::cmd("REPLCONF").arg("SNAPSHOT-MARKER").arg(&fake.encode()[..]).query::<()>(&mut conn(writer));
    assert!(e.unwrap_err().to_string().contains("cannot be read from the store"));
    let forged = sixfold_wire::SnapshotMarker { name: persistence(writer, "snapshot_last"), ..fake };
    let e = redis::cmd("REPLCONF").arg("SNAPSHOT-MARKER").arg(&forged.encode()[..]).query::<()>(&mut conn(writer));
    assert!(e.unwrap_err().to_string().contains("is not the one the marker names"));
    let e = redis::cmd("REPLCONF").arg("SNAPSHOT-MARKER").arg(&bad[..]).query::<()>(&mut conn(replica)).unwrap_err();
    assert!(e.to_string().contains("for the writer"), "{e}");
    write_batch(&mut w, 2);
    assert!(snapshot(&dir, base, &["now"]).status.success());
    write_batch(&mut w, 3);
    // Snapshot + the log past it is the replica's state at the same LSN.
    let digest = |port: u16| redis::cmd("DEBUG").arg("DIGEST").query::<String>(&mut conn(port)).unwrap();
    let (restored, lsn, newest) = restore_and_replay(&dir, base);
    assert_eq!(restored, digest(replica), "restored at LSN {lsn}");
    assert_eq!(restored, digest(writer));
    let listed = String::from_utf8_lossy(&snapshot(&dir, base, &["list"]).stdout).to_string();
    assert_eq!(listed.lines().filter(|l| l.contains(".snap")).count(), 2, "{listed}");
    assert!(snapshot(&dir, base, &["verify"]).status.success());
    // A corrupted snapshot is reported and skipped: the one before is used.
    let file = dir.join("snapshots").join(&newest);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let out = snapshot(&dir, base, &["verify"]);
    assert!(!out.status.success(), "verify fails on the corrupted snapshot");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&newest) && err.contains("corrupted"), "{err}");
    let (again, _, used) = restore_and_replay(&dir, base);
    assert_ne!(used, newest, "the corrupted snapshot is not used");
    assert_eq!(again, digest(writer), "the previous snapshot and more log give the same state");
    std::fs::remove_file(&file).unwrap();
    // A snapshotter killed at any moment leaves only snapshots that verify.
    let mut rng = rand::rngs::SmallRng::seed_from_u64(15);
    for round in 4..8 {
        write_batch(&mut w, round);
        let mut child = Command::new(env!("CARGO_BIN_EXE_sixfold"))
            .args(["snapshot", "now", "--dir"])
            .arg(&dir)
            .args(["--storage-port", &(base + 10).to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(0..400)));
        let _ = child.kill();
        let _ = child.wait();
        let out = snapshot(&dir, base, &["verify"]);
        assert!(out.status.success(), "after a kill: {}", String::from_utf8_lossy(&out.stdout));
    }
    // A killed round may have left a verified snapshot it did not mark;
    // the next round marks its own.
    let _: () = w.set("after-the-kills", 1).unwrap();
    let out = snapshot(&dir, base, &["now"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("marked in the log"), "{out:?}");
    let (last, _, newest) = restore_and_replay(&dir, base);
    let before = digest(writer);
    assert_eq!(last, before);
    let marked = persistence(writer, "snapshot_last_lsn");
    assert_eq!(persistence(writer, "snapshot_last"), newest, "the newest snapshot is the one marked last");
    // Restarted data nodes restore the newest snapshot, then replay only
    // the log past it.
    let group = format!("-{}", _up.child.id());
    assert!(Command::new("kill").args(["-TERM", "--", &group]).status().unwrap().success());
    wait_line(&_up, "stopped", Duration::from_secs(40));
    drop(_up);
    let (_again, writer) = up(&dir, base);
    // Both data nodes restored (whichever of them serves as the writer
    // now), and know the newest marked snapshot from the log.
    for port in [base, base + 1] {
        let lsn: u64 = persistence(port, "snapshot_restored_lsn").parse().unwrap();
        assert!(lsn > 0, "data node on port {port} restored a snapshot");
        wait_persistence(port, "snapshot_last_lsn", &marked);
    }
    assert_eq!(digest(writer), before, "snapshot + log after the restart: every key back");
    drop(_again);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `moto_server` (S3-compatible, from PyPI's `moto[server]`, which
/// `.ci/run` installs) on `port`, killed when dropped.
struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn snapshots_go_to_s3_and_data_nodes_restore_from_it() {
    let dir = std::env::temp_dir().join(format!("sixfold-s3-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let base = 29_000 + (std::process::id() % 90) as u16 * 40;
    let moto_port = base + 35;
    let moto = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server (python3 -m pip install 'moto[server]') runs the S3 test");
    let _moto = Moto(moto);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", moto_port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not listen on {moto_port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let spec = format!("sixfold-up/snaps?endpoint=http://127.0.0.1:{moto_port}&region=us-east-1&path_style=true");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let s3 = rt.block_on(sixfold_objstore::s3::S3Store::open_with(&spec, Some(("test", "test")))).unwrap();
    rt.block_on(s3.create_bucket()).unwrap();
    let url = format!("s3://{spec}");
    let env = [("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")];
    let args = ["--snapshot-store", url.as_str(), "--snapshot-every-records", "300"];
    let (first, writer) = up_env(&dir, base, &args, &env);
    let mut w = conn(writer);
    for i in 0..500 {
        let _: () = w.set(format!("key:{i}"), i).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while persistence(writer, "snapshot_last_lsn") == "0" {
        assert!(Instant::now() < deadline, "no snapshot in S3 from the snapshotter");
        std::thread::sleep(Duration::from_millis(100));
    }
    let name = persistence(writer, "snapshot_last");
    let listed = rt.block_on(sixfold_objstore::ObjectStore::list(&s3, "")).unwrap();
    assert!(listed.iter().any(|o| o.name == name), "{name} is in the bucket: {listed:?}");
    assert!(!dir.join("snapshots").exists(), "nothing went to the local directory");
    let group = format!("-{}", first.child.id());
    assert!(Command::new("kill").args(["-TERM", "--", &group]).status().unwrap().success());
    wait_line(&first, "stopped", Duration::from_secs(40));
    drop(first);
    // Both data nodes restore the snapshot from S3, then replay the log.
    let (_second, writer) = up_env(&dir, base, &args, &env);
    for port in [base, base + 1] {
        assert_ne!(persistence(port, "snapshot_restored"), "none", "data node on {port} restored from S3");
    }
    assert_eq!(conn(writer).get::<_, i64>("key:499").unwrap(), 499);
    drop(_second);
    let _ = std::fs::remove_dir_all(&dir);
}
