//! `LATENCY`: per-command latency histograms (`LATENCY HISTOGRAM`, from
//! INFO commandstats' counts, [`crate::cmdstats`]) as Redis 7 gives them,
//! and the latency monitor: with `latency-monitor-threshold` set, a
//! command that ran at least that many milliseconds is a sample of the
//! `command` event (`fast-command` for fast ones), kept as Redis keeps
//! them (one per second, the highest; the last 160; the all-time high)
//! for LATEST, HISTORY, RESET, GRAPH and DOCTOR. (Redis also samples its
//! own background work: expiry cycles, forks, AOF; Sixfold has none of
//! those to time.)

use crate::args::upper;
use crate::cmd::{SessionResult, help, unknown_subcommand};
use crate::engine::Engine;
use crate::exec::CmdError;
use crate::session::ClientId;
use bytes::Bytes;
use sixfold_resp::Frame;

const HELP: [&str; 16] = [
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
];

/// Redis's DOCTOR report with the monitor off.
const MONITOR_OFF: &str = "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n";

/// Samples kept per event (Redis's `LATENCY_TS_LEN`).
const SAMPLES_PER_EVENT: usize = 160;

/// One event's samples: (unix second, milliseconds), oldest first, and the
/// all-time high.
#[derive(Debug, Default, Clone)]
pub struct Series {
    samples: std::collections::VecDeque<(i64, u64)>,
    max_ms: u64,
}

/// The latency monitor's events.
#[derive(Debug, Default)]
pub struct Monitor {
    /// Milliseconds from which a command is a sample (0: off).
    pub threshold_ms: u64,
    events: std::collections::BTreeMap<&'static str, Series>,
}

impl Monitor {
    /// Notes a command that ran `usec` microseconds at unix second `now_s`.
    pub fn note_command(&mut self, fast: bool, usec: u64, now_s: i64) {
        let ms = usec / 1000;
        if self.threshold_ms == 0 || ms < self.threshold_ms {
            return;
        }
        let ts = self.events.entry(if fast { "fast-command" } else { "command" }).or_default();
        ts.max_ms = ts.max_ms.max(ms);
        match ts.samples.back_mut() {
            Some(last) if last.0 == now_s => last.1 = last.1.max(ms),
            _ => {
                if ts.samples.len() == SAMPLES_PER_EVENT {
                    ts.samples.pop_front();
                }
                ts.samples.push_back((now_s, ms));
            }
        }
    }
}

/// `LATENCY DOCTOR | GRAPH event | HISTORY event | LATEST | RESET [event
/// ...] | HISTOGRAM [command ...] | HELP`
pub fn latency(e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    let reply = match (upper(&a[1]).as_str(), a.len()) {
        ("HELP", 2) => help("LATENCY", &HELP),
        ("LATEST", 2) => Frame::Array(
            e.latency_monitor
                .events
                .iter()
                .filter_map(|(name, ts)| {
                    let (at, ms) = *ts.samples.back()?;
                    let n = |v: u64| Frame::Integer(v as i64);
                    Some(Frame::Array(vec![Frame::bulk(*name), Frame::Integer(at), n(ms), n(ts.max_ms)]))
                })
                .collect(),
        ),
        ("HISTORY", 3) => {
            let ts = e.latency_monitor.events.get(String::from_utf8_lossy(&a[2]).as_ref());
            let samples = ts.map(|ts| ts.samples.iter().copied().collect::<Vec<_>>()).unwrap_or_default();
            let pair = |(at, ms): (i64, u64)| Frame::Array(vec![Frame::Integer(at), Frame::Integer(ms as i64)]);
            Frame::Array(samples.into_iter().map(pair).collect())
        }
        ("RESET", 2) => {
            let n = e.latency_monitor.events.len();
            e.latency_monitor.events.clear();
            Frame::Integer(n as i64)
        }
        ("RESET", _) => {
            let events = &mut e.latency_monitor.events;
            let n = a[2..].iter().filter(|ev| events.remove(String::from_utf8_lossy(ev).as_ref()).is_some()).count();
            Frame::Integer(n as i64)
        }
        ("GRAPH", 3) => {
            let event = String::from_utf8_lossy(&a[2]).into_owned();
            let Some(ts) = e.latency_monitor.events.get(event.as_str()).filter(|t| !t.samples.is_empty()) else {
                return Err(CmdError::msg(format!("ERR No samples available for event '{event}'")));
            };
            Frame::Verbatim("txt".into(), Bytes::from(graph(&event, ts, e.now_ms / 1000)))
        }
        ("DOCTOR", 2) => {
            let text = if e.latency_monitor.threshold_ms == 0 { MONITOR_OFF.to_string() } else { doctor(e) };
            Frame::Verbatim("txt".into(), Bytes::from(text))
        }
        ("HISTOGRAM", _) => histogram(e, &a[2..]),
        (sub @ ("HELP" | "LATEST" | "HISTORY" | "GRAPH" | "DOCTOR"), _) => {
            let sub = sub.to_lowercase();
            return Err(CmdError::msg(format!("ERR wrong number of arguments for 'latency|{sub}' command")));
        }
        _ => return Err(unknown_subcommand(&a[1], "LATENCY")),
    };
    Ok(Some(reply))
}

