//! Server commands: INFO CONFIG TIME DEBUG SHUTDOWN LOLWUT.

use crate::args::{int, upper};
use crate::cmd::{SessionResult, help, unknown_subcommand};
use crate::engine::Engine;
use crate::exec::CmdError;
use crate::session::ClientId;
use crate::util::glob_match;
use bytes::Bytes;
use sixfold_resp::Frame;
use std::fmt::Write;

/// The Redis version Sixfold reports (the command set it follows).
pub const REDIS_VERSION: &str = "7.2.4";

/// INFO's sections in Redis's order; `commandstats` and `latencystats`
/// only when asked for by name, `all` or `everything`.
const SECTIONS: [&str; 10] = [
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "commandstats",
    "errorstats",
    "latencystats",
    "keyspace",
];

/// The sections INFO gives only when asked for by name, `all` or `everything`.
const NOT_DEFAULT: [&str; 2] = ["commandstats", "latencystats"];

/// `INFO [section ...]`
pub fn info(e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    let wanted: Vec<String> = a[1..].iter().map(|s| String::from_utf8_lossy(s).to_lowercase()).collect();
    let all = wanted.iter().any(|w| w == "all" || w == "everything");
    let default = wanted.is_empty() || wanted.iter().any(|w| w == "default");
    let mut out = String::new();
    for sec in SECTIONS {
        if all || (default && !NOT_DEFAULT.contains(&sec)) || wanted.iter().any(|w| w == sec) {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            section(e, sec, &mut out);
        }
    }
    Ok(Some(Frame::Verbatim("txt".into(), Bytes::from(out))))
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "K", "M", "G"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.2}{}", UNITS[u])
}

