//! A running script as other connections see it without the engine's lock
//! (the script holds it): when it started, whether it is a function, whether
//! it wrote, and a kill request. Past `busy-reply-threshold` other clients
//! get `-BUSY` ([`ScriptWatch::busy`]); `SCRIPT KILL` and `FUNCTION KILL`
//! set the request ([`ScriptWatch::kill`]) and the VM's instruction hook
//! stops the script with Redis's error.

use sixfold_resp::Frame;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

/// `busy-reply-threshold` (`lua-time-limit`) by default, in milliseconds.
pub const BUSY_REPLY_THRESHOLD_MS_DEFAULT: u64 = 5_000;

/// A script that has run this long asks the server to take it off the
/// thread it runs on ([`ScriptWatch::on_long_run`]).
pub const LONG_RUN_MS: u64 = 10;

/// How long `FUNCTION LOAD` may run a library's code, in milliseconds
/// (Redis's `LOAD_TIMEOUT_MS`).
pub const LOAD_TIMEOUT_MS: u64 = 500;

/// Redis's `loglevel` values, lowest first: `redis.log` at a level below
/// the configured one writes nothing (`nothing` silences it).
pub const LOG_LEVELS: [&str; 5] = ["debug", "verbose", "notice", "warning", "nothing"];

/// Times the long-run action runs for one script (it hands the script's
/// thread over; a few tries make sure it took).
const LONG_RUN_CALLS_MAX: u32 = 3;

/// What the server does when a script runs long (set once).
type LongRun = Box<dyn Fn() + Send + Sync>;

/// The script that runs, seen from outside the engine's lock.
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
    /// Called from the VM's hook while a script runs past [`LONG_RUN_MS`].
    long_run: OnceLock<LongRun>,
    /// Times it was called for this script.
    long_run_calls: AtomicU32,
    /// `loglevel` as an index of [`LOG_LEVELS`].
    log_level: AtomicU8,
    /// When the library code `FUNCTION LOAD` runs must have ended
    /// ([`mono_ms`]; 0: no load runs).
    load_deadline_ms: AtomicU64,
}

impl Default for ScriptWatch {
    fn default() -> Self {
        ScriptWatch {
            started_ms: AtomicU64::new(0),
            function: AtomicBool::new(false),
            wrote: AtomicBool::new(false),
            kill: AtomicBool::new(false),
            threshold_ms: AtomicU64::new(BUSY_REPLY_THRESHOLD_MS_DEFAULT),
            long_run: OnceLock::new(),
            long_run_calls: AtomicU32::new(0),
            log_level: AtomicU8::new(2),
            load_deadline_ms: AtomicU64::new(0),
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
        self.long_run_calls.store(0, Ordering::Relaxed);
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

    /// Whether the running script ran a write command.
    pub fn wrote(&self) -> bool {
        self.wrote.load(Ordering::Relaxed)
    }

    /// Whether a kill was asked for (the VM hook raises the error).
    pub fn kill_requested(&self) -> bool {
        self.kill.load(Ordering::Relaxed)
    }

    /// Sets what the server does for a script that runs long (the server
    /// moves the rest of its run off the thread that serves connections).
    pub fn on_long_run(&self, f: impl Fn() + Send + Sync + 'static) {
        let _ = self.long_run.set(Box::new(f));
    }

    /// Called from the VM's instruction hook: runs the long-run action
    /// once the script has run past [`LONG_RUN_MS`], at most
    /// [`LONG_RUN_CALLS_MAX`] times per script.
    pub fn tick(&self) {
        let started = self.started_ms.load(Ordering::Acquire);
        if started != 0
            && self.long_run_calls.load(Ordering::Relaxed) < LONG_RUN_CALLS_MAX
            && mono_ms().saturating_sub(started) >= LONG_RUN_MS
            && let Some(f) = self.long_run.get()
        {
            self.long_run_calls.fetch_add(1, Ordering::Relaxed);
            f();
        }
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

    /// `loglevel` as an index of [`LOG_LEVELS`].
    pub fn log_level(&self) -> u8 {
        self.log_level.load(Ordering::Relaxed)
    }

    /// Sets `loglevel` (a name of [`LOG_LEVELS`]; others are ignored).
    pub fn set_log_level(&self, name: &str) {
        if let Some(i) = LOG_LEVELS.iter().position(|l| l.eq_ignore_ascii_case(name)) {
            self.log_level.store(i as u8, Ordering::Relaxed);
        }
    }

    /// `FUNCTION LOAD` starts running a library's code: it may run for
    /// `timeout_ms` (0: no limit, as for a logged load applied again).
    pub fn begin_load(&self, timeout_ms: u64) {
        let deadline = if timeout_ms == 0 { 0 } else { mono_ms() + timeout_ms };
        self.load_deadline_ms.store(deadline, Ordering::Relaxed);
    }

    /// The library's code ended.
    pub fn end_load(&self) {
        self.load_deadline_ms.store(0, Ordering::Relaxed);
    }

    /// Whether the library code that runs now is past its time (the VM
    /// hook then stops it with Redis's `FUNCTION LOAD timeout`).
    pub fn load_timed_out(&self) -> bool {
        let deadline = self.load_deadline_ms.load(Ordering::Relaxed);
        deadline != 0 && mono_ms() > deadline
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

    #[test]
    fn a_library_load_times_out_only_past_its_deadline() {
        let w = ScriptWatch::default();
        assert!(!w.load_timed_out(), "no load runs");
        w.begin_load(0);
        std::thread::sleep(std::time::Duration::from_millis(3));
        assert!(!w.load_timed_out(), "no limit");
        w.begin_load(1);
        assert!(!w.load_timed_out());
        std::thread::sleep(std::time::Duration::from_millis(3));
        assert!(w.load_timed_out());
        w.end_load();
        assert!(!w.load_timed_out());
        w.set_log_level("WARNING");
        assert_eq!(w.log_level(), 3);
        w.set_log_level("bogus");
        assert_eq!(w.log_level(), 3, "unchanged");
    }

    #[test]
    fn a_long_script_asks_for_its_thread_to_be_handed_over_a_few_times() {
        let w = ScriptWatch::default();
        let calls = std::sync::Arc::new(AtomicU32::new(0));
        let seen = calls.clone();
        w.on_long_run(move || {
            seen.fetch_add(1, Ordering::Relaxed);
        });
        w.begin(false);
        w.tick();
        assert_eq!(calls.load(Ordering::Relaxed), 0, "not before LONG_RUN_MS");
        std::thread::sleep(std::time::Duration::from_millis(LONG_RUN_MS + 1));
        (0..10).for_each(|_| w.tick());
        assert_eq!(calls.load(Ordering::Relaxed), LONG_RUN_CALLS_MAX);
        w.end();
        w.tick();
        assert_eq!(calls.load(Ordering::Relaxed), LONG_RUN_CALLS_MAX, "no script, no call");
    }
}
