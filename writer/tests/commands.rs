//! Every command family through a real Redis client (the `redis` crate)
//! against a started `sixfold-server`, plus RESP3, transactions with WATCH
//! races, blocking commands, pub/sub, AUTH and protocol errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Raw, bulk, sixfold};
use redis::{Commands, Connection, RedisResult, Value};
use sixfold_resp::Frame;
use std::time::Duration;

fn conn(port: u16) -> Connection {
    let c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    c.get_connection().unwrap()
}

fn err_text<T: std::fmt::Debug>(r: RedisResult<T>) -> String {
    let e = r.expect_err("expected an error");
    format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or("")).trim().to_string()
}

#[test]
fn strings_and_keys() {
    let s = sixfold(&[]);
    let mut c = conn(s.port);
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    let r: Option<String> = redis::cmd("SET").arg("k").arg("w").arg("NX").query(&mut c).unwrap();
    assert_eq!(r, None);
    let old: String = redis::cmd("SET").arg("k").arg("w").arg("GET").query(&mut c).unwrap();
    assert_eq!(old, "v");
    assert_eq!(c.incr::<_, _, i64>("n", 5).unwrap(), 5);
    assert_eq!(err_text(c.incr::<_, _, i64>("k", 1)), "ERR value is not an integer or out of range");
    let _: () = c.set("big", i64::MAX).unwrap();
    assert_eq!(err_text(c.incr::<_, _, i64>("big", 1)), "ERR increment or decrement would overflow");
    let f: String = redis::cmd("INCRBYFLOAT").arg("f").arg("10.5").query(&mut c).unwrap();
    assert_eq!(f, "10.5");
    assert_eq!(c.append::<_, _, i64>("k", "xyz").unwrap(), 4);
    assert_eq!(c.getrange::<_, String>("k", 1, -1).unwrap(), "xyz");
    assert_eq!(c.setrange::<_, _, i64>("pad", 3, "a").unwrap(), 4);
    let _: () = c.mset(&[("a", "1"), ("b", "2")]).unwrap();
    assert_eq!(
        c.mget::<_, Vec<Option<String>>>(&["a", "b", "zz"]).unwrap(),
        vec![Some("1".into()), Some("2".into()), None]
    );
    assert!(c.expire::<_, bool>("a", 100).unwrap());
    assert_eq!(c.ttl::<_, i64>("a").unwrap(), 100);
    let _: () = redis::cmd("SET").arg("px").arg("v").arg("PX").arg(30).query(&mut c).unwrap();
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(c.get::<_, Option<String>>("px").unwrap(), None, "expired keys are gone");
    assert_eq!(c.exists::<_, i64>(&["a", "b", "nope"]).unwrap(), 2);
    let _: () = c.rename("a", "a2").unwrap();
    assert_eq!(err_text(c.rename::<_, _, ()>("a", "x")), "ERR no such key");
    assert_eq!(redis::cmd("TYPE").arg("a2").query::<String>(&mut c).unwrap(), "string");
    assert_eq!(c.del::<_, i64>(&["a2", "b"]).unwrap(), 2);
    for i in 0..200 {
        let _: () = c.set(format!("scan:{i}"), i).unwrap();
    }
    let mut seen: Vec<String> = c.scan_match::<_, String>("scan:*").unwrap().map(|r| r.unwrap()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 200);
    assert!(
        redis::cmd("SELECT")
            .arg(16)
            .query::<()>(&mut c)
            .map_err(|e| e.to_string())
            .unwrap_err()
            .contains("DB index is out of range")
    );
    let n: i64 = redis::cmd("COPY").arg("n").arg("n").arg("DB").arg(3).query(&mut c).unwrap();
    assert_eq!(n, 1);
    let _: () = redis::cmd("FLUSHALL").query(&mut c).unwrap();
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 0);
}