fn section(e: &Engine, sec: &str, o: &mut String) {
    let up = |s: &str| {
        let mut c = s.chars();
        c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
    };
    let _ = write!(o, "# {}\r\n", up(sec));
    let mut kv = |k: &str, v: String| {
        let _ = write!(o, "{k}:{v}\r\n");
    };
    match sec {
        "server" => {
            kv("redis_version", REDIS_VERSION.into());
            kv("sixfold_version", env!("CARGO_PKG_VERSION").into());
            kv("redis_mode", "standalone".into());
            kv("os", std::env::consts::OS.into());
            kv("arch_bits", "64".into());
            kv("process_id", std::process::id().to_string());
            kv("tcp_port", e.config.port.to_string());
            let up_s = e.started_ms.map_or(0, |s| (e.now_ms - s) / 1000);
            kv("uptime_in_seconds", up_s.to_string());
            kv("uptime_in_days", (up_s / 86_400).to_string());
        }
        "clients" => {
            kv("connected_clients", e.sessions.len().to_string());
            kv("maxclients", e.config.maxclients.to_string());
            let blocked = e.sessions.values().filter(|s| s.blocked.is_some()).count();
            kv("blocked_clients", blocked.to_string());
            let pubsub = e.sessions.values().filter(|s| s.subscriptions() > 0).count();
            kv("pubsub_clients", pubsub.to_string());
        }
        "memory" => {
            let used = (e.used_memory)() as u64;
            kv("used_memory", used.to_string());
            kv("used_memory_human", human_bytes(used));
            kv("maxmemory", e.config.maxmemory_bytes.to_string());
            kv("maxmemory_human", human_bytes(e.config.maxmemory_bytes));
            kv("maxmemory_policy", "noeviction".into());
            let lua = e.scripts.vm_bytes() as u64;
            kv("used_memory_lua", lua.to_string());
            kv("used_memory_vm_eval", lua.to_string());
            kv("used_memory_lua_human", human_bytes(lua));
            kv("number_of_cached_scripts", e.scripts.count().to_string());
            let f = &e.scripts.functions;
            kv("number_of_functions", f.count().to_string());
            kv("number_of_libraries", f.libraries().count().to_string());
            kv("used_memory_vm_functions", f.vm_bytes().to_string());
            let total = lua + f.vm_bytes() as u64;
            kv("used_memory_vm_total", total.to_string());
            kv("used_memory_vm_total_human", human_bytes(total));
        }
        "persistence" => {
            kv("loading", "0".into());
            kv("durability", e.config.durability.clone());
            kv("rdb_bgsave_in_progress", "0".into());
            kv("aof_enabled", "0".into());
            let r = e.restored.clone().unwrap_or_default();
            kv("snapshot_restored", if r.name.is_empty() { "none".into() } else { r.name });
            kv("snapshot_restored_lsn", r.lsn.to_string());
            kv("snapshot_restored_keys", r.keys.to_string());
            kv("snapshot_restore_ms", r.ms.to_string());
            let last = e.last_snapshot.clone().unwrap_or_default();
            let age_s = if last.made_unix_ms == 0 { -1 } else { (e.now_ms - last.made_unix_ms as i64).max(0) / 1000 };
            kv("snapshot_last", if last.name.is_empty() { "none".into() } else { last.name });
            kv("snapshot_last_status", if last.lsn == 0 { "none" } else { "verified" }.into());
            kv("snapshot_last_lsn", last.lsn.to_string());
            kv("snapshot_last_keys", last.keys.to_string());
            kv("snapshot_last_bytes", last.bytes.to_string());
            kv("snapshot_last_duration_ms", last.ms.to_string());
            kv("snapshot_last_age_s", age_s.to_string());
            for (k, v) in (e.info_extra)("persistence") {
                kv(&k, v);
            }
        }
        "stats" => {
            let s = &e.stats;
            kv("total_connections_received", s.connections.to_string());
            kv("total_commands_processed", s.commands.to_string());
            kv("rejected_connections", s.rejected_connections.to_string());
            kv("expired_keys", s.expired_keys.to_string());
            kv("pubsub_channels", e.channels.len().to_string());
            kv("pubsub_patterns", e.patterns.len().to_string());
            kv("pubsub_messages_delivered", s.pubsub_messages.to_string());
            kv("changes_since_start", s.dirty.to_string());
            kv("effect_groups", s.effect_groups.to_string());
            kv("total_error_replies", s.cmdstats.total_error_replies.to_string());
        }
        "commandstats" => e.stats.cmdstats.command_lines().into_iter().for_each(|(k, v)| kv(&k, v)),
        "errorstats" => e.stats.cmdstats.error_lines().into_iter().for_each(|(k, v)| kv(&k, v)),
        "latencystats" => {
            let text = super::config::value(e, "latency-tracking-info-percentiles").unwrap_or_default();
            let percentiles: Vec<f64> = text.split_whitespace().filter_map(|p| p.parse().ok()).collect();
            e.stats.cmdstats.latency_lines(&percentiles).into_iter().for_each(|(k, v)| kv(&k, v));
        }
        "replication" => {
            let replica = e.config.replica_of.is_some();
            kv("role", if replica { "slave" } else { "master" }.into());
            let extra = (e.info_extra)("replication");
            if !replica && !extra.iter().any(|(k, _)| k == "connected_slaves") {
                kv("connected_slaves", "0".into());
            }
            if !replica {
                let state = if e.failover_in_progress() { "failover-in-progress" } else { "no-failover" };
                kv("master_failover_state", state.into());
            }
            for (k, v) in extra {
                kv(&k, v);
            }
        }
        _ => {
            for (i, db) in e.ks.dbs.iter().enumerate().filter(|(_, d)| !d.is_empty()) {
                kv(&format!("db{i}"), format!("keys={},expires={},avg_ttl=0", db.len(), db.volatile_len()));
            }
        }
    }
}

/// The CONFIG parameters that act in Sixfold (the others are stored only:
/// [`super::config`]).
const ACTING: [&str; 14] = [
    "protected-mode",
    "busy-reply-threshold",
    "lua-time-limit",
    "client-output-buffer-limit",
    "maxmemory",
    "maxmemory-policy",
    "maxclients",
    "requirepass",
    "proto-max-bulk-len",
    "port",
    "databases",
    "save",
    "appendonly",
    "timeout",
];

/// Every CONFIG parameter with its current value.
fn config_params(e: &Engine) -> Vec<(&'static str, String)> {
    let mut all = acting_params(e);
    all.extend(super::config::stored(e, &ACTING));
    all
}

/// Parameters Redis lets CONFIG SET change that Sixfold fixes (the port is
/// `--listen`'s; durability is the fabric's, not RDB's or AOF's).
pub(crate) const FIXED: [&str; 5] = ["port", "databases", "save", "appendonly", "timeout"];

