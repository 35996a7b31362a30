//! `INFO commandstats` and `INFO errorstats`, counted as Redis 7 counts
//! them: per command (a container's subcommands as `config|get`), the
//! calls that ran with their time, the calls refused before running
//! (arity, authentication, OOM, ...) and those that ran and answered an
//! error, and a histogram of their latencies (`LATENCY HISTOGRAM`, `INFO
//! latencystats`); per error code (the error's first word), the error
//! replies clients received. `CONFIG RESETSTAT` clears them.

use crate::cmd::{Spec, TABLE, table_index};
use bytes::Bytes;
use sixfold_resp::Frame;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

/// Error codes counted apart (Redis's limit); past it, new codes are
/// counted in the total only.
pub const ERROR_CODES_MAX: usize = 128;

/// The commands Redis 7 serves as containers of subcommands, counted as
/// `name|subcommand`.
const CONTAINERS: [&str; 11] =
    ["acl", "client", "cluster", "command", "config", "function", "latency", "memory", "object", "pubsub", "script"];

/// Latency buckets per command: bucket `i` counts the calls that ran at
/// most `1024 << i` nanoseconds (and more than the bucket below): powers
/// of two from about a microsecond, as Redis's `LATENCY HISTOGRAM`
/// reports them (Redis keeps an HDR histogram with two significant digits;
/// these are coarser).
pub const LATENCY_BUCKETS: usize = 32;

/// One command's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandStat {
    /// Times it ran.
    pub calls: u64,
    /// Microseconds it ran for, in all.
    pub usec: u64,
    /// Times it was refused before running.
    pub rejected: u64,
    /// Times it ran and answered an error.
    pub failed: u64,
    /// Its calls by latency ([`LATENCY_BUCKETS`]).
    pub latency: [u64; LATENCY_BUCKETS],
}

impl CommandStat {
    /// The latency bucket of a call that ran `nanos`.
    fn bucket(nanos: u64) -> usize {
        let over = nanos.saturating_sub(1) >> 10;
        let i = (u64::BITS - over.leading_zeros()) as usize;
        i.min(LATENCY_BUCKETS - 1)
    }

    /// The upper bound of bucket `i`, in microseconds.
    fn bucket_usec(i: usize) -> f64 {
        (1024u64 << i) as f64 / 1000.0
    }

    /// `(upper bound in µs, calls at or below it)` for each bucket where
    /// the count rises, as `LATENCY HISTOGRAM` gives them.
    pub fn cumulative(&self) -> Vec<(u64, u64)> {
        let mut sum = 0;
        let mut out = Vec::new();
        for (i, n) in self.latency.iter().enumerate().filter(|(_, n)| **n > 0) {
            sum += n;
            out.push((((1024u64 << i) - 1) / 1000, sum));
        }
        out
    }

    /// The latency at or below which `p` percent of the calls ran, in
    /// microseconds (the bound of its bucket).
    pub fn percentile_usec(&self, p: f64) -> f64 {
        let total: u64 = self.latency.iter().sum();
        let wanted = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut sum = 0;
        for (i, n) in self.latency.iter().enumerate() {
            sum += n;
            if sum >= wanted {
                return Self::bucket_usec(i);
            }
        }
        0.0
    }
}

/// The counts of this node.
#[derive(Debug, Clone, Default)]
pub struct CommandStats {
    /// By position in the command table ([`crate::cmd::table_index`]).
    commands: Vec<CommandStat>,
    /// A container's subcommands, by `name|subcommand`.
    subcommands: HashMap<String, CommandStat>,
    errors: BTreeMap<String, u64>,
    /// Error replies sent to clients.
    pub total_error_replies: u64,
}

/// Whether the command at each position of the command table is a
/// container ([`CONTAINERS`]).
fn is_container(i: usize) -> bool {
    static CONTAINER: OnceLock<Vec<bool>> = OnceLock::new();
    CONTAINER.get_or_init(|| TABLE.iter().map(|s| CONTAINERS.contains(&s.name)).collect())[i]
}

