//! TLS for RESP clients: `redis-cli --tls` and redis-py with `ssl=True`
//! set, get, publish and subscribe over `--tls-port`; a client without a
//! certificate the CA signed is refused under `--tls-auth-clients yes` (the
//! default) and served under `optional`; a replaced certificate serves the
//! next connection without a restart; the plain port keeps working.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Proc, free_port, sixfold_on};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A CA with certificates for `server` and `client` in a fresh directory.
fn certs(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sixfold-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let status = Command::new(common::storage_bin())
        .args(["gen-certs", "--names", "server,client", "--dir"])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

fn server(certs: &Path, auth: &str) -> (Proc, u16) {
    let tls_port = free_port();
    let f = |n: &str| certs.join(n).display().to_string();
    let args: Vec<String> = [
        "--durability",
        "none",
        "--tls-port",
        &tls_port.to_string(),
        "--tls-cert-file",
        &f("server.pem"),
        "--tls-key-file",
        &f("server.key"),
        "--tls-ca-cert-file",
        &f("ca.pem"),
        "--tls-auth-clients",
        auth,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    (sixfold_on(free_port(), &args), tls_port)
}

/// `redis-cli --tls` trusting `ca`, with the client certificate of
/// `client_certs` if given.
fn cli(port: u16, ca: &Path, client_certs: Option<&Path>, args: &[&str]) -> Output {
    let mut c = Command::new("redis-cli");
    c.args(["--tls", "-p", &port.to_string(), "--cacert"]).arg(ca);
    if let Some(d) = client_certs {
        c.arg("--cert").arg(d.join("client.pem")).arg("--key").arg(d.join("client.key"));
    }
    c.args(args).output().expect("redis-cli must be installed (apt-get install redis-tools)")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string() + &String::from_utf8_lossy(&o.stderr)
}

const PY_CHECK: &str = r#"
import sys, redis
port, d = int(sys.argv[1]), sys.argv[2]
r = redis.Redis(port=port, ssl=True, ssl_ca_certs=d + '/ca.pem', ssl_certfile=d + '/client.pem',
                ssl_keyfile=d + '/client.key', socket_timeout=10)
r.set('py', 'over tls')
assert r.get('py') == b'over tls', r.get('py')
p = r.pubsub()
p.subscribe('news')
assert p.get_message(timeout=5)['type'] == 'subscribe'
assert r.publish('news', 'hello') == 1
m = p.get_message(timeout=5)
assert m['type'] == 'message' and m['data'] == b'hello', m
print('ok')
"#;

#[test]
fn redis_cli_and_redis_py_work_over_tls_and_strangers_are_refused() {
    let d = certs("clients");
    let (srv, tls) = server(&d, "yes");
    let ca = d.join("ca.pem");
    assert_eq!(text(&cli(tls, &ca, Some(&d), &["SET", "k", "v"])), "OK");
    assert_eq!(text(&cli(tls, &ca, Some(&d), &["GET", "k"])), "v");
    let stranger = cli(tls, &ca, None, &["GET", "k"]);
    assert!(!text(&stranger).starts_with('v'), "a client without a certificate was served: {}", text(&stranger));
    let py = Command::new("python3").args(["-c", PY_CHECK, &tls.to_string()]).arg(&d).output().unwrap();
    assert_eq!(text(&py), "ok", "redis-py over TLS");
    // The plain port serves the same data.
    let plain = Command::new("redis-cli").args(["-p", &srv.port.to_string(), "GET", "py"]).output().unwrap();
    assert_eq!(text(&plain), "over tls");
    let tls_port: Vec<String> = common::query(srv.port, redis::cmd("CONFIG").arg("GET").arg("tls-port"));
    assert_eq!(tls_port, vec!["tls-port".to_string(), tls.to_string()]);
}

#[test]
fn optional_client_certificates_and_a_certificate_replaced_while_serving() {
    let d = certs("reload");
    let (_srv, tls) = server(&d, "optional");
    let ca = d.join("ca.pem");
    assert_eq!(text(&cli(tls, &ca, None, &["PING"])), "PONG", "optional: no certificate is fine");
    // A certificate from another CA replaces the server's on disk.
    let other = certs("reload-other");
    for f in ["server.pem", "server.key"] {
        std::fs::copy(other.join(f), d.join(f)).unwrap();
    }
    let old_trust = cli(tls, &ca, None, &["PING"]);
    assert_ne!(text(&old_trust), "PONG", "the old CA no longer vouches for the server");
    assert_eq!(text(&cli(tls, &other.join("ca.pem"), None, &["PING"])), "PONG", "the new certificate serves");
}
