//! The snapshot format (`docs/snapshot-format.md`, byte by byte): a
//! versioned header (the log position it covers, the running log checksum
//! there, the engine version), then chunks of effect groups that rebuild
//! the function libraries (one group of `FUNCTION LOAD` effects, first)
//! and the keyspace key by key, each chunk with its CRC32C, then a trailer with
//! the key count and the state digest ([`crate::digest`]). Written chunk by
//! chunk ([`Encoder`]) and read incrementally ([`Decoder`]), so neither side
//! holds more than a chunk of the object; a restore applies the groups to
//! an engine with [`Engine::apply`], the same path as log records, and is
//! accepted only if the digest of the result is the trailer's.

use crate::Effect;
use crate::db::Entry;
use crate::effects::{decode_group, encode_group};
use crate::engine::Engine;
use crate::value::Value;
use bytes::{Buf, Bytes, BytesMut};

/// First bytes of every snapshot.
pub const MAGIC: &[u8; 8] = b"SIXFSNAP";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// A chunk's payload is closed once it passes this many bytes.
pub const CHUNK_BYTES_MAX: usize = 1024 * 1024;
/// Largest chunk payload a reader accepts (a chunk closes after the group
/// that passes [`CHUNK_BYTES_MAX`]; one group holds at most
/// [`ELEMENTS_PER_GROUP`] elements of up to 512 MiB each in theory, so a
/// bound is a safety net against a corrupted length, not a format limit).
pub const CHUNK_BYTES_LIMIT: usize = 1024 * 1024 * 1024;
/// Elements of a collection per effect (a large key spans several groups).
pub const ELEMENTS_PER_GROUP: usize = 512;
/// Hash-table slots visited per step of the encoder (one: a chunk closes
/// right after the key that fills it).
const SLOTS_PER_STEP: usize = 1;

const CHUNK_GROUPS: u8 = 1;
const CHUNK_TRAILER: u8 = 2;

/// What a snapshot covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The last log record applied.
    pub lsn: u64,
    /// The epoch of that record.
    pub epoch: u64,
    /// The running log checksum at `lsn` ([`chain_checksum`]).
    pub log_checksum: [u8; 32],
    /// The engine that wrote it (`sixfold <version>`).
    pub engine_version: String,
}

/// The end of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    /// Keys in all databases.
    pub keys: u64,
    /// The state digest.
    pub digest: [u8; 32],
}

/// Why a snapshot was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Not a snapshot (another object).
    #[error("not a Sixfold snapshot (no SIXFSNAP magic)")]
    Foreign,
    /// A format version this code does not read.
    #[error("snapshot format version {0}, this build reads version {FORMAT_VERSION}")]
    Version(u32),
    /// A checksum did not match.
    #[error("corrupted: the CRC32C of the {0} at byte {1} does not match")]
    Crc(&'static str, u64),
    /// The object ended early, or went on after its trailer.
    #[error("truncated or malformed: {0}")]
    Malformed(String),
    /// A group does not decode or apply.
    #[error("a record of the snapshot does not apply: {0}")]
    Apply(String),
    /// The restored state is not the one the snapshot names.
    #[error("the restored state's digest or key count differs from the snapshot's trailer")]
    Digest,
}

/// Chains `record` (its encoded bytes) onto the running log checksum
/// `prev`: BLAKE3(prev ‖ record). The checksum at LSN 0 is all zeros.
pub fn chain_checksum(prev: &[u8; 32], record: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(prev);
    h.update(record);
    *h.finalize().as_bytes()
}

fn crc_of(parts: &[&[u8]]) -> u32 {
    parts.iter().fold(0, |c, p| crc32c::crc32c_append(c, p))
}

/// The header's bytes.
pub fn encode_header(h: &Header) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&h.lsn.to_le_bytes());
    out.extend_from_slice(&h.epoch.to_le_bytes());
    out.extend_from_slice(&h.log_checksum);
    let version = h.engine_version.as_bytes();
    out.extend_from_slice(&(version.len().min(u16::MAX as usize) as u16).to_le_bytes());
    out.extend_from_slice(&version[..version.len().min(u16::MAX as usize)]);
    let crc = crc_of(&[&out]);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn chunk(kind: u8, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_le_bytes();
    let mut out = Vec::with_capacity(payload.len() + 9);
    out.push(kind);
    out.extend_from_slice(&len);
    out.extend_from_slice(payload);
    out.extend_from_slice(&crc_of(&[&[kind], &len, payload]).to_le_bytes());
    out
}

