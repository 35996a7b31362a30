//! `sixfold-server --config file.toml`: flags as keys (the command line
//! wins), a `[config]` table of CONFIG parameters applied at start (the
//! password stays off the command line and CONFIG GET redacts it), CONFIG
//! REWRITE writes the table back (keeping the rest of the file), a restart
//! from the file has the rewritten settings, and a bad parameter stops the
//! start with CONFIG SET's reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Proc, Raw, free_port, sixfold_on};
use sixfold_resp::Frame;
use std::process::Command;

fn start(file: &std::path::Path, port: u16) -> Proc {
    sixfold_on(port, &["--config".to_string(), file.display().to_string()])
}

fn get(c: &mut Raw, name: &str) -> Frame {
    match c.cmd(&["CONFIG", "GET", name]) {
        Frame::Array(kv) => kv.get(1).cloned().unwrap_or(Frame::Null),
        other => other,
    }
}

#[test]
fn settings_come_from_the_file_and_config_rewrite_writes_them_back() {
    let dir = std::env::temp_dir().join(format!("sixfold-config-file-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sixfold.toml");
    // The file's own listen address is overridden by the command line's.
    let text = "# a data node for the test\nlisten = \"127.0.0.1:1\"\ndurability = \"none\"\nseed = 7\n\n\
                [config]\nrequirepass = \"s3cret\"\nmaxmemory = \"2mb\"\nslowlog-max-len = 7\nhz = 20\n";
    std::fs::write(&file, text).unwrap();
    let port = free_port();
    let server = start(&file, port);
    // A stranger is a stranger from the first connection: a bulk declared
    // over the unauthenticated limit closes it (the password came from the
    // file, not the command line).
    let mut s = Raw::connect(port);
    s.send_raw(b"*1\r\n$100000000\r\n");
    assert!(matches!(s.read(), None | Some(Frame::Error(_))), "a stranger's big bulk is refused");
    let mut c = Raw::connect(port);
    assert!(matches!(c.cmd(&["GET", "k"]), Frame::Error(e) if e.starts_with("NOAUTH")));
    assert_eq!(c.cmd(&["AUTH", "s3cret"]), Frame::Simple("OK".into()));
    assert_eq!(get(&mut c, "maxmemory"), Frame::Bulk("2097152".into()));
    assert_eq!(get(&mut c, "slowlog-max-len"), Frame::Bulk("7".into()));
    assert_eq!(get(&mut c, "hz"), Frame::Bulk("20".into()));
    assert_eq!(get(&mut c, "requirepass"), Frame::Bulk("<redacted>".into()));
    assert_eq!(c.cmd(&["CONFIG", "SET", "slowlog-max-len", "9", "maxmemory", "0"]), Frame::Simple("OK".into()));
    assert_eq!(c.cmd(&["CONFIG", "REWRITE"]), Frame::Simple("OK".into()));
    drop(server);
    let rewritten = std::fs::read_to_string(&file).unwrap();
    assert!(rewritten.starts_with("# a data node for the test\nlisten = \"127.0.0.1:1\""), "{rewritten}");
    let table: toml::Table = toml::from_str(&rewritten).unwrap();
    let config = table["config"].as_table().unwrap();
    assert_eq!(config.get("slowlog-max-len").and_then(|v| v.as_str()), Some("9"), "{rewritten}");
    assert_eq!(config.get("requirepass").and_then(|v| v.as_str()), Some("s3cret"));
    assert!(!config.contains_key("maxmemory"), "back to Redis's default: not written");
    let port = free_port();
    let _again = start(&file, port);
    let mut c = Raw::connect(port);
    assert_eq!(c.cmd(&["AUTH", "s3cret"]), Frame::Simple("OK".into()));
    assert_eq!(get(&mut c, "slowlog-max-len"), Frame::Bulk("9".into()));
    assert_eq!(get(&mut c, "maxmemory"), Frame::Bulk("0".into()));
    // A parameter CONFIG SET refuses stops the start, saying why.
    std::fs::write(&file, "[config]\nmaxmemory-policy = \"allkeys-lru\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sixfold-server"))
        .arg("--config")
        .arg(&file)
        .args(["--listen", &format!("127.0.0.1:{}", free_port()), "--durability", "none"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("maxmemory-policy") && err.contains("noeviction"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
