//! A replica's RESP connection to its writer: it announces itself
//! (`REPLCONF LISTENING-PORT`, `IP-ADDRESS`), acknowledges every LSN it
//! applies (`REPLCONF ACK`, which WAIT on the writer counts), and asks ROLE
//! every second to learn the writer's commit LSN (a restarted replica
//! serves reads once it applied that far) and the other replicas for ROLE,
//! INFO and the CLUSTER commands. Reconnects after any failure, and to the
//! new writer after a failover.

use crate::role::{ReplicaStats, WriterRole, serve_when_caught_up};
use bytes::{Bytes, BytesMut};
use sixfold_engine::cmd::cluster::Member;
use sixfold_node::Shared;
use sixfold_resp::{Frame, Protocol, decode_frame};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// How often the writer's ROLE is read (well within a lease: a replica
/// whose storage node stopped hearing from the writer still sees the
/// writer's commit LSN grow, and does not campaign).
const ROLE_EVERY_MS: u64 = 200;
/// Pause before reconnecting.
const RECONNECT_MS: u64 = 500;
/// Most reply bytes buffered from the writer.
const REPLY_BYTES_MAX: usize = 1024 * 1024;

/// Keeps the connection to the current writer ([`ReplicaStats::writer`])
/// up, forever.
pub async fn run(me: String, mut applied: watch::Receiver<u64>, stats: Arc<ReplicaStats>, core: Shared) {
    loop {
        let writer = stats.writer();
        if writer.is_empty() {
            // No writer named yet (an election is under way).
            tokio::time::sleep(Duration::from_millis(RECONNECT_MS)).await;
            continue;
        }
        if let Err(e) = session(&writer, &me, &mut applied, &stats, &core).await {
            tracing::debug!(%writer, error = %e, "connection to the writer ended");
        }
        tokio::time::sleep(Duration::from_millis(RECONNECT_MS)).await;
    }
}

/// A RESP command.
pub fn command(words: &[&str]) -> Bytes {
    Frame::Array(words.iter().map(|w| Frame::bulk(w.to_string())).collect()).to_bytes(Protocol::Resp2)
}

async fn session(
    writer: &str,
    me: &str,
    applied: &mut watch::Receiver<u64>,
    stats: &ReplicaStats,
    core: &Shared,
) -> anyhow::Result<()> {
    let mut sock = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(writer)).await??;
    sock.set_nodelay(true)?;
    let mut buf = BytesMut::new();
    authenticate(&mut sock, &mut buf, core).await?;
    let (ip, port) = me.rsplit_once(':').unwrap_or((me, "0"));
    for (k, v) in [("LISTENING-PORT", port), ("IP-ADDRESS", ip.trim_matches(['[', ']']))] {
        sock.write_all(&command(&["REPLCONF", k, v])).await?;
        if let Frame::Error(e) = reply(&mut sock, &mut buf).await? {
            anyhow::bail!("the writer refused REPLCONF {k}: {e}");
        }
    }
    let mut role_every = tokio::time::interval(Duration::from_millis(ROLE_EVERY_MS));
    loop {
        tokio::select! {
            changed = applied.changed() => {
                changed?;
                let lsn = *applied.borrow_and_update();
                sock.write_all(&command(&["REPLCONF", "ACK", &lsn.to_string()])).await?;
            }
            _ = role_every.tick() => {
                anyhow::ensure!(stats.writer() == writer, "the shard's writer changed");
                sock.write_all(&command(&["ROLE"])).await?;
                let frame = reply(&mut sock, &mut buf).await?;
                let role = parse_role(&frame);
                if is_master(&frame) {
                    let _ = stats.catch_up_to.compare_exchange(0, role.0.max(1), std::sync::atomic::Ordering::Relaxed, std::sync::atomic::Ordering::Relaxed);
                    // The lag counts from the writer's commit, not only
                    // from what the storage node read from knows.
                    stats.writer_commit.fetch_max(role.0, std::sync::atomic::Ordering::Relaxed);
                    stats.commit_lsn.fetch_max(role.0, std::sync::atomic::Ordering::Relaxed);
                }
                if let Ok(mut g) = stats.shard.lock() {
                    *g = role;
                }
                serve_when_caught_up(core, stats);
            }
        }
    }
}

/// Sends `AUTH [masteruser] masterauth` on a new connection to another
/// data node, when this node has a `masterauth` (CONFIG).
pub async fn authenticate(sock: &mut TcpStream, buf: &mut BytesMut, core: &Shared) -> anyhow::Result<()> {
    let (user, pass) = {
        let c = core.lock();
        (c.config_value("masteruser"), c.config_value("masterauth"))
    };
    let Some(pass) = pass else { return Ok(()) };
    let mut words = vec!["AUTH"];
    words.extend(user.as_deref());
    words.push(&pass);
    sock.write_all(&command(&words)).await?;
    match reply(sock, buf).await? {
        Frame::Error(e) => anyhow::bail!("the other data node refused AUTH (masterauth): {e}"),
        _ => Ok(()),
    }
}

/// Reads one reply frame.
pub async fn reply(sock: &mut TcpStream, buf: &mut BytesMut) -> anyhow::Result<Frame> {
    loop {
        if let Some((f, used)) = decode_frame(buf)? {
            let _ = buf.split_to(used);
            return Ok(f);
        }
        anyhow::ensure!(buf.len() < REPLY_BYTES_MAX, "reply over {REPLY_BYTES_MAX} bytes");
        if sock.read_buf(buf).await? == 0 {
            anyhow::bail!("the writer closed the connection");
        }
    }
}

/// Whether `f` is a writer's ROLE reply (not an error, not a replica's).
fn is_master(f: &Frame) -> bool {
    matches!(f, Frame::Array(p) if matches!(p.first(), Some(Frame::Bulk(b)) if b.as_ref() == b"master"))
}

/// The writer's `[master, offset, [[ip, port, offset], ...]]`.
fn parse_role(f: &Frame) -> WriterRole {
    let text = |f: &Frame| match f {
        Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Frame::Integer(n) => n.to_string(),
        _ => String::new(),
    };
    let Frame::Array(parts) = f else { return (0, Vec::new()) };
    let offset = match parts.get(1) {
        Some(Frame::Integer(n)) => u64::try_from(*n).unwrap_or(0),
        _ => 0,
    };
    let member = |x: &[Frame]| Member {
        ip: text(&x[0]),
        port: text(&x[1]).parse().unwrap_or(0),
        offset: text(&x[2]).parse().unwrap_or(0),
    };
    let replicas = match parts.get(2) {
        Some(Frame::Array(rs)) => rs
            .iter()
            .filter_map(|r| match r {
                Frame::Array(x) if x.len() == 3 => Some(member(x)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    (offset, replicas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_writers_role() {
        let role = Frame::Array(vec![
            Frame::bulk("master"),
            Frame::Integer(42),
            Frame::Array(vec![Frame::Array(vec![Frame::bulk("127.0.0.1"), Frame::bulk("6380"), Frame::bulk("40")])]),
        ]);
        let member = Member { ip: "127.0.0.1".into(), port: 6380, offset: 40 };
        assert_eq!(parse_role(&role), (42, vec![member]));
        assert_eq!(parse_role(&Frame::Null), (0, Vec::new()));
        assert!(is_master(&role));
        assert!(!is_master(&Frame::Error("LOADING".into())));
        assert!(!is_master(&Frame::Array(vec![Frame::bulk("slave")])));
    }
}
