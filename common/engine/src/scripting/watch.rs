//! A running script as other connections see it without the engine's lock
//! (the script holds it): when it started, whether it is a function, whether
//! it wrote, and a kill request. Past `busy-reply-threshold` other clients
//! get `-BUSY` ([`ScriptWatch::busy`]); `SCRIPT KILL` and `FUNCTION KILL`
//! set the request ([`ScriptWatch::kill`]) and the VM's instruction hook
//! stops the script with Redis's error.

use sixfold_resp::Frame;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// `busy-reply-threshold` (`lua-time-limit`) by default, in milliseconds.
pub const BUSY_REPLY_THRESHOLD_MS_DEFAULT: u64 = 5_000;

/// The script that runs, seen from outside the engine's lock.
#[derive(Debug)]
pub struct ScriptWatch {
    /// When it started ([`mono_ms`]; 0: no script runs).
    started_ms: AtomicU64,
    /// It is a function (FCALL), not EVAL.
    function: AtomicBool,
    /// It ran a write command (it can no longer be killed).
    wrote: AtomicBool,
    /// SCRIPT KILL or FUNCTION KILL asked it to stop.
    kill: AtomicBool,
    /// `busy-reply-threshold` in milliseconds.
    threshold_ms: AtomicU64,
}

impl Default for ScriptWatch {
    fn default() -> Self {
        ScriptWatch {
            started_ms: AtomicU64::new(0),
            function: AtomicBool::new(false),
            wrote: AtomicBool::new(false),
            kill: AtomicBool::new(false),
            threshold_ms: AtomicU64::new(BUSY_REPLY_THRESHOLD_MS_DEFAULT),
        }
    }
}

/// What runs past the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// A script of EVAL or EVALSHA.
    Eval,
    /// A function of FCALL.
    Function,
}

impl Busy {
    /// Redis's `-BUSY` reply to a command other than the kill that stops it.
    pub fn reply(self) -> Frame {
        Frame::error(match self {
            Busy::Eval => "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
            Busy::Function => {
                "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
            }
        })
    }
}

/// Milliseconds on a monotonic clock, never 0.
fn mono_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

impl ScriptWatch {
    /// A script (or a function) starts.
    pub fn begin(&self, function: bool) {
        self.function.store(function, Ordering::Relaxed);
        self.wrote.store(false, Ordering::Relaxed);
        self.kill.store(false, Ordering::Relaxed);
        self.started_ms.store(mono_ms(), Ordering::Release);
    }

    /// The script ended.
    pub fn end(&self) {
        self.started_ms.store(0, Ordering::Release);
        self.kill.store(false, Ordering::Relaxed);
    }

    /// The script runs a write command.
    pub fn note_write(&self) {
        self.wrote.store(true, Ordering::Relaxed);
    }

    /// Whether a kill was asked for (the VM hook raises the error).
    pub fn kill_requested(&self) -> bool {
        self.kill.load(Ordering::Relaxed)
    }

    /// Whether a script runs now.
    pub fn running(&self) -> bool {
        self.started_ms.load(Ordering::Acquire) != 0
    }

    /// `busy-reply-threshold` in milliseconds.
    pub fn threshold_ms(&self) -> u64 {
        self.threshold_ms.load(Ordering::Relaxed)
    }

    /// Sets `busy-reply-threshold`.
    pub fn set_threshold_ms(&self, ms: u64) {
        self.threshold_ms.store(ms, Ordering::Relaxed);
    }

    /// What runs for longer than the threshold, if anything: other clients
    /// are answered `-BUSY` meanwhile.
    pub fn busy(&self) -> Option<Busy> {
        let started = self.started_ms.load(Ordering::Acquire);
        if started == 0 || mono_ms().saturating_sub(started) < self.threshold_ms() {
            return None;
        }
        Some(if self.function.load(Ordering::Relaxed) { Busy::Function } else { Busy::Eval })
    }

    /// `SCRIPT KILL` (`function`: `FUNCTION KILL`) while a script may run:
    /// Redis's reply, and the kill asked for when it is allowed.
    pub fn kill(&self, function: bool) -> Frame {
        if !self.running() {
            return Frame::error("NOTBUSY No scripts in execution right now.");
        }
        if self.wrote.load(Ordering::Relaxed) {
            return Frame::error(
                "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either \
                 wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
            );
        }
        let running_function = self.function.load(Ordering::Relaxed);
        if running_function != function {
            return if running_function { Busy::Function.reply() } else { Busy::Eval.reply() };
        }
        self.kill.store(true, Ordering::Relaxed);
        Frame::ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_after_the_threshold_and_killable_until_a_write() {
        let w = ScriptWatch::default();
        assert_eq!(w.busy(), None);
        assert_eq!(w.kill(false), Frame::error("NOTBUSY No scripts in execution right now."));
        w.begin(false);
        assert_eq!(w.busy(), None, "not before the threshold");
        w.set_threshold_ms(0);
        assert_eq!(w.busy(), Some(Busy::Eval));
        assert!(matches!(w.kill(true), Frame::Error(m) if m.contains("SCRIPT KILL")), "FUNCTION KILL stops no EVAL");
        assert!(!w.kill_requested());
        assert_eq!(w.kill(false), Frame::ok());
        assert!(w.kill_requested());
        w.end();
        assert!(!w.kill_requested() && w.busy().is_none());
        w.begin(true);
        w.note_write();
        assert_eq!(w.busy(), Some(Busy::Function));
        assert!(matches!(w.kill(true), Frame::Error(m) if m.starts_with("UNKILLABLE")));
        assert!(!w.kill_requested());
    }
}
