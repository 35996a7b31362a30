//! One client connection: reads and decodes requests, runs them on the
//! shared core, and writes back the output; also wakes up to deliver output
//! that other clients' commands produced for it (pub/sub, unblocked pops).

use crate::commits::Wait;
use crate::core::{Output, Shared, Then};
use crate::journal::Progress;
use crate::listener::{SharedLimits, bulk_limit};
use bytes::{Bytes, BytesMut};
use sixfold_engine::ClientInfo;
use sixfold_engine::cmd::replication::wait_reply;
use sixfold_engine::scripting::Busy;
use sixfold_resp::{Limits, Protocol, RequestDecoder};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

/// Most commands run under the lock in one go (others wait meanwhile).
const BATCH_COMMANDS_MAX: usize = 1024;
/// Initial read buffer size.
const READ_BUFFER_BYTES: usize = 16 * 1024;
/// Largest unparsed request data kept for one client (`client-query-buffer-limit`).
const QUERY_BUFFER_BYTES_MAX: usize = 1024 * 1024 * 1024;

/// A client's byte stream: TCP, or TLS over TCP.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Serves one connection until either side closes it (the caller set
/// TCP_NODELAY on the socket under `sock`).
pub async fn serve(
    mut sock: impl Stream,
    peer: SocketAddr,
    local: SocketAddr,
    core: Shared,
    limits: Arc<SharedLimits>,
) -> anyhow::Result<()> {
    let waker = Arc::new(Notify::new());
    let info = ClientInfo { addr: peer.to_string(), laddr: local.to_string() };
    let mut buf = BytesMut::with_capacity(READ_BUFFER_BYTES);
    let mut decoder = RequestDecoder::new(stranger_limits(&limits, false));
    // Registering the client takes the core; while a script holds it past
    // the threshold, the client's requests are answered meanwhile.
    let connected = loop {
        let locked = core.lock_unless_busy().await.map(|mut c| {
            c.connect(info.clone(), waker.clone()).map(|id| (id, c.unsent_counter(id), c.authenticated(id)))
        });
        match locked {
            Ok(connected) => break connected,
            Err(busy) => {
                let authed = !limits.password_set.load(std::sync::atomic::Ordering::Relaxed);
                if answer_while_busy(&mut sock, (&core, busy, authed), &mut buf, &mut decoder).await? {
                    return Ok(());
                }
            }
        }
    };
    let (id, unsent, authed) = match connected {
        Ok(c) => c,
        Err(refusal) => {
            sock.write_all(&refusal).await?;
            return Ok(());
        }
    };
    let client = Client { core: &core, id, unsent };
    let result = pump(&mut sock, &client, &waker, (&limits, authed), (buf, decoder)).await;
    core.lock().disconnect(id);
    result
}

/// Request limits: a client that has not authenticated gets a stranger's,
/// and its requests are decoded one at a time (an AUTH lifts them for the next).
fn stranger_limits(limits: &SharedLimits, authed: bool) -> Limits {
    Limits { bulk_bytes_max: bulk_limit(limits), unauthenticated: !authed, ..Limits::default() }
}

/// The connection's client, as delivering its output needs it.
struct Client<'a> {
    core: &'a Shared,
    id: u64,
    /// Its output taken from the engine and not yet written (counted
    /// toward its output limit).
    unsent: Arc<std::sync::atomic::AtomicUsize>,
}

