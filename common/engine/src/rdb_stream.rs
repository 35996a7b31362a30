//! Streams in Redis's RDB serialization (`RDB_TYPE_STREAM_LISTPACKS_2`,
//! which Redis 7.0 writes; versions 1 and 3 are read too), for DUMP and
//! RESTORE.
//!
//! The body: the nodes (each a 16-byte big-endian master ID and a
//! listpack), the length, the last ID, the first ID, the largest deleted
//! ID, the entries added; then the groups, each with its last ID, its
//! read counter, its pending entries (raw ID, delivery time, deliveries)
//! and its consumers (name, seen time, the IDs pending for it).
//!
//! A node's listpack starts with its master entry (live count, deleted
//! count, field count, the fields, 0); each entry is its flags, its ID
//! as a difference from the master ID, its values alone when its fields
//! are the master's (`SAMEFIELDS`) or its field count and pairs, and its
//! element count.

use crate::rdb::{get_string, put_len, put_string, take};
use crate::stream::{Consumer, Group, Pending, Stream, StreamId};
use bytes::Bytes;

/// Redis 7.0's stream type (version 2).
pub const TYPE_STREAM_2: u8 = 19;
/// Earlier and later stream types this reads.
pub const TYPE_STREAM_1: u8 = 15;
/// Redis 7.2's, with each consumer's active time.
pub const TYPE_STREAM_3: u8 = 21;
/// Entries per node Sixfold writes (Redis's default node size).
const NODE_ENTRIES: usize = 100;
const FLAG_DELETED: i64 = 1;
const FLAG_SAME_FIELDS: i64 = 2;

/// A listpack element to write.
enum Lp<'a> {
    Int(i64),
    Str(&'a [u8]),
}

/// A listpack of `items`.
fn listpack(items: &[Lp]) -> Vec<u8> {
    let mut body = Vec::new();
    for it in items {
        let start = body.len();
        match it {
            Lp::Int(v @ 0..=127) => body.push(*v as u8),
            Lp::Int(v @ -4096..=4095) => body.extend_from_slice(&[0xC0 | ((*v >> 8) as u8 & 0x1f), *v as u8]),
            Lp::Int(v) => {
                let (tag, width) = match *v {
                    v if i16::try_from(v).is_ok() => (0xF1, 2),
                    v if (-(1 << 23)..1 << 23).contains(&v) => (0xF2, 3),
                    v if i32::try_from(v).is_ok() => (0xF3, 4),
                    _ => (0xF4, 8),
                };
                body.push(tag);
                body.extend_from_slice(&v.to_le_bytes()[..width]);
            }
            Lp::Str(s) if s.len() < 64 => body.push(0x80 | s.len() as u8),
            Lp::Str(s) if s.len() < 4096 => body.extend_from_slice(&[0xE0 | (s.len() >> 8) as u8, s.len() as u8]),
            Lp::Str(s) => {
                body.push(0xF0);
                body.extend_from_slice(&(s.len() as u32).to_le_bytes());
            }
        }
        if let Lp::Str(s) = it {
            body.extend_from_slice(s);
        }
        let len = body.len() - start;
        body.extend(backlen(len));
    }
    let total = body.len() + 7;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(items.len().min(65_535) as u16).to_le_bytes());
    out.extend(body);
    out.push(0xFF);
    out
}

/// A listpack entry's back-length: its length in 7-bit groups, most
/// significant first, all but the first marked with the high bit.
fn backlen(l: usize) -> Vec<u8> {
    let groups = crate::rdb::backlen_bytes(l);
    (0..groups).map(|i| ((l >> (7 * (groups - 1 - i))) & 127) as u8 | if i == 0 { 0 } else { 128 }).collect()
}

fn id_raw(id: StreamId) -> [u8; 16] {
    let mut b = [0; 16];
    b[..8].copy_from_slice(&id.ms.to_be_bytes());
    b[8..].copy_from_slice(&id.seq.to_be_bytes());
    b
}

fn put_u64(out: &mut Vec<u8>, n: u64) {
    put_len(out, n as usize);
}

