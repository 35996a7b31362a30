//! WATCH and expiry, as Redis 7 defines them: a watched key that expires
//! after WATCH fails the EXEC; a key already expired when watched and then
//! deleted by expiry is no change. Driven with an injected clock.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use sixfold_engine::{ClientInfo, Config, Engine};

fn cmd(s: &str) -> Vec<Bytes> {
    s.split(' ').map(|p| Bytes::from(p.to_string())).collect()
}

/// Runs `c` for `id` at `now` and returns the raw reply bytes.
fn run(e: &mut Engine, id: u64, c: &str, now: i64) -> String {
    e.feed(id, cmd(c), now);
    let out: Vec<u8> = e.take_output().into_iter().filter(|(i, _)| *i == id).flat_map(|(_, b)| b.to_vec()).collect();
    String::from_utf8(out).unwrap()
}

#[test]
fn key_expiring_after_watch_fails_exec() {
    let mut e = Engine::new(Config::default(), 1);
    let a = e.connect(ClientInfo::default(), 0).unwrap();
    run(&mut e, a, "SET k v PX 100", 1_000);
    run(&mut e, a, "WATCH k", 1_000);
    run(&mut e, a, "MULTI", 1_200);
    run(&mut e, a, "SET other 1", 1_200);
    assert_eq!(run(&mut e, a, "EXEC", 1_200), "*-1\r\n");
}

#[test]
fn key_already_expired_when_watched_does_not_fail_exec_when_deleted() {
    let mut e = Engine::new(Config::default(), 1);
    let a = e.connect(ClientInfo::default(), 0).unwrap();
    let b = e.connect(ClientInfo::default(), 0).unwrap();
    run(&mut e, a, "DEBUG SET-ACTIVE-EXPIRE 0", 1_000);
    run(&mut e, a, "SET k v PX 100", 1_000);
    run(&mut e, a, "WATCH k", 1_200);
    // Another client's read deletes the expired key: logically no change.
    assert_eq!(run(&mut e, b, "GET k", 1_300), "$-1\r\n");
    run(&mut e, a, "MULTI", 1_300);
    run(&mut e, a, "SET other 1", 1_300);
    assert_eq!(run(&mut e, a, "EXEC", 1_300), "*1\r\n+OK\r\n");
}

#[test]
fn modifying_a_watched_key_fails_exec_and_unwatch_clears_it() {
    let mut e = Engine::new(Config::default(), 1);
    let a = e.connect(ClientInfo::default(), 0).unwrap();
    let b = e.connect(ClientInfo::default(), 0).unwrap();
    run(&mut e, a, "WATCH k", 1_000);
    run(&mut e, b, "SET k x", 1_000);
    run(&mut e, a, "MULTI", 1_000);
    assert_eq!(run(&mut e, a, "EXEC", 1_000), "*-1\r\n");
    run(&mut e, a, "WATCH k", 1_000);
    run(&mut e, b, "SET k y", 1_000);
    run(&mut e, a, "UNWATCH", 1_000);
    run(&mut e, a, "MULTI", 1_000);
    assert_eq!(run(&mut e, a, "EXEC", 1_000), "*0\r\n");
    assert_eq!(run(&mut e, a, "WATCH k", 1_000), "+OK\r\n");
    run(&mut e, a, "MULTI", 1_000);
    assert_eq!(run(&mut e, a, "WATCH k", 1_000), "-ERR WATCH inside MULTI is not allowed\r\n");
}

/// A writer whose lease lapsed between MULTI and EXEC: EXEC answers
/// -TRYAGAIN, nothing queued runs, and the transaction is gone.
#[test]
fn exec_after_the_lease_lapsed_runs_nothing_and_discards_the_transaction() {
    let mut e = Engine::new(Config::default(), 1);
    let a = e.connect(ClientInfo::default(), 0).unwrap();
    run(&mut e, a, "MULTI", 1_000);
    assert_eq!(run(&mut e, a, "SET k v", 1_000), "+QUEUED\r\n");
    e.set_lease_lapsed(true);
    assert!(run(&mut e, a, "EXEC", 1_000).starts_with("-TRYAGAIN"));
    assert!(run(&mut e, a, "GET k", 1_000).starts_with("-TRYAGAIN"), "reads are refused too");
    e.set_lease_lapsed(false);
    assert_eq!(run(&mut e, a, "GET k", 1_000), "$-1\r\n", "the queued SET never ran");
    assert_eq!(run(&mut e, a, "EXEC", 1_000), "-ERR EXEC without MULTI\r\n", "the transaction was discarded");
}

/// A transaction queued while the node was the writer does not run after
/// the node became a replica (it was fenced between MULTI and EXEC): its
/// writes would change the replica's data and be logged nowhere.
#[test]
fn exec_of_writes_queued_before_a_demotion_is_refused() {
    let mut e = Engine::new(Config::default(), 1);
    let a = e.connect(ClientInfo::default(), 0).unwrap();
    let r = e.connect(ClientInfo::default(), 0).unwrap();
    run(&mut e, a, "MULTI", 1_000);
    assert_eq!(run(&mut e, a, "INCR counter", 1_000), "+QUEUED\r\n");
    e.demote(true);
    assert_eq!(run(&mut e, a, "EXEC", 1_000), "-READONLY You can't write against a read only replica.\r\n");
    run(&mut e, r, "READONLY", 1_000);
    assert_eq!(run(&mut e, r, "GET counter", 1_000), "$-1\r\n", "the queued INCR did not run");
    assert_eq!(run(&mut e, a, "EXEC", 1_000), "-ERR EXEC without MULTI\r\n", "the transaction was discarded");
    run(&mut e, r, "MULTI", 1_000);
    run(&mut e, r, "GET counter", 1_000);
    assert_eq!(run(&mut e, r, "EXEC", 1_000), "*1\r\n$-1\r\n", "reads in a transaction still run on a replica");
}
