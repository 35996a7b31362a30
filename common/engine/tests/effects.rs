//! Passive replication property: applying the effects an engine emitted to
//! an empty engine yields the same state digest, for random command
//! sequences over every data type, with expiry, randomness (SPOP,
//! SRANDMEMBER), INCRBYFLOAT, MULTI/EXEC, blocking pops that unblock, Lua
//! scripts that call non-deterministic commands, geo searches that store
//! their results, and HyperLogLogs turned
//! dense under a writer's `hll-sparse-max-bytes` the replica does not share.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use proptest::prelude::*;
use sixfold_engine::{ClientInfo, Config, Effect, Engine};

#[derive(Debug, Clone)]
enum Op {
    /// Client (0..3) sends a command.
    Cmd(usize, Vec<String>),
    /// The clock moves on and the engine ticks (active expiry, timeouts).
    Advance(i64),
}

const KEYS: &[&str] = &["k0", "k1", "k2", "k3"];

fn key() -> impl Strategy<Value = String> {
    proptest::sample::select(KEYS).prop_map(str::to_string)
}

fn val() -> impl Strategy<Value = String> {
    prop_oneof![(0i64..20).prop_map(|n| n.to_string()), "[a-c]{1,3}", (-5.0f64..5.0).prop_map(|f| format!("{f:.2}")),]
}

fn small() -> impl Strategy<Value = String> {
    (-3i64..6).prop_map(|n| n.to_string())
}