async fn pump<S: Stream>(
    sock: &mut S,
    client: &Client<'_>,
    waker: &Notify,
    (limits, mut authed): (&SharedLimits, bool),
    (mut buf, mut decoder): (BytesMut, RequestDecoder),
) -> anyhow::Result<()> {
    let (core, id) = (client.core, client.id);
    loop {
        // What the buffer holds first (requests read while a script was busy).
        loop {
            decoder.set_limits(stranger_limits(limits, authed));
            let batch = if authed { BATCH_COMMANDS_MAX } else { 1 };
            let (cmds, error) = decode(&mut decoder, &mut buf, batch);
            if cmds.is_empty() && error.is_none() {
                break;
            }
            let protocol_error = error.is_some();
            crate::markers::check_batch(core, &cmds).await;
            let o = match run_unless_busy(sock, core, (id, authed), cmds, error).await? {
                Ran::Output(o) => o,
                Ran::Answered { close: true } => return Ok(()),
                Ran::Answered { close: false } => continue,
            };
            let notify = o.notify;
            authed = o.authenticated;
            if deliver_all(sock, &mut buf, client, o, protocol_error).await? {
                return Ok(());
            }
            if notify {
                return push_commits(sock, core).await;
            }
        }
        check_buffer(&mut buf)?;
        tokio::select! {
            _ = waker.notified() => {
                let o = core.lock().take(id);
                authed = o.authenticated;
                if deliver(sock, client, o, false).await? {
                    return Ok(());
                }
            }
            n = sock.read_buf(&mut buf) => {
                if n? == 0 {
                    return Ok(());
                }
            }
        }
    }
}

/// Answers what a client that is not registered yet sends while a script
/// is busy, until it sends nothing more for a moment (then the caller tries
/// the core again); returns true when the connection must now close.
async fn answer_while_busy<S: Stream>(
    sock: &mut S,
    (core, busy, authed): (&Shared, Busy, bool),
    buf: &mut BytesMut,
    decoder: &mut RequestDecoder,
) -> anyhow::Result<bool> {
    tokio::select! {
        n = sock.read_buf(buf) => {
            if n? == 0 {
                return Ok(true);
            }
        }
        () = tokio::time::sleep(crate::core::BUSY_POLL) => return Ok(false),
    }
    let (cmds, error) = decode(decoder, buf, BATCH_COMMANDS_MAX);
    check_buffer(buf)?;
    answer_busy(sock, core, (busy, authed), &cmds, error.as_deref()).await
}

/// Delivers `o`; when a WAIT or WAITAOF stopped its batch, blocks the client
/// in it, answers, and runs the rest of the batch. Returns true when the
/// connection must now close.
async fn deliver_all<S: Stream>(
    sock: &mut S,
    buf: &mut BytesMut,
    client: &Client<'_>,
    mut o: Output,
    protocol_error: bool,
) -> anyhow::Result<bool> {
    let (core, id) = (client.core, client.id);
    loop {
        let then = o.then.take();
        if deliver(sock, client, o, protocol_error && then.is_none()).await? {
            return Ok(true);
        }
        let Some(t) = then else { return Ok(false) };
        let Some(reply) = block_in_wait(sock, buf, core, &t).await? else { return Ok(true) };
        sock.write_all(&reply).await?;
        o = match run_unless_busy(sock, core, (id, true), t.rest, t.error).await? {
            Ran::Output(o) => o,
            Ran::Answered { close } => return Ok(close),
        };
    }
}

/// What became of a batch.
enum Ran {
    /// The core ran it.
    Output(Output),
    /// It was answered without the core while a script was busy; the
    /// connection must now close or not.
    Answered { close: bool },
}

/// Runs a batch on the core; or, while a script has held the core past
/// `busy-reply-threshold`, answers it without the core ([`crate::busy`]).
async fn run_unless_busy<S: Stream>(
    sock: &mut S,
    core: &Shared,
    (id, authed): (u64, bool),
    cmds: Vec<Vec<Bytes>>,
    error: Option<String>,
) -> anyhow::Result<Ran> {
    let busy = match core.lock_unless_busy().await {
        Ok(mut c) => return Ok(Ran::Output(c.run(id, cmds, error))),
        Err(busy) => busy,
    };
    let close = answer_busy(sock, core, (busy, authed), &cmds, error.as_deref()).await?;
    Ok(Ran::Answered { close })
}

/// Answers a batch without the core while a script is busy
/// ([`crate::busy`]); returns true when the connection must now close.
async fn answer_busy<S: Stream>(
    sock: &mut S,
    core: &Shared,
    (busy, authed): (Busy, bool),
    cmds: &[Vec<Bytes>],
    error: Option<&str>,
) -> anyhow::Result<bool> {
    let a = crate::busy::answer(core.script_watch(), (busy, authed), cmds, error);
    if a.shutdown {
        tracing::warn!("SHUTDOWN NOSAVE while a script runs: stopping now");
        std::process::exit(0);
    }
    sock.write_all(&a.out).await?;
    Ok(a.close)
}

