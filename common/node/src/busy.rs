//! A client's requests while a Lua script has held the engine past
//! `busy-reply-threshold`, answered without the engine's lock as Redis 7
//! answers them: `SCRIPT KILL` and `FUNCTION KILL` reach the script,
//! `SHUTDOWN NOSAVE` stops the server, `QUIT` closes the connection, and
//! everything else gets `-BUSY` (`-NOAUTH` before the client authenticated).
//! Redis also serves AUTH, HELLO and the transaction commands meanwhile;
//! here they get `-BUSY`, since they need the engine (ARCHITECTURE.md,
//! "Differences from Redis").

use bytes::{Bytes, BytesMut};
use sixfold_engine::scripting::{Busy, ScriptWatch};
use sixfold_resp::{Frame, Protocol};

/// What the connection does with a batch answered while busy.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// The replies.
    pub out: Bytes,
    /// Close the connection after them (QUIT, a protocol error).
    pub close: bool,
    /// `SHUTDOWN NOSAVE`: stop the server now.
    pub shutdown: bool,
}

/// Answers `cmds` (and the protocol error that followed them) of a client
/// (`authed`: it has authenticated, or needs not) while `busy`.
pub fn answer(watch: &ScriptWatch, (busy, authed): (Busy, bool), cmds: &[Vec<Bytes>], error: Option<&str>) -> Answer {
    let mut out = BytesMut::new();
    let mut a = Answer::default();
    for c in cmds {
        let is = |i: usize, word: &str| c.get(i).is_some_and(|w| w.eq_ignore_ascii_case(word.as_bytes()));
        let reply = if is(0, "QUIT") {
            a.close = true;
            Frame::ok()
        } else if !authed && !is(0, "AUTH") && !is(0, "HELLO") {
            Frame::error("NOAUTH Authentication required.")
        } else if c.len() == 2 && is(1, "KILL") && (is(0, "SCRIPT") || is(0, "FUNCTION")) {
            watch.kill(is(0, "FUNCTION"))
        } else if is(0, "SHUTDOWN") && (1..c.len()).any(|i| is(i, "NOSAVE")) {
            a.shutdown = true;
            break;
        } else {
            busy.reply()
        };
        reply.encode(Protocol::Resp2, &mut out);
        if a.close {
            break;
        }
    }
    if let Some(e) = error.filter(|_| !a.close && !a.shutdown) {
        Frame::error(format!("ERR {e}")).encode(Protocol::Resp2, &mut out);
        a.close = true;
    }
    a.out = out.freeze();
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    #[test]
    fn kills_reach_the_script_and_the_rest_is_busy() {
        let w = ScriptWatch::default();
        w.begin(false);
        let a = answer(&w, (Busy::Eval, false), &[cmd(&["script", "kill"]), cmd(&["AUTH", "p"])], None);
        assert_eq!(&a.out[..], &b"-NOAUTH Authentication required.\r\n-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"[..]);
        assert!(!w.kill_requested(), "a stranger cannot kill the script");
        let probes = [cmd(&["GET", "k"]), cmd(&["function", "kill"]), cmd(&["script", "kill"])];
        let a = answer(&w, (Busy::Eval, true), &probes, None);
        let text = String::from_utf8(a.out.to_vec()).unwrap();
        assert_eq!(text.matches("-BUSY Redis is busy running a script. You can only call SCRIPT KILL").count(), 2);
        assert!(text.ends_with("+OK\r\n"), "{text}");
        assert!(w.kill_requested() && !a.close && !a.shutdown);
        let a =
            answer(&w, (Busy::Eval, true), &[cmd(&["SHUTDOWN"]), cmd(&["shutdown", "nosave"]), cmd(&["PING"])], None);
        assert!(a.shutdown);
        let a = answer(&w, (Busy::Eval, true), &[cmd(&["QUIT"]), cmd(&["PING"])], Some("Protocol error"));
        assert_eq!(&a.out[..], b"+OK\r\n");
        assert!(a.close);
        let a = answer(&w, (Busy::Eval, true), &[], Some("Protocol error: bad"));
        assert_eq!(&a.out[..], b"-ERR Protocol error: bad\r\n");
        assert!(a.close);
    }
}
