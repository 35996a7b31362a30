//! Lua scripting against Debian's `redis-server` (the oracle): the same
//! EVAL / EVALSHA / SCRIPT commands go to both, and the replies — values,
//! conversions, error texts with their `script: ..., on @user_script:N.`
//! suffix — must be equal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Raw, redis, sixfold};
use sixfold_resp::Frame;

/// Each case: the command's arguments (a script's keys are `k1`, `k2`).
fn cases() -> Vec<Vec<&'static str>> {
    let eval = |body: &'static str| vec!["EVAL", body, "2", "k1", "k2", "a1", "7"];
    let mut v: Vec<Vec<&str>> = [
        "return 1",
        "return 'x'",
        "return {1, 2, {3, 'x'}, 'y'}",
        "return {1, 2, nil, 4}",
        "return true",
        "return false",
        "return nil",
        "return 3.99",
        "return -3.99",
        "return #KEYS + #ARGV",
        "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}",
        "return redis.call('set', KEYS[1], ARGV[1])",
        "return redis.call('get', KEYS[1])",
        "return redis.call('incr', KEYS[1])",
        "return redis.pcall('incr', KEYS[1])",
        "local r = redis.pcall('incr', KEYS[1]) return type(r) == 'table' and r.err",
        "return redis.call('incrby', KEYS[2], ARGV[2])",
        "return redis.call('incrby', KEYS[2], 5)",
        "return redis.call('incrbyfloat', KEYS[2], 0.5)",
        "return redis.error_reply('My Error')",
        "return redis.error_reply('-ERR dashed')",
        "return redis.status_reply('FINE')",
        "return {err = 'E x'}",
        "return {ok = 'fine'}",
        "return redis.call('nosuch')",
        "return redis.call('get')",
        "return redis.call()",
        "return redis.call('get', {})",
        "x = 1",
        "return y",
        "return redis.sha1hex('abc')",
        "return (",
        "return nil + 1",
        "error('boom')",
        "error({err = 'MYERR custom'})",
        "redis.call('hset', KEYS[1], 'f', 'v') return redis.call('hgetall', KEYS[1])",
        "redis.call('del', KEYS[1]) redis.call('zadd', KEYS[1], 1.5, 'm') return redis.call('zscore', KEYS[1], 'm')",
        "return redis.call('exists', KEYS[1], KEYS[2])",
        "return redis.call('multi')",
        "return redis.call('ping')",
        "return redis.call('rpush', KEYS[1], 'a')",
        "redis.call('del', KEYS[1]) redis.call('rpush', KEYS[1], 'a', 'b') return redis.call('lrange', KEYS[1], 0, -1)",
        "return redis.call('get', 'missing')",
        "return redis.call('select', 1)",
        "return string.format('%d-%s', 5, 'x')",
        "redis.log()",
        "redis.log(1)",
        "redis.log('x', 'y')",
        "redis.log({}, 'y')",
        "redis.log(9, 'y')",
        "redis.log(-1, 'y')",
        "return redis.log(redis.LOG_WARNING, 'logged', 1, 2.5, nil, {}, 'z')",
        "return redis.log(2.7, 'level', 'truncated')",
        "return redis.log('3', 'level as a string')",
        "return redis.log(redis.LOG_DEBUG, 'below loglevel')",
        "return math.floor(2.5)",
        "return table.concat({'a', 'b'}, ',')",
        "return tostring(1e20)",
        "local t = {} for i = 1, 3 do t[i] = i * 2 end return t",
        "return redis.call('type', KEYS[1])",
        "return redis.call('set', KEYS[1], 'v', 'EX', 'x')",
        "\n\nreturn redis.call('incr', 'nonint')",
        "local a = 1\nreturn nil .. 'x'",
        "return cjson.encode({1, 2, 'a/b', {x = 1.5}})",
        r#"return cjson.encode(cjson.decode([[{"a":[1,2,"q\"/"]}]]))"#,
        "return cjson.decode('[1,2,3]')[2]",
        "return cjson.decode('[1,null]')[2] == cjson.null",
        "return cjson.encode({})",
        "return {bit.band(0xff, 0x0f), bit.bor(1, 2), bit.bxor(5, 3), bit.bnot(0), bit.lshift(1, 31)}",
        "return {bit.rshift(-1, 28), bit.arshift(-256, 4), bit.tohex(255, 4), bit.tohex(-1, -2), bit.tobit(4294967297)}",
        // pcall of redis.call: the error reply's text, as Redis 7.0 gives it.
        "local ok, e = pcall(redis.call, 'nosuch') return {tostring(ok), type(e), e}",
        "local ok, e = pcall(redis.call, 'incr') return e",
        "local ok, e = pcall(function() return redis.call('hset', KEYS[1]) end) return e",
        "local ok, e = pcall(function() local a, b = pcall(redis.call, 'nosuch') return redis.call('nosuch2') end) return {tostring(ok), e}",
        "local ok, e = pcall(error, 'x') return {type(e), e}",
        "local ok, e = pcall(error, {err = 'TBL x'}) return e",
        "return redis.pcall('nosuch')",
        // RESP3 inside a script (redis.setresp) and its replies.
        "redis.call('del', KEYS[1]) redis.call('hset', KEYS[1], 'a', '1') redis.setresp(3) local t = redis.call('hgetall', KEYS[1]) return {type(t), type(t.map), t.map.a}",
        "redis.setresp(3) return redis.call('hgetall', KEYS[1])",
        "redis.call('del', KEYS[2]) redis.call('sadd', KEYS[2], 'x', 'y') redis.setresp(3) local t = redis.call('smembers', KEYS[2]) return {type(t.set), tostring(t.set.x)}",
        "redis.setresp(3) return redis.call('get', 'nokey') == nil",
        "redis.setresp(3) return true",
        "redis.setresp(3) return false",
        "redis.setresp(3) redis.setresp(2) return redis.call('get', 'nokey')",
        "redis.call('zadd', 'zz', 1.5, 'm') redis.setresp(3) local t = redis.call('zscore', 'zz', 'm') return {type(t), t.double}",
        "return {double = 3.5}",
        "return {map = {a = 1}}",
        "return {set = {a = true}}",
        "return {big_number = '123'}",
        "redis.setresp(4)",
        "redis.setresp()",
        // struct, as Redis loads it.
        "return struct.pack('>i2i2', 258, -2)",
        "return {struct.unpack('>i2i2', struct.pack('>i2i2', 258, -2))}",
        "return {struct.unpack('<Ihbs', struct.pack('<Ihbs', 4000000000, -3, 7, 'zt'))}",
        "return {struct.unpack('!4 b i8 d', struct.pack('!4 b i8 d', 1, -5, 2.5))}",
        "return {struct.unpack('c0 c2', struct.pack('B c0 c2', 3, 'abc', 'xy'))}",
        "return {struct.unpack('f', struct.pack('f', 1.5)), struct.size('!8 b d h'), struct.size('<i3 c5 x')}",
        "return struct.pack('>I3 L', 65536 + 2, 9)",
        "return {struct.unpack('i', 'abcdefgh', 5)}",
        "return struct.pack('z', 1)",
        "return struct.unpack('>i4', 'ab')",
        "return struct.size('s')",
        "return struct.size('c0')",
        "return struct.pack('!3i')",
        "return struct.pack('i40', 1)",
        "return {struct.unpack('c0', 'x')}",
        "return struct.unpack('s', 'abc')",
        "return struct.pack('c3', 'ab')",
        "return {struct.unpack('b', 'x', 0)}",
        "return struct.pack('>d', 'x')",
        "return struct.pack('>d', '2.5')",
        "local x = 1\nreturn struct.pack('q')",
        // cmsgpack, as Redis loads it.
        "return cmsgpack.pack(1, -1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649)",
        "return cmsgpack.pack(1.5, 0.1, -2.25, 1e300, 1/0, -1/0, true, false, nil)",
        "return cmsgpack.pack({}, {1, 2, 3}, {a = 1}, {1, nil, 3}, {[2] = 'x'}, {'s', {t = {u = {1}}}})",
        "return cmsgpack.pack(string.rep('x', 31), string.rep('y', 32), string.rep('z', 300), string.rep('w', 70000))",
        "local t = {} for i = 1, 20 do t[i] = i end return cmsgpack.pack(t)",
        "local t = {} local c = t for i = 1, 20 do c[1] = {} c = c[1] end return cmsgpack.pack(t)",
        "return {cmsgpack.unpack(cmsgpack.pack(1, 'two', {3, 4}, -5))}",
        "local t = cmsgpack.unpack(cmsgpack.pack({a = 1, b = {2, 3}})) return {t.a, t.b[2]}",
        "return {cmsgpack.unpack_one(cmsgpack.pack(7, 8, 9))}",
        "return {cmsgpack.unpack_one(cmsgpack.pack(7, 8, 9), 1)}",
        "return {cmsgpack.unpack_one(cmsgpack.pack(7, 8, 9), 2)}",
        "return {cmsgpack.unpack_limit(cmsgpack.pack(7, 8, 9), 2)}",
        "return {cmsgpack.unpack_limit(cmsgpack.pack(7, 8, 9), 2, 1)}",
        "return {cmsgpack.unpack(cmsgpack.pack(4294967296, -4294967296, 0.5))}",
        "return cmsgpack.unpack(string.char(0x92, 1))",
        "return cmsgpack.unpack(string.char(0xc1))",
        "return cmsgpack.unpack_one('ab', -1)",
        "return cmsgpack.unpack_one('ab', 5)",
        "return cmsgpack.pack()",
        // Non-deterministic commands inside a script: the shapes agree.
        "redis.call('del', KEYS[2]) redis.call('sadd', KEYS[2], 'a', 'b', 'c') local m = redis.call('spop', KEYS[2]) return {type(m), redis.call('scard', KEYS[2])}",
        "local r = redis.call('srandmember', KEYS[2], 5) return #r",
        "local t = redis.call('time') return {#t, type(t[1])}",
    ]
    .into_iter()
    .map(eval)
    .collect();
    v.extend([
        vec!["SET", "nonint", "abc"],
        vec!["EVAL", "\n\nreturn redis.call('incr', 'nonint')", "0"],
        vec!["EVAL", "return 1", "-1"],
        vec!["EVAL", "return 1", "3", "a"],
        vec!["EVAL", "return 1", "x"],
        vec!["EVAL", "return 1"],
        vec!["EVALSHA", "0000000000000000000000000000000000000000", "0"],
        vec!["SCRIPT", "LOAD", "return 'loaded'"],
        vec!["EVALSHA", "6c9d5ad9e2ec2a1b6ed1f1fb0c4f3c1c2f3e1c90", "0"],
        vec!["SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "ffff"],
        vec!["EVAL", "return 'loaded'", "0"],
        vec!["SCRIPT", "EXISTS", "7d0d9cfb5cf0a5c1acb5bf8f57d4d1e6d3d5a1d2"],
        vec!["SCRIPT", "FLUSH"],
        vec!["SCRIPT", "FLUSH", "BAD"],
        vec!["SCRIPT", "KILL"],
        vec!["SCRIPT", "NOPE"],
        vec!["SCRIPT", "DEBUG", "NO"],
        vec!["SCRIPT", "DEBUG", "MAYBE"],
        vec!["SCRIPT", "DEBUG"],
        vec!["EVAL_RO", "return redis.call('set', KEYS[1], 'x')", "1", "k1"],
        vec!["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "k1"],
        vec!["GET", "k1"],
        vec!["DBSIZE"],
        vec!["SELECT", "1"],
        vec!["DBSIZE"],
        vec!["SELECT", "0"],
        // Script flags on a `#!lua` first line (Redis 7).
        vec!["EVAL", "#!lua flags=no-writes\nreturn redis.call('set', 'a', '1')", "0"],
        vec!["EVAL", "#!lua flags=no-writes\nreturn redis.call('get', 'a')", "0"],
        vec!["EVAL", "#!lua\nreturn redis.call('set', 'a', '2')", "0"],
        vec!["EVAL_RO", "#!lua\nreturn 1", "0"],
        vec!["EVAL_RO", "#!lua flags=no-writes\nreturn 1", "0"],
        vec!["EVAL", "#!js\nreturn 1", "0"],
        vec!["EVAL", "#!lua foo=bar\nreturn 1", "0"],
        vec!["EVAL", "#!lua flags=bogus\nreturn 1", "0"],
        vec!["EVAL", "#!lua flags=no-writes,allow-oom\nreturn 2", "0"],
        vec!["EVAL", "#!lua flags=\nreturn 3", "0"],
        vec!["EVAL", "#!lua name=x\nreturn 3", "0"],
        vec!["EVAL", "#!lua\nreturn (", "0"],
        vec!["EVAL", "#!lua", "0"],
        vec!["EVAL", "#!lua\nreturn KEYS[1]", "1", "k"],
        // A RESP3 client: maps, sets, doubles, booleans and nulls of a script.
        vec!["HELLO", "3"],
        vec!["EVAL", "return {map = {a = 1}}", "0"],
        vec!["EVAL", "return {set = {a = true}}", "0"],
        vec!["EVAL", "return {double = 3.5}", "0"],
        vec!["EVAL", "return {big_number = '1234567890123456789012'}", "0"],
        vec!["EVAL", "return false", "0"],
        vec!["EVAL", "redis.setresp(3) return false", "0"],
        vec!["EVAL", "redis.setresp(3) return nil", "0"],
        vec!["EVAL", "redis.setresp(3) return redis.call('hgetall', KEYS[1])", "1", "k1"],
        vec!["EVAL", "return redis.call('hgetall', KEYS[1])", "1", "k1"],
        vec!["HELLO", "2"],
    ]);
    v
}

#[test]
fn scripts_answer_like_redis() {
    let ours = sixfold(&[]);
    let theirs = redis();
    let (mut a, mut b) = (Raw::connect(ours.port), Raw::connect(theirs.port));
    let cases = cases();
    eprintln!("{} cases", cases.len() + 3);
    let mut mismatches = common::differences(&mut a, &mut b, &cases);
    // SCRIPT LOAD's SHA1, then EVALSHA and SCRIPT EXISTS of it.
    let sha = match a.cmd(&["SCRIPT", "LOAD", "return ARGV[1]"]) {
        sixfold_resp::Frame::Bulk(s) => String::from_utf8(s.to_vec()).unwrap(),
        other => panic!("SCRIPT LOAD answered {other:?}"),
    };
    assert_eq!(b.cmd(&["SCRIPT", "LOAD", "return ARGV[1]"]), common::bulk(&sha));
    let upper = sha.to_uppercase();
    let by_sha = [vec!["EVALSHA", &sha, "0", "hi"], vec!["SCRIPT", "EXISTS", &sha], vec!["EVALSHA", &upper, "0", "x"]];
    mismatches.extend(common::differences(&mut a, &mut b, &by_sha));
    common::assert_no_differences(&mismatches, cases.len() + by_sha.len());
}

/// Starts `body` (EVAL, no keys) on its own connection, waits until it has
/// run past `busy-reply-threshold` (200 ms), sends `probes` on another
/// connection, and returns their replies, then the script's (`None`: the
/// connection closed).
fn busy_exchange(port: u16, body: &'static str, probes: &[&[&str]]) -> (Vec<Option<Frame>>, Option<Frame>) {
    let mut admin = Raw::connect(port);
    assert_eq!(admin.cmd(&["CONFIG", "SET", "busy-reply-threshold", "200"]), Frame::ok());
    let script = std::thread::spawn(move || {
        let mut c = Raw::connect(port);
        c.send(&[b"EVAL", body.as_bytes(), b"0"]);
        c.read()
    });
    std::thread::sleep(std::time::Duration::from_millis(600));
    let mut probe = Raw::connect(port);
    let replies = probes
        .iter()
        .map(|args| {
            probe.send(&args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>());
            probe.read()
        })
        .collect();
    (replies, script.join().unwrap())
}

const LOOP: &str = "local i = 0 while true do i = i + 1 end";
const WRITE_THEN_LOOP: &str = "redis.call('set', 'w', '1') local i = 0 while true do i = i + 1 end";

/// A looping script: past the threshold other clients get `-BUSY`, FUNCTION
/// KILL does not stop an EVAL, SCRIPT KILL does (the script's client gets
/// Redis's error), and the server serves again; a script that wrote cannot
/// be killed, and SHUTDOWN NOSAVE stops the server. Each step's reply is
/// Redis's.
#[test]
fn a_looping_script_is_busy_and_killed_like_redis() {
    let kill: &[&[&str]] = &[&["GET", "k"], &["FUNCTION", "KILL"], &["SCRIPT", "KILL"]];
    let after: &[&[&str]] = &[&["SCRIPT", "KILL"], &["PING"]];
    let unkillable: &[&[&str]] = &[&["SCRIPT", "KILL"], &["SHUTDOWN"], &["SHUTDOWN", "NOSAVE"]];
    let mut seen = Vec::new();
    for server in [redis(), sixfold(&[])] {
        let (mut replies, script) = busy_exchange(server.port, LOOP, kill);
        replies.push(script);
        let mut c = Raw::connect(server.port);
        replies.extend(after.iter().map(|a| Some(c.cmd(a))));
        let (more, script) = busy_exchange(server.port, WRITE_THEN_LOOP, unkillable);
        replies.extend(more);
        replies.push(script);
        seen.push(replies);
    }
    let busy = Frame::error("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.");
    assert_eq!(seen[0][0], Some(busy.clone()), "redis-server: {:?}", seen[0]);
    assert_eq!(seen[1], seen[0], "sixfold's replies, then redis-server's");
    assert_eq!(seen[1][2], Some(Frame::ok()));
    assert!(seen[1].last().unwrap().is_none(), "SHUTDOWN NOSAVE stopped the server");
}

/// The same on a durable writer: while a script holds the engine (and the
/// durable log) other clients get `-BUSY`, SCRIPT KILL ends it, and writes
/// commit again afterwards.
#[test]
fn a_durable_writer_answers_busy_and_commits_after_a_kill() {
    let fabric = common::Fabric::start("busy");
    let server = common::sixfold_on(common::free_port(), &fabric.server_args());
    let (replies, script) = busy_exchange(server.port, LOOP, &[&["SET", "k", "v"], &["SCRIPT", "KILL"]]);
    assert!(matches!(&replies[0], Some(Frame::Error(m)) if m.starts_with("BUSY ")), "{replies:?}");
    assert_eq!(replies[1], Some(Frame::ok()));
    assert!(matches!(&script, Some(Frame::Error(m)) if m.starts_with("ERR Script killed by user")), "{script:?}");
    let mut c = Raw::connect(server.port);
    assert_eq!(c.cmd(&["SET", "k", "after"]), Frame::ok());
    assert_eq!(c.cmd(&["GET", "k"]), common::bulk("after"));
}

/// Libraries for the function tests: one function each where FUNCTION LIST
/// shows them (Redis lists a library's functions in hash order).
const LIB_RW: &str = "#!lua name=librw\nredis.register_function('setget', function(keys, args)\n  redis.call('set', keys[1], args[1])\n  return {#keys, #args, redis.call('get', keys[1])}\nend)";
const LIB_RO: &str = "#!lua name=libro\nredis.register_function{function_name='reader', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads a key'}";
const LIB_ERR: &str = "#!lua name=liberr\nredis.register_function('fails', function(keys, args)\n  if args[1] == 'call' then return redis.call('nosuch') end\n  if args[1] == 'pcall' then return redis.pcall('incr', keys[1]) end\n  if args[1] == 'write' then return redis.call('set', 'x', 'y') end\n  error('boom')\nend)";
const LIB_RO_WRITES: &str = "#!lua name=librw2\nredis.register_function{function_name='sneaky', callback=function(keys, args) return redis.call('set', 'x', 'y') end, flags={'no-writes', 'allow-stale'}}";

/// FUNCTION and FCALL on both servers: loading (and every load error the
/// metadata line and registration can give), calls with keys and
/// arguments, flags, read-only calls, errors with their `script: <name>,
/// on @user_function:<line>.` suffix, LIST in RESP2 and RESP3, STATS,
/// DELETE, FLUSH and RESTORE policies; every reply must be Redis's.
#[test]
fn functions_answer_like_redis() {
    let ours = sixfold(&[]);
    let theirs = redis();
    let (mut a, mut b) = (Raw::connect(ours.port), Raw::connect(theirs.port));
    let bad_loads = [
        "return 1",
        "#!lua name=x",
        "#!lua\nx",
        "#!js name=x\nx",
        "#!lua name=x foo=bar\nx",
        "#!lua name=x name=y\nx",
        "#!lua name\nx",
        "#!lua name=bad-name\nx",
        "#!lua name=x\n",
        "#!lua name=x\nreturn (",
        "#!lua name=x\nredis.call('get', 'k')",
        "#!lua name=x\nx = 5",
        "#!lua name=x\nlocal k = KEYS",
        "#!lua name=x\nredis.register_function('f-x', function() end)",
        "#!lua name=x\nredis.register_function('fx', 5)",
        "#!lua name=x\nredis.register_function()",
        "#!lua name=x\nredis.register_function{callback=function() end}",
        "#!lua name=x\nredis.register_function{function_name='fx'}",
        "#!lua name=x\nredis.register_function{function_name='fx', callback=function() end, foo=1}",
        "#!lua name=x\nredis.register_function{function_name='fx', callback=function() end, flags={'bogus'}}",
        "#!lua name=x\nredis.register_function('fx', function() end) redis.register_function('fx', function() end)",
        "#!lua name=librw\nredis.register_function('other', function() return 1 end)",
        "#!lua name=y\nredis.register_function('setget', function() return 1 end)",
        // Past FUNCTION LOAD's 500 ms.
        "#!lua name=slow\nwhile true do end",
        "#!lua name=slow\nlocal function spin() while true do end end\nredis.register_function('f', function() return 1 end)\nspin()",
        "#!lua name=logs\nredis.log(redis.LOG_NOTICE, 'loading') redis.register_function('logs', function() return 1 end)",
    ];
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["FUNCTION", "FLUSH"],
        vec!["FUNCTION", "LOAD", LIB_RW],
        vec!["FUNCTION", "LOAD", LIB_RO],
        vec!["FUNCTION", "LOAD", LIB_ERR],
        vec!["FUNCTION", "LOAD", LIB_RO_WRITES],
        vec![
            "FUNCTION",
            "LOAD",
            "#!LUA  name=libup\nredis.register_function('ver', function() return redis.REDIS_VERSION_NUM > 0 end)",
        ],
    ];
    cases.extend(bad_loads.iter().map(|code| vec!["FUNCTION", "LOAD", code]));
    cases.extend([
        vec!["FUNCTION", "LOAD", "REPLACE", LIB_RW],
        vec!["FUNCTION", "LOAD", "REPLACE", "x", LIB_RW],
        vec!["FUNCTION", "LOAD"],
        vec!["FCALL", "setget", "1", "k", "v"],
        vec!["FCALL", "setget", "2", "k", "k2", "a", "b"],
        vec!["FCALL", "reader", "1", "k"],
        vec!["FCALL_RO", "reader", "1", "k"],
        vec!["FCALL_RO", "setget", "1", "k", "v"],
        vec!["FCALL", "sneaky", "0"],
        vec!["FCALL", "ver", "0"],
        vec!["FCALL", "fails", "1", "k", "call"],
        vec!["FCALL", "fails", "1", "k", "pcall"],
        vec!["FCALL", "fails", "1", "k", "write"],
        vec!["FCALL", "fails", "1", "k", "other"],
        vec!["FCALL", "nosuch", "0"],
        vec!["FCALL", "setget", "3", "k"],
        vec!["FCALL", "setget", "-1"],
        vec!["FCALL", "setget", "x"],
        vec!["FUNCTION", "LIST", "LIBRARYNAME", "librw"],
        vec!["FUNCTION", "LIST", "LIBRARYNAME", "libro*", "WITHCODE"],
        vec!["FUNCTION", "LIST", "LIBRARYNAME"],
        vec!["FUNCTION", "LIST", "WITHCODE", "WITHCODE"],
        vec!["FUNCTION", "LIST", "bogus"],
        vec!["FUNCTION", "STATS"],
        vec!["FUNCTION", "STATS", "x"],
        vec!["FUNCTION", "KILL"],
        vec!["FUNCTION", "DELETE", "libup"],
        vec!["FUNCTION", "DELETE", "libup"],
        vec!["FUNCTION", "DELETE"],
        vec!["FUNCTION", "FLUSH", "bogus"],
        vec!["FUNCTION", "RESTORE", "garbage"],
        vec!["FUNCTION", "RESTORE", "garbage", "BOGUS"],
        vec!["FUNCTION", "HELP"],
        vec!["FUNCTION", "NOSUCH"],
        vec!["HELLO", "3"],
        vec!["FUNCTION", "LIST", "LIBRARYNAME", "libro"],
        vec!["FUNCTION", "STATS"],
        vec!["FCALL", "setget", "1", "k", "v3"],
        vec!["HELLO", "2"],
    ]);
    common::assert_no_differences(&common::differences(&mut a, &mut b, &cases), cases.len());
}

