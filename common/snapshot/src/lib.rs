//! The snapshotter (DESIGN §7), off the writer's machine: it restores the
//! newest snapshot that verifies, reads the committed log past it from the
//! storage nodes (as a `Reader`, with a snapshotter certificate), applies it
//! to its own engine, writes the new snapshot to the object store as a
//! stream ([`sixfold_engine::snapshot`], `docs/snapshot-format.md`), then
//! reads it back and verifies it. The writer never forks or pauses.
//!
//! Snapshots are named `snapshots/<lsn, 20 digits>.snap`, so names sort by
//! LSN. A snapshot that fails any check is reported and skipped: restores
//! fall back to the one before.

use sixfold_engine::snapshot::{Decoder, Encoder, Header, SnapshotError, apply_item, chain_checksum};
use sixfold_engine::{Config, Engine};
use sixfold_fabric::LogReader;
use sixfold_objstore::{ObjectInfo, ObjectStore, StoreError};
use sixfold_wire::{Epoch, Lsn, NodeId, Role};
use std::net::SocketAddr;
use std::time::Duration;

/// Where snapshots live in the store.
pub const PREFIX: &str = "snapshots/";
/// Bytes read from the store per request.
pub const READ_PIECE_BYTES: u64 = 8 * 1024 * 1024;
/// Record bytes asked for per Read of the log.
const LOG_READ_BYTES: u32 = 4 * 1024 * 1024;

/// Why a snapshot could not be made, read or used.
#[derive(Debug, thiserror::Error)]
pub enum SnapError {
    /// The object store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An object is not a usable snapshot.
    #[error("{name}: {error}")]
    Format {
        /// The object.
        name: String,
        /// What is wrong with it.
        error: SnapshotError,
    },
    /// The log could not be read from any storage node.
    #[error("reading the log: {0}")]
    Log(String),
    /// A snapshot just written does not read back as the state it was
    /// written from.
    #[error("{0} does not verify after upload: its digest differs from the state it was written from")]
    Verify(String),
}

/// The object name of a snapshot at `lsn`.
pub fn object_name(lsn: Lsn) -> String {
    format!("{PREFIX}{lsn:020}.snap")
}

/// A snapshot restored into an engine.
pub struct Restored {
    /// The state.
    pub engine: Engine,
    /// What it covers.
    pub header: Header,
    /// The object.
    pub name: String,
}

fn format_err(name: &str) -> impl Fn(SnapshotError) -> SnapError + '_ {
    move |error| SnapError::Format { name: name.to_string(), error }
}

/// Restores `name` into a new engine, reading it in pieces; `progress`
/// hears the bytes read so far. Fails unless every check of the format
/// passes (`docs/snapshot-format.md`).
pub async fn restore(store: &dyn ObjectStore, name: &str, progress: impl FnMut(u64)) -> Result<Restored, SnapError> {
    restore_with(store, name, Config::default(), progress).await
}

/// [`restore`] into an engine of configuration `config` (a data node's:
/// its number of databases).
pub async fn restore_with(
    store: &dyn ObjectStore,
    name: &str,
    config: Config,
    mut progress: impl FnMut(u64),
) -> Result<Restored, SnapError> {
    let mut engine = Engine::new(config, 1);
    let (mut dec, mut header, mut offset) = (Decoder::new(), None, 0u64);
    loop {
        let piece = store.read_range(name, offset, READ_PIECE_BYTES).await?;
        if piece.is_empty() {
            break;
        }
        offset += piece.len() as u64;
        dec.feed(&piece);
        while let Some(item) = dec.next_item().map_err(format_err(name))? {
            if let sixfold_engine::snapshot::Item::Header(h) = &item {
                header = Some(h.clone());
            }
            apply_item(&mut engine, &item).map_err(format_err(name))?;
        }
        progress(offset);
    }
    let cut =
        || SnapError::Format { name: name.into(), error: SnapshotError::Malformed("ends before its trailer".into()) };
    if !dec.finished() {
        return Err(cut());
    }
    let header = header.ok_or_else(cut)?;
    Ok(Restored { engine, header, name: name.to_string() })
}

/// The snapshots in the store, oldest first.
pub async fn list(store: &dyn ObjectStore) -> Result<Vec<ObjectInfo>, SnapError> {
    Ok(store.list(PREFIX).await?.into_iter().filter(|o| o.name.ends_with(".snap")).collect())
}

/// The header of `name` (read alone; says nothing of the rest).
pub async fn header(store: &dyn ObjectStore, name: &str) -> Result<Header, SnapError> {
    let head = store.read_range(name, 0, 64 * 1024 + 128).await?;
    let mut dec = Decoder::new();
    dec.feed(&head);
    match dec.next_item().map_err(format_err(name))? {
        Some(sixfold_engine::snapshot::Item::Header(h)) => Ok(h),
        _ => Err(SnapError::Format { name: name.into(), error: SnapshotError::Malformed("no complete header".into()) }),
    }
}

/// The newest snapshot that restores and verifies, and those newer than it
/// that did not (with why). `None` when none does.
pub async fn restore_newest(store: &dyn ObjectStore) -> Result<(Option<Restored>, Vec<SnapError>), SnapError> {
    restore_newest_with(store, Config::default()).await
}

/// [`restore_newest`] into engines of configuration `config`.
pub async fn restore_newest_with(
    store: &dyn ObjectStore,
    config: Config,
) -> Result<(Option<Restored>, Vec<SnapError>), SnapError> {
    let mut skipped = Vec::new();
    for o in list(store).await?.iter().rev() {
        match restore_with(store, &o.name, config.clone(), |_| {}).await {
            Ok(r) => return Ok((Some(r), skipped)),
            Err(e @ (SnapError::Format { .. } | SnapError::Store(StoreError::NotFound(_)))) => {
                tracing::warn!(error = %e, "skipping a snapshot that does not verify");
                skipped.push(e);
            }
            Err(e) => return Err(e),
        }
    }
    Ok((None, skipped))
}

