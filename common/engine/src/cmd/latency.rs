//! `LATENCY`: per-command latency histograms (`LATENCY HISTOGRAM`, from
//! INFO commandstats' counts, [`crate::cmdstats`]) as Redis 7 gives them,
//! and the latency monitor's subcommands. Sixfold records no latency
//! monitor events (`latency-monitor-threshold` is stored only), so
//! LATEST, HISTORY, RESET, GRAPH and DOCTOR answer as Redis does with the
//! monitor off.

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

/// DOCTOR's report when the monitor is asked for: Sixfold records no events.
const MONITOR_NOT_RECORDED: &str = "Sixfold records no latency monitor events: latency-monitor-threshold is stored only. Per-command latencies are in LATENCY HISTOGRAM and INFO latencystats; commands slower than slowlog-log-slower-than are in SLOWLOG.\n";

/// `LATENCY DOCTOR | GRAPH event | HISTORY event | LATEST | RESET [event
/// ...] | HISTOGRAM [command ...] | HELP`
pub fn latency(e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    let reply = match (upper(&a[1]).as_str(), a.len()) {
        ("HELP", 2) => help("LATENCY", &HELP),
        ("LATEST", 2) => Frame::Array(Vec::new()),
        ("HISTORY", 3) => Frame::Array(Vec::new()),
        ("RESET", _) => Frame::Integer(0),
        ("GRAPH", 3) => {
            let event = String::from_utf8_lossy(&a[2]);
            return Err(CmdError::msg(format!("ERR No samples available for event '{event}'")));
        }
        ("DOCTOR", 2) => {
            let on = super::config::value(e, "latency-monitor-threshold").is_some_and(|v| v != "0");
            let text = if on { MONITOR_NOT_RECORDED } else { MONITOR_OFF };
            Frame::Verbatim("txt".into(), Bytes::from_static(text.as_bytes()))
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