fn command() -> impl Strategy<Value = Vec<String>> {
    let v = |parts: Vec<&str>| parts.into_iter().map(str::to_string).collect::<Vec<_>>();
    prop_oneof![
        (key(), val()).prop_map(move |(k, x)| v(vec!["SET", &k, &x])),
        (key(), val(), 1i64..80).prop_map(move |(k, x, t)| v(vec!["SET", &k, &x, "PX", &t.to_string()])),
        (key(), val()).prop_map(move |(k, x)| v(vec!["SET", &k, &x, "KEEPTTL", "GET"])),
        (key(), val()).prop_map(move |(k, x)| v(vec!["APPEND", &k, &x])),
        key().prop_map(move |k| v(vec!["INCR", &k])),
        (key(), val()).prop_map(move |(k, x)| v(vec!["INCRBYFLOAT", &k, &x])),
        (key(), small(), val()).prop_map(move |(k, o, x)| v(vec!["SETRANGE", &k, &o, &x])),
        (key(), 0u32..40, 0u8..2).prop_map(move |(k, o, b)| v(vec!["SETBIT", &k, &o.to_string(), &b.to_string()])),
        (key(), key()).prop_map(move |(a, b)| v(vec!["BITOP", "XOR", &a, &a, &b])),
        (key(), 0u8..3).prop_map(move |(k, db)| v(vec!["MOVE", &k, &db.to_string()])),
        (0u8..3, 0u8..3).prop_map(move |(x, y)| v(vec!["SWAPDB", &x.to_string(), &y.to_string()])),
        (key(), key()).prop_map(move |(k, d)| v(vec!["SORT", &k, "ALPHA", "STORE", &d])),
        (key(), small(), small()).prop_map(move |(k, o, n)| {
            v(vec!["BITFIELD", &k, "OVERFLOW", "FAIL", "INCRBY", "i5", &o.replace('-', ""), &n, "SET", "u3", "#1", &n])
        }),
        (key(), 1i64..80).prop_map(move |(k, t)| v(vec!["PEXPIRE", &k, &t.to_string()])),
        (key(), 1i64..3).prop_map(move |(k, t)| v(vec!["EXPIRE", &k, &t.to_string(), "GT"])),
        (key(), 1i64..80).prop_map(move |(k, t)| v(vec!["GETEX", &k, "PX", &t.to_string()])),
        key().prop_map(move |k| v(vec!["PERSIST", &k])),
        key().prop_map(move |k| v(vec!["GET", &k])),
        key().prop_map(move |k| v(vec!["DEL", &k])),
        key().prop_map(move |k| v(vec!["GETDEL", &k])),
        (key(), key()).prop_map(move |(a, b)| v(vec!["RENAME", &a, &b])),
        (key(), key()).prop_map(move |(a, b)| v(vec!["COPY", &a, &b, "DB", "1", "REPLACE"])),
        (key(), val(), val()).prop_map(move |(k, a, b)| v(vec!["RPUSH", &k, &a, &b])),
        (key(), val()).prop_map(move |(k, a)| v(vec!["LPUSH", &k, &a])),
        (key(), small()).prop_map(move |(k, n)| v(vec!["LPOP", &k, &n.replace('-', "")])),
        (key(), key()).prop_map(move |(a, b)| v(vec!["LMOVE", &a, &b, "LEFT", "RIGHT"])),
        (key(), small(), small()).prop_map(move |(k, a, b)| v(vec!["LTRIM", &k, &a, &b])),
        (key(), val()).prop_map(move |(k, x)| v(vec!["LREM", &k, "0", &x])),
        (key(), key()).prop_map(move |(a, b)| v(vec!["LMPOP", "2", &a, &b, "RIGHT", "COUNT", "2"])),
        (key(), val(), val()).prop_map(move |(k, f, x)| v(vec!["HSET", &k, &f, &x])),
        (key(), val(), val()).prop_map(move |(k, f, x)| v(vec!["HINCRBYFLOAT", &k, &f, &x])),
        (key(), val()).prop_map(move |(k, f)| v(vec!["HDEL", &k, &f])),
        (key(), val(), val()).prop_map(move |(k, a, b)| v(vec!["SADD", &k, &a, &b])),
        (key(), 1i64..3).prop_map(move |(k, n)| v(vec!["SPOP", &k, &n.to_string()])),
        key().prop_map(move |k| v(vec!["SPOP", &k])),
        key().prop_map(move |k| v(vec!["SRANDMEMBER", &k, "-3"])),
        (key(), key()).prop_map(move |(a, b)| v(vec!["SMOVE", &a, &b, "a"])),
        (key(), key(), key()).prop_map(move |(d, a, b)| v(vec!["SUNIONSTORE", &d, &a, &b])),
        (key(), val(), val()).prop_map(move |(k, s, m)| v(vec!["ZADD", &k, &s.replace(['a', 'b', 'c'], "1"), &m])),
        (key(), val(), val()).prop_map(move |(k, s, m)| v(vec!["ZINCRBY", &k, &s.replace(['a', 'b', 'c'], "2"), &m])),
        key().prop_map(move |k| v(vec!["ZPOPMIN", &k])),
        (key(), key(), key()).prop_map(move |(d, a, b)| v(vec!["ZUNIONSTORE", &d, "2", &a, &b, "WEIGHTS", "2", "0.5"])),
        (key(), key()).prop_map(move |(d, a)| v(vec!["ZRANGESTORE", &d, &a, "0", "-1", "REV"])),
        (key(), small(), small()).prop_map(move |(k, a, b)| v(vec!["ZREMRANGEBYRANK", &k, &a, &b])),
        (key(), key()).prop_map(move |(a, b)| v(vec!["BLPOP", &a, &b, "0.05"])),
        key().prop_map(move |k| v(vec!["BZPOPMAX", &k, "0"])),
        (key(), key()).prop_map(move |(a, b)| v(vec!["BLMOVE", &a, &b, "RIGHT", "LEFT", "0"])),
        Just(v(vec!["MULTI"])),
        Just(v(vec!["EXEC"])),
        (0i64..3).prop_map(move |d| v(vec!["SELECT", &d.to_string()])),
        Just(v(vec!["FLUSHDB"])),
        Just(v(vec!["RANDOMKEY"])),
        (key(), 0u32..3000, 1u32..400).prop_map(move |(k, from, n)| {
            let mut c = v(vec!["PFADD", &k]);
            c.extend((from..from + n).map(|i| format!("e{i}")));
            c
        }),
        key().prop_map(move |k| v(vec!["PFCOUNT", &k])),
        key().prop_map(move |k| v(vec!["SET", &k, CORRUPT_HLL])),
        (key(), key(), key()).prop_map(move |(d, a, b)| v(vec!["PFMERGE", &d, &a, &b])),
        key().prop_map(move |k| v(vec!["PFDEBUG", "TODENSE", &k])),
        (key(), 0u32..50, 0u32..50, val())
            .prop_map(move |(k, x, y, m)| { v(vec!["GEOADD", &k, &format!("13.{x}"), &format!("38.{y}"), &m]) }),
        (key(), key(), 1u32..80).prop_map(move |(d, k, r)| {
            v(vec![
                "GEOSEARCHSTORE",
                &d,
                &k,
                "FROMLONLAT",
                "13.2",
                "38.2",
                "BYRADIUS",
                &r.to_string(),
                "km",
                "STOREDIST",
            ])
        }),
        (key(), key(), 1u32..80).prop_map(move |(d, k, r)| {
            v(vec!["GEORADIUS", &k, "13.3", "38.3", &r.to_string(), "km", "COUNT", "3", "STORE", &d])
        }),
        proptest::sample::select(&["40", "300", "3000", "100000"][..]).prop_map(move |n| v(vec![
            "CONFIG",
            "SET",
            "hll-sparse-max-bytes",
            n
        ])),
        (key(), val()).prop_map(move |(k, x)| v(vec!["XADD", &k, "*", "f", &x])),
        (key(), val()).prop_map(move |(k, x)| v(vec!["XADD", &k, "MAXLEN", "~", "3", "*", "f", &x])),
        (key(), stream_id()).prop_map(move |(k, i)| v(vec!["XADD", &k, "MINID", &i, "*", "f", "v"])),
        (key(), stream_id()).prop_map(move |(k, i)| v(vec!["XDEL", &k, &i])),
        key().prop_map(move |k| v(vec!["XTRIM", &k, "MAXLEN", "1"])),
        key().prop_map(move |k| v(vec!["XGROUP", "CREATE", &k, "g", "0", "MKSTREAM"])),
        key().prop_map(move |k| v(vec!["XGROUP", "SETID", &k, "g", "0"])),
        key().prop_map(move |k| v(vec!["XGROUP", "DELCONSUMER", &k, "g", "c1"])),
        (key(), 0u32..3).prop_map(move |(k, c)| {
            v(vec!["XREADGROUP", "GROUP", "g", &format!("c{c}"), "COUNT", "2", "STREAMS", &k, ">"])
        }),
        key().prop_map(move |k| v(vec!["XREADGROUP", "GROUP", "g", "c1", "NOACK", "STREAMS", &k, ">"])),
        key().prop_map(move |k| v(vec!["XREADGROUP", "GROUP", "g", "c2", "BLOCK", "0", "STREAMS", &k, ">"])),
        key().prop_map(move |k| v(vec!["XREADGROUP", "GROUP", "g", "c1", "STREAMS", &k, "0"])),
        key().prop_map(move |k| v(vec!["XREAD", "BLOCK", "40", "STREAMS", &k, "$"])),
        (key(), stream_id()).prop_map(move |(k, i)| v(vec!["XACK", &k, "g", &i])),
        (key(), stream_id()).prop_map(move |(k, i)| v(vec!["XCLAIM", &k, "g", "c3", "0", &i, "IDLE", "5"])),
        key().prop_map(move |k| v(vec!["XAUTOCLAIM", &k, "g", "c2", "10", "0-0", "COUNT", "2"])),
        (key(), stream_id()).prop_map(move |(k, i)| v(vec!["XSETID", &k, &i])),
        proptest::sample::select(&["2", "100"][..]).prop_map(move |n| v(vec![
            "CONFIG",
            "SET",
            "stream-node-max-entries",
            n
        ])),
        (proptest::sample::select(SCRIPTS), key(), key(), val())
            .prop_map(move |(body, a, b, x)| v(vec!["EVAL", body, "2", &a, &b, &x])),
    ]
}