#[test]
fn hashes_lists_sets_zsets() {
    let s = sixfold(&[]);
    let mut c = conn(s.port);
    assert_eq!(c.hset_multiple::<_, _, _, ()>("h", &[("f1", "1"), ("f2", "x")]).unwrap(), ());
    assert_eq!(c.hincr::<_, _, _, i64>("h", "f1", 2).unwrap(), 3);
    assert_eq!(err_text(c.hincr::<_, _, _, i64>("h", "f2", 1)), "ERR hash value is not an integer");
    let mut all: Vec<(String, String)> = c.hgetall("h").unwrap();
    all.sort();
    assert_eq!(all, vec![("f1".into(), "3".into()), ("f2".into(), "x".into())]);
    assert_eq!(
        err_text(c.lpush::<_, _, i64>("h", "x")),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );

    assert_eq!(c.rpush::<_, _, i64>("l", &["a", "b", "c", "b"]).unwrap(), 4);
    assert_eq!(c.lrange::<_, Vec<String>>("l", 0, -1).unwrap(), vec!["a", "b", "c", "b"]);
    assert_eq!(c.lrem::<_, _, i64>("l", -1, "b").unwrap(), 1);
    let pos: i64 = redis::cmd("LPOS").arg("l").arg("c").query(&mut c).unwrap();
    assert_eq!(pos, 2);
    let moved: String = redis::cmd("LMOVE").arg("l").arg("l2").arg("LEFT").arg("RIGHT").query(&mut c).unwrap();
    assert_eq!(moved, "a");
    let popped: Vec<String> = redis::cmd("RPOP").arg("l").arg(5).query(&mut c).unwrap();
    assert_eq!(popped, vec!["c", "b"]);
    assert!(!c.exists::<_, bool>("l").unwrap(), "empty lists are removed");

    assert_eq!(c.sadd::<_, _, i64>("s1", &["a", "b", "c"]).unwrap(), 3);
    assert_eq!(c.sadd::<_, _, i64>("s2", &["b", "c", "d"]).unwrap(), 3);
    let mut inter: Vec<String> = c.sinter(&["s1", "s2"]).unwrap();
    inter.sort();
    assert_eq!(inter, vec!["b", "c"]);
    assert_eq!(c.sunionstore::<_, _, i64>("s3", &["s1", "s2"]).unwrap(), 4);
    let popped: Vec<String> = redis::cmd("SPOP").arg("s3").arg(4).query(&mut c).unwrap();
    assert_eq!(popped.len(), 4);
    assert!(!c.exists::<_, bool>("s3").unwrap());

    let _: i64 = c.zadd_multiple("z", &[(1.0, "a"), (2.0, "b"), (3.0, "c")]).unwrap();
    assert_eq!(
        c.zrangebyscore_withscores::<_, _, _, Vec<(String, f64)>>("z", "(1", "+inf").unwrap(),
        vec![("b".into(), 2.0), ("c".into(), 3.0)]
    );
    let r: Vec<String> =
        redis::cmd("ZRANGE").arg("z").arg("+").arg("[b").arg("BYLEX").arg("REV").query(&mut c).unwrap();
    assert_eq!(r, vec!["c", "b"]);
    assert_eq!(c.zincr::<_, _, _, f64>("z", "a", 10.5).unwrap(), 11.5);
    assert_eq!(c.zrank::<_, _, i64>("z", "a").unwrap(), 2);
    let n: i64 = redis::cmd("ZUNIONSTORE")
        .arg("zu")
        .arg(2)
        .arg("z")
        .arg("s1")
        .arg("WEIGHTS")
        .arg(2)
        .arg(1)
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(c.zscore::<_, _, f64>("zu", "a").unwrap(), 24.0);
    let popped: Vec<(String, f64)> = c.zpopmin("z", 1).unwrap();
    assert_eq!(popped, vec![("b".into(), 2.0)]);
    assert_eq!(
        err_text(redis::cmd("ZADD").arg("z").arg("nan").arg("x").query::<i64>(&mut c)),
        "ERR value is not a valid float"
    );
}

#[test]
fn blocking_pop_is_served_by_another_client() {
    let s = sixfold(&[]);
    let port = s.port;
    let waiter = std::thread::spawn(move || {
        let mut c = conn(port);
        let got: Option<(String, String)> = c.blpop("q", 5.0).unwrap();
        got
    });
    std::thread::sleep(Duration::from_millis(200));
    let mut c = conn(port);
    let _: i64 = c.rpush("q", "job").unwrap();
    assert_eq!(waiter.join().unwrap(), Some(("q".into(), "job".into())));
    // A timeout answers nil, and other clients are served meanwhile.
    let t = std::thread::spawn(move || conn(port).blpop::<_, Option<(String, String)>>("empty", 0.3).unwrap());
    assert_eq!(c.get::<_, Option<String>>("x").unwrap(), None);
    assert_eq!(t.join().unwrap(), None);
    let r: Option<(String, String, f64)> = redis::cmd("BZPOPMIN").arg("nz").arg("0.1").query(&mut c).unwrap();
    assert_eq!(r, None);
}