impl CommandStats {
    fn entry(&mut self, spec: &'static Spec, args: &[Bytes]) -> &mut CommandStat {
        match (table_index(spec), args.get(1)) {
            (Some(i), None) => self.by_index(i),
            (Some(i), Some(_)) if !is_container(i) => self.by_index(i),
            (_, sub) => {
                let key = match sub {
                    Some(sub) => format!("{}|{}", spec.name, String::from_utf8_lossy(sub).to_ascii_lowercase()),
                    None => spec.name.to_string(),
                };
                self.subcommands.entry(key).or_default()
            }
        }
    }

    fn by_index(&mut self, i: usize) -> &mut CommandStat {
        if self.commands.len() < TABLE.len() {
            self.commands.resize(TABLE.len(), CommandStat::default());
        }
        &mut self.commands[i]
    }

    /// A command ran for `nanos` and answered `reply` (`None`: it blocked,
    /// or its reply went out already). A container's answer that the
    /// subcommand does not exist counts as no call, as in Redis.
    pub fn ran(&mut self, spec: &'static Spec, args: &[Bytes], nanos: u64, reply: Option<&Frame>) {
        let failed = match reply {
            Some(Frame::Error(m)) if m.starts_with("ERR unknown subcommand") => return,
            Some(Frame::Error(_)) => 1,
            _ => 0,
        };
        let s = self.entry(spec, args);
        s.calls += 1;
        s.usec += nanos / 1000;
        s.failed += failed;
        s.latency[CommandStat::bucket(nanos)] += 1;
    }

    /// A command was refused before it ran.
    pub fn rejected(&mut self, spec: &'static Spec, args: &[Bytes]) {
        self.entry(spec, args).rejected += 1;
    }

    /// A client received the error reply `message`.
    pub fn error_reply(&mut self, message: &str) {
        self.total_error_replies += 1;
        let code = message.split(' ').next().unwrap_or_default();
        if let Some(n) = self.errors.get_mut(code) {
            *n += 1;
        } else if self.errors.len() < ERROR_CODES_MAX {
            self.errors.insert(code.to_string(), 1);
        }
    }

    /// The counts of `name` (as counted: `config|get`).
    pub fn get(&self, name: &str) -> Option<&CommandStat> {
        self.all().into_iter().find(|(n, _)| *n == name).map(|(_, s)| s)
    }

    /// The counts of every command that ran or was refused, by name.
    pub fn all(&self) -> Vec<(&str, &CommandStat)> {
        let counted = |s: &CommandStat| s.calls > 0 || s.rejected > 0;
        let table = self.commands.iter().enumerate().filter(|(_, s)| counted(s)).map(|(i, s)| (TABLE[i].name, s));
        let mut v: Vec<(&str, &CommandStat)> =
            table.chain(self.subcommands.iter().map(|(k, s)| (k.as_str(), s))).collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }

    /// `INFO latencystats` lines: each command's latency at the
    /// `percentiles` (`latency-tracking-info-percentiles`).
    pub fn latency_lines(&self, percentiles: &[f64]) -> Vec<(String, String)> {
        self.all()
            .into_iter()
            .filter(|(_, s)| s.calls > 0)
            .map(|(n, s)| {
                let ps: Vec<String> =
                    percentiles.iter().map(|p| format!("p{}={:.3}", p, s.percentile_usec(*p))).collect();
                (format!("latency_percentiles_usec_{n}"), ps.join(","))
            })
            .collect()
    }

    /// `INFO commandstats` lines (key, value), by name.
    pub fn command_lines(&self) -> Vec<(String, String)> {
        self.all()
            .into_iter()
            .map(|(n, s)| {
                let per_call = if s.calls == 0 { 0.0 } else { s.usec as f64 / s.calls as f64 };
                let value = format!(
                    "calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                    s.calls, s.usec, s.rejected, s.failed
                );
                (format!("cmdstat_{n}"), value)
            })
            .collect()
    }

