//! `SLOWLOG`: the commands that ran for at least `slowlog-log-slower-than`
//! microseconds (-1: none, 0: all), newest first, at most
//! `slowlog-max-len` of them, kept as Redis keeps them: each with an id,
//! its Unix time, its duration, its arguments (at most 32, each cut to 128
//! bytes, passwords redacted), the client's address and name. A node's
//! slow log is its own: it is neither logged nor replicated.

use crate::args::upper;
use crate::cmd::{SessionResult, help, unknown_subcommand};
use crate::engine::Engine;
use crate::exec::CmdError;
use crate::session::ClientId;
use bytes::Bytes;
use sixfold_resp::Frame;
use std::collections::VecDeque;

/// Arguments kept of a command (Redis's `SLOWLOG_ENTRY_MAX_ARGC`); the
/// last one kept says how many more there were.
pub const ENTRY_ARGS_MAX: usize = 32;
/// Bytes kept of an argument (Redis's `SLOWLOG_ENTRY_MAX_STRING`).
pub const ENTRY_ARG_BYTES_MAX: usize = 128;
/// `slowlog-log-slower-than` by default, in microseconds.
pub const SLOWER_THAN_US_DEFAULT: i64 = 10_000;
/// `slowlog-max-len` by default, in entries.
pub const ENTRIES_MAX_DEFAULT: usize = 128;

/// One slow command.
#[derive(Debug, Clone)]
struct Entry {
    id: u64,
    unix_s: i64,
    duration_us: u64,
    args: Vec<Bytes>,
    peer: String,
    name: Bytes,
}

/// The slow log of this node.
#[derive(Debug)]
pub struct SlowLog {
    /// Newest first.
    entries: VecDeque<Entry>,
    next_id: u64,
    /// `slowlog-log-slower-than` in microseconds (negative: off).
    pub slower_than_us: i64,
    /// `slowlog-max-len`: entries kept.
    pub entries_max: usize,
}

impl Default for SlowLog {
    fn default() -> Self {
        SlowLog {
            entries: VecDeque::new(),
            next_id: 0,
            slower_than_us: SLOWER_THAN_US_DEFAULT,
            entries_max: ENTRIES_MAX_DEFAULT,
        }
    }
}

impl SlowLog {
    /// Whether commands are timed at all.
    pub fn on(&self) -> bool {
        self.slower_than_us >= 0
    }

    /// Whether a command that ran for `duration_us` is slow enough to keep.
    pub fn wants(&self, duration_us: u64) -> bool {
        self.on() && duration_us as i64 >= self.slower_than_us
    }

    /// Notes a command that ran for `duration_us` if it was slow enough.
    pub fn note(&mut self, args: &[Bytes], duration_us: u64, (unix_s, peer, name): (i64, &str, &Bytes)) {
        if !self.wants(duration_us) {
            return;
        }
        let entry = Entry {
            id: self.next_id,
            unix_s,
            duration_us,
            args: kept(args),
            peer: peer.to_string(),
            name: name.clone(),
        };
        self.next_id += 1;
        self.entries.push_front(entry);
        self.entries.truncate(self.entries_max);
    }
}

/// What an entry keeps of a command's arguments (Redis's rules).
fn kept(args: &[Bytes]) -> Vec<Bytes> {
    let args = redacted(args);
    let n = args.len().min(ENTRY_ARGS_MAX);
    let mut out: Vec<Bytes> = args[..n]
        .iter()
        .map(|a| match a.len() > ENTRY_ARG_BYTES_MAX {
            true => {
                let more = format!("... ({} more bytes)", a.len() - ENTRY_ARG_BYTES_MAX);
                Bytes::from([&a[..ENTRY_ARG_BYTES_MAX], more.as_bytes()].concat())
            }
            false => a.clone(),
        })
        .collect();
    if n < args.len() {
        out[n - 1] = Bytes::from(format!("... ({} more arguments)", args.len() - n + 1));
    }
    out
}