/// An ID among the first ones `XADD *` gives (the clock starts at
/// 1_700_000_000_000 ms and moves by up to 60 ms a step).
fn stream_id() -> impl Strategy<Value = String> {
    (0u64..200, 0u64..3).prop_map(|(ms, seq)| format!("{}-{seq}", 1_700_000_000_000u64 + ms))
}

/// A sparse HLL whose opcodes cover 16390 registers, not 16384: PFADD
/// raises registers in it until one needs it whole (a conversion to dense),
/// then fails, keeping what it raised (as Redis does).
const CORRUPT_HLL: &str = "HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\x7f??\x05";

/// Scripts with non-deterministic commands (SPOP, SRANDMEMBER, TIME,
/// math.random), a failure half-way, and a pcall: each is logged as the
/// effects of the commands it ran.
const SCRIPTS: &[&str] = &[
    "local m = redis.call('SPOP', KEYS[1]) if m then redis.call('RPUSH', KEYS[2], m) end return m",
    "local r = redis.call('SRANDMEMBER', KEYS[1]) if r then redis.call('SET', KEYS[2], r) end return 1",
    "local t = redis.call('TIME') redis.call('SET', KEYS[1], t[1] .. t[2]) return 1",
    "redis.call('INCR', KEYS[1]) return redis.call('INCR', KEYS[2])",
    "redis.call('SET', KEYS[1], ARGV[1]) redis.call('PEXPIRE', KEYS[1], 20) return 1",
    "return redis.pcall('LPUSH', KEYS[1], ARGV[1])",
    "local n = math.random(1, 1000000) redis.call('SADD', KEYS[1], n) return n",
    "redis.call('SELECT', 1) redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[2])",
];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0usize..3, command()).prop_map(|(c, cmd)| Op::Cmd(c, cmd)),
        1 => (0i64..60).prop_map(Op::Advance),
    ]
}