/// The parameters that act, with their current values ([`ACTING`]).
fn acting_params(e: &Engine) -> Vec<(&'static str, String)> {
    let c = &e.config;
    vec![
        ("protected-mode", if c.protected_mode { "yes" } else { "no" }.into()),
        ("busy-reply-threshold", e.scripts.watch().threshold_ms().to_string()),
        ("lua-time-limit", e.scripts.watch().threshold_ms().to_string()),
        ("client-output-buffer-limit", c.output_limits.render()),
        ("maxmemory", c.maxmemory_bytes.to_string()),
        ("maxmemory-policy", "noeviction".into()),
        ("maxclients", c.maxclients.to_string()),
        ("requirepass", c.requirepass.as_ref().map(|_| super::config::REDACTED.to_string()).unwrap_or_default()),
        ("proto-max-bulk-len", c.proto_max_bulk_len.to_string()),
        ("port", c.port.to_string()),
        ("databases", crate::db::DATABASES.to_string()),
        ("save", String::new()),
        ("appendonly", "no".into()),
        ("timeout", "0".into()),
    ]
}

/// Parses a memory value: `100`, `10kb`, `64mb`, `1gb` (and k/m/g).
pub(crate) fn memory_value(b: &[u8]) -> Option<u64> {
    let s = String::from_utf8_lossy(b).to_lowercase();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let mult: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1_000_000,
        "mb" => 1024 * 1024,
        "g" => 1_000_000_000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.parse::<u64>().ok()?.checked_mul(mult)
}

pub(crate) fn set_param(e: &mut Engine, name: &str, v: &Bytes) -> Result<(), CmdError> {
    let failed =
        |why: &str| CmdError::msg(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"));
    match name {
        "maxmemory" => {
            e.config.maxmemory_bytes = memory_value(v).ok_or_else(|| failed("argument must be a memory value"))?
        }
        "maxmemory-policy" if v.eq_ignore_ascii_case(b"noeviction") => {}
        "maxmemory-policy" => {
            return Err(failed("Sixfold is a database and only supports noeviction"));
        }
        "maxclients" => {
            let n = int(v).ok().filter(|n| *n >= 1).ok_or_else(|| failed("argument must be a number"))?;
            e.config.maxclients = n as u64;
        }
        "requirepass" => e.config.requirepass = (!v.is_empty()).then(|| v.clone()),
        // One setting under two names, as in Redis.
        "busy-reply-threshold" | "lua-time-limit" => {
            let kind = crate::redis_config::Kind::Int { min: 0, max: i64::MAX };
            let ms = super::config::check(kind, v).map_err(|why| failed(&why))?;
            e.scripts.watch().set_threshold_ms(ms.parse().unwrap_or(0));
        }
        "client-output-buffer-limit" => e.config.output_limits.set(v).map_err(failed)?,
        // Stored as Redis reports them, and acting: SLOWLOG's settings, the
        // level `redis.log` writes at, when a sparse HLL turns dense, the
        // size of a stream's nodes, and the latency monitor's threshold.
        "slowlog-log-slower-than"
        | "slowlog-max-len"
        | "loglevel"
        | "hll-sparse-max-bytes"
        | "stream-node-max-entries"
        | "latency-monitor-threshold" => {
            super::config::set(e, name, v).unwrap_or(Ok(())).map_err(|why| failed(&why))?;
            match name {
                "slowlog-max-len" => e.slowlog.entries_max = usize::try_from(int(v).unwrap_or(0)).unwrap_or(0),
                "slowlog-log-slower-than" => e.slowlog.slower_than_us = int(v).unwrap_or(0),
                "latency-monitor-threshold" => {
                    let stored = super::config::value(e, name).and_then(|v| v.parse().ok());
                    e.latency_monitor.threshold_ms = stored.unwrap_or(0);
                }
                "stream-node-max-entries" => {
                    let stored = super::config::value(e, name).unwrap_or("100");
                    e.config.stream_node_entries_max = stored.parse().unwrap_or(100);
                }
                "hll-sparse-max-bytes" => {
                    let stored = super::config::value(e, name).unwrap_or("3000");
                    e.config.hll_sparse_bytes_max = stored.parse().unwrap_or(3000);
                }
                _ => e.scripts.watch().set_log_level(&String::from_utf8_lossy(v)),
            }
        }
        "notify-keyspace-events" => {
            let flags = crate::notify::parse(v)
                .ok_or_else(|| failed("Invalid event class character. Use 'Ag$lshzxeKEtmdn'."))?;
            let shown = Bytes::from(crate::notify::format(flags));
            super::config::set(e, name, &shown).unwrap_or(Ok(())).map_err(|why| failed(&why))?;
            e.config.notify_flags = flags;
        }
        "protected-mode" => {
            let value = super::config::check(crate::redis_config::Kind::Bool, v).map_err(|why| failed(&why))?;
            e.config.protected_mode = value == "yes";
        }
        "proto-max-bulk-len" => {
            let n = memory_value(v)
                .filter(|n| *n >= 1024 * 1024)
                .ok_or_else(|| failed("argument must be a memory value"))?;
            e.config.proto_max_bulk_len = n;
        }
        _ if FIXED.contains(&name) => {
            return Err(failed("can't set immutable config"));
        }
        _ => match super::config::set(e, name, v) {
            Some(Ok(())) => return Ok(()),
            Some(Err(why)) => return Err(failed(&why)),
            None => {
                return Err(CmdError::msg(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                )));
            }
        },
    }
    e.config_changed = true;
    Ok(())
}