#[test]
fn multi_exec_and_watch_race_between_two_connections() {
    let s = sixfold(&[]);
    let mut a = conn(s.port);
    let mut b = conn(s.port);
    let (x, y): (i64, i64) = redis::pipe().atomic().incr("c", 1).incr("c", 1).query(&mut a).unwrap();
    assert_eq!((x, y), (1, 2));
    // WATCH, then another client changes the key: EXEC fails.
    let _: () = redis::cmd("WATCH").arg("c").query(&mut a).unwrap();
    let _: i64 = b.incr("c", 10).unwrap();
    let _: () = redis::cmd("MULTI").query(&mut a).unwrap();
    let _: () = redis::cmd("INCR").arg("c").query(&mut a).unwrap();
    let r: Value = redis::cmd("EXEC").query(&mut a).unwrap();
    assert_eq!(r, Value::Nil);
    assert_eq!(a.get::<_, i64>("c").unwrap(), 12);
    // An unchanged watched key lets EXEC through.
    let _: () = redis::cmd("WATCH").arg("c").query(&mut a).unwrap();
    let r: (i64,) = redis::pipe().atomic().incr("c", 1).query(&mut a).unwrap();
    assert_eq!(r, (13,));
    // A queued command with bad arity aborts the whole transaction.
    let mut raw = Raw::connect(s.port);
    assert_eq!(raw.cmd(&["MULTI"]), Frame::ok());
    assert!(raw.cmd(&["GET"]).is_error());
    assert_eq!(raw.cmd(&["SET", "t", "1"]), Frame::Simple("QUEUED".into()));
    assert_eq!(raw.cmd(&["EXEC"]), Frame::error("EXECABORT Transaction discarded because of previous errors."));
    assert_eq!(raw.cmd(&["GET", "t"]), Frame::Null);
    // A runtime error inside EXEC does not stop the other commands.
    raw.cmd(&["SET", "str", "x"]);
    raw.cmd(&["MULTI"]);
    raw.cmd(&["LPUSH", "str", "y"]);
    raw.cmd(&["SET", "after", "1"]);
    let Frame::Array(r) = raw.cmd(&["EXEC"]) else { panic!("EXEC reply") };
    assert!(r[0].is_error());
    assert_eq!(r[1], Frame::ok());
}

#[test]
fn resp3_via_hello_and_pubsub() {
    let s = sixfold(&[]);
    let mut r3 = Raw::connect(s.port);
    let Frame::Map(hello) = r3.cmd(&["HELLO", "3"]) else { panic!("HELLO 3 answers a map") };
    assert!(hello.contains(&(bulk("proto"), Frame::Integer(3))));
    r3.cmd(&["HSET", "h", "f", "v"]);
    assert_eq!(r3.cmd(&["HGETALL", "h"]), Frame::Map(vec![(bulk("f"), bulk("v"))]));
    r3.cmd(&["ZADD", "z", "1.5", "m"]);
    assert_eq!(r3.cmd(&["ZSCORE", "z", "m"]), Frame::Double(1.5));
    assert_eq!(r3.cmd(&["GET", "missing"]), Frame::Null);

    let mut sub = Raw::connect(s.port);
    assert_eq!(sub.cmd(&["SUBSCRIBE", "news"]), Frame::Array(vec![bulk("subscribe"), bulk("news"), Frame::Integer(1)]));
    assert!(sub.cmd(&["GET", "x"]).is_error(), "RESP2 subscribers may only (un)subscribe and ping");
    let mut c = conn(s.port);
    assert_eq!(c.publish::<_, _, i64>("news", "hello").unwrap(), 1);
    assert_eq!(sub.read().unwrap(), Frame::Array(vec![bulk("message"), bulk("news"), bulk("hello")]));
    // RESP3 clients get pushes and may keep issuing commands.
    r3.cmd(&["PSUBSCRIBE", "n*"]);
    assert_eq!(c.publish::<_, _, i64>("news", "again").unwrap(), 2);
    assert_eq!(r3.read().unwrap(), Frame::Push(vec![bulk("pmessage"), bulk("n*"), bulk("news"), bulk("again")]));
    assert_eq!(r3.cmd(&["PING"]), Frame::Simple("PONG".into()));
}