fn run(ops: &[Op], seed: u64) -> (Engine, Vec<Vec<Effect>>) {
    let mut e = Engine::new(Config::default(), seed);
    let mut now = 1_700_000_000_000i64;
    let ids: Vec<u64> = (0..3).map(|_| e.connect(ClientInfo::default(), now).unwrap()).collect();
    let mut groups = Vec::new();
    for op in ops {
        match op {
            Op::Cmd(c, cmd) => e.feed(ids[*c], cmd.iter().map(|s| Bytes::from(s.clone())).collect(), now),
            Op::Advance(ms) => {
                now += ms;
                e.tick(now);
            }
        }
        groups.extend(e.take_effects());
        e.take_output();
    }
    // Let every blocked client time out or stay blocked; close transactions.
    for &id in &ids {
        e.feed(id, vec![Bytes::from("EXEC")], now);
    }
    groups.extend(e.take_effects());
    (e, groups)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn applying_effects_reproduces_the_state(ops in proptest::collection::vec(op(), 1..80), seed in any::<u64>()) {
        let (writer, groups) = run(&ops, seed);
        let mut replica = Engine::new(Config::default(), seed ^ 0xdead_beef);
        for g in &groups {
            // Through the log record payload, as a replica will get them.
            let g = &sixfold_engine::decode_group(&sixfold_engine::encode_group(g)).unwrap();
            let r = replica.apply(g);
            prop_assert!(r.is_ok(), "apply failed on {:?}: {:?}", g.iter().map(Effect::describe).collect::<Vec<_>>(), r);
        }
        prop_assert_eq!(writer.digest(), replica.digest());
    }
}

/// A command from its space-separated words.
fn cmd(s: &str) -> Vec<Bytes> {
    s.split(' ').map(|p| Bytes::from(p.to_string())).collect()
}

/// The effects produced since the last call, as text.
fn effects_text(e: &mut Engine) -> Vec<String> {
    e.take_effects().into_iter().flatten().map(|x| x.describe()).collect()
}

#[test]
fn spop_is_logged_as_srem_and_expiry_as_pexpireat() {
    let mut e = Engine::new(Config::default(), 7);
    let id = e.connect(ClientInfo::default(), 1_000).unwrap();
    e.feed(id, cmd("SADD s a b c"), 1_000);
    e.feed(id, cmd("SPOP s"), 1_000);
    e.feed(id, cmd("SET k v EX 10"), 1_000);
    e.feed(id, cmd("INCRBYFLOAT f 1.5"), 1_000);
    let g = effects_text(&mut e);
    assert_eq!(g[0], "db 0: SADD s a b c");
    assert!(g[1].starts_with("db 0: SREM s "), "{}", g[1]);
    assert_eq!(g[2], "db 0: SET k v PXAT 11000");
    assert_eq!(g[3], "db 0: SET f 1.5 KEEPTTL");
    // A key found expired is deleted and logged as DEL.
    e.feed(id, cmd("GET k"), 20_000);
    let g = effects_text(&mut e);
    assert_eq!(g, vec!["db 0: DEL k".to_string()]);
}

/// A script is logged as the effects of the commands it ran, in one
/// group, in the databases they ran in; a read-only script logs nothing.
#[test]
fn a_script_is_logged_as_one_group_of_its_commands_effects() {
    let mut e = Engine::new(Config::default(), 7);
    let id = e.connect(ClientInfo::default(), 1_000).unwrap();
    e.feed(id, cmd("SADD s a"), 1_000);
    e.take_effects();
    let body = "local m = redis.call('SPOP', KEYS[1]) redis.call('SELECT', 2) redis.call('RPUSH', KEYS[2], m) return m";
    e.feed(id, vec!["EVAL".into(), body.into(), "2".into(), "s".into(), "l".into()], 1_000);
    let groups = e.take_effects();
    assert_eq!(groups.len(), 1, "one group: {groups:?}");
    let g: Vec<String> = groups[0].iter().map(Effect::describe).collect();
    assert_eq!(g, ["db 0: SREM s a", "db 2: RPUSH l a"]);
    e.feed(id, vec!["EVAL".into(), "return redis.call('GET', 'x')".into(), "0".into()], 1_000);
    assert!(e.take_effects().is_empty());
}

