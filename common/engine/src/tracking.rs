//! Client-side caching (`CLIENT TRACKING`), as Redis 7.0 serves it.
//!
//! Default mode: the keys a tracking client reads (read-only commands'
//! keys; with OPTIN only after `CLIENT CACHING yes`, with OPTOUT unless
//! after `CLIENT CACHING no`) are remembered, across databases as in
//! Redis; the first write to one (or its expiry) sends the client an
//! invalidation and forgets it. BCAST mode: a write to any key under one
//! of the client's prefixes (all keys without one) invalidates it, with
//! nothing remembered. NOLOOP: no invalidation for the client's own
//! writes. The message is a RESP3 `invalidate` push to the client, or to
//! the client it redirects to: a push if that one speaks RESP3, else a
//! `message` on `__redis__:invalidate` if it is subscribed. FLUSHDB and
//! FLUSHALL send every tracking client a null invalidation.
//!
//! The messages are queued like pub/sub output, which the durable writer
//! holds until the write commits. A replica invalidates on the writes it
//! applies.

use crate::args::{int, is, upper};
use crate::cmd::SessionResult;
use crate::engine::Engine;
use crate::exec::CmdError;
use crate::session::ClientId;
use bytes::Bytes;
use sixfold_resp::Frame;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One client's tracking settings.
#[derive(Debug, Clone, Default)]
pub struct Tracking {
    /// The client invalidations go to (0: this one).
    pub redirect: ClientId,
    /// BCAST mode.
    pub bcast: bool,
    /// BCAST prefixes.
    pub prefixes: Vec<Bytes>,
    /// OPTIN mode.
    pub optin: bool,
    /// OPTOUT mode.
    pub optout: bool,
    /// NOLOOP.
    pub noloop: bool,
    /// `CLIENT CACHING` was given for the next command.
    pub caching: bool,
    /// The redirect target went away.
    pub broken: bool,
}

/// The server's side: remembered keys and BCAST prefixes.
#[derive(Debug, Default)]
pub struct Table {
    keys: HashMap<Bytes, BTreeSet<ClientId>>,
    prefixes: BTreeMap<Bytes, BTreeSet<ClientId>>,
    /// Invalidations for the client whose command caused them: sent after
    /// its reply, as Redis does.
    deferred: Vec<(ClientId, Frame)>,
}

impl Table {
    /// Whether any write needs looking at.
    pub fn active(&self) -> bool {
        !self.keys.is_empty() || !self.prefixes.is_empty()
    }

    fn forget(&mut self, id: ClientId) {
        self.keys.retain(|_, ids| {
            ids.remove(&id);
            !ids.is_empty()
        });
        self.prefixes.retain(|_, ids| {
            ids.remove(&id);
            !ids.is_empty()
        });
    }
}

/// `CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]`
pub fn client_tracking(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    let mut t = Tracking::default();
    let mut j = 3;
    while j < a.len() {
        let more = j + 1 < a.len();
        match upper(&a[j]).as_str() {
            "BCAST" => t.bcast = true,
            "OPTIN" => t.optin = true,
            "OPTOUT" => t.optout = true,
            "NOLOOP" => t.noloop = true,
            "PREFIX" if more => {
                j += 1;
                t.prefixes.push(a[j].clone());
            }
            "REDIRECT" if more => {
                j += 1;
                if t.redirect != 0 {
                    return Err(CmdError::msg("ERR A client can only redirect to a single other client"));
                }
                let to = int(&a[j])?;
                if !u64::try_from(to).is_ok_and(|to| e.sessions.contains_key(&to)) {
                    return Err(CmdError::msg("ERR The client ID you want redirect to does not exist"));
                }
                t.redirect = to as u64;
            }
            _ => return Err(CmdError::Syntax),
        }
        j += 1;
    }
    if is(&a[2], "OFF") {
        disable(e, id);
        return Ok(Some(Frame::ok()));
    }
    if !is(&a[2], "ON") {
        return Err(CmdError::Syntax);
    }
    check(e, id, &t)?;
    // Turning it on again adds prefixes; they are kept sorted, as Redis's.
    let old = e.sessions.get(&id).and_then(|s| s.tracking.clone()).map(|o| o.prefixes).unwrap_or_default();
    t.prefixes = old.iter().chain(&t.prefixes).cloned().collect::<BTreeSet<_>>().into_iter().collect();
    if t.bcast {
        let prefixes = if t.prefixes.is_empty() { vec![Bytes::new()] } else { t.prefixes.clone() };
        for p in prefixes {
            e.tracking_table.prefixes.entry(p).or_default().insert(id);
        }
    }
    if let Some(s) = e.sessions.get_mut(&id) {
        s.tracking = Some(t);
    }
    Ok(Some(Frame::ok()))
}