/// FUNCTION DUMP of one server restores on the other, with every policy:
/// the payload is Redis's format (RDB opcodes, LZF strings, CRC-64).
#[test]
fn function_dumps_move_between_redis_and_sixfold() {
    let ours = sixfold(&[]);
    let theirs = redis();
    let (mut a, mut b) = (Raw::connect(ours.port), Raw::connect(theirs.port));
    for c in [&mut a, &mut b] {
        for lib in [LIB_RW, LIB_RO] {
            assert!(matches!(c.cmd(&["FUNCTION", "LOAD", lib]), Frame::Bulk(_)));
        }
    }
    let payload = |c: &mut Raw| match c.cmd(&["FUNCTION", "DUMP"]) {
        Frame::Bulk(p) => p,
        other => panic!("FUNCTION DUMP answered {other:?}"),
    };
    let (ours_dump, theirs_dump) = (payload(&mut a), payload(&mut b));
    let listing = |c: &mut Raw| c.cmd(&["FUNCTION", "LIST", "LIBRARYNAME", "librw", "WITHCODE"]);
    for (c, other_dump) in [(&mut a, &theirs_dump), (&mut b, &ours_dump)] {
        let before = listing(c);
        let restore = |c: &mut Raw, policy: &[u8]| {
            let mut args: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", other_dump];
            if !policy.is_empty() {
                args.push(policy);
            }
            c.send(&args);
            c.read().unwrap()
        };
        // The first library of the payload (in the dumping server's order).
        let collision = restore(c, b"");
        assert!(
            [Frame::error("ERR Library librw already exists"), Frame::error("ERR Library libro already exists")]
                .contains(&collision),
            "{collision:?}"
        );
        assert_eq!(restore(c, b"REPLACE"), Frame::ok());
        assert_eq!(c.cmd(&["FUNCTION", "FLUSH"]), Frame::ok());
        assert_eq!(restore(c, b"APPEND"), Frame::ok());
        assert_eq!(restore(c, b"FLUSH"), Frame::ok());
        assert_eq!(listing(c), before, "the restored library is the dumped one");
        let three = Frame::Array(vec![Frame::Integer(1), Frame::Integer(1), common::bulk("v")]);
        assert_eq!(c.cmd(&["FCALL", "setget", "1", "k", "v"]), three);
    }
}

