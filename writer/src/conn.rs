//! One client connection: reads and decodes requests, passes them to the
//! engine thread in batches, and writes back what the engine produced.

use crate::engine_loop::{EngineHandle, Msg, OUTBOX_CHUNKS_MAX, Out};
use crate::server::{SharedLimits, bulk_limit};
use bytes::{Bytes, BytesMut};
use sixfold_engine::ClientInfo;
use sixfold_resp::{Limits, RequestDecoder};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// Most commands passed to the engine in one message.
const BATCH_COMMANDS_MAX: usize = 1024;
/// Initial read buffer size.
const READ_BUFFER_BYTES: usize = 16 * 1024;
/// Largest unparsed request data kept for one client (`client-query-buffer-limit`).
const QUERY_BUFFER_BYTES_MAX: usize = 1024 * 1024 * 1024;

/// Serves one connection until either side closes it.
pub async fn serve(
    mut sock: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    engine: EngineHandle,
    limits: Arc<SharedLimits>,
) -> anyhow::Result<()> {
    sock.set_nodelay(true)?;
    let (out_tx, mut out_rx) = mpsc::channel(OUTBOX_CHUNKS_MAX);
    let (id_tx, id_rx) = oneshot::channel();
    let info = ClientInfo {
        addr: peer.to_string(),
        laddr: local.to_string(),
    };
    engine
        .send_async(Msg::Connect {
            info,
            outbox: out_tx,
            reply: id_tx,
        })
        .await?;
    let id = match id_rx.await? {
        Ok(id) => id,
        Err(refusal) => {
            sock.write_all(&refusal).await?;
            return Ok(());
        }
    };
    let result = pump(&mut sock, id, &engine, &mut out_rx, &limits).await;
    let _ = engine.send_async(Msg::Disconnect { id }).await;
    result
}

async fn pump(
    sock: &mut TcpStream,
    id: u64,
    engine: &EngineHandle,
    out_rx: &mut mpsc::Receiver<Out>,
    limits: &SharedLimits,
) -> anyhow::Result<()> {
    let (mut rd, mut wr) = sock.split();
    let mut buf = BytesMut::with_capacity(READ_BUFFER_BYTES);
    let mut decoder = RequestDecoder::new(Limits {
        bulk_bytes_max: bulk_limit(limits),
        ..Limits::default()
    });
    let mut reading = true;
    loop {
        tokio::select! {
            out = out_rx.recv() => match out {
                Some(Out::Data(b)) => {
                    if write_coalesced(&mut wr, b, out_rx).await? {
                        return Ok(());
                    }
                }
                Some(Out::Close) | None => return Ok(()),
            },
            n = rd.read_buf(&mut buf), if reading => {
                if n? == 0 {
                    return Ok(());
                }
                decoder.set_limits(Limits { bulk_bytes_max: bulk_limit(limits), ..Limits::default() });
                let stop = decode_and_send(&mut decoder, &mut buf, id, engine).await?;
                if stop {
                    reading = false;
                } else if buf.len() > QUERY_BUFFER_BYTES_MAX {
                    anyhow::bail!("query buffer over {QUERY_BUFFER_BYTES_MAX} bytes");
                }
                if buf.capacity() - buf.len() < READ_BUFFER_BYTES / 4 {
                    buf.reserve(READ_BUFFER_BYTES);
                }
            }
        }
    }
}

/// Writes `first` and whatever else is already queued, in one write when
/// possible. Returns true if a Close was met.
async fn write_coalesced<W: AsyncWriteExt + Unpin>(
    wr: &mut W,
    first: Bytes,
    rx: &mut mpsc::Receiver<Out>,
) -> anyhow::Result<bool> {
    let mut close = false;
    let mut more = BytesMut::new();
    while let Ok(o) = rx.try_recv() {
        match o {
            Out::Data(b) => more.extend_from_slice(&b),
            Out::Close => {
                close = true;
                break;
            }
        }
    }
    if more.is_empty() {
        wr.write_all(&first).await?;
    } else {
        let mut all = BytesMut::with_capacity(first.len() + more.len());
        all.extend_from_slice(&first);
        all.extend_from_slice(&more);
        wr.write_all(&all).await?;
    }
    Ok(close)
}

/// Decodes every complete request in `buf` and sends them to the engine.
/// Returns true after a protocol error (the connection stops reading).
async fn decode_and_send(
    decoder: &mut RequestDecoder,
    buf: &mut BytesMut,
    id: u64,
    engine: &EngineHandle,
) -> anyhow::Result<bool> {
    let mut cmds = Vec::new();
    loop {
        match decoder.decode(buf) {
            Ok(Some(args)) => {
                if !args.is_empty() {
                    cmds.push(args);
                }
                if cmds.len() >= BATCH_COMMANDS_MAX {
                    engine
                        .send_async(Msg::Commands {
                            id,
                            cmds: std::mem::take(&mut cmds),
                            error: None,
                        })
                        .await?;
                }
            }
            Ok(None) => break,
            Err(e) => {
                engine
                    .send_async(Msg::Commands {
                        id,
                        cmds,
                        error: Some(e.to_string()),
                    })
                    .await?;
                return Ok(true);
            }
        }
    }
    if !cmds.is_empty() {
        engine
            .send_async(Msg::Commands {
                id,
                cmds,
                error: None,
            })
            .await?;
    }
    Ok(false)
}