/// `CONFIG GET pattern [pattern ...] | SET name value [name value ...] | RESETSTAT | REWRITE | HELP`
pub fn config(e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    match upper(&a[1]).as_str() {
        "GET" if a.len() >= 3 => {
            let mut out = Vec::new();
            for (k, v) in config_params(e) {
                if a[2..].iter().any(|p| glob_match(&p.to_ascii_lowercase(), k.as_bytes())) {
                    out.push((Frame::bulk(k), Frame::bulk(v)));
                }
            }
            Ok(Some(Frame::Map(out)))
        }
        "SET" if a.len() >= 4 && a.len().is_multiple_of(2) => {
            for kv in a[2..].chunks(2) {
                set_param(e, &String::from_utf8_lossy(&kv[0]).to_lowercase(), &kv[1])?;
            }
            Ok(Some(Frame::ok()))
        }
        "RESETSTAT" if a.len() == 2 => {
            e.stats = Default::default();
            Ok(Some(Frame::ok()))
        }
        "REWRITE" if a.len() == 2 => {
            super::config::rewrite(e, &config_params(e))?;
            Ok(Some(Frame::ok()))
        }
        "HELP" => Ok(Some(help("CONFIG", &["GET <pattern>", "SET <directive> <value>", "RESETSTAT", "REWRITE"]))),
        "GET" | "SET" | "RESETSTAT" | "REWRITE" => Err(CmdError::msg(format!(
            "ERR wrong number of arguments for 'config|{}' command",
            String::from_utf8_lossy(&a[1]).to_lowercase()
        ))),
        _ => Err(unknown_subcommand(&a[1], "CONFIG")),
    }
}

/// `TIME`
pub fn time(e: &mut Engine, _id: ClientId, _a: &[Bytes]) -> SessionResult {
    let ms = e.now_ms;
    Ok(Some(Frame::Array(vec![Frame::bulk_int(ms / 1000), Frame::bulk_int((ms % 1000) * 1000)])))
}

/// `DEBUG DIGEST | SET-ACTIVE-EXPIRE 0|1 | HELP`
pub fn debug(e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    match upper(&a[1]).as_str() {
        "DIGEST" => Ok(Some(Frame::Simple(crate::digest::hex(&e.digest()).into()))),
        "SET-ACTIVE-EXPIRE" if a.len() == 3 => {
            e.config.active_expire = int(&a[2])? != 0;
            Ok(Some(Frame::ok()))
        }
        "HELP" => Ok(Some(help("DEBUG", &["DIGEST", "SET-ACTIVE-EXPIRE <0|1>"]))),
        _ => Err(unknown_subcommand(&a[1], "DEBUG")),
    }
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE]`: the server stops; no reply.
pub fn shutdown(e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    for o in &a[1..] {
        if !["NOSAVE", "SAVE", "NOW", "FORCE"].contains(&upper(o).as_str()) {
            return Err(CmdError::Syntax);
        }
    }
    e.shutdown = true;
    Ok(None)
}

/// `LOLWUT [VERSION version]`: Redis's answer for versions without
/// computer art (Sixfold draws none), with the Redis version it answers as.
pub fn lolwut(_e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    if a.len() >= 3 && a[1].eq_ignore_ascii_case(b"version") {
        int(&a[2])?;
    }
    Ok(Some(Frame::Bulk(Bytes::from(format!("Redis ver. {REDIS_VERSION}\n")))))
}