/// Writes `s` as `TYPE_STREAM_2`'s body (after the type byte).
pub fn dump(out: &mut Vec<u8>, s: &Stream) {
    let entries: Vec<(&StreamId, &Vec<Bytes>)> = s.entries.iter().collect();
    put_len(out, entries.len().div_ceil(NODE_ENTRIES));
    for node in entries.chunks(NODE_ENTRIES) {
        let master = *node[0].0;
        let master_fields: Vec<&Bytes> = node[0].1.iter().step_by(2).collect();
        let mut items = vec![Lp::Int(node.len() as i64), Lp::Int(0), Lp::Int(master_fields.len() as i64)];
        items.extend(master_fields.iter().map(|f| Lp::Str(f)));
        items.push(Lp::Int(0));
        for (id, fields) in node {
            let names: Vec<&Bytes> = fields.iter().step_by(2).collect();
            let same = names == master_fields;
            let (ms, seq) = (id.ms.wrapping_sub(master.ms) as i64, id.seq.wrapping_sub(master.seq) as i64);
            items.extend([Lp::Int(if same { FLAG_SAME_FIELDS } else { 0 }), Lp::Int(ms), Lp::Int(seq)]);
            if same {
                items.extend(fields.iter().skip(1).step_by(2).map(|v| Lp::Str(v)));
                items.push(Lp::Int(names.len() as i64 + 3));
            } else {
                items.push(Lp::Int(names.len() as i64));
                items.extend(fields.iter().map(|f| Lp::Str(f)));
                items.push(Lp::Int(2 * names.len() as i64 + 4));
            }
        }
        put_string(out, &id_raw(master));
        put_string(out, &listpack(&items));
    }
    put_len(out, s.len());
    for id in [s.last_id, s.first_id(), s.max_deleted] {
        put_u64(out, id.ms);
        put_u64(out, id.seq);
    }
    put_u64(out, s.entries_added);
    put_len(out, s.groups.len());
    for (name, g) in &s.groups {
        put_string(out, name);
        put_u64(out, g.last_id.ms);
        put_u64(out, g.last_id.seq);
        put_u64(out, g.entries_read.unwrap_or(u64::MAX));
        put_len(out, g.pel.len());
        for (id, p) in &g.pel {
            out.extend_from_slice(&id_raw(*id));
            out.extend_from_slice(&p.delivered_ms.to_le_bytes());
            put_u64(out, p.deliveries);
        }
        put_len(out, g.consumers.len());
        for (cname, c) in &g.consumers {
            put_string(out, cname);
            out.extend_from_slice(&c.seen_ms.to_le_bytes());
            put_len(out, c.pending.len());
            for id in &c.pending {
                out.extend_from_slice(&id_raw(*id));
            }
        }
    }
}

fn len(r: &mut &[u8]) -> Option<u64> {
    crate::rdb::get_len(r)?.ok()
}

fn raw_id(r: &mut &[u8]) -> Option<StreamId> {
    let b = take(r, 16)?;
    Some(StreamId::new(u64::from_be_bytes(b[..8].try_into().ok()?), u64::from_be_bytes(b[8..].try_into().ok()?)))
}

fn ms_time(r: &mut &[u8]) -> Option<i64> {
    Some(i64::from_le_bytes(take(r, 8)?.try_into().ok()?))
}

/// Reads a stream body of type `kind`; `None` if malformed.
pub fn load(r: &mut &[u8], kind: u8) -> Option<Stream> {
    let mut entries: Vec<(StreamId, Vec<Bytes>)> = Vec::new();
    for _ in 0..len(r)? {
        let key = get_string(r)?;
        let master = raw_id(&mut key.as_slice()).filter(|_| key.len() == 16)?;
        node_entries(&crate::rdb::listpack_items(&get_string(r)?)?, master, &mut entries)?;
    }
    let ordered = entries.first().is_none_or(|e| e.0 > StreamId::MIN) && entries.windows(2).all(|w| w[0].0 < w[1].0);
    if !ordered || len(r)? != entries.len() as u64 {
        return None;
    }
    let mut s = Stream::default();
    for (id, fields) in entries {
        s.add(id, fields, NODE_ENTRIES as u64);
    }
    let last = StreamId::new(len(r)?, len(r)?);
    s.entries_added = s.len() as u64;
    if kind >= TYPE_STREAM_2 {
        let _first = StreamId::new(len(r)?, len(r)?);
        s.max_deleted = StreamId::new(len(r)?, len(r)?);
        s.entries_added = len(r)?;
    }
    // Counters an effect (a signed integer argument) can carry again.
    let fits = |n: u64| i64::try_from(n).is_ok();
    if s.entries.last_key_value().is_some_and(|(top, _)| *top > last)
        || !fits(s.entries_added)
        || s.entries_added < s.len() as u64
    {
        return None;
    }
    s.last_id = last;
    for _ in 0..len(r)? {
        let (name, g) = load_group(r, kind, &s)?;
        s.groups.insert(name, g);
    }
    Some(s)
}