#[test]
fn auth_client_and_config() {
    let s = sixfold(&["--requirepass", "secret"]);
    let mut raw = Raw::connect(s.port);
    assert_eq!(raw.cmd(&["GET", "k"]), Frame::error("NOAUTH Authentication required."));
    assert_eq!(
        raw.cmd(&["AUTH", "wrong"]),
        Frame::error("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(raw.cmd(&["AUTH", "secret"]), Frame::ok());
    assert_eq!(raw.cmd(&["CLIENT", "SETNAME", "worker-1"]), Frame::ok());
    assert_eq!(raw.cmd(&["CLIENT", "GETNAME"]), bulk("worker-1"));
    let Frame::Bulk(list) = raw.cmd(&["CLIENT", "LIST"]) else { panic!("CLIENT LIST") };
    assert!(String::from_utf8_lossy(&list).contains("name=worker-1"));
    // maxmemory with noeviction: writes that grow memory are refused.
    assert_eq!(raw.cmd(&["CONFIG", "SET", "maxmemory", "1"]), Frame::ok());
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(raw.cmd(&["SET", "k", "v"]), Frame::error("OOM command not allowed when used memory > 'maxmemory'."));
    assert_eq!(raw.cmd(&["GET", "k"]), Frame::Null, "reads still work");
    assert_eq!(raw.cmd(&["CONFIG", "SET", "maxmemory", "0"]), Frame::ok());
    assert_eq!(raw.cmd(&["SET", "k", "v"]), Frame::ok());
    assert!(raw.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]).is_error());
    // CLIENT KILL closes another connection.
    let mut victim = Raw::connect(s.port);
    victim.cmd(&["AUTH", "secret"]);
    let Frame::Integer(vid) = victim.cmd(&["CLIENT", "ID"]) else { panic!("CLIENT ID") };
    assert_eq!(raw.cmd(&["CLIENT", "KILL", "ID", &vid.to_string()]), Frame::Integer(1));
    assert_eq!(victim.read(), None);
}

#[test]
fn protocol_errors_close_the_connection_and_the_server_survives() {
    let s = sixfold(&["--proto-max-bulk-len", "1048576"]);
    let cases: &[(&[u8], &str)] = &[
        (b"*1\r\n+x\r\n", "ERR Protocol error: expected '$', got '+'"),
        (b"*1\r\n$-3\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*1\r\n$2000000\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*abc\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"SET k \"unterminated\r\n", "ERR Protocol error: unbalanced quotes in request"),
    ];
    for (input, want) in cases {
        let mut raw = Raw::connect(s.port);
        raw.send_raw(b"PING\r\n");
        raw.send_raw(input);
        assert_eq!(raw.read(), Some(Frame::Simple("PONG".into())));
        assert_eq!(raw.read(), Some(Frame::error(*want)));
        assert_eq!(raw.read(), None, "connection closed after {want}");
    }
    let mut raw = Raw::connect(s.port);
    raw.send_raw(&vec![b'x'; 70 * 1024]);
    assert_eq!(raw.read(), Some(Frame::error("ERR Protocol error: too big inline request")));
    let mut ok = Raw::connect(s.port);
    assert_eq!(ok.cmd(&["PING"]), Frame::Simple("PONG".into()));
    assert_eq!(ok.cmd(&["NOSUCH", "a"]), Frame::error("ERR unknown command 'NOSUCH', with args beginning with: 'a' "));
    assert_eq!(ok.cmd(&["GET"]), Frame::error("ERR wrong number of arguments for 'get' command"));
}