/// How the snapshotter reaches the log.
#[derive(Debug, Clone)]
pub struct LogSource {
    /// A client endpoint with a snapshotter's certificate.
    pub endpoint: quinn::Endpoint,
    /// The six storage nodes (tried in turn).
    pub storage: Vec<SocketAddr>,
    /// The id it reads under.
    pub node_id: NodeId,
    /// A node that does not answer within this is left for the next.
    pub timeout: Duration,
}

/// The log applied to an engine: where it stands.
#[derive(Debug, Clone, Copy)]
pub struct Position {
    /// Last LSN applied.
    pub lsn: Lsn,
    /// Its epoch.
    pub epoch: Epoch,
    /// The running log checksum there.
    pub checksum: [u8; 32],
}

/// Applies the committed log after `at` to `engine`, from the first
/// storage node that serves it (up to its commit LSN when it answered);
/// `progress` hears the LSN reached. Returns the new position.
pub async fn catch_up(
    engine: &mut Engine,
    src: &LogSource,
    mut at: Position,
    mut progress: impl FnMut(Lsn),
) -> Result<Position, SnapError> {
    let mut errors = Vec::new();
    for addr in &src.storage {
        match read_from(engine, src, *addr, &mut at, &mut progress).await {
            Ok(()) => return Ok(at),
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    Err(SnapError::Log(errors.join("; ")))
}

async fn read_from(
    engine: &mut Engine,
    src: &LogSource,
    addr: SocketAddr,
    at: &mut Position,
    progress: &mut impl FnMut(Lsn),
) -> Result<(), String> {
    let me = (src.node_id, Role::Reader);
    let mut reader = LogReader::open(&src.endpoint, addr, me, src.timeout).await.map_err(|e| e.to_string())?;
    loop {
        let got = reader.read(at.lsn + 1, LOG_READ_BYTES).await.map_err(|e| e.to_string())?;
        if got.records.is_empty() {
            return if got.commit_lsn > at.lsn {
                Err(format!("lags: commit {} unserved", got.commit_lsn))
            } else {
                Ok(())
            };
        }
        for r in &got.records {
            sixfold_node::core::apply_to(engine, r).map_err(|e| format!("record {}: {e:#}", r.lsn))?;
            let mut bytes = Vec::with_capacity(r.encoded_len());
            r.encode(&mut bytes);
            *at = Position { lsn: r.lsn, epoch: r.epoch, checksum: chain_checksum(&at.checksum, &bytes) };
        }
        progress(at.lsn);
    }
}

/// What [`make`] did.
#[derive(Debug)]
pub struct Made {
    /// The new snapshot's object name.
    pub name: String,
    /// Its header.
    pub header: Header,
    /// Its size in bytes.
    pub bytes: u64,
    /// Keys in it.
    pub keys: u64,
    /// Snapshots skipped because they did not verify.
    pub skipped: Vec<SnapError>,
}

/// Writes the state of `engine` at `at` as a snapshot, then reads it back
/// and verifies it; a snapshot that does not verify is deleted.
pub async fn write_verified(
    store: &dyn ObjectStore,
    engine: &Engine,
    at: Position,
    mut progress: impl FnMut(&str, u64),
) -> Result<(String, u64), SnapError> {
    let name = object_name(at.lsn);
    let header = Header {
        lsn: at.lsn,
        epoch: at.epoch,
        log_checksum: at.checksum,
        engine_version: format!("sixfold {}", env!("CARGO_PKG_VERSION")),
    };
    let mut enc = Encoder::new(header);
    let mut w = store.create(&name).await?;
    let mut written = 0u64;
    while let Some(bytes) = enc.next_bytes(engine) {
        written += bytes.len() as u64;
        if let Err(e) = w.write(bytes.into()).await {
            let _ = w.abort().await;
            return Err(e.into());
        }
        progress("writing", written);
    }
    let size = w.finish().await?;
    let back = restore(store, &name, |n| progress("verifying", n)).await;
    match back {
        Ok(r) if r.engine.digest() == engine.digest() && r.header.lsn == at.lsn => Ok((name, size)),
        other => {
            let _ = store.delete(&name).await;
            Err(other.err().unwrap_or(SnapError::Verify(name)))
        }
    }
}

/// One snapshot round: restore the newest verified snapshot (or start
/// empty), apply the committed log past it, write and verify the new
/// snapshot. `None` when the log has nothing past the newest snapshot.
pub async fn make(
    store: &dyn ObjectStore,
    src: &LogSource,
    mut progress: impl FnMut(&str, u64),
) -> Result<Option<Made>, SnapError> {
    let (base, skipped) = restore_newest(store).await?;
    let (mut engine, from) = match base {
        Some(r) => {
            let h = r.header;
            (r.engine, Position { lsn: h.lsn, epoch: h.epoch, checksum: h.log_checksum })
        }
        None => (Engine::new(Config::default(), 1), Position { lsn: 0, epoch: 0, checksum: [0; 32] }),
    };
    progress("restored", from.lsn);
    let at = catch_up(&mut engine, src, from, |lsn| progress("log", lsn)).await?;
    if at.lsn == from.lsn && from.lsn > 0 {
        return Ok(None);
    }
    let (name, bytes) = write_verified(store, &engine, at, &mut progress).await?;
    let keys = engine.keyspace().dbs.iter().map(|d| d.len() as u64).sum();
    let header = self::header(store, &name).await?;
    Ok(Some(Made { name, header, bytes, keys, skipped }))
}
