//! The locks of the core and of the durable log. Both are held briefly,
//! except while a Lua script runs (up to `busy-reply-threshold` and past
//! it, until `SCRIPT KILL`) or a command over a huge value does. A thread
//! of the I/O runtime that would wait longer than a moment gives its place
//! to a fresh one first ([`tokio::task::block_in_place`]): otherwise a few
//! tasks waiting on a looping script (the ticker, the fabric loop, clients)
//! would take every worker, and no connection could be read to answer
//! `-BUSY` or to deliver the `SCRIPT KILL` that ends it.
//!
//! A panic while a lock is held stops the process: the data under it may
//! be half-changed, and serving it would be worse than stopping.

use parking_lot::{Mutex, MutexGuard};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// How long a runtime thread waits for a lock in place before it hands its
/// work to another thread and waits off the runtime.
const WAIT_IN_PLACE: Duration = Duration::from_millis(20);

/// A held lock; dropping it in a panic stops the process.
pub struct Held<'a, T: ?Sized>(MutexGuard<'a, T>);

impl<T: ?Sized> Deref for Held<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized> DerefMut for Held<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: ?Sized> Drop for Held<'_, T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!("a thread panicked while it held the engine or the durable log; stopping");
            std::process::exit(70);
        }
    }
}

/// Locks `m`, waiting off the runtime's workers when it is held for long.
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> Held<'_, T> {
    if let Some(g) = m.try_lock_for(WAIT_IN_PLACE) {
        return Held(g);
    }
    Held(off_the_runtime(|| m.lock()))
}

/// Locks `m` if it is free now, or (`wait`) within a moment.
pub fn try_lock<T: ?Sized>(m: &Mutex<T>, wait: bool) -> Option<Held<'_, T>> {
    if wait { m.try_lock_for(WAIT_IN_PLACE) } else { m.try_lock() }.map(Held)
}

/// Runs `f` (which blocks, or may run for long) after handing this
/// thread's runtime work to another thread, when this is a worker of a
/// multi-threaded runtime: tasks queued on this worker (even the one slot
/// other workers cannot steal from) run meanwhile.
pub fn off_the_runtime<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_long_holder_leaves_the_runtime_serving() {
        let m = Arc::new(Mutex::new(0u32));
        let held = m.clone();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let mut g = held.lock();
            let _ = rx.recv_timeout(Duration::from_secs(5));
            *g += 1;
        });
        while !m.is_locked() {
            std::thread::yield_now();
        }
        // A task waits for the lock on the runtime's only worker...
        let waiter = tokio::spawn({
            let m = m.clone();
            async move { *lock(&m) }
        });
        std::thread::sleep(Duration::from_millis(100));
        // ...and the runtime still runs another task meanwhile.
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        tokio::spawn(async move { done_tx.send(()) });
        let ran = done_rx.recv_timeout(Duration::from_secs(2)).is_ok();
        let _ = tx.send(());
        assert_eq!(waiter.await.unwrap(), 1);
        holder.join().unwrap();
        assert!(ran, "the runtime ran nothing else while a task waited for the lock");
    }
}