/// `redis.log` writes to the server's log (stderr) at `loglevel` and
/// above: Redis's level names, the arguments joined by spaces, nothing
/// below the level until `CONFIG SET loglevel` lowers it; a library's
/// code may log while FUNCTION LOAD runs it.
#[test]
fn redis_log_writes_to_the_server_log_at_loglevel() {
    let port = common::free_port();
    let log_path = std::env::temp_dir().join(format!("sixfold-redis-log-{port}.log"));
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sixfold-server"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--durability", "none"])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(log_file)
        .spawn()
        .unwrap();
    common::wait_ready(port, &mut child);
    let server = common::Proc { child, port };
    let mut c = Raw::connect(server.port);
    let eval = |c: &mut Raw, body: &str| c.cmd(&["EVAL", body, "0"]);
    assert_eq!(eval(&mut c, "redis.log(redis.LOG_WARNING, 'warned', 1, 2.5, nil, 'end')"), Frame::Null);
    assert_eq!(eval(&mut c, "redis.log(redis.LOG_NOTICE, 'noticed')"), Frame::Null);
    assert_eq!(eval(&mut c, "redis.log(redis.LOG_DEBUG, 'debug-hidden')"), Frame::Null);
    assert_eq!(c.cmd(&["CONFIG", "SET", "loglevel", "debug"]), Frame::ok());
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "loglevel"]),
        Frame::Array(vec![common::bulk("loglevel"), common::bulk("debug")])
    );
    assert_eq!(eval(&mut c, "redis.log(redis.LOG_DEBUG, 'debug-shown')"), Frame::Null);
    let lib = "#!lua name=loud\nredis.log(redis.LOG_WARNING, 'library loading')\nredis.register_function('f', function() return 1 end)";
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", lib]), common::bulk("loud"));
    assert_eq!(c.cmd(&["CONFIG", "SET", "loglevel", "warning"]), Frame::ok());
    assert_eq!(eval(&mut c, "redis.log(redis.LOG_NOTICE, 'notice-hidden')"), Frame::Null);
    drop(server);
    let log = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    let line = |needle: &str| log.lines().find(|l| l.contains(needle)).map(str::to_string);
    let warned = line("warned 1 2.5 end").unwrap_or_else(|| panic!("no warning line in:\n{log}"));
    assert!(warned.contains("WARN") && warned.contains("warning"), "{warned}");
    let noticed = line("noticed").unwrap_or_else(|| panic!("no notice line in:\n{log}"));
    assert!(noticed.contains("INFO") && noticed.contains("notice"), "{noticed}");
    assert!(line("debug-shown").is_some_and(|l| l.contains("debug")), "{log}");
    assert!(line("library loading").is_some(), "{log}");
    for hidden in ["debug-hidden", "notice-hidden"] {
        assert!(line(hidden).is_none(), "{hidden} is below loglevel:\n{log}");
    }
}