#[test]
fn blocked_pop_is_served_by_a_push_and_logged_as_pop() {
    let mut e = Engine::new(Config::default(), 1);
    let a = e.connect(ClientInfo::default(), 1_000).unwrap();
    let b = e.connect(ClientInfo::default(), 1_000).unwrap();
    e.feed(b, cmd("BLPOP q 0"), 1_000);
    e.feed(b, cmd("PING"), 1_000);
    assert!(e.take_output().is_empty(), "a blocked client gets no reply");
    e.feed(a, cmd("RPUSH q x"), 1_001);
    let out = e.take_output();
    let to_b: Vec<_> = out.iter().filter(|(id, _)| *id == b).map(|(_, b)| b.clone()).collect();
    assert_eq!(to_b.concat(), b"*2\r\n$1\r\nq\r\n$1\r\nx\r\n+PONG\r\n".to_vec());
    let g = effects_text(&mut e);
    assert_eq!(g, vec!["db 0: RPUSH q x".to_string(), "db 0: LPOP q 1".to_string()]);
}

/// Arguments that tend to break parsers: empty, huge, negative, non-numeric.
const NASTY: &[&str] = &[
    "",
    "0",
    "1",
    "-1",
    "2",
    "3",
    "-2",
    "100",
    "-100",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
    "1.5",
    "nan",
    "inf",
    "-inf",
    "+inf",
    "(1",
    "[a",
    "(",
    "[",
    "-",
    "+",
    "x",
    "k0",
    "k1",
    "NX",
    "XX",
    "GT",
    "LT",
    "CH",
    "INCR",
    "GET",
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "KEEPTTL",
    "PERSIST",
    "LIMIT",
    "COUNT",
    "MATCH",
    "TYPE",
    "WITHSCORES",
    "WITHSCORE",
    "BYSCORE",
    "BYLEX",
    "REV",
    "WEIGHTS",
    "AGGREGATE",
    "MIN",
    "MAX",
    "SUM",
    "LEFT",
    "RIGHT",
    "BEFORE",
    "AFTER",
    "RANK",
    "MAXLEN",
    "DB",
    "REPLACE",
    "ID",
    "ADDR",
    "SKIPME",
    "ON",
    "OFF",
    "SKIP",
    "AUTH",
    "SETNAME",
    "ENCODING",
    "HELP",
    "CHANNELS",
    "NUMSUB",
    "DIGEST",
    "SET",
    "GETKEYS",
    "LIST",
    "INFO",
    "DOCS",
    "FILTERBY",
    "PATTERN",
    "*",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 20000, ..ProptestConfig::default() })]

    /// Fuzzes command dispatch: any command with any arguments gets a reply
    /// (possibly an error) and never panics the engine.
    #[test]
    fn dispatch_never_panics(
        cmds in proptest::collection::vec(
            (proptest::sample::select(sixfold_engine::cmd::TABLE.iter().map(|s| s.name).collect::<Vec<_>>()),
             proptest::collection::vec(prop_oneof![
                 3 => proptest::sample::select(&["0", "1", "2", "-1", "k0", "k1", "a"][..]),
                 2 => proptest::sample::select(NASTY),
             ], 0..7)),
            1..12),
        tick in 0i64..2000,
    ) {
        let mut e = Engine::new(Config::default(), 3);
        let now = 1_700_000_000_000i64;
        let id = e.connect(ClientInfo::default(), now).unwrap();
        let setup = ["RPUSH k0 a b c", "SADD k1 a b", "ZADD z 1 a 2 b", "HSET h f 1", "SET s 5"];
        for c in setup {
            e.feed(id, c.split(' ').map(|p| Bytes::from(p.to_string())).collect(), now);
        }
        for (name, args) in &cmds {
            // PFSELFTEST adds 10 million elements: seconds, not a fuzz case.
            if *name == "shutdown" || *name == "debug" || *name == "pfselftest" {
                continue;
            }
            let mut v = vec![Bytes::from(name.to_string())];
            v.extend(args.iter().map(|a| Bytes::from(a.to_string())));
            e.feed(id, v, now);
        }
        e.tick(now + tick);
        let _ = e.take_output();
        let groups = e.take_effects();
        let mut replica = Engine::new(Config::default(), 4);
        for g in &groups {
            prop_assert!(replica.apply(g).is_ok());
        }
    }
}

