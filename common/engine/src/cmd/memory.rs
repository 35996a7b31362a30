//! `MEMORY USAGE | STATS | DOCTOR | MALLOC-STATS | PURGE | HELP`.
//!
//! USAGE is Sixfold's estimate of the bytes its own representation of a
//! key and value takes (entry, key, and per-element overheads of the
//! collections), sampling at most `SAMPLES` elements of a collection as
//! Redis does: the numbers are not Redis's, whose encodings differ. STATS
//! reports what the server measures (the process's memory, the Lua VMs,
//! queued client output, keys per database); the fields Redis derives from
//! its allocator and replication backlog are left out or zero where
//! Sixfold has no such thing (no backlog, no AOF buffer).

use crate::args::{int, is, upper};
use crate::cmd::{SessionResult, help, unknown_subcommand};
use crate::db::Entry;
use crate::engine::Engine;
use crate::exec::CmdError;
use crate::session::ClientId;
use crate::value::Value;
use bytes::Bytes;
use sixfold_resp::Frame;

/// Bytes of a key's table entry besides the key and value.
const ENTRY_OVERHEAD_BYTES: usize = 64;
/// Bytes per element of a collection besides its own bytes.
const ELEMENT_OVERHEAD_BYTES: usize = 32;
/// Used memory under which DOCTOR has nothing to look at (Redis's bound).
const DOCTOR_MIN_BYTES: usize = 5 * 1024 * 1024;
/// Elements USAGE samples by default.
const SAMPLES_DEFAULT: usize = 5;

/// The estimate of one value, from `samples` elements (0: all).
fn value_bytes(v: &Value, samples: usize) -> usize {
    fn sampled(n: usize, it: impl Iterator<Item = usize>, samples: usize) -> usize {
        let take = if samples == 0 { n } else { samples.min(n) };
        if take == 0 {
            return 0;
        }
        let sum: usize = it.take(take).map(|b| b + ELEMENT_OVERHEAD_BYTES).sum();
        sum / take * n
    }
    match v {
        Value::Str(s) => s.len(),
        Value::List(l) => sampled(l.len(), l.iter().map(|e| e.len()), samples),
        Value::Hash(h) => sampled(h.len(), h.iter().map(|(k, v)| k.len() + v.len()), samples),
        Value::Set(s) => sampled(s.len(), s.iter().map(|m| m.len()), samples),
        // A member is in the score map and in the order tree.
        Value::ZSet(z) => sampled(z.len(), z.members().map(|(m, _)| 2 * m.len() + 16), samples),
        // An entry's ID and fields; a group's pending entries.
        Value::Stream(st) => {
            let entries =
                sampled(st.len(), st.entries.values().map(|f| 16 + f.iter().map(Bytes::len).sum::<usize>()), samples);
            let pending: usize = st.groups.values().map(|g| g.pel.len() * (2 * ELEMENT_OVERHEAD_BYTES + 32)).sum();
            entries + pending
        }
    }
}

fn usage(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    let mut samples = SAMPLES_DEFAULT;
    let mut i = 3;
    while i < a.len() {
        if !(is(&a[i], "samples") && i + 1 < a.len()) {
            return Err(CmdError::Syntax);
        }
        let n = int(&a[i + 1])?;
        samples = usize::try_from(n).map_err(|_| CmdError::Syntax)?;
        i += 2;
    }
    let db = e.sessions.get(&id).map_or(0, |s| s.db);
    let now = e.now_ms;
    let live = e.ks.dbs[db].get(&a[2]).filter(|en: &&Entry| !en.is_expired(now));
    Ok(Some(live.map_or(Frame::Null, |en| {
        Frame::Integer((ENTRY_OVERHEAD_BYTES + a[2].len() + value_bytes(&en.value, samples)) as i64)
    })))
}

fn stats(e: &mut Engine) -> Frame {
    let used = (e.used_memory)() as i64;
    let clients: usize = e.sessions.values().map(|s| s.out.len()).sum();
    let mut out = vec![
        ("total.allocated", Frame::Integer(used)),
        ("replication.backlog", Frame::Integer(0)),
        ("clients.slaves", Frame::Integer(0)),
        ("clients.normal", Frame::Integer(clients as i64)),
        ("aof.buffer", Frame::Integer(0)),
        ("lua.caches", Frame::Integer(e.scripts.vm_bytes() as i64)),
        ("functions.caches", Frame::Integer(e.scripts.functions.vm_bytes() as i64)),
    ];
    let mut keys = 0;
    let mut per_db = Vec::new();
    for (n, db) in e.ks.dbs.iter().enumerate().filter(|(_, d)| !d.is_empty()) {
        keys += db.len();
        let counts = vec![
            (Frame::bulk("keys.count"), Frame::Integer(db.len() as i64)),
            (Frame::bulk("expires.count"), Frame::Integer(db.volatile_len() as i64)),
        ];
        per_db.push((Frame::Bulk(Bytes::from(format!("db.{n}"))), Frame::Map(counts)));
    }
    out.push(("keys.count", Frame::Integer(keys as i64)));
    let mut map: Vec<(Frame, Frame)> = out.into_iter().map(|(k, v)| (Frame::bulk(k), v)).collect();
    map.extend(per_db);
    Frame::Map(map)
}

/// `MEMORY <subcommand>`
pub fn memory(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    let sub = upper(&a[1]);
    match (sub.as_str(), a.len()) {
        ("USAGE", 3..) => usage(e, id, a),
        ("STATS", 2) => Ok(Some(stats(e))),
        ("DOCTOR", 2) => {
            let text = if (e.used_memory)() < DOCTOR_MIN_BYTES {
                "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting."
            } else {
                "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."
            };
            Ok(Some(Frame::bulk(text)))
        }
        ("MALLOC-STATS", 2) => Ok(Some(Frame::bulk("Stats not supported for the current allocator"))),
        ("PURGE", 2) => Ok(Some(Frame::ok())),
        ("HELP", 2) => Ok(Some(help(
            "MEMORY",
            &[
                "DOCTOR",
                "    Return memory problems reports.",
                "MALLOC-STATS",
                "    Return internal statistics report from the memory allocator.",
                "PURGE",
                "    Attempt to purge dirty pages for reclamation by the allocator.",
                "STATS",
                "    Return information about the memory usage of the server.",
                "USAGE <key> [SAMPLES <count>]",
                "    Return memory in bytes used by <key> and its value. Nested values are",
                "    sampled up to <count> times (default: 5, 0 means sample all).",
                "HELP",
                "    Prints this help.",
            ],
        ))),
        ("USAGE" | "STATS" | "DOCTOR" | "MALLOC-STATS" | "PURGE", _) => {
            Err(CmdError::msg(format!("ERR wrong number of arguments for 'memory|{}' command", sub.to_lowercase())))
        }
        _ => Err(unknown_subcommand(&a[1], "MEMORY")),
    }
}