#[test]
fn pipelined_client_gets_replies_in_order() {
    let s = sixfold(&[]);
    let mut raw = Raw::connect(s.port);
    let mut batch = Vec::new();
    for i in 0..1000 {
        batch.extend_from_slice("*2\r\n$4\r\nINCR\r\n$3\r\nctr\r\n".to_string().as_bytes());
        let _ = i;
    }
    raw.send_raw(&batch);
    for i in 1..=1000 {
        assert_eq!(raw.read(), Some(Frame::Integer(i)));
    }
}

#[test]
fn resp3_through_the_redis_crate() {
    let s = sixfold(&[]);
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/?protocol=resp3", s.port)).unwrap();
    let mut c = client.get_connection().unwrap();
    let _: () = c.hset("h", "f", "v").unwrap();
    let v: Value = redis::cmd("HGETALL").arg("h").query(&mut c).unwrap();
    assert!(matches!(v, Value::Map(ref m) if m.len() == 1), "HGETALL is a RESP3 map: {v:?}");
    let _: i64 = c.sadd("s", "m").unwrap();
    let v: Value = redis::cmd("SMEMBERS").arg("s").query(&mut c).unwrap();
    assert!(matches!(v, Value::Set(_)), "SMEMBERS is a RESP3 set: {v:?}");
    let _: i64 = c.zadd("z", "m", 2.5).unwrap();
    let v: Value = redis::cmd("ZSCORE").arg("z").arg("m").query(&mut c).unwrap();
    assert_eq!(v, Value::Double(2.5));
    let v: Value = redis::cmd("GET").arg("missing").query(&mut c).unwrap();
    assert_eq!(v, Value::Nil);
}

#[test]
fn active_expiry_removes_keys_nobody_reads() {
    let s = sixfold(&[]);
    let mut raw = Raw::connect(s.port);
    for i in 0..100 {
        raw.cmd(&["SET", &format!("t{i}"), "v", "PX", "50"]);
    }
    raw.cmd(&["SET", "keep", "v"]);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(raw.cmd(&["DBSIZE"]), Frame::Integer(1), "the expiry cycle deleted the expired keys");
    let Frame::Bulk(info) = raw.cmd(&["INFO", "stats"]) else { panic!("INFO") };
    assert!(String::from_utf8_lossy(&info).contains("expired_keys:100"));
}

#[test]
fn client_kill_filters() {
    let s = sixfold(&[]);
    let mut admin = Raw::connect(s.port);
    let mut sub = Raw::connect(s.port);
    sub.cmd(&["SUBSCRIBE", "ch"]);
    let mut plain = Raw::connect(s.port);
    plain.cmd(&["PING"]);
    assert_eq!(admin.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"]), Frame::Integer(1));
    assert_eq!(sub.read(), None);
    assert_eq!(admin.cmd(&["CLIENT", "KILL", "TYPE", "master"]), Frame::Integer(0));
    assert!(admin.cmd(&["CLIENT", "KILL", "TYPE", "bogus"]).is_error());
    assert_eq!(admin.cmd(&["CLIENT", "KILL", "USER", "default", "SKIPME", "yes"]), Frame::Integer(1));
    assert_eq!(plain.read(), None);
    assert_eq!(admin.cmd(&["PING"]), Frame::Simple("PONG".into()));
}

#[test]
fn maxclients_refuses_extra_connections_and_shutdown_stops_the_server() {
    let mut s = sixfold(&["--maxclients", "2"]);
    let mut a = Raw::connect(s.port);
    let mut b = Raw::connect(s.port);
    // Both replies prove both connections are registered before the third.
    assert_eq!(a.cmd(&["PING"]), Frame::Simple("PONG".into()));
    assert_eq!(b.cmd(&["PING"]), Frame::Simple("PONG".into()));
    let mut c = Raw::connect(s.port);
    assert_eq!(c.read(), Some(Frame::error("ERR max number of clients reached")));
    assert_eq!(c.read(), None);
    a.send(&[b"SHUTDOWN"]);
    assert_eq!(a.read(), None, "SHUTDOWN closes connections without a reply");
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn wait_and_waitaof_without_a_durable_log() {
    let s = sixfold(&[]);
    let mut c = conn(s.port);
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(redis::cmd("WAIT").arg(0).arg(0).query::<i64>(&mut c).unwrap(), 0);
    let none: (i64, i64) = redis::cmd("WAITAOF").arg(0).arg(0).arg(0).query(&mut c).unwrap();
    assert_eq!(none, (0, 0));
    let e = err_text(redis::cmd("WAITAOF").arg(1).arg(0).arg(0).query::<Value>(&mut c));
    assert!(e.contains("numlocal is set but the durable log is disabled"), "{e}");
}

#[test]
fn durable_is_the_default_and_says_what_it_needs() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sixfold-server"))
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "no storage nodes given: the server must not start");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("durable mode needs --certs DIR and six --storage addresses"), "{err}");
    assert!(err.contains("--durability none"), "{err}");
}