/// The effect groups that rebuild one key in database `db`: its value in
/// pieces of at most [`ELEMENTS_PER_GROUP`] elements, then its expiry.
pub fn key_groups(db: usize, key: &Bytes, entry: &Entry) -> Vec<Vec<Effect>> {
    let k = || key.clone();
    let mut effects: Vec<Effect> = Vec::new();
    let mut pieces = |name: &'static str, items: Vec<Bytes>, per: usize| {
        for part in items.chunks(ELEMENTS_PER_GROUP * per) {
            let mut args = vec![Bytes::from_static(name.as_bytes()), k()];
            args.extend_from_slice(part);
            effects.push(Effect::new(db, args));
        }
    };
    match &entry.value {
        Value::Str(s) => pieces("SET", vec![s.clone()], 1),
        Value::List(l) => pieces("RPUSH", l.iter().cloned().collect(), 1),
        Value::Set(s) => pieces("SADD", s.iter().cloned().collect(), 1),
        Value::Hash(h) => pieces("HSET", h.iter().flat_map(|(f, v)| [f.clone(), v.clone()]).collect(), 2),
        Value::ZSet(z) => {
            // `{:e}` prints the shortest text that parses back to the same f64.
            let items = z.iter().flat_map(|(m, s)| [Bytes::from(format!("{s:e}")), m.clone()]).collect();
            pieces("ZADD", items, 2);
        }
        Value::Stream(st) => effects.extend(stream_effects(key, st).into_iter().map(|args| Effect::new(db, args))),
    }
    if let Some(at) = entry.expire_at_ms {
        effects.push(Effect::new(db, vec![Bytes::from_static(b"PEXPIREAT"), k(), Bytes::from(at.to_string())]));
    }
    effects.into_iter().map(|e| vec![e]).collect()
}

/// The commands that rebuild a stream: its entries (with any deleted
/// entry a group still has pending, added and deleted again once its
/// claims are made), counters, groups, consumers and pending entries.
/// (A pending entry removed by trimming comes back as deleted by XDEL,
/// which may raise `max-deleted-entry-id`.)
fn stream_effects(key: &Bytes, st: &crate::stream::Stream) -> Vec<Vec<Bytes>> {
    use crate::stream::StreamId;
    let w = |s: &'static str| Bytes::from_static(s.as_bytes());
    let gone: std::collections::BTreeSet<StreamId> =
        st.groups.values().flat_map(|g| g.pel.keys()).filter(|id| !st.entries.contains_key(id)).copied().collect();
    let mut all: Vec<(StreamId, Vec<Bytes>)> = st.entries.iter().map(|(id, f)| (*id, f.clone())).collect();
    all.extend(gone.iter().map(|id| (*id, vec![w("_"), w("_")])));
    all.sort_by_key(|(id, _)| *id);
    let mut out = Vec::new();
    if all.is_empty() {
        let id = st.last_id.max(StreamId::new(0, 1));
        out.push(vec![w("XADD"), key.clone(), w("MAXLEN"), w("0"), id.bytes(), w("_"), w("_")]);
    }
    for (id, fields) in all {
        let mut e = vec![w("XADD"), key.clone(), id.bytes()];
        e.extend(fields);
        out.push(e);
    }
    for (name, g) in &st.groups {
        let read = g.entries_read.map_or("-1".to_string(), |n| n.to_string());
        out.push(vec![
            w("XGROUP"),
            w("CREATE"),
            key.clone(),
            name.clone(),
            g.last_id.bytes(),
            w("ENTRIESREAD"),
            read.into(),
        ]);
        for c in g.consumers.keys() {
            out.push(vec![w("XGROUP"), w("CREATECONSUMER"), key.clone(), name.clone(), c.clone()]);
        }
        for (id, p) in &g.pel {
            let mut e = vec![w("XCLAIM"), key.clone(), name.clone(), p.consumer.clone(), w("0"), id.bytes(), w("TIME")];
            e.extend([Bytes::from(p.delivered_ms.to_string()), w("RETRYCOUNT"), Bytes::from(p.deliveries.to_string())]);
            e.extend([w("FORCE"), w("JUSTID")]);
            out.push(e);
        }
    }
    if !gone.is_empty() {
        out.push([w("XDEL"), key.clone()].into_iter().chain(gone.iter().map(|id| id.bytes())).collect());
    }
    let mut setid = vec![w("XSETID"), key.clone(), st.last_id.bytes(), w("ENTRIESADDED")];
    setid.push(Bytes::from(st.entries_added.to_string()));
    if st.max_deleted != StreamId::MIN {
        setid.extend([w("MAXDELETEDID"), st.max_deleted.bytes()]);
    }
    out.push(setid);
    out
}

