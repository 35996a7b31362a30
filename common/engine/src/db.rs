//! The keyspace: 16 databases of keys with values and optional expiry times.
//!
//! Each key also owns a stable *slot* in a slot table. SCAN cursors are slot
//! numbers, so a key that exists for the whole of a scan keeps its slot and is
//! always returned, whatever else is added or deleted meanwhile (the SCAN
//! guarantee). Freed slots are reused by new keys.

use crate::value::Value;
use bytes::Bytes;
use std::collections::HashMap;

/// The key map's hasher: aHash with per-process random keys (fast, and
/// resistant to clients choosing colliding keys).
type KeyMap = HashMap<Bytes, Entry, ahash::RandomState>;

/// Number of logical databases (`SELECT 0..15`).
pub const DATABASES: usize = 16;

/// A key's value with its absolute expiry time in unix milliseconds.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// Absolute expiry time (unix ms), if any.
    pub expire_at_ms: Option<i64>,
    slot: u32,
    /// The access clock when the key was last created or looked up (not
    /// part of the data: no digest, snapshot or log carries it).
    accessed_s: u32,
}

impl Entry {
    /// Stamps the entry with the access clock `clock_s` ([`Db::clock_s`]).
    pub fn note_access(&mut self, clock_s: u32) {
        self.accessed_s = clock_s;
    }

    /// Makes the key look idle for `idle_s` seconds (RESTORE IDLETIME).
    pub fn set_idle_s(&mut self, idle_s: i64) {
        self.accessed_s = self.accessed_s.wrapping_sub(u32::try_from(idle_s).unwrap_or(u32::MAX));
    }

    /// Seconds from the last creation or lookup to the clock `clock_s`.
    pub fn idle_s(&self, clock_s: u32) -> u32 {
        clock_s.wrapping_sub(self.accessed_s)
    }

    /// True when the key is logically expired at `now_ms`.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expire_at_ms.is_some_and(|t| t <= now_ms)
    }
}

/// One logical database.
#[derive(Debug, Default, Clone)]
pub struct Db {
    map: KeyMap,
    slots: Vec<Option<Bytes>>,
    free_slots: Vec<u32>,
    volatile: usize,
    /// Next slot the active expiry cycle looks at.
    expire_cursor: usize,
    /// The access clock (unix seconds, wrapping) keys are stamped with
    /// when created or looked up, as Redis's LRU clock (`OBJECT IDLETIME`).
    pub clock_s: u32,
}

impl Db {
    /// Number of keys (including logically expired ones not yet deleted).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when the database holds no keys.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of keys with an expiry time.
    pub fn volatile_len(&self) -> usize {
        self.volatile
    }

    /// The entry of `key`, expired or not.
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    /// The entry of `key` for change, expired or not.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.map.get_mut(key)
    }

    /// Stores `value` at `key` with `expire_at_ms`, replacing any old value.
    pub fn insert(&mut self, key: Bytes, value: Value, expire_at_ms: Option<i64>) {
        if let Some(e) = self.map.get_mut(&key) {
            self.volatile -= usize::from(e.expire_at_ms.is_some());
            self.volatile += usize::from(expire_at_ms.is_some());
            e.value = value;
            e.expire_at_ms = expire_at_ms;
            e.accessed_s = self.clock_s;
            return;
        }
        let slot = match self.free_slots.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(key.clone());
                s
            }
            None => {
                self.slots.push(Some(key.clone()));
                (self.slots.len() - 1) as u32
            }
        };
        self.volatile += usize::from(expire_at_ms.is_some());
        self.map.insert(key, Entry { value, expire_at_ms, slot, accessed_s: self.clock_s });
    }

    /// Sets or clears the expiry of an existing key; false if there is no key.
    pub fn set_expire(&mut self, key: &[u8], expire_at_ms: Option<i64>) -> bool {
        match self.map.get_mut(key) {
            Some(e) => {
                self.volatile -= usize::from(e.expire_at_ms.is_some());
                self.volatile += usize::from(expire_at_ms.is_some());
                e.expire_at_ms = expire_at_ms;
                true
            }
            None => false,
        }
    }

    /// Removes `key`, returning its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let e = self.map.remove(key)?;
        self.volatile -= usize::from(e.expire_at_ms.is_some());
        self.slots[e.slot as usize] = None;
        self.free_slots.push(e.slot);
        if self.map.is_empty() {
            self.slots.clear();
            self.free_slots.clear();
        }
        Some(e)
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        *self = Db { clock_s: self.clock_s, ..Db::default() };
    }

    /// All entries, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Entry)> {
        self.map.iter()
    }

    /// Keys from slot `cursor` on, visiting at most `slots_max` slots; returns
    /// the keys and the next cursor (0 when the table is done).
    pub fn scan_slots(&self, cursor: usize, slots_max: usize) -> (Vec<Bytes>, usize) {
        let end = cursor.saturating_add(slots_max).min(self.slots.len());
        let keys = self.slots.get(cursor..end).unwrap_or(&[]).iter().flatten().cloned().collect();
        let next = if end >= self.slots.len() { 0 } else { end };
        (keys, next)
    }

    /// The key at a slot picked by `pick(slot_count)`, for RANDOMKEY; tries a
    /// bounded number of times before walking the table.
    pub fn random_key(&self, mut pick: impl FnMut(usize) -> usize) -> Option<Bytes> {
        const TRIES_MAX: usize = 64;
        if self.map.is_empty() {
            return None;
        }
        for _ in 0..TRIES_MAX {
            if let Some(Some(k)) = self.slots.get(pick(self.slots.len())) {
                return Some(k.clone());
            }
        }
        self.slots.iter().flatten().next().cloned()
    }

    /// Keys among the next `slots_max` slots of the expiry cycle that are
    /// expired at `now_ms`.
    pub fn expired_sample(&mut self, now_ms: i64, slots_max: usize) -> Vec<Bytes> {
        if self.volatile == 0 || self.slots.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for _ in 0..slots_max.min(self.slots.len()) {
            self.expire_cursor = (self.expire_cursor + 1) % self.slots.len();
            if let Some(k) = &self.slots[self.expire_cursor]
                && self.map.get(k).is_some_and(|e| e.is_expired(now_ms))
            {
                out.push(k.clone());
            }
        }
        out
    }
}

/// All databases.
#[derive(Debug, Clone)]
pub struct Keyspace {
    /// The databases, indexed by number.
    pub dbs: Vec<Db>,
}

impl Keyspace {
    /// Moves every database's access clock to `now_ms`.
    pub fn set_clock(&mut self, now_ms: i64) {
        let clock_s = (now_ms / 1000) as u32;
        self.dbs.iter_mut().for_each(|d| d.clock_s = clock_s);
    }
}

impl Default for Keyspace {
    fn default() -> Self {
        Keyspace { dbs: vec![Db::default(); DATABASES] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_returns_keys_that_live_through_the_scan() {
        let mut db = Db::default();
        for i in 0..100 {
            db.insert(Bytes::from(format!("k{i}")), Value::Str(Bytes::new()), None);
        }
        let (mut seen, mut cursor) = (Vec::new(), 0);
        loop {
            let (keys, next) = db.scan_slots(cursor, 7);
            seen.extend(keys);
            // Churn: delete odd keys and add new ones between calls.
            for i in (1..100).step_by(2) {
                db.remove(format!("k{i}").as_bytes());
            }
            db.insert(Bytes::from(format!("new{cursor}")), Value::Str(Bytes::new()), None);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        for i in (0..100).step_by(2) {
            assert!(seen.contains(&Bytes::from(format!("k{i}"))), "k{i} missed");
        }
    }
}