/// SLOWLOG against Debian's `redis-server`: the same commands logged with
/// `slowlog-log-slower-than 0`, newest first, with Redis's cuts (32
/// arguments, 128 bytes each) and redactions, client names, the length
/// bound, RESET, and every error and HELP reply. Times, durations and
/// client ports differ by nature and are checked for shape only.
#[test]
fn slowlog_keeps_what_redis_keeps() {
    let ours = common::sixfold(&[]);
    let theirs = common::redis();
    let (mut a, mut b) = (Raw::connect(ours.port), Raw::connect(theirs.port));
    let many: Vec<String> = (0..40).map(|i| format!("e{i}")).collect();
    let long = "v".repeat(200);
    let mut rpush = vec!["RPUSH", "list"];
    rpush.extend(many.iter().map(String::as_str));
    let logged: Vec<Vec<&str>> = vec![
        vec!["SET", "k", &long],
        vec!["GET", "k"],
        rpush,
        vec!["CLIENT", "SETNAME", "slowpoke"],
        vec!["AUTH", "secret"],
        vec!["HELLO", "2", "AUTH", "default", "secret"],
        vec!["MULTI"],
        vec!["INCR", "n"],
        vec!["EXEC"],
        vec!["EVAL", "return redis.call('get', 'k') and 1", "0"],
    ];
    let errors: Vec<Vec<&str>> = vec![
        vec!["SLOWLOG", "GET", "-2"],
        vec!["SLOWLOG", "GET", "x"],
        vec!["SLOWLOG", "GET", "1", "2"],
        vec!["SLOWLOG", "LEN", "x"],
        vec!["SLOWLOG", "NOPE"],
        vec!["SLOWLOG", "HELP"],
        vec!["SLOWLOG"],
        vec!["CONFIG", "SET", "slowlog-max-len", "-1"],
        vec!["CONFIG", "SET", "slowlog-log-slower-than", "-2"],
    ];
    common::assert_no_differences(&common::differences(&mut a, &mut b, &errors), errors.len());
    let mut entries = Vec::new();
    for c in [&mut a, &mut b] {
        assert_eq!(c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]), Frame::ok());
        assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), Frame::ok());
        for args in &logged {
            c.cmd(args);
        }
        entries.push(slowlog_entries(c));
        // The bound applies at the next entry.
        assert_eq!(c.cmd(&["CONFIG", "SET", "slowlog-max-len", "3"]), Frame::ok());
        c.cmd(&["PING"]);
        assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), Frame::Integer(3));
        assert_eq!(c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]), Frame::ok());
        assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), Frame::ok());
        c.cmd(&["PING"]);
        assert_eq!(c.cmd(&["SLOWLOG", "GET"]), Frame::Array(vec![]), "off");
    }
    assert_eq!(entries[0], entries[1], "sixfold's entries, then redis's");
}

/// A `SLOWLOG GET -1` reply as (arguments, peer, client name) per entry,
/// after checking the fields that differ between servers for shape: ids
/// count down, the time is now, the duration a number; the peer is
/// `127.0.0.1:<port>` (shown as "client": ports differ) or the script
/// client's `?:0`.
fn slowlog_entries(c: &mut Raw) -> Vec<(Vec<Frame>, Frame, Frame)> {
    let Frame::Array(entries) = c.cmd(&["SLOWLOG", "GET", "-1"]) else { panic!("SLOWLOG GET") };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let mut last_id = i64::MAX;
    entries
        .into_iter()
        .map(|e| {
            let Frame::Array(f) = e else { panic!("entry {e:?}") };
            let [Frame::Integer(id), Frame::Integer(t), Frame::Integer(d), Frame::Array(args), Frame::Bulk(peer), name] =
                &f[..]
            else {
                panic!("entry {f:?}")
            };
            assert!(*id < last_id && (now - 10..=now + 1).contains(t) && *d >= 0, "{f:?}");
            let peer = match peer.starts_with(b"127.0.0.1:") {
                true => Frame::bulk("client"),
                false => Frame::Bulk(peer.clone()),
            };
            last_id = *id;
            (args.clone(), peer, name.clone())
        })
        .collect()
}