/// Redis's checks of CLIENT TRACKING ON's options.
fn check(e: &Engine, id: ClientId, t: &Tracking) -> Result<(), CmdError> {
    let fail = |m: &str| Err(CmdError::msg(format!("ERR {m}")));
    if !t.bcast && !t.prefixes.is_empty() {
        return fail("PREFIX option requires BCAST mode to be enabled");
    }
    let old = e.sessions.get(&id).and_then(|s| s.tracking.as_ref());
    if old.is_some_and(|o| o.bcast != t.bcast) {
        return fail(
            "You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
        );
    }
    if t.bcast && (t.optin || t.optout) {
        return fail("OPTIN and OPTOUT are not compatible with BCAST");
    }
    if t.optin && t.optout {
        return fail("You can't specify both OPTIN mode and OPTOUT mode");
    }
    if old.is_some_and(|o| (t.optin && o.optout) || (t.optout && o.optin)) {
        return fail(
            "You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.",
        );
    }
    let theirs: Vec<&Bytes> = old.map(|o| o.prefixes.iter().collect()).unwrap_or_default();
    for (i, p) in t.prefixes.iter().enumerate() {
        let overlaps = |q: &Bytes| p.starts_with(q) || q.starts_with(p);
        if let Some(q) = theirs.iter().find(|q| p != **q && overlaps(q)) {
            return Err(overlap(p, q, true));
        }
        if let Some(q) = t.prefixes[i + 1..].iter().find(|q| p != *q && overlaps(q)) {
            return Err(overlap(p, q, false));
        }
    }
    Ok(())
}

fn overlap(p: &[u8], q: &[u8], existing: bool) -> CmdError {
    let (p, q) = (String::from_utf8_lossy(p), String::from_utf8_lossy(q));
    CmdError::msg(if existing {
        format!(
            "ERR Prefix '{p}' overlaps with an existing prefix '{q}'. Prefixes for a single client must not overlap."
        )
    } else {
        format!(
            "ERR Prefix '{p}' overlaps with another provided prefix '{q}'. Prefixes for a single client must not overlap."
        )
    })
}

/// Turns tracking off for `id` (CLIENT TRACKING OFF, a closed connection).
pub fn disable(e: &mut Engine, id: ClientId) {
    if e.sessions.get_mut(&id).and_then(|s| s.tracking.take()).is_some() {
        e.tracking_table.forget(id);
    }
}

