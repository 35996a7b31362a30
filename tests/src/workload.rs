//! The recorded workload: clients on the writer mix register writes and
//! reads (unique values, a few keys), list appends and counter increments;
//! they follow the writer as clients of a Redis Cluster do (`-MOVED` names
//! it; a lost connection sends them to the other data node);
//! one client reads a register from the replica. Every operation is
//! recorded with its invocation and completion times and outcome: an error
//! reply that says the write did not happen is a failure; a timeout, a
//! `-TIMEOUT` reply or a lost connection is unknown. Increments of the
//! counter carry unique ids (added to a set in the same MULTI), so they are
//! checked exactly. One more client reads the counter from the replica.

use crate::appends::Append;
use crate::history::{Nanos, Outcome, RegisterCall, RegisterOp};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Register keys.
pub const REGISTERS: u64 = 5;
/// List keys.
pub const LISTS: u64 = 3;
/// The counter key.
pub const COUNTER: &str = "counter";
/// The set of the increments' unique ids (each INCR of [`COUNTER`] adds its
/// id here in the same transaction, so increments are checked exactly).
pub const INCREMENTS: &str = "increments";
/// A client waits this long for a reply before recording "unknown".
pub const REPLY_TIMEOUT_MS: u64 = 3_000;

/// Everything the clients recorded.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Register operations.
    pub registers: Mutex<Vec<RegisterCall>>,
    /// Appends per list key.
    pub appends: Mutex<BTreeMap<String, Vec<Append>>>,
    /// Increments: unique id and outcome.
    pub increments: Mutex<Vec<(u64, Outcome)>>,
    /// Values of the counter read from the replica, in order.
    pub replica_reads: Mutex<Vec<(Nanos, Option<u64>)>>,
    /// Operations completed (any outcome).
    pub ops: AtomicU64,
}

/// The shared clock of a run.
pub struct Clock(Instant);

impl Clock {
    /// Starts now.
    pub fn new() -> Clock {
        Clock(Instant::now())
    }

    /// Nanoseconds since the start.
    pub fn now(&self) -> Nanos {
        self.0.elapsed().as_nanos() as Nanos
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}

fn connect(addr: SocketAddr) -> Option<redis::Connection> {
    let c = redis::Client::open(format!("redis://{addr}/")).ok()?;
    let conn = c.get_connection_with_timeout(Duration::from_millis(500)).ok()?;
    conn.set_read_timeout(Some(Duration::from_millis(REPLY_TIMEOUT_MS))).ok()?;
    Some(conn)
}

/// How a reply ended for a write.
fn outcome<T>(r: &redis::RedisResult<T>) -> Outcome {
    match r {
        Ok(_) => Outcome::Ok,
        Err(e) if e.code() == Some("TIMEOUT") => Outcome::Info,
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError) || e.code().is_some() => {
            Outcome::Fail
        }
        Err(_) => Outcome::Info,
    }
}

/// The address a `-MOVED` reply names.
fn moved_to<T>(r: &redis::RedisResult<T>) -> Option<SocketAddr> {
    let e = r.as_ref().err()?;
    let (host, port) = e.redirect_node()?;
    format!("{host}:{port}").parse().ok()
}

/// Whether a reply says "not now" (`-TRYAGAIN`, `-CLUSTERDOWN`, `-LOADING`):
/// nothing was done; the client waits a little before the next request.
fn busy<T>(r: &redis::RedisResult<T>) -> bool {
    r.as_ref().err().is_some_and(|e| matches!(e.code(), Some("TRYAGAIN" | "CLUSTERDOWN" | "LOADING")))
}

/// What a client does after a request: reconnect (the connection's state
/// is unknown), follow a redirect, or pause.
struct Next {
    broken: bool,
    moved: Option<SocketAddr>,
    busy: bool,
}

impl Next {
    fn after<T>(r: &redis::RedisResult<T>, broken: bool) -> Next {
        Next { broken, moved: moved_to(r), busy: busy(r) }
    }
}

