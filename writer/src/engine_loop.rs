//! The engine thread: owns the [`Engine`], runs every command in arrival
//! order, drives its clock and expiry, and hands each client its output.

use crate::server::SharedLimits;
use bytes::Bytes;
use sixfold_engine::{ClientId, ClientInfo, Config, Engine};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// Messages queued for the engine thread before senders wait.
pub const INBOX_MESSAGES_MAX: usize = 4096;
/// Output chunks queued for one client before it is disconnected as too slow.
pub const OUTBOX_CHUNKS_MAX: usize = 4096;
/// Period of the expiry cycle and blocked-client timeouts.
const TICK_MS: u64 = 100;
/// How often the allocator's statistics are refreshed for maxmemory.
const MEMORY_PROBE_MS: u64 = 10;

/// What a connection task receives.
#[derive(Debug)]
pub enum Out {
    /// Bytes to write.
    Data(Bytes),
    /// Write what came before, then close.
    Close,
}

/// A request to the engine thread.
pub enum Msg {
    /// A new connection.
    Connect {
        /// Addresses.
        info: ClientInfo,
        /// Where its output goes.
        outbox: mpsc::Sender<Out>,
        /// The client id, or the bytes of a refusal.
        reply: oneshot::Sender<Result<ClientId, Bytes>>,
    },
    /// Commands from one client, in order; then a protocol error, if any.
    Commands {
        /// Client.
        id: ClientId,
        /// Commands.
        cmds: Vec<Vec<Bytes>>,
        /// The protocol error that followed them.
        error: Option<String>,
    },
    /// The connection closed.
    Disconnect {
        /// Client.
        id: ClientId,
    },
}

/// The connection tasks' way to the engine thread.
pub type EngineHandle = flume::Sender<Msg>;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Starts the engine thread. The receiver fires when SHUTDOWN ran.
pub fn spawn(
    cfg: Config,
    seed: u64,
    limits: Arc<SharedLimits>,
) -> anyhow::Result<(EngineHandle, oneshot::Receiver<()>)> {
    let (tx, rx) = flume::bounded(INBOX_MESSAGES_MAX);
    let (stop_tx, stop_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("engine".into())
        .spawn(move || {
            let mut l = Loop {
                engine: Engine::new(cfg, seed),
                outboxes: HashMap::new(),
                limits,
            };
            l.engine.set_memory_probe(memory_probe());
            l.run(rx);
            let _ = stop_tx.send(());
        })?;
    Ok((tx, stop_rx))
}

/// Bytes allocated by the process, refreshed by a background thread so the
/// engine's maxmemory check costs one atomic load.
fn memory_probe() -> Box<dyn Fn() -> usize + Send> {
    let used = Arc::new(AtomicU64::new(0));
    let writer = used.clone();
    let spawned = std::thread::Builder::new()
        .name("memory-probe".into())
        .spawn(move || {
            loop {
                if tikv_jemalloc_ctl::epoch::advance().is_ok()
                    && let Ok(n) = tikv_jemalloc_ctl::stats::allocated::read()
                {
                    writer.store(n as u64, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(MEMORY_PROBE_MS));
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no memory probe thread: used_memory stays 0");
    }
    Box::new(move || used.load(Ordering::Relaxed) as usize)
}

struct Loop {
    engine: Engine,
    outboxes: HashMap<ClientId, mpsc::Sender<Out>>,
    limits: Arc<SharedLimits>,
}

impl Loop {
    fn run(&mut self, rx: flume::Receiver<Msg>) {
        let mut next_tick = now_ms() + TICK_MS as i64;
        loop {
            let now = now_ms();
            let until = self
                .engine
                .next_deadline()
                .map_or(next_tick, |d| d.min(next_tick));
            let wait = Duration::from_millis((until - now).clamp(0, TICK_MS as i64) as u64);
            match rx.recv_timeout(wait) {
                Ok(msg) => {
                    self.handle(msg);
                    for msg in rx.try_iter().take(INBOX_MESSAGES_MAX) {
                        self.handle(msg);
                    }
                }
                Err(flume::RecvTimeoutError::Timeout) => {}
                Err(flume::RecvTimeoutError::Disconnected) => return,
            }
            let now = now_ms();
            if now >= until {
                self.engine.tick(now);
                next_tick = now + TICK_MS as i64;
            }
            self.flush();
            if self.engine.shutdown_requested() {
                return;
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        let now = now_ms();
        match msg {
            Msg::Connect {
                info,
                outbox,
                reply,
            } => {
                let r = self.engine.connect(info, now);
                if let Ok(id) = r {
                    self.outboxes.insert(id, outbox);
                }
                let _ = reply.send(r);
            }
            Msg::Commands { id, cmds, error } => {
                for c in cmds {
                    self.engine.feed(id, c, now);
                }
                if let Some(e) = error {
                    self.engine.protocol_error(id, &e);
                }
            }
            Msg::Disconnect { id } => {
                self.engine.disconnect(id);
                self.outboxes.remove(&id);
            }
        }
    }

    /// Hands out replies; drops clients that cannot keep up.
    fn flush(&mut self) {
        for (id, bytes) in self.engine.take_output() {
            let Some(tx) = self.outboxes.get(&id) else {
                continue;
            };
            if tx.try_send(Out::Data(bytes)).is_err() {
                tracing::warn!(client = id, "client output buffer full: disconnecting");
                self.outboxes.remove(&id);
                self.engine.disconnect(id);
            }
        }
        for id in self.engine.take_closing() {
            if let Some(tx) = self.outboxes.remove(&id) {
                let _ = tx.try_send(Out::Close);
            }
        }
        // With --durability none, effects are not logged anywhere.
        drop(self.engine.take_effects());
        if self.engine.take_config_changed() {
            let bulk = self.engine.config().proto_max_bulk_len;
            self.limits.bulk_bytes_max.store(bulk, Ordering::Relaxed);
        }
    }
}