/// `CLIENT CACHING YES|NO`
pub fn client_caching(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    let Some(t) = e.sessions.get_mut(&id).and_then(|s| s.tracking.as_mut()) else {
        return Err(CmdError::msg(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    match upper(&a[2]).as_str() {
        "YES" if t.optin => t.caching = true,
        "YES" => {
            return Err(CmdError::msg("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."));
        }
        "NO" if t.optout => t.caching = true,
        "NO" => {
            return Err(CmdError::msg("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."));
        }
        _ => return Err(CmdError::Syntax),
    }
    Ok(Some(Frame::ok()))
}

/// `CLIENT TRACKINGINFO`
pub fn client_trackinginfo(e: &Engine, id: ClientId) -> Frame {
    let t = e.sessions.get(&id).and_then(|s| s.tracking.as_ref());
    let mut flags = Vec::new();
    match t {
        None => flags.push("off"),
        Some(t) => {
            flags.push("on");
            for (on, name) in [(t.bcast, "bcast"), (t.optin, "optin"), (t.optout, "optout")] {
                if on {
                    flags.push(name);
                }
            }
            if t.caching {
                flags.push(if t.optin { "caching-yes" } else { "caching-no" });
            }
            if t.noloop {
                flags.push("noloop");
            }
            if t.broken {
                flags.push("broken_redirect");
            }
        }
    }
    let prefixes = t.map(|t| t.prefixes.iter().cloned().map(Frame::Bulk).collect()).unwrap_or_default();
    Frame::Map(vec![
        (Frame::bulk("flags"), Frame::Set(flags.into_iter().map(Frame::bulk).collect())),
        (Frame::bulk("redirect"), Frame::Integer(t.map_or(-1, |t| t.redirect as i64))),
        (Frame::bulk("prefixes"), Frame::Array(prefixes)),
    ])
}

/// `CLIENT GETREDIR`
pub fn client_getredir(e: &Engine, id: ClientId) -> Frame {
    Frame::Integer(e.sessions.get(&id).and_then(|s| s.tracking.as_ref()).map_or(-1, |t| t.redirect as i64))
}

impl Engine {
    /// After data command `args` of client `id` ran (`touched_at`: where
    /// its touched keys start; `in_multi`: inside EXEC): invalidates what
    /// it wrote, remembers what it read.
    pub(crate) fn after_tracked(
        &mut self,
        id: ClientId,
        spec: &crate::cmd::Spec,
        args: &[Bytes],
        (touched_at, in_multi): (usize, bool),
    ) {
        if matches!(spec.name, "flushdb" | "flushall") {
            self.invalidate_all();
        } else if self.tracking_table.active() {
            let touched = self.touched[touched_at.min(self.touched.len())..].to_vec();
            self.invalidate(&touched, Some(id));
        }
        self.track_reads(id, args, spec.has("readonly"), in_multi);
    }

    /// After read-only command `args` of client `id`: remembers its keys,
    /// as the client's mode says; the CACHING flag is spent (outside MULTI).
    fn track_reads(&mut self, id: ClientId, args: &[Bytes], readonly: bool, in_multi: bool) {
        let Some(t) = self.sessions.get_mut(&id).and_then(|s| s.tracking.as_mut()) else {
            return;
        };
        let remember = readonly && !t.bcast && !((t.optin && !t.caching) || (t.optout && t.caching));
        if !in_multi {
            t.caching = false;
        }
        if remember && let Some(keys) = crate::cmd::command_keys(args) {
            for k in keys {
                self.tracking_table.keys.entry(k).or_default().insert(id);
            }
        }
    }

    /// Keys `touched` changed (by client `by`, or by expiry or the log):
    /// invalidates them for the clients that track them.
    pub(crate) fn invalidate(&mut self, touched: &[(usize, Bytes)], by: Option<ClientId>) {
        for (_, key) in touched {
            let mut to: BTreeSet<ClientId> = self.tracking_table.keys.remove(key).unwrap_or_default();
            for (p, ids) in self.tracking_table.prefixes.range(..=key.clone()) {
                if key.starts_with(p) {
                    to.extend(ids);
                }
            }
            for c in to {
                let noloop = self.sessions.get(&c).and_then(|s| s.tracking.as_ref()).is_some_and(|t| t.noloop);
                if !(noloop && Some(c) == by) {
                    self.send_invalidation(c, Frame::Array(vec![Frame::Bulk(key.clone())]), by);
                }
            }
        }
    }

    /// FLUSHDB, FLUSHALL: every tracking client gets a null invalidation
    /// and the remembered keys are forgotten.
    pub(crate) fn invalidate_all(&mut self) {
        let ids: Vec<ClientId> = self.sessions.values().filter(|s| s.tracking.is_some()).map(|s| s.id).collect();
        for c in ids {
            self.send_invalidation(c, Frame::Null, None);
        }
        self.tracking_table.keys.clear();
    }

    /// Sends the invalidations deferred until the reply of the command
    /// that caused them.
    pub(crate) fn send_deferred_invalidations(&mut self) {
        for (to, m) in std::mem::take(&mut self.tracking_table.deferred) {
            self.push(to, &m);
        }
    }

    fn send_invalidation(&mut self, client: ClientId, keys: Frame, by: Option<ClientId>) {
        let Some(t) = self.sessions.get(&client).and_then(|s| s.tracking.clone()) else {
            return;
        };
        let to = if t.redirect == 0 { client } else { t.redirect };
        let Some(target) = self.sessions.get(&to) else {
            if let Some(t) = self.sessions.get_mut(&client).and_then(|s| s.tracking.as_mut()) {
                t.broken = true;
            }
            if self.sessions.get(&client).is_some_and(|s| s.proto == sixfold_resp::Protocol::Resp3) {
                let m = Frame::Push(vec![Frame::bulk("tracking-redir-broken"), Frame::Integer(t.redirect as i64)]);
                self.push(client, &m);
            }
            return;
        };
        let m = if target.proto == sixfold_resp::Protocol::Resp3 {
            Frame::Push(vec![Frame::bulk("invalidate"), keys])
        } else if t.redirect != 0 && !(target.channels.is_empty() && target.patterns.is_empty()) {
            Frame::Push(vec![Frame::bulk("message"), Frame::bulk("__redis__:invalidate"), keys])
        } else {
            return;
        };
        if Some(to) == by {
            self.tracking_table.deferred.push((to, m));
        } else {
            self.push(to, &m);
        }
    }
}