/// After `REPLCONF NOTIFY 1`: pushes `[commit, <commit LSN>, <epoch of
/// the record there>, <fabric flushed LSN>]` each time the commit or
/// flushed LSN moves (coalesced: one push for every change seen since the
/// last write, never one per record), until the replica goes away or this
/// node stops being the writer (the connection closes). Every commit this
/// writer publishes is at or above its `LeaderChange`, so the record
/// there is of its epoch.
async fn push_commits<S: Stream>(sock: &mut S, core: &Shared) -> anyhow::Result<()> {
    let Some(d) = core.durable() else { return Ok(()) };
    let mut progress = d.progress.clone();
    let mut ignored = [0u8; 512];
    loop {
        let p = *progress.borrow_and_update();
        let push = format!("*4\r\n$6\r\ncommit\r\n:{}\r\n:{}\r\n:{}\r\n", p.commit, d.epoch, p.flushed);
        sock.write_all(push.as_bytes()).await?;
        tokio::select! {
            changed = progress.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
            }
            n = sock.read(&mut ignored) => {
                if n? == 0 {
                    return Ok(());
                }
            }
        }
    }
}

/// Blocks in WAIT or WAITAOF until the fabric (WAITAOF's `numlocal`: the
/// client's last write on disk on four storage nodes) and `numreplicas`
/// replicas (their `REPLCONF ACK`s cover the client's last write) confirm, or the timeout passes (0: no limit). Reads what the client
/// sends meanwhile into `buf`; `None` when the client went away.
async fn block_in_wait<S: Stream>(
    sock: &mut S,
    buf: &mut BytesMut,
    core: &Shared,
    t: &Then,
) -> anyhow::Result<Option<Bytes>> {
    let Some(d) = core.durable() else { anyhow::bail!("WAIT intercepted without a durable log") };
    let mut progress = d.progress.clone();
    let mut acks = d.replicas.subscribe();
    let replicas = || d.replicas.count_at_least(t.last_write);
    let confirmed =
        |p: &Progress| (t.wait.numlocal <= 0 || p.flushed >= t.last_write) && t.wait.numreplicas <= replicas();
    let now = tokio::time::Instant::now();
    let deadline = (t.wait.timeout_ms > 0).then(|| now + Duration::from_millis(t.wait.timeout_ms));
    while !confirmed(&progress.borrow()) {
        tokio::select! {
            changed = progress.changed() => changed?,
            changed = acks.changed() => changed?,
            _ = tokio::time::sleep_until(deadline.unwrap_or(now)), if deadline.is_some() => break,
            n = sock.read_buf(buf) => {
                if n? == 0 {
                    return Ok(None);
                }
                check_buffer(buf)?;
            }
        }
    }
    let local = i64::from(progress.borrow().flushed >= t.last_write);
    Ok(Some(wait_reply(&t.wait, local, replicas()).to_bytes(Protocol::Resp2)))
}

/// Enforces the query buffer bound and keeps room to read into.
fn check_buffer(buf: &mut BytesMut) -> anyhow::Result<()> {
    if buf.len() > QUERY_BUFFER_BYTES_MAX {
        anyhow::bail!("query buffer over {QUERY_BUFFER_BYTES_MAX} bytes");
    }
    if buf.capacity() - buf.len() < READ_BUFFER_BYTES / 4 {
        buf.reserve(READ_BUFFER_BYTES);
    }
    Ok(())
}