/// INFO commandstats and errorstats against Debian's `redis-server`: the
/// same commands (that run, fail, are refused before running, run inside
/// EXEC and inside a script, name a container's subcommand or none that
/// exists) give the same calls, rejected and failed counts per command,
/// and the same error counts per code; times differ by nature.
#[test]
fn command_and_error_stats_count_as_redis_counts() {
    let ours = common::sixfold(&[]);
    let theirs = common::redis();
    let sequence: Vec<Vec<&str>> = vec![
        vec!["CONFIG", "RESETSTAT"],
        vec!["SET", "a", "1"],
        vec!["GET", "a"],
        vec!["INCR", "a"],
        vec!["LPUSH", "a", "x"],
        vec!["NOSUCH"],
        vec!["GET"],
        vec!["CONFIG", "GET", "maxmemory"],
        vec!["CONFIG", "NOSUCH"],
        vec!["CLIENT", "SETNAME", "x"],
        vec!["OBJECT", "ENCODING", "a"],
        vec!["EVAL", "return redis.call('get','a')", "0"],
        vec!["EVAL", "return redis.call('lpush','a','x')", "0"],
        vec!["MULTI"],
        vec!["SET", "b", "1"],
        vec!["INCR", "a", "extra"],
        vec!["EXEC"],
        vec!["MULTI"],
        vec!["SET", "b", "1"],
        vec!["LPUSH", "a", "y"],
        vec!["EXEC"],
    ];
    let mut seen = Vec::new();
    for port in [ours.port, theirs.port] {
        let mut c = Raw::connect(port);
        for args in &sequence {
            c.cmd(args);
        }
        let text = |f: Frame| match f {
            Frame::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("INFO answered {other:?}"),
        };
        let stats = text(c.cmd(&["INFO", "commandstats"]));
        let errors = text(c.cmd(&["INFO", "errorstats"]));
        let total = text(c.cmd(&["INFO", "stats"]));
        let mut lines: Vec<String> = stats
            .lines()
            .filter_map(|l| l.strip_prefix("cmdstat_"))
            // calls=..,usec=..,usec_per_call=..,rejected_calls=..,failed_calls=..
            .map(|l| {
                let (name, fields) = l.split_once(':').unwrap();
                let keep: Vec<&str> = fields.split(',').filter(|f| !f.starts_with("usec")).collect();
                format!("{name}:{}", keep.join(","))
            })
            .collect();
        lines.sort();
        lines.extend(errors.lines().filter(|l| l.starts_with("errorstat_")).map(str::to_string));
        lines.extend(total.lines().filter(|l| l.starts_with("total_error_replies:")).map(str::to_string));
        seen.push(lines);
    }
    assert_eq!(seen[0], seen[1], "sixfold's counts, then redis's");
}