/// A replica that applies the log later than it was written (a restart
/// replaying from LSN 1) must reach the same state: an expiry time that has
/// passed by then does not delete the key; only the logged DEL does.
#[test]
fn applying_late_keeps_keys_whose_logged_expiry_has_passed() {
    let mut w = Engine::new(Config::default(), 1);
    let id = w.connect(ClientInfo::default(), 1_000).unwrap();
    w.feed(id, cmd("SET k v"), 1_000);
    w.feed(id, cmd("PEXPIRE k 50"), 1_000);
    let groups = w.take_effects();
    let mut late = Engine::new(Config::default(), 2);
    late.tick(1_000_000);
    for g in &groups {
        late.apply(g).unwrap();
    }
    assert_eq!(late.digest(), w.digest(), "the key and its expiry time are both there");
}

/// A sparse HLL the writer turned dense under its own (small)
/// `hll-sparse-max-bytes` is logged with the conversion, so a replica with
/// the default setting ends with the same bytes; a PFCOUNT that refreshed
/// the cached count is logged, one that read it is not.
#[test]
fn hll_conversions_follow_the_writer() {
    let mut w = Engine::new(Config::default(), 1);
    let id = w.connect(ClientInfo::default(), 1_000).unwrap();
    w.feed(id, cmd("CONFIG SET hll-sparse-max-bytes 40"), 1_000);
    w.feed(id, cmd("PFADD h a b c d e f g h i j k l m n o p q r s t"), 1_000);
    w.feed(id, cmd("PFCOUNT h"), 1_000);
    w.feed(id, cmd("PFCOUNT h"), 1_000);
    let groups = w.take_effects();
    let text: Vec<Vec<String>> = groups.iter().map(|g| g.iter().map(Effect::describe).collect()).collect();
    let add = "db 0: PFADD h a b c d e f g h i j k l m n o p q r s t".to_string();
    let want = vec![vec![add, "db 0: PFDEBUG TODENSE h".to_string()], vec!["db 0: PFCOUNT h".to_string()]];
    assert_eq!(text, want);
    // A corrupt HLL that PFADD changed before failing is logged as its bytes.
    w.feed(id, vec![Bytes::from("SET"), Bytes::from("bad"), Bytes::from(CORRUPT_HLL)], 1_000);
    w.feed(id, cmd("PFADD bad a b c d e f g h i j k l m n o p q r s t"), 1_000);
    let more = w.take_effects();
    assert_eq!(more.len(), 2);
    assert_eq!(more[1].len(), 1);
    assert_eq!(&more[1][0].args[..2], &[Bytes::from("SET"), Bytes::from("bad")]);
    assert_eq!(more[1][0].args[3], Bytes::from("KEEPTTL"));
    let groups: Vec<_> = groups.into_iter().chain(more).collect();
    let mut r = Engine::new(Config::default(), 2);
    for g in &groups {
        r.apply(g).unwrap();
    }
    assert_eq!(w.digest(), r.digest());
}

/// A replica's PFCOUNT answers without refreshing the cached count: its
/// copy stays exactly what the log made it.
#[test]
fn a_replica_pfcount_leaves_the_hll_as_logged() {
    let mut w = Engine::new(Config::default(), 1);
    let id = w.connect(ClientInfo::default(), 1_000).unwrap();
    w.feed(id, cmd("PFADD h a b c"), 1_000);
    let config = Config { replica_of: Some("127.0.0.1:1".into()), replica_reads_any: true, ..Config::default() };
    let mut r = Engine::new(config, 2);
    for g in &w.take_effects() {
        r.apply(g).unwrap();
    }
    let before = r.digest();
    let rid = r.connect(ClientInfo::default(), 1_000).unwrap();
    r.feed(rid, cmd("PFCOUNT h"), 1_000);
    assert!(r.take_output().iter().any(|(_, out)| out.as_ref() == b":3\r\n"));
    assert_eq!(r.digest(), before);
    assert!(r.take_effects().is_empty());
}