/// Writes the output once what it depends on is committed; returns true
/// when the connection must now close. When the commit does not come within
/// the commit timeout, every reply of the output becomes a `-TIMEOUT` error
/// (the outcome of the writes is unknown: they may still commit), and the
/// connection stays open.
async fn deliver<S: Stream>(sock: &mut S, client: &Client<'_>, mut o: Output, close: bool) -> anyhow::Result<bool> {
    let (core, id) = (client.core, client.id);
    // What the engine counted as handed out (a timeout rewrites `out`).
    let counted = o.out.len();
    let durable = core.durable();
    if o.wait > 0 && durable.as_ref().is_none_or(|d| d.epoch != o.epoch) {
        // This node stopped being the writer of the log the output waits
        // on: its outcome is unknown, and the client sees the connection close.
        return Ok(true);
    }
    if let Some(d) = durable {
        if o.wait > 0 {
            let committed = match d.commits.wait(o.wait) {
                Wait::Ready => Ok(Ok(())),
                Wait::Closed => Ok(Err(())),
                Wait::Pending(rx) => tokio::time::timeout(d.commit_timeout, rx).await.map(|r| r.map_err(|_| ())),
            };
            match committed {
                Ok(Ok(())) => {}
                // Demoted before the commit (see above).
                Ok(Err(())) => return Ok(true),
                Err(_) => o.out = timed_out(&o.out, o.wait, d.commit_timeout),
            }
        }
        // Backpressure: stop reading while the fabric is far behind.
        if d.backlog_full.load(std::sync::atomic::Ordering::Relaxed) {
            let mut progress = d.progress.clone();
            while d.backlog_full.load(std::sync::atomic::Ordering::Relaxed) {
                progress.changed().await?;
            }
        }
    }
    if !o.out.is_empty() && !write_unless_killed(sock, core, id, &o.out).await? {
        return Ok(true);
    }
    client.unsent.fetch_sub(counted, std::sync::atomic::Ordering::Relaxed);
    Ok(o.close || close)
}

/// How often a write to a client that does not read checks whether the
/// client was killed meanwhile (its output went over the limit).
const KILLED_CHECK_MS: u64 = 100;

/// Writes `out` to the client; returns false (written or not) once the
/// client is killed: a subscriber that stops reading must not hold the
/// connection, and the output waiting for it, forever.
async fn write_unless_killed<S: Stream>(sock: &mut S, core: &Shared, id: u64, out: &[u8]) -> anyhow::Result<bool> {
    let write = sock.write_all(out);
    tokio::pin!(write);
    loop {
        tokio::select! {
            r = &mut write => {
                r?;
                return Ok(true);
            }
            () = tokio::time::sleep(Duration::from_millis(KILLED_CHECK_MS)) => {
                if core.lock().is_killed(id) {
                    return Ok(false);
                }
            }
        }
    }
}

/// One `-TIMEOUT` error per reply frame in `out`.
fn timed_out(out: &[u8], lsn: u64, timeout: std::time::Duration) -> Bytes {
    let (mut rest, mut frames) = (out, 0);
    while let Ok(Some((_, used))) = sixfold_resp::decode_frame(rest) {
        rest = &rest[used..];
        frames += 1;
    }
    let err = format!(
        "-TIMEOUT write not confirmed by four storage nodes within {} ms (LSN {lsn}); its outcome is unknown\r\n",
        timeout.as_millis()
    );
    Bytes::from(err.repeat(frames))
}

/// Decodes up to `most` complete requests from `buf`.
/// Returns them and the protocol error that followed (if any).
fn decode(decoder: &mut RequestDecoder, buf: &mut BytesMut, most: usize) -> (Vec<Vec<Bytes>>, Option<String>) {
    let mut cmds = Vec::new();
    while cmds.len() < most {
        match decoder.decode(buf) {
            Ok(Some(args)) if args.is_empty() => {}
            Ok(Some(args)) => cmds.push(args),
            Ok(None) => return (cmds, None),
            Err(e) => return (cmds, Some(e.to_string())),
        }
    }
    (cmds, None)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_reply_of_a_timed_out_output_becomes_an_error() {
        let out = b"+OK\r\n:1\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n";
        let errs = super::timed_out(out, 7, std::time::Duration::from_millis(500));
        let text = String::from_utf8(errs.to_vec()).unwrap();
        assert_eq!(text.matches("-TIMEOUT").count(), 3, "{text}");
        assert!(text.contains("within 500 ms (LSN 7)"), "{text}");
        assert!(super::timed_out(b"", 7, std::time::Duration::from_millis(1)).is_empty());
    }
}