fn load_group(r: &mut &[u8], kind: u8, s: &Stream) -> Option<(Bytes, Group)> {
    let name = Bytes::from(get_string(r)?);
    let last_id = StreamId::new(len(r)?, len(r)?);
    let entries_read = if kind >= TYPE_STREAM_2 {
        match len(r)? {
            u64::MAX => None,
            n if i64::try_from(n).is_ok() => Some(n),
            _ => return None,
        }
    } else {
        s.entries_before(last_id)
    };
    let mut g = Group { last_id, entries_read, ..Default::default() };
    for _ in 0..len(r)? {
        let id = raw_id(r)?;
        let (delivered_ms, deliveries) = (ms_time(r)?, len(r)?);
        if delivered_ms < 0 || i64::try_from(deliveries).is_err() || id == StreamId::MIN {
            return None;
        }
        g.pel.insert(id, Pending { consumer: Bytes::new(), delivered_ms, deliveries });
    }
    for _ in 0..len(r)? {
        let cname = Bytes::from(get_string(r)?);
        let seen_ms = ms_time(r)?.max(0);
        if kind >= TYPE_STREAM_3 {
            ms_time(r)?;
        }
        let mut c = Consumer { seen_ms, ..Default::default() };
        for _ in 0..len(r)? {
            let id = raw_id(r)?;
            // Each pending entry belongs to one consumer.
            let p = g.pel.get_mut(&id).filter(|p| p.consumer.is_empty())?;
            p.consumer = cname.clone();
            c.pending.insert(id);
        }
        g.consumers.insert(cname, c);
    }
    // Every pending entry belongs to a consumer.
    g.pel.values().all(|p| !p.consumer.is_empty()).then_some((name, g))
}

/// Appends the live entries of one node (its listpack's `items`) to `out`.
fn node_entries(items: &[Bytes], master: StreamId, out: &mut Vec<(StreamId, Vec<Bytes>)>) -> Option<()> {
    let int = |b: &Bytes| crate::util::parse_i64(b);
    let mut it = items.iter();
    let (_live, _deleted, nfields) = (int(it.next()?)?, int(it.next()?)?, usize::try_from(int(it.next()?)?).ok()?);
    let master_fields: Vec<Bytes> = (0..nfields).map(|_| it.next().cloned()).collect::<Option<_>>()?;
    if int(it.next()?)? != 0 {
        return None;
    }
    while let Some(flags) = it.next() {
        let flags = int(flags)?;
        let ms = master.ms.wrapping_add(int(it.next()?)? as u64);
        let seq = master.seq.wrapping_add(int(it.next()?)? as u64);
        let mut fields = Vec::new();
        if flags & FLAG_SAME_FIELDS != 0 {
            for f in &master_fields {
                fields.extend([f.clone(), it.next()?.clone()]);
            }
        } else {
            let n = usize::try_from(int(it.next()?)?).ok()?;
            for _ in 0..2 * n {
                fields.push(it.next()?.clone());
            }
        }
        it.next()?; // the element count, for walking backwards
        if flags & FLAG_DELETED == 0 {
            out.push((StreamId::new(ms, seq), fields));
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpack_integers_and_strings_read_back() {
        let items = [Lp::Int(5), Lp::Int(-3), Lp::Int(300), Lp::Int(-70_000), Lp::Int(1 << 40), Lp::Str(b"field")];
        let long = vec![b'x'; 5000];
        let mut all: Vec<Lp> = items.into_iter().collect();
        all.push(Lp::Str(&long));
        let back = crate::rdb::listpack_items(&listpack(&all)).unwrap();
        let want: Vec<Bytes> =
            ["5", "-3", "300", "-70000", "1099511627776", "field"].iter().map(|s| Bytes::from(*s)).collect();
        assert_eq!(&back[..6], &want[..]);
        assert_eq!(back[6].len(), 5000);
        assert_eq!(backlen(200), vec![1, 128 | 72]);
    }
}