/// One writer-side client until `stop`, starting on `addrs[0]` (the data
/// nodes; it follows `-MOVED`, and tries the other after a lost connection).
pub fn writer_client(
    addrs: [SocketAddr; 2],
    process: u64,
    seed: u64,
    stop: &AtomicBool,
    rec: &Recorded,
    clock: &Clock,
) {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut next_value = 0u64;
    let (mut addr, mut tried) = (addrs[0], 0usize);
    while !stop.load(Ordering::Relaxed) {
        let Some(mut c) = connect(addr) else {
            tried += 1;
            addr = addrs[tried % 2];
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        while !stop.load(Ordering::Relaxed) {
            next_value += 1;
            let value = (process << 32) | next_value;
            let invoked = clock.now();
            let next = match rng.random_range(0..10) {
                0..=3 => {
                    let key = format!("r{}", rng.random_range(0..REGISTERS));
                    let r: redis::RedisResult<()> = redis::cmd("SET").arg(&key).arg(value).query(&mut c);
                    let o = outcome(&r);
                    let call = RegisterCall {
                        process,
                        key,
                        op: RegisterOp::Write(value),
                        invoked,
                        completed: clock.now(),
                        outcome: o,
                    };
                    rec.registers.lock().map(|mut g| g.push(call)).ok();
                    Next::after(&r, o == Outcome::Info)
                }
                4..=6 => {
                    let key = format!("r{}", rng.random_range(0..REGISTERS));
                    let r: redis::RedisResult<Option<u64>> = redis::cmd("GET").arg(&key).query(&mut c);
                    let next = Next::after(&r, r.as_ref().is_err_and(|e| e.code().is_none()));
                    let (op, o) = match r {
                        Ok(v) => (RegisterOp::Read(v), Outcome::Ok),
                        Err(_) => (RegisterOp::Read(None), Outcome::Info),
                    };
                    let call = RegisterCall { process, key, op, invoked, completed: clock.now(), outcome: o };
                    rec.registers.lock().map(|mut g| g.push(call)).ok();
                    next
                }
                7..=8 => {
                    let key = format!("l{}", rng.random_range(0..LISTS));
                    let r: redis::RedisResult<i64> = redis::cmd("RPUSH").arg(&key).arg(value).query(&mut c);
                    let o = outcome(&r);
                    let a = Append { value, invoked, completed: clock.now(), outcome: o };
                    rec.appends.lock().map(|mut g| g.entry(key).or_default().push(a)).ok();
                    Next::after(&r, o == Outcome::Info)
                }
                _ => {
                    // Recorded as unknown first: whatever happens to this
                    // client, the increment is never taken for failed.
                    let at = rec.increments.lock().map(|mut g| {
                        g.push((value, Outcome::Info));
                        g.len() - 1
                    });
                    let r = increment(&mut c, value);
                    let o = outcome(&r);
                    if let Ok(at) = at {
                        rec.increments.lock().map(|mut g| g[at].1 = o).ok();
                    }
                    Next::after(&r, o == Outcome::Info)
                }
            };
            rec.ops.fetch_add(1, Ordering::Relaxed);
            if let Some(to) = next.moved {
                addr = to;
                break; // to the writer the data node named
            }
            if next.broken {
                tried += 1;
                addr = addrs[tried % 2];
                break; // reconnect: the connection's state is unknown
            }
            if next.busy {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// INCR of the counter and SADD of `id` to [`INCREMENTS`] in one MULTI,
/// sent command by command (DISCARD if either is refused).
fn increment(c: &mut redis::Connection, id: u64) -> redis::RedisResult<Vec<i64>> {
    redis::cmd("MULTI").query::<()>(c)?;
    let queued = redis::cmd("INCR")
        .arg(COUNTER)
        .query::<()>(c)
        .and_then(|()| redis::cmd("SADD").arg(INCREMENTS).arg(id).query::<()>(c));
    if let Err(e) = queued {
        let _ = redis::cmd("DISCARD").query::<()>(c);
        return Err(e);
    }
    redis::cmd("EXEC").query(c)
}

/// Reads the counter from the replica until `stop`.
pub fn replica_reader(addr: SocketAddr, stop: &AtomicBool, rec: &Recorded, clock: &Clock) {
    while !stop.load(Ordering::Relaxed) {
        let Some(mut c) = connect(addr) else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        // A replica serves reads of keys to READONLY connections only.
        if redis::cmd("READONLY").query::<()>(&mut c).is_err() {
            continue;
        }
        while !stop.load(Ordering::Relaxed) {
            let Ok(v) = redis::cmd("GET").arg(COUNTER).query::<Option<u64>>(&mut c) else { break };
            rec.replica_reads.lock().map(|mut g| g.push((clock.now(), v))).ok();
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}
