//! Replies waiting for their commit. Each held reply registers the LSN it
//! waits for; the writer's fabric task, when the commit LSN moves, wakes
//! exactly the replies it covers (a `watch` would wake every waiting
//! connection at every commit and flush report, most of them to go back to
//! sleep: under 50 clients that was several wake-ups per write). When this
//! node stops being the writer, every waiter learns it at once.

use parking_lot::Mutex;
use sixfold_wire::Lsn;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use tokio::sync::oneshot;

/// Registrations kept before abandoned ones (their reply timed out) are
/// swept out; the sweep runs again each time the count doubles past it.
const WAITERS_SWEEP_MIN: usize = 1024;

/// What a reply waiting for `lsn` should do.
#[derive(Debug)]
pub enum Wait {
    /// Already committed: answer now.
    Ready,
    /// This node is no longer the writer of that log: the outcome is unknown.
    Closed,
    /// Resolves when the commit reaches the LSN (an error: closed).
    Pending(oneshot::Receiver<()>),
}

#[derive(Debug)]
struct Waiter {
    lsn: Lsn,
    seq: u64,
    tx: oneshot::Sender<()>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        (self.lsn, self.seq) == (other.lsn, other.seq)
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    /// Reversed: the heap's top is the lowest LSN.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.lsn, other.seq).cmp(&(self.lsn, self.seq))
    }
}

#[derive(Debug, Default)]
struct Inner {
    commit: Lsn,
    closed: bool,
    seq: u64,
    sweep_at: usize,
    waiting: BinaryHeap<Waiter>,
}

/// The replies waiting for commits of one writer's log.
#[derive(Debug, Default)]
pub struct Commits {
    inner: Mutex<Inner>,
}

impl Commits {
    /// Waiters of a log committed up to `commit`.
    pub fn new(commit: Lsn) -> Commits {
        Commits { inner: Mutex::new(Inner { commit, sweep_at: WAITERS_SWEEP_MIN, ..Inner::default() }) }
    }

    /// Registers a reply waiting for `lsn`.
    pub fn wait(&self, lsn: Lsn) -> Wait {
        let mut g = self.inner.lock();
        if g.closed {
            return Wait::Closed;
        }
        if lsn <= g.commit {
            return Wait::Ready;
        }
        if g.waiting.len() >= g.sweep_at {
            g.waiting.retain(|w| !w.tx.is_closed());
            g.sweep_at = (g.waiting.len() * 2).max(WAITERS_SWEEP_MIN);
        }
        let (tx, rx) = oneshot::channel();
        g.seq += 1;
        let seq = g.seq;
        g.waiting.push(Waiter { lsn, seq, tx });
        Wait::Pending(rx)
    }

    /// The commit LSN moved to `commit`: wakes the replies it covers.
    pub fn advance(&self, commit: Lsn) {
        let mut g = self.inner.lock();
        debug_assert!(commit >= g.commit, "the commit LSN never moves back");
        g.commit = g.commit.max(commit);
        while g.waiting.peek().is_some_and(|w| w.lsn <= commit) {
            if let Some(w) = g.waiting.pop() {
                let _ = w.tx.send(());
            }
        }
    }

    /// This node stopped being the writer: every waiter, now and later,
    /// learns that the outcome is unknown.
    pub fn close(&self) {
        let mut g = self.inner.lock();
        g.closed = true;
        g.waiting.clear();
    }

    /// Replies registered and not yet woken (abandoned ones included until
    /// a sweep).
    pub fn waiting(&self) -> usize {
        self.inner.lock().waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(w: Wait) -> oneshot::Receiver<()> {
        match w {
            Wait::Pending(rx) => rx,
            other => panic!("expected to wait, got {other:?}"),
        }
    }

    #[test]
    fn a_commit_wakes_exactly_the_replies_it_covers() {
        let c = Commits::new(5);
        assert!(matches!(c.wait(5), Wait::Ready), "committed already");
        let mut at7 = pending(c.wait(7));
        let mut at9 = pending(c.wait(9));
        let mut also7 = pending(c.wait(7));
        c.advance(8);
        assert_eq!(at7.try_recv(), Ok(()));
        assert_eq!(also7.try_recv(), Ok(()));
        assert!(at9.try_recv().is_err(), "9 is not committed yet");
        assert_eq!(c.waiting(), 1);
        c.advance(9);
        assert_eq!(at9.try_recv(), Ok(()));
        assert!(matches!(c.wait(9), Wait::Ready));
    }

    #[test]
    fn closing_tells_every_waiter_now_and_later() {
        let c = Commits::new(0);
        let mut rx = pending(c.wait(3));
        c.close();
        assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Closed));
        assert!(matches!(c.wait(1), Wait::Closed));
    }

    #[test]
    fn abandoned_registrations_are_swept() {
        let c = Commits::new(0);
        for lsn in 1..=3 * WAITERS_SWEEP_MIN as Lsn {
            drop(pending(c.wait(lsn)));
        }
        assert!(c.waiting() <= WAITERS_SWEEP_MIN + 1, "{} left", c.waiting());
        let mut kept = pending(c.wait(10_000));
        c.advance(10_000);
        assert_eq!(kept.try_recv(), Ok(()));
    }
}