/// A geo search that stores its result is logged as the stored members
/// (naming the key it writes, which the writer's pending-key tracking
/// reads), not as a search a replica would redo with its own maths.
#[test]
fn a_stored_geo_search_is_logged_as_its_result() {
    let mut e = Engine::new(Config::default(), 1);
    let id = e.connect(ClientInfo::default(), 1_000).unwrap();
    e.feed(id, cmd("GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania"), 1_000);
    e.feed(id, cmd("GEORADIUS g 15 37 200 km STOREDIST near"), 1_000);
    e.feed(id, cmd("GEOSEARCHSTORE near g FROMLONLAT 0 0 BYRADIUS 1 m"), 1_000);
    let g = effects_text(&mut e);
    assert_eq!(g[0], "db 0: GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania");
    assert_eq!(g[1], "db 0: DEL near");
    // Redis's documented distances: Palermo 190.4424 km, Catania 56.4413 km.
    assert_eq!(g[2], "db 0: ZADD near 190.44242984775784 Palermo 56.4412578701582 Catania");
    assert_eq!(g[3..], ["db 0: DEL near".to_string()]);
}

/// A RESTORE is logged with its TTL made absolute and REPLACE, so a
/// replica applying it later, or again, ends with the writer's key.
#[test]
fn restore_is_logged_with_an_absolute_ttl() {
    let mut w = Engine::new(Config::default(), 1);
    let id = w.connect(ClientInfo::default(), 1_000).unwrap();
    let mut z = sixfold_engine::value::ZSet::default();
    z.insert(Bytes::from("m"), 2.5);
    let payload = Bytes::from(sixfold_engine::rdb::dump(&sixfold_engine::value::Value::ZSet(z)));
    let restore = |key: &str, ttl: &str| {
        vec![Bytes::from("RESTORE"), Bytes::from(key.to_string()), Bytes::from(ttl.to_string()), payload.clone()]
    };
    w.feed(id, restore("z", "5000"), 1_000);
    w.feed(id, restore("y", "0"), 1_000);
    let groups = w.take_effects();
    let text: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|e| {
                    let mut a = e.args.clone();
                    a[3] = Bytes::from("<payload>");
                    Effect::new(0, a).describe()
                })
                .collect()
        })
        .collect();
    assert_eq!(
        text,
        [["db 0: RESTORE z 6000 <payload> REPLACE ABSTTL"], ["db 0: RESTORE y 0 <payload> REPLACE ABSTTL"]]
    );
    let mut r = Engine::new(Config::default(), 2);
    for g in &groups {
        r.apply(g).unwrap();
    }
    // Applied long after the TTL passed, the key is still created: only
    // the writer's logged DEL removes it.
    r.tick(1_000_000);
    for g in &groups {
        r.apply(g).unwrap();
    }
    assert_eq!(w.digest(), r.digest());
}

/// A container's subcommand that writes (XGROUP CREATE) is a write in a
/// script: refused on a replica (whose data would differ from the
/// writer's) and in a read-only script.
#[test]
fn scripts_treat_xgroup_subcommands_as_writes() {
    let mut e = Engine::new(Config::default(), 1);
    let id = e.connect(ClientInfo::default(), 1_000).unwrap();
    let script = "return redis.pcall('XGROUP','CREATE','s','g','$','MKSTREAM')";
    e.feed(id, vec![Bytes::from("EVAL_RO"), Bytes::from(script), Bytes::from("0")], 1_000);
    let out: Vec<u8> = e.take_output().into_iter().flat_map(|(_, b)| b.to_vec()).collect();
    assert!(String::from_utf8_lossy(&out).contains("Write commands are not allowed from read-only scripts"), "{out:?}");
    let mut e = Engine::new(Config { replica_of: Some("127.0.0.1:1".into()), ..Config::default() }, 1);
    let id = e.connect(ClientInfo::default(), 1_000).unwrap();
    e.feed(id, vec![Bytes::from("EVAL"), Bytes::from(script), Bytes::from("0")], 1_000);
    let out: Vec<u8> = e.take_output().into_iter().flat_map(|(_, b)| b.to_vec()).collect();
    assert!(String::from_utf8_lossy(&out).contains("READONLY"), "{}", String::from_utf8_lossy(&out));
    assert_eq!(e.keyspace().dbs[0].len(), 0, "nothing was created on the replica");
}