/// The arguments with passwords replaced by `(redacted)`, as Redis shows
/// AUTH and HELLO ... AUTH.
fn redacted(args: &[Bytes]) -> Vec<Bytes> {
    const HIDDEN: Bytes = Bytes::from_static(b"(redacted)");
    let mut out = args.to_vec();
    match upper(&args[0]).as_str() {
        "AUTH" => out[1..].iter_mut().for_each(|a| *a = HIDDEN),
        "HELLO" => {
            if let Some(at) = args.iter().position(|a| a.eq_ignore_ascii_case(b"AUTH")) {
                out.iter_mut().skip(at + 1).take(2).for_each(|a| *a = HIDDEN);
            }
        }
        _ => {}
    }
    out
}

const HELP: [&str; 11] = [
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
];

/// `SLOWLOG GET [count] | LEN | RESET | HELP`
pub fn slowlog(e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    let log = &mut e.slowlog;
    Ok(Some(match (upper(&a[1]).as_str(), a.len()) {
        ("HELP", 2) => help("SLOWLOG", &HELP),
        ("RESET", 2) => {
            log.entries.clear();
            Frame::ok()
        }
        ("LEN", 2) => Frame::Integer(log.entries.len() as i64),
        ("GET", 2 | 3) => {
            let count = match a.get(2) {
                None => 10,
                Some(c) => match crate::args::int(c) {
                    Ok(-1) => log.entries.len(),
                    Ok(n) if n >= 0 => n as usize,
                    _ => return Err(CmdError::msg("ERR count should be greater than or equal to -1")),
                },
            };
            Frame::Array(log.entries.iter().take(count).map(entry_frame).collect())
        }
        // Each subcommand is a command of its own in Redis 7, with its arity.
        ("HELP" | "RESET" | "LEN", _) => {
            let sub = String::from_utf8_lossy(&a[1]).to_lowercase();
            return Err(CmdError::msg(format!("ERR wrong number of arguments for 'slowlog|{sub}' command")));
        }
        ("GET", _) => {
            return Err(CmdError::msg(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
                String::from_utf8_lossy(&a[1])
            )));
        }
        _ => return Err(unknown_subcommand(&a[1], "SLOWLOG")),
    }))
}

fn entry_frame(x: &Entry) -> Frame {
    Frame::Array(vec![
        Frame::Integer(x.id as i64),
        Frame::Integer(x.unix_s),
        Frame::Integer(x.duration_us as i64),
        Frame::Array(x.args.iter().map(|a| Frame::Bulk(a.clone())).collect()),
        Frame::bulk(x.peer.clone()),
        Frame::Bulk(x.name.clone()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.to_string())
    }

    #[test]
    fn long_commands_and_arguments_are_cut_as_redis_cuts_them() {
        let many: Vec<Bytes> = (0..40).map(|i| b(&i.to_string())).collect();
        let k = kept(&many);
        assert_eq!(k.len(), ENTRY_ARGS_MAX);
        assert_eq!(k[30], b("30"));
        assert_eq!(k[31], b("... (9 more arguments)"));
        let long = vec![b("SET"), b("k"), Bytes::from(vec![b'x'; 200])];
        let k = kept(&long);
        assert_eq!(k[2], Bytes::from(format!("{}... (72 more bytes)", "x".repeat(128))));
        assert_eq!(kept(&[b("AUTH"), b("user"), b("pw")]), vec![b("AUTH"), b("(redacted)"), b("(redacted)")]);
        let hello = kept(&[b("HELLO"), b("3"), b("auth"), b("u"), b("p"), b("SETNAME"), b("n")]);
        assert_eq!(hello[3..5], [b("(redacted)"), b("(redacted)")]);
        assert_eq!(hello[5..], [b("SETNAME"), b("n")]);
    }

    #[test]
    fn entries_are_kept_newest_first_up_to_the_limit_and_over_the_threshold() {
        let mut log = SlowLog { slower_than_us: 100, entries_max: 2, ..SlowLog::default() };
        let who = (7, "127.0.0.1:1", &Bytes::new());
        log.note(&[b("GET"), b("fast")], 99, who);
        assert!(log.entries.is_empty(), "under the threshold");
        for (i, d) in [100, 150, 200].iter().enumerate() {
            log.note(&[b("GET"), b(&i.to_string())], *d, who);
        }
        let ids: Vec<u64> = log.entries.iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![2, 1], "newest first, two kept");
        log.slower_than_us = -1;
        log.note(&[b("GET"), b("x")], 1_000_000, who);
        assert_eq!(log.entries.len(), 2, "off");
    }
}