/// Over `maxmemory`, as Redis 7: a script without a `#!` line is refused
/// its first command that may grow memory, unless it already wrote; a
/// flagged script or function is refused at the start unless it declared
/// `no-writes` or `allow-oom`, and `allow-oom` lets its commands run; a
/// transaction that queues such a command is aborted.
#[test]
fn script_flags_over_maxmemory_answer_like_redis() {
    let ours = sixfold(&[]);
    let theirs = redis();
    let (mut a, mut b) = (Raw::connect(ours.port), Raw::connect(theirs.port));
    let lib = "#!lua name=m\nredis.register_function('w', function(k) return redis.call('set', k[1], '1') end)\n\
               redis.register_function{function_name='wo', callback=function(k) return redis.call('set', k[1], '2') end, flags={'allow-oom'}}\n\
               redis.register_function{function_name='r', callback=function(k) return redis.call('get', k[1]) end, flags={'no-writes'}}";
    let cases: Vec<Vec<&str>> = vec![
        vec!["FUNCTION", "LOAD", lib],
        vec!["SET", "a", "0"],
        vec!["CONFIG", "SET", "maxmemory", "1"],
        vec!["EVAL", "return redis.call('set','a','1')", "0"],
        vec!["EVAL", "return redis.pcall('set','a','1')", "0"],
        vec!["EVAL", "#!lua\nreturn redis.call('set','a','1')", "0"],
        vec!["EVAL", "#!lua\nreturn 1", "0"],
        vec!["EVAL", "#!lua flags=allow-oom\nreturn redis.call('set','a','1')", "0"],
        vec!["EVAL", "#!lua flags=no-writes\nreturn redis.call('get','a')", "0"],
        vec!["EVAL", "redis.call('del','zz') return redis.call('set','a','2')", "0"],
        vec!["EVAL", "return redis.call('get','a')", "0"],
        vec!["EVAL_RO", "#!lua\nreturn 1", "0"],
        vec!["FCALL", "w", "1", "a"],
        vec!["FCALL", "wo", "1", "a"],
        vec!["FCALL", "r", "1", "a"],
        vec!["FCALL_RO", "r", "1", "a"],
        vec!["MULTI"],
        vec!["SET", "x", "1"],
        vec!["GET", "x"],
        vec!["EXEC"],
        vec!["CONFIG", "SET", "maxmemory", "0"],
        vec!["EVAL", "#!lua\nreturn redis.call('set','a','3')", "0"],
        vec!["FCALL", "w", "1", "a"],
    ];
    common::assert_no_differences(&common::differences(&mut a, &mut b, &cases), cases.len());
}

/// The Lua VM's memory is bounded while a script runs (512 MiB): a script
/// that asks for more fails with Lua's error, the next one runs, and the
/// server goes on.
#[test]
fn a_script_past_the_vm_memory_bound_fails_and_the_next_runs() {
    let ours = sixfold(&[]);
    let mut c = Raw::connect(ours.port);
    let big = c.cmd(&["EVAL", "return #string.rep('x', 600 * 1024 * 1024)", "0"]);
    assert!(matches!(&big, Frame::Error(m) if m.contains("not enough memory")), "{big:?}");
    let keys = c.cmd(&["EVAL", "return #KEYS + #ARGV", "2", "a", "b", "c"]);
    assert_eq!(keys, Frame::Integer(3));
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
}