/// Writes a snapshot of an engine that does not change meanwhile, one
/// chunk at a time.
pub struct Encoder {
    header: Option<Header>,
    /// The function libraries' group was written.
    libraries_done: bool,
    db: usize,
    cursor: usize,
    keys: u64,
    done: bool,
}

impl Encoder {
    /// A snapshot of the state after `header.lsn`.
    pub fn new(header: Header) -> Encoder {
        Encoder { header: Some(header), libraries_done: false, db: 0, cursor: 0, keys: 0, done: false }
    }

    /// The next bytes of the object (the header, then chunks, then the
    /// trailer); `None` when it is complete.
    pub fn next_bytes(&mut self, engine: &Engine) -> Option<Vec<u8>> {
        if let Some(h) = self.header.take() {
            return Some(encode_header(&h));
        }
        if self.done {
            return None;
        }
        let dbs = &engine.keyspace().dbs;
        let mut payload = Vec::new();
        if !self.libraries_done {
            // The function libraries first, as one group of effects.
            self.libraries_done = true;
            let group = crate::cmd::functions::library_effects(engine);
            if !group.is_empty() {
                let bytes = encode_group(&group);
                payload.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                payload.extend_from_slice(&bytes);
            }
        }
        while payload.len() < CHUNK_BYTES_MAX {
            let Some(db) = dbs.get(self.db) else {
                self.done = true;
                let mut t = self.keys.to_le_bytes().to_vec();
                t.extend_from_slice(&engine.digest());
                if payload.is_empty() {
                    return Some(chunk(CHUNK_TRAILER, &t));
                }
                let mut out = chunk(CHUNK_GROUPS, &payload);
                out.extend(chunk(CHUNK_TRAILER, &t));
                return Some(out);
            };
            let (keys, next) = db.scan_slots(self.cursor, SLOTS_PER_STEP);
            for key in keys {
                let Some(entry) = db.get(&key) else { continue };
                self.keys += 1;
                for g in key_groups(self.db, &key, entry) {
                    let bytes = encode_group(&g);
                    payload.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                    payload.extend_from_slice(&bytes);
                }
            }
            if next == 0 {
                (self.db, self.cursor) = (self.db + 1, 0);
            } else {
                self.cursor = next;
            }
        }
        Some(chunk(CHUNK_GROUPS, &payload))
    }
}

/// What a decoder found next.
#[derive(Debug)]
pub enum Item {
    /// The header.
    Header(Header),
    /// Effect groups, in order.
    Groups(Vec<Vec<Effect>>),
    /// The trailer: nothing may follow.
    Trailer(Trailer),
}

/// Reads a snapshot fed in pieces of any size.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
    /// Bytes consumed so far (for error positions).
    at: u64,
    header_seen: bool,
    trailer_seen: bool,
}

