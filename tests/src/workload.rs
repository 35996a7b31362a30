//! The recorded workload: clients on the writer mix register writes and
//! reads (unique values, a few keys), list appends and counter increments;
//! one client reads a register from the replica. Every operation is
//! recorded with its invocation and completion times and outcome: an error
//! reply that says the write did not happen is a failure; a timeout, a
//! `-TIMEOUT` reply or a lost connection is unknown. One more client reads
//! the counter from the replica.

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
/// A client waits this long for a reply before recording "unknown".
pub const REPLY_TIMEOUT_MS: u64 = 3_000;

/// Everything the clients recorded.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Register operations.
    pub registers: Mutex<Vec<RegisterCall>>,
    /// Appends per list key.
    pub appends: Mutex<BTreeMap<String, Vec<Append>>>,
    /// Acknowledged increments.
    pub incr_ok: AtomicU64,
    /// Increments with unknown outcome.
    pub incr_unknown: AtomicU64,
    /// Values of the counter read from the replica, in order.
    pub replica_reads: Mutex<Vec<Option<u64>>>,
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

/// One writer-side client until `stop`.
pub fn writer_client(addr: SocketAddr, process: u64, seed: u64, stop: &AtomicBool, rec: &Recorded, clock: &Clock) {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut next_value = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let Some(mut c) = connect(addr) else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        while !stop.load(Ordering::Relaxed) {
            next_value += 1;
            let value = (process << 32) | next_value;
            let invoked = clock.now();
            let broken = match rng.random_range(0..10) {
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
                    o == Outcome::Info
                }
                4..=6 => {
                    let key = format!("r{}", rng.random_range(0..REGISTERS));
                    let r: redis::RedisResult<Option<u64>> = redis::cmd("GET").arg(&key).query(&mut c);
                    let broken = r.is_err();
                    let (op, o) = match r {
                        Ok(v) => (RegisterOp::Read(v), Outcome::Ok),
                        Err(_) => (RegisterOp::Read(None), Outcome::Info),
                    };
                    let call = RegisterCall { process, key, op, invoked, completed: clock.now(), outcome: o };
                    rec.registers.lock().map(|mut g| g.push(call)).ok();
                    broken
                }
                7..=8 => {
                    let key = format!("l{}", rng.random_range(0..LISTS));
                    let r: redis::RedisResult<i64> = redis::cmd("RPUSH").arg(&key).arg(value).query(&mut c);
                    let o = outcome(&r);
                    let a = Append { value, invoked, completed: clock.now(), outcome: o };
                    rec.appends.lock().map(|mut g| g.entry(key).or_default().push(a)).ok();
                    o == Outcome::Info
                }
                _ => {
                    let r: redis::RedisResult<i64> = redis::cmd("INCR").arg(COUNTER).query(&mut c);
                    let o = outcome(&r);
                    let counter = if o == Outcome::Ok { &rec.incr_ok } else { &rec.incr_unknown };
                    if o != Outcome::Fail {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    o == Outcome::Info
                }
            };
            rec.ops.fetch_add(1, Ordering::Relaxed);
            if broken {
                break; // reconnect: the connection's state is unknown
            }
        }
    }
}

/// Reads the counter from the replica until `stop`.
pub fn replica_reader(addr: SocketAddr, stop: &AtomicBool, rec: &Recorded) {
    while !stop.load(Ordering::Relaxed) {
        let Some(mut c) = connect(addr) else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        while !stop.load(Ordering::Relaxed) {
            let Ok(v) = redis::cmd("GET").arg(COUNTER).query::<Option<u64>>(&mut c) else { break };
            rec.replica_reads.lock().map(|mut g| g.push(v)).ok();
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}