/// Each named command's (all commands' when none is named) latency
/// histogram: its calls and, per bucket where the count rises, the bucket's
/// bound in microseconds and the calls at or below it. A container's name
/// gives its subcommands; names of no command are skipped.
fn histogram(e: &Engine, names: &[Bytes]) -> Frame {
    let wanted: Vec<String> = names.iter().map(|n| String::from_utf8_lossy(n).to_ascii_lowercase()).collect();
    let picked = e.stats.cmdstats.all().into_iter().filter(|(name, s)| {
        s.calls > 0
            && (wanted.is_empty()
                || wanted.iter().any(|w| w == name || name.split_once('|').is_some_and(|(parent, _)| parent == w)))
    });
    let text = |s: &str| Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()));
    Frame::Map(
        picked
            .map(|(name, s)| {
                let buckets = s
                    .cumulative()
                    .into_iter()
                    .map(|(usec, n)| (Frame::Integer(usec as i64), Frame::Integer(n as i64)))
                    .collect();
                let body = vec![
                    (text("calls"), Frame::Integer(s.calls as i64)),
                    (text("histogram_usec"), Frame::Map(buckets)),
                ];
                (text(name), Frame::Map(body))
            })
            .collect(),
    )
}

/// GRAPH's text: the event's high and low, then a column per sample
/// scaled to its latency, with how long ago it was under each.
fn graph(event: &str, ts: &Series, now_s: i64) -> String {
    const ROWS: u64 = 4;
    let (high, low) = ts.samples.iter().fold((0, u64::MAX), |(h, l), s| (h.max(s.1), l.min(s.1)));
    let mut out = format!("{event} - high {high} ms, low {low} ms (all time high {} ms)\n", ts.max_ms);
    out.push_str(&"-".repeat(80));
    out.push('\n');
    let span = (high - low).max(1);
    for row in (0..ROWS).rev() {
        let line: String = ts
            .samples
            .iter()
            .map(|s| if (s.1 - low) * ROWS / span >= row || s.1 == high { '#' } else { ' ' })
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let ages: Vec<String> = ts.samples.iter().map(|s| age(now_s - s.0)).collect();
    for i in 0..ages.iter().map(String::len).max().unwrap_or(0) {
        let line: String = ages.iter().map(|a| a.chars().nth(i).unwrap_or(' ')).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// How long ago, as Redis labels its graph (`12s`, `3m`, `2h`, `1d`).
fn age(secs: i64) -> String {
    match secs.max(0) {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// DOCTOR's report with the monitor on: per event, its samples, average,
/// all-time high, and what to look at.
fn doctor(e: &Engine) -> String {
    let events = &e.latency_monitor.events;
    if events.values().all(|t| t.samples.is_empty()) {
        return "Dave, no latency spike was observed during the lifetime of this Sixfold instance, not in the slightest bit. I honestly think you ought to sleep tonight.\n".into();
    }
    let mut out = String::from(
        "Dave, I have observed latency spikes in this Sixfold instance. You don't mind talking about it, do you Dave?\n\n",
    );
    for (i, (name, ts)) in events.iter().filter(|(_, t)| !t.samples.is_empty()).enumerate() {
        let avg = ts.samples.iter().map(|s| s.1).sum::<u64>() / ts.samples.len() as u64;
        out.push_str(&format!(
            "{}. {name}: {} latency spikes (average {avg}ms). Worst all time event {}ms.\n",
            i + 1,
            ts.samples.len(),
            ts.max_ms
        ));
    }
    out.push_str("\nI have a few advices for you:\n\n- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n- Sixfold has no background saves, forks or AOF to blame: the spikes are commands (long scripts, large collections) or the machine (other processes, swapping).\n");
    out
}