    /// `INFO errorstats` lines (key, value), by code.
    pub fn error_lines(&self) -> Vec<(String, String)> {
        self.errors.iter().map(|(code, n)| (format!("errorstat_{code}"), format!("count={n}"))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(xs: &[&str]) -> Vec<Bytes> {
        xs.iter().map(|x| Bytes::from(x.to_string())).collect()
    }

    fn spec(name: &str) -> &'static Spec {
        crate::cmd::lookup(name.as_bytes()).unwrap()
    }

    #[test]
    fn calls_failures_refusals_and_errors_are_counted_as_redis_counts_them() {
        let mut s = CommandStats::default();
        s.ran(spec("get"), &args(&["GET", "k"]), 5_000, Some(&Frame::Null));
        s.ran(spec("lpush"), &args(&["LPUSH", "k", "x"]), 3_000, Some(&Frame::error("WRONGTYPE Operation")));
        s.rejected(spec("get"), &args(&["GET"]));
        s.ran(spec("config"), &args(&["CONFIG", "GET", "x"]), 7_000, Some(&Frame::Array(vec![])));
        s.ran(spec("config"), &args(&["CONFIG", "NOPE"]), 1_000, Some(&Frame::error("ERR unknown subcommand 'NOPE'.")));
        let get = s.get("get").unwrap();
        assert_eq!((get.calls, get.usec, get.rejected, get.failed), (1, 5, 1, 0));
        assert_eq!(s.get("lpush").map(|x| x.failed), Some(1));
        assert_eq!(s.get("config|get").map(|x| x.calls), Some(1));
        assert_eq!(s.get("config|nope"), None, "no such subcommand: not a call");
        s.error_reply("WRONGTYPE Operation against a key");
        s.error_reply("ERR unknown command");
        s.error_reply("ERR wrong number");
        assert_eq!(
            s.error_lines(),
            vec![("errorstat_ERR".into(), "count=2".into()), ("errorstat_WRONGTYPE".into(), "count=1".into())]
        );
        assert_eq!(s.total_error_replies, 3);
        let line = &s.command_lines()[0];
        assert_eq!(line.0, "cmdstat_config|get");
        assert_eq!(line.1, "calls=1,usec=7,usec_per_call=7.00,rejected_calls=0,failed_calls=0");
    }

    #[test]
    fn latencies_fall_in_power_of_two_buckets_from_a_microsecond() {
        assert_eq!(CommandStat::bucket(1), 0);
        assert_eq!(CommandStat::bucket(1024), 0);
        assert_eq!(CommandStat::bucket(1025), 1);
        assert_eq!(CommandStat::bucket(5_000), 3);
        assert_eq!(CommandStat::bucket(u64::MAX), LATENCY_BUCKETS - 1);
        let mut s = CommandStats::default();
        for nanos in [5_000, 5_500, 10_000, 100_000] {
            s.ran(spec("get"), &args(&["GET", "k"]), nanos, Some(&Frame::Null));
        }
        let get = s.get("get").unwrap();
        assert_eq!(get.cumulative(), vec![(8, 2), (16, 3), (131, 4)]);
        assert_eq!(get.percentile_usec(50.0), 8.192);
        assert_eq!(get.percentile_usec(99.0), 131.072);
        let lines = s.latency_lines(&[50.0, 99.9]);
        assert_eq!(lines, vec![("latency_percentiles_usec_get".into(), "p50=8.192,p99.9=131.072".into())]);
    }

    #[test]
    fn error_codes_past_the_limit_count_in_the_total_only() {
        let mut s = CommandStats::default();
        for i in 0..ERROR_CODES_MAX + 5 {
            s.error_reply(&format!("E{i} x"));
        }
        assert_eq!(s.error_lines().len(), ERROR_CODES_MAX);
        assert_eq!(s.total_error_replies, (ERROR_CODES_MAX + 5) as u64);
    }
}