/// LATENCY against Debian's `redis-server`: HELP and every error as
/// Redis's, the monitor's subcommands as Redis answers with the monitor
/// off, and LATENCY HISTOGRAM / INFO latencystats naming the same commands
/// with the same call counts (bucket bounds and times differ by nature:
/// Redis keeps two significant digits, Sixfold powers of two).
#[test]
fn latency_answers_like_redis() {
    let ours = common::sixfold(&[]);
    let theirs = common::redis();
    let (mut a, mut b) = (Raw::connect(ours.port), Raw::connect(theirs.port));
    let cases: Vec<Vec<&str>> = vec![
        vec!["LATENCY", "HELP"],
        vec!["LATENCY", "LATEST"],
        vec!["LATENCY", "HISTORY", "command"],
        vec!["LATENCY", "RESET"],
        vec!["LATENCY", "RESET", "command", "fast-command"],
        vec!["LATENCY", "GRAPH", "command"],
        vec!["LATENCY", "DOCTOR"],
        vec!["LATENCY", "HISTORY"],
        vec!["LATENCY", "LATEST", "x"],
        vec!["LATENCY", "NOPE"],
        vec!["LATENCY"],
    ];
    common::assert_no_differences(&common::differences(&mut a, &mut b, &cases), cases.len());
    let mut seen = Vec::new();
    for c in [&mut a, &mut b] {
        assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), Frame::ok());
        for args in [&["SET", "a", "1"][..], &["SET", "b", "2"], &["GET", "a"], &["CONFIG", "GET", "port"]] {
            c.cmd(args);
        }
        let Frame::Array(h) = c.cmd(&["LATENCY", "HISTOGRAM", "set", "get", "config", "nosuch"]) else {
            panic!("LATENCY HISTOGRAM")
        };
        let mut per_command: Vec<(String, Frame)> = h
            .chunks(2)
            .map(|kv| {
                let Frame::Array(body) = &kv[1] else { panic!("{kv:?}") };
                assert_eq!(body[0], bulk("calls"));
                assert_eq!(body[2], bulk("histogram_usec"));
                let Frame::Array(buckets) = &body[3] else { panic!("{body:?}") };
                let total = buckets.chunks(2).map(|b| b[1].clone()).next_back();
                assert_eq!(total.as_ref(), Some(&body[1]), "the last bucket counts every call: {body:?}");
                (format!("{:?}", kv[0]), body[1].clone())
            })
            .collect();
        per_command.sort_by(|x, y| x.0.cmp(&y.0));
        let Frame::Bulk(info) = c.cmd(&["INFO", "latencystats"]) else { panic!("INFO") };
        let mut named: Vec<String> = String::from_utf8_lossy(&info)
            .lines()
            .filter_map(|l| l.split_once(':').map(|(k, v)| format!("{k}:{}", v.split(',').count())))
            .filter(|l| l.starts_with("latency_percentiles_usec_"))
            .collect();
        named.sort();
        seen.push((per_command, named));
    }
    assert_eq!(seen[0], seen[1], "sixfold's, then redis's");
}

/// The latency monitor against Debian's `redis-server`: with
/// `latency-monitor-threshold` set, a slow script is a sample of the
/// `command` event on both (latest, history, all-time high), fast commands
/// are none, GRAPH and DOCTOR describe it, and RESET forgets it.
#[test]
fn the_latency_monitor_samples_slow_commands_like_redis() {
    let ours = common::sixfold(&[]);
    let theirs = common::redis();
    let slow = "local i = 0 while i < 4000000 do i = i + 1 end return i";
    for port in [ours.port, theirs.port] {
        let mut c = Raw::connect(port);
        assert_eq!(c.cmd(&["CONFIG", "SET", "latency-monitor-threshold", "5"]), Frame::ok());
        c.cmd(&["SET", "k", "v"]);
        c.cmd(&["EVAL", slow, "0"]);
        let Frame::Array(latest) = c.cmd(&["LATENCY", "LATEST"]) else { panic!("LATEST") };
        assert_eq!(latest.len(), 1, "{port}: only the script: {latest:?}");
        let Frame::Array(e) = &latest[0] else { panic!("{latest:?}") };
        assert_eq!(e[0], bulk("command"), "{port}");
        let (Frame::Integer(ms), Frame::Integer(max)) = (&e[2], &e[3]) else { panic!("{e:?}") };
        assert!(*ms >= 5 && max >= ms, "{port}: {e:?}");
        let Frame::Array(history) = c.cmd(&["LATENCY", "HISTORY", "command"]) else { panic!("HISTORY") };
        assert_eq!(history.len(), 1, "{port}: {history:?}");
        let graph = c.cmd(&["LATENCY", "GRAPH", "command"]);
        assert!(format!("{graph:?}").contains("command - high"), "{port}: {graph:?}");
        let doctor = c.cmd(&["LATENCY", "DOCTOR"]);
        assert!(format!("{doctor:?}").contains("latency spikes"), "{port}: {doctor:?}");
        assert_eq!(c.cmd(&["LATENCY", "RESET", "command", "nosuch"]), Frame::Integer(1), "{port}");
        assert_eq!(c.cmd(&["LATENCY", "LATEST"]), Frame::Array(vec![]), "{port}");
    }
}