impl Decoder {
    /// A decoder at the start of an object.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Adds the next bytes of the object.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete item, if the bytes fed hold one.
    pub fn next_item(&mut self) -> Result<Option<Item>, SnapshotError> {
        if self.trailer_seen {
            return match self.buf.is_empty() {
                true => Ok(None),
                false => Err(SnapshotError::Malformed("bytes after the trailer".into())),
            };
        }
        if !self.header_seen {
            return self.header();
        }
        let Some(len) = self.buf.get(1..5).map(|l| u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize) else {
            return Ok(None);
        };
        if len > CHUNK_BYTES_LIMIT {
            return Err(SnapshotError::Malformed(format!("a chunk of {len} bytes at byte {}", self.at)));
        }
        if self.buf.len() < len + 9 {
            return Ok(None);
        }
        let at = self.at;
        let raw = self.buf.split_to(len + 9).freeze();
        self.at += raw.len() as u64;
        let (kind, payload, crc) = (raw[0], raw.slice(5..5 + len), &raw[5 + len..]);
        if crc_of(&[&raw[..5 + len]]).to_le_bytes() != crc {
            return Err(SnapshotError::Crc("chunk", at));
        }
        match kind {
            CHUNK_GROUPS => Ok(Some(Item::Groups(groups(payload)?))),
            CHUNK_TRAILER if len == 40 => {
                self.trailer_seen = true;
                let mut p = payload;
                let keys = p.get_u64_le();
                let mut digest = [0u8; 32];
                p.copy_to_slice(&mut digest);
                Ok(Some(Item::Trailer(Trailer { keys, digest })))
            }
            other => Err(SnapshotError::Malformed(format!("chunk kind {other} at byte {at}"))),
        }
    }

    fn header(&mut self) -> Result<Option<Item>, SnapshotError> {
        if self.buf.len() >= MAGIC.len() && &self.buf[..MAGIC.len()] != MAGIC {
            return Err(SnapshotError::Foreign);
        }
        let Some(vlen) = self.buf.get(60..62).map(|v| u16::from_le_bytes([v[0], v[1]]) as usize) else {
            return Ok(None);
        };
        if self.buf.len() < 62 + vlen + 4 {
            return Ok(None);
        }
        let raw = self.buf.split_to(62 + vlen + 4).freeze();
        self.at += raw.len() as u64;
        let version = u32::from_le_bytes([raw[8], raw[9], raw[10], raw[11]]);
        if version != FORMAT_VERSION {
            return Err(SnapshotError::Version(version));
        }
        if crc_of(&[&raw[..62 + vlen]]).to_le_bytes() != raw[62 + vlen..] {
            return Err(SnapshotError::Crc("header", 0));
        }
        let mut p = raw.slice(12..);
        let (lsn, epoch) = (p.get_u64_le(), p.get_u64_le());
        let mut log_checksum = [0u8; 32];
        p.copy_to_slice(&mut log_checksum);
        let engine_version = String::from_utf8_lossy(&raw[62..62 + vlen]).into_owned();
        self.header_seen = true;
        Ok(Some(Item::Header(Header { lsn, epoch, log_checksum, engine_version })))
    }

    /// Whether the object ended where it should (after its trailer).
    pub fn finished(&self) -> bool {
        self.trailer_seen && self.buf.is_empty()
    }
}

fn groups(mut p: Bytes) -> Result<Vec<Vec<Effect>>, SnapshotError> {
    let mut out = Vec::new();
    while !p.is_empty() {
        if p.len() < 4 {
            return Err(SnapshotError::Malformed("a group length cut short".into()));
        }
        let len = p.get_u32_le() as usize;
        if p.len() < len {
            return Err(SnapshotError::Malformed("a group cut short".into()));
        }
        let g = p.split_to(len);
        out.push(decode_group(&g).map_err(|e| SnapshotError::Apply(e.to_string()))?);
    }
    Ok(out)
}

/// Applies a decoded item to `engine` (a fresh one for a restore); at the
/// trailer, checks the engine's digest and key count against it.
pub fn apply_item(engine: &mut Engine, item: &Item) -> Result<(), SnapshotError> {
    match item {
        Item::Header(_) => Ok(()),
        Item::Groups(gs) => {
            gs.iter().try_for_each(|g| engine.apply(g).map_err(|e| SnapshotError::Apply(e.to_string())))
        }
        Item::Trailer(t) => {
            let keys: usize = engine.keyspace().dbs.iter().map(|d| d.len()).sum();
            if engine.digest() == t.digest && keys as u64 == t.keys { Ok(()) } else { Err(SnapshotError::Digest) }
        }
    }
}

#[cfg(test)]
mod tests;
