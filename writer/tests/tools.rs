//! The Redis tools users already have work against `sixfold-server`:
//! `redis-cli` interactively (under a pseudo-terminal) and in `--pipe`
//! mode, and `redis-benchmark` over the command families.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Raw, bulk, sixfold};
use std::io::Write;
use std::process::{Command, Stdio};

fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> String {
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("tool installed");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn redis_cli_pipe_mode_loads_ten_thousand_commands() {
    let s = sixfold(&[]);
    let mut input = Vec::new();
    for i in 0..10_000 {
        let (k, v) = (format!("key:{i}"), format!("value-{i}"));
        input
            .extend_from_slice(format!("*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n", k.len(), v.len()).as_bytes());
    }
    let out = run_with_stdin(Command::new("redis-cli").args(["-p", &s.port.to_string(), "--pipe"]), &input);
    assert!(out.contains("errors: 0, replies: 10000"), "{out}");
    let mut raw = Raw::connect(s.port);
    assert_eq!(raw.cmd(&["DBSIZE"]), sixfold_resp::Frame::Integer(10_000));
    assert_eq!(raw.cmd(&["GET", "key:9999"]), bulk("value-9999"));
}

#[test]
fn redis_cli_interactive_session() {
    let s = sixfold(&[]);
    let prompt = format!("127.0.0.1:{}>", s.port);
    // rexpect runs redis-cli on a pseudo-terminal, so it shows its prompt
    // (TERM=dumb: line editing without cursor-position queries).
    let mut cmd = Command::new("redis-cli");
    cmd.args(["-p", &s.port.to_string()]).env("TERM", "dumb");
    let mut cli = rexpect::session::spawn_command(cmd, Some(10_000)).expect("redis-cli installed");
    cli.exp_string(&prompt).unwrap();
    cli.send_line("set greeting hello").unwrap();
    cli.exp_string("OK").unwrap();
    cli.send_line("get greeting").unwrap();
    cli.exp_string("\"hello\"").unwrap();
    cli.send_line("rpush l a b").unwrap();
    cli.exp_string("(integer) 2").unwrap();
    cli.send_line("lrange l 0 -1").unwrap();
    cli.exp_string("1) \"a\"").unwrap();
    cli.exp_string("2) \"b\"").unwrap();
    cli.send_line("incr greeting").unwrap();
    cli.exp_string("(error) ERR value is not an integer or out of range").unwrap();
    cli.send_line("hello 3").unwrap();
    cli.exp_string("\"proto\"").unwrap();
    cli.send_line("hgetall nothing").unwrap();
    cli.exp_string("(empty hash)").unwrap();
    cli.send_line("quit").unwrap();
    cli.exp_eof().unwrap();
}

#[test]
fn redis_benchmark_runs_every_test_without_errors() {
    let s = sixfold(&[]);
    let tests = "set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,lrange_100,mset";
    let out = Command::new("redis-benchmark")
        .args(["-p", &s.port.to_string(), "-q", "-n", "5000", "-c", "10", "-t", tests])
        .output()
        .expect("redis-benchmark installed");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n") + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    let done: Vec<&str> = text.lines().filter(|l| l.contains("requests per second")).collect();
    assert_eq!(done.len(), 14, "every test reports a rate (LRANGE adds its LPUSH):\n{text}");
    assert!(!text.to_lowercase().contains("error"), "{text}");
}
