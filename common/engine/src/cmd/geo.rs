//! Geospatial commands on sorted sets: GEOADD GEODIST GEOHASH GEOPOS
//! GEORADIUS GEORADIUSBYMEMBER (and their `_RO` forms) GEOSEARCH
//! GEOSEARCHSTORE, with Redis's replies, errors and search order
//! (`crate::geo`).
//!
//! Effects: GEOADD is logged as itself (its scores follow from its
//! arguments). A search that stores its result is logged as `DEL dest` and
//! `ZADD dest score member ...`: the result depends on trigonometry, which
//! another machine's maths library might round differently. A result too
//! large for a log record ([`STORE_EFFECT_BYTES_MAX`]) is logged as the
//! search itself instead (`command_keys` names its STORE key).

use super::zsets::zadd;
use crate::args::{float, int, is};
use crate::exec::{CmdError, CmdResult, Exec};
use crate::geo::{self, Shape, ShapeKind};
use crate::value::{Value, ZSet};
use bytes::Bytes;
use sixfold_resp::{Frame, format_double};

fn word(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

/// A longitude, latitude pair of arguments, checked against the indexable
/// area.
fn lon_lat(a: &[Bytes]) -> Result<(f64, f64), CmdError> {
    let (lon, lat) = (float(&a[0])?, float(&a[1])?);
    if !(geo::LON_MIN..=geo::LON_MAX).contains(&lon) || !(geo::LAT_MIN..=geo::LAT_MAX).contains(&lat) {
        return Err(CmdError::msg(format!("ERR invalid longitude,latitude pair {lon:.6},{lat:.6}")));
    }
    Ok((lon, lat))
}

/// Metres per unit.
fn unit(b: &[u8]) -> Result<f64, CmdError> {
    let units = [("m", 1.0), ("km", 1000.0), ("ft", 0.3048), ("mi", 1609.34)];
    let found = units.iter().find(|(name, _)| is(b, name)).map(|(_, m)| *m);
    found.ok_or_else(|| CmdError::msg("ERR unsupported unit provided. please use M, KM, FT, MI"))
}

/// A size argument: a float, with `what` in the error.
fn size(b: &[u8], what: &str) -> Result<f64, CmdError> {
    float(b).map_err(|_| CmdError::msg(format!("ERR need numeric {what}")))
}

/// `radius unit` → (radius, metres per unit).
fn radius(a: &[Bytes]) -> Result<(f64, f64), CmdError> {
    let r = size(&a[0], "radius")?;
    if r < 0.0 {
        return Err(CmdError::msg("ERR radius cannot be negative"));
    }
    Ok((r, unit(&a[1])?))
}

/// The position of `member` in the sorted set at `key`.
fn member_position(ex: &mut Exec, key: &[u8], member: &[u8]) -> Result<Option<(f64, f64)>, CmdError> {
    Ok(ex.zset(key)?.and_then(|z| z.score(member)).map(geo::position))
}

/// A coordinate as Redis's "human" long double: 17 decimals, trailing
/// zeros dropped.
fn human(x: f64) -> Frame {
    let s = format!("{x:.17}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    Frame::Bulk(Bytes::from(if s == "-0" { "0".to_string() } else { s.to_string() }))
}

/// A coordinate pair reply (RESP3: doubles).
fn coords(ex: &Exec, (lon, lat): (f64, f64)) -> Frame {
    if ex.resp3 {
        Frame::Array(vec![Frame::Double(lon), Frame::Double(lat)])
    } else {
        Frame::Array(vec![human(lon), human(lat)])
    }
}

/// A distance as Redis replies it: four decimals.
fn dist_reply(d: f64) -> Frame {
    Frame::Bulk(Bytes::from(format!("{d:.4}")))
}

/// `GEOADD key [NX|XX] [CH] longitude latitude member [...]`: a ZADD of
/// the members' geohash scores.
pub fn geoadd(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let mut at = 2;
    let (mut nx, mut xx) = (false, false);
    while at < a.len() {
        match () {
            _ if is(&a[at], "nx") => nx = true,
            _ if is(&a[at], "xx") => xx = true,
            _ if is(&a[at], "ch") => {}
            _ => break,
        }
        at += 1;
    }
    if !(a.len() - at).is_multiple_of(3) || (nx && xx) {
        return Err(CmdError::Syntax);
    }
    let mut args: Vec<Bytes> = vec![word("ZADD")];
    args.extend_from_slice(&a[1..at]);
    for point in a[at..].chunks(3) {
        let (lon, lat) = lon_lat(point)?;
        let score = geo::encode(lon, lat, geo::STEP_MAX).map_or(0, |h| h.bits);
        args.push(Bytes::from(score.to_string()));
        args.push(point[2].clone());
    }
    zadd(ex, &args)
}

/// `GEODIST key member1 member2 [M|KM|FT|MI]`
pub fn geodist(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let to_meters = match a.len() {
        4 => 1.0,
        5 => unit(&a[4])?,
        _ => return Err(CmdError::Syntax),
    };
    let Some(z) = ex.zset(&a[1])? else { return Ok(Frame::Null) };
    match (z.score(&a[2]), z.score(&a[3])) {
        (Some(s1), Some(s2)) => {
            let ((lon1, lat1), (lon2, lat2)) = (geo::position(s1), geo::position(s2));
            Ok(dist_reply(geo::distance(lon1, lat1, lon2, lat2) / to_meters))
        }
        _ => Ok(Frame::Null),
    }
}

/// `GEOHASH key [member ...]`
pub fn geohash(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let z = ex.zset(&a[1])?;
    let score = |m: &Bytes| z.as_ref().and_then(|z| z.score(m));
    let out = a[2..].iter().map(|m| score(m).map_or(Frame::Null, |s| Frame::Bulk(geo::geohash_string(s).into())));
    Ok(Frame::Array(out.collect()))
}

/// `GEOPOS key [member ...]`
pub fn geopos(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    let scores: Vec<Option<f64>> = match ex.zset(&a[1])? {
        Some(z) => a[2..].iter().map(|m| z.score(m)).collect(),
        None => vec![None; a.len() - 2],
    };
    let out = scores.into_iter().map(|s| s.map_or(Frame::NullArray, |s| coords(ex, geo::position(s))));
    Ok(Frame::Array(out.collect()))
}

/// The search commands' forms.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// GEORADIUS(_RO) key lon lat radius unit ...
    Radius { store_ok: bool },
    /// GEORADIUSBYMEMBER(_RO) key member radius unit ...
    ByMember { store_ok: bool },
    /// GEOSEARCH key ...
    Search,
    /// GEOSEARCHSTORE dest key ...
    SearchStore,
}

/// Options of a search.
#[derive(Default)]
struct Query {
    centre: Option<(f64, f64)>,
    /// A centre was given (GEOSEARCH's FROMMEMBER of a missing key sets
    /// none).
    has_centre: bool,
    kind: Option<ShapeKind>,
    to_meters: f64,
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    any: bool,
    count: usize,
    /// `Some(true)` ascending, `Some(false)` descending.
    ascending: Option<bool>,
    /// The key to store into, and whether scores are distances.
    store: Option<(Bytes, bool)>,
}

/// A point found.
struct Found {
    member: Bytes,
    score: f64,
    pos: (f64, f64),
    dist: f64,
}

/// `GEORADIUS key lon lat radius unit [options] [STORE|STOREDIST key]`
pub fn georadius(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    search(ex, a, 1, Form::Radius { store_ok: true })
}

/// `GEORADIUS_RO key lon lat radius unit [options]`
pub fn georadius_ro(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    search(ex, a, 1, Form::Radius { store_ok: false })
}

/// `GEORADIUSBYMEMBER key member radius unit [options] [STORE|STOREDIST key]`
pub fn georadiusbymember(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    search(ex, a, 1, Form::ByMember { store_ok: true })
}

/// `GEORADIUSBYMEMBER_RO key member radius unit [options]`
pub fn georadiusbymember_ro(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    search(ex, a, 1, Form::ByMember { store_ok: false })
}

/// `GEOSEARCH key FROMMEMBER m|FROMLONLAT lon lat BYRADIUS r unit|BYBOX w h unit [options]`
pub fn geosearch(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    search(ex, a, 1, Form::Search)
}

/// `GEOSEARCHSTORE dest key FROM... BY... [COUNT n [ANY]] [ASC|DESC] [STOREDIST]`
pub fn geosearchstore(ex: &mut Exec, a: &[Bytes]) -> CmdResult {
    search(ex, a, 2, Form::SearchStore)
}

/// Every search form (Redis's `georadiusGeneric`).
fn search(ex: &mut Exec, a: &[Bytes], src_at: usize, form: Form) -> CmdResult {
    let src = &a[src_at];
    let exists = ex.zset(src)?.is_some();
    let mut q = Query { to_meters: 1.0, ..Query::default() };
    let options_at = match form {
        Form::Radius { .. } => {
            q.centre = Some(lon_lat(&a[2..4])?);
            let (r, m) = radius(&a[4..6])?;
            (q.kind, q.to_meters) = (Some(ShapeKind::Radius(r)), m);
            6
        }
        Form::ByMember { .. } if !exists => 5,
        Form::ByMember { .. } => {
            q.centre = Some(member_position(ex, src, &a[2])?.ok_or_else(undecodable)?);
            let (r, m) = radius(&a[3..5])?;
            (q.kind, q.to_meters) = (Some(ShapeKind::Radius(r)), m);
            5
        }
        Form::Search => 2,
        Form::SearchStore => {
            q.store = Some((a[1].clone(), false));
            3
        }
    };
    parse_options(ex, a, options_at, src, form, exists, &mut q)?;
    check_query(a, form, &q)?;
    if !exists {
        return match &q.store {
            Some((dest, _)) => store(ex, dest, Vec::new(), false),
            None => Ok(Frame::Array(Vec::new())),
        };
    }
    if q.count > 0 && q.ascending.is_none() && !q.any {
        q.ascending = Some(true);
    }
    let (Some((lon, lat)), Some(kind)) = (q.centre, q.kind) else { return Ok(Frame::Array(Vec::new())) };
    let shape = Shape { lon, lat, to_meters: q.to_meters, kind };
    let mut found = match ex.zset(src)? {
        Some(z) => collect(z, &shape, if q.any { q.count } else { 0 }),
        None => Vec::new(),
    };
    if let Some(asc) = q.ascending {
        found.sort_by(|x, y| if asc { x.dist.total_cmp(&y.dist) } else { y.dist.total_cmp(&x.dist) });
    }
    if q.count > 0 {
        found.truncate(q.count);
    }
    found.iter_mut().for_each(|f| f.dist /= q.to_meters);
    match q.store {
        Some((dest, by_dist)) => store(ex, &dest, found, by_dist),
        None => Ok(Frame::Array(found.into_iter().map(|f| reply_item(ex, &q, f)).collect())),
    }
}

fn undecodable() -> CmdError {
    CmdError::msg("ERR could not decode requested zset member")
}

/// The optional arguments, parsed as Redis parses them (errors in the
/// order Redis finds them).
fn parse_options(
    ex: &mut Exec,
    a: &[Bytes],
    from: usize,
    src: &Bytes,
    form: Form,
    exists: bool,
    q: &mut Query,
) -> Result<(), CmdError> {
    let searching = matches!(form, Form::Search | Form::SearchStore);
    let store_ok = matches!(form, Form::Radius { store_ok: true } | Form::ByMember { store_ok: true });
    let (mut from_member, mut from_lonlat, mut by_radius, mut by_box) = (false, false, false, false);
    let mut i = from;
    while i < a.len() {
        let (arg, left) = (&a[i], a.len() - i - 1);
        match () {
            _ if is(arg, "withdist") => q.with_dist = true,
            _ if is(arg, "withhash") => q.with_hash = true,
            _ if is(arg, "withcoord") => q.with_coord = true,
            _ if is(arg, "any") => q.any = true,
            _ if is(arg, "asc") => q.ascending = Some(true),
            _ if is(arg, "desc") => q.ascending = Some(false),
            _ if is(arg, "count") && left >= 1 => {
                let n = int(&a[i + 1])?;
                if n <= 0 {
                    return Err(CmdError::msg("ERR COUNT must be > 0"));
                }
                q.count = usize::try_from(n).unwrap_or(usize::MAX);
                i += 1;
            }
            _ if (is(arg, "store") || is(arg, "storedist")) && left >= 1 && store_ok => {
                q.store = Some((a[i + 1].clone(), is(arg, "storedist")));
                i += 1;
            }
            _ if is(arg, "storedist") && form == Form::SearchStore => {
                if let Some(s) = q.store.as_mut() {
                    s.1 = true;
                }
            }
            _ if is(arg, "frommember") && left >= 1 && searching && !from_lonlat => {
                if exists {
                    q.centre = Some(member_position(ex, src, &a[i + 1])?.ok_or_else(undecodable)?);
                }
                from_member = true;
                i += 1;
            }
            _ if is(arg, "fromlonlat") && left >= 2 && searching && !from_member => {
                q.centre = Some(lon_lat(&a[i + 1..i + 3])?);
                from_lonlat = true;
                i += 2;
            }
            _ if is(arg, "byradius") && left >= 2 && searching && !by_box => {
                let (r, m) = radius(&a[i + 1..i + 3])?;
                (q.kind, q.to_meters) = (Some(ShapeKind::Radius(r)), m);
                by_radius = true;
                i += 2;
            }
            _ if is(arg, "bybox") && left >= 3 && searching && !by_radius => {
                let (w, h) = (size(&a[i + 1], "width")?, size(&a[i + 2], "height")?);
                if w < 0.0 || h < 0.0 {
                    return Err(CmdError::msg("ERR height or width cannot be negative"));
                }
                (q.kind, q.to_meters) = (Some(ShapeKind::Box(w, h)), unit(&a[i + 3])?);
                by_box = true;
                i += 3;
            }
            _ => return Err(CmdError::Syntax),
        }
        i += 1;
    }
    q.has_centre = from_member || from_lonlat || !searching;
    Ok(())
}

/// The checks Redis makes once the options are read, in its order.
fn check_query(a: &[Bytes], form: Form, q: &Query) -> Result<(), CmdError> {
    if q.store.is_some() && (q.with_dist || q.with_hash || q.with_coord) {
        let what = if form == Form::SearchStore { "GEOSEARCHSTORE" } else { "STORE option in GEORADIUS" };
        return Err(CmdError::msg(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    let name = String::from_utf8_lossy(&a[0]);
    if !q.has_centre {
        return Err(CmdError::msg(format!("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}")));
    }
    if q.kind.is_none() && matches!(form, Form::Search | Form::SearchStore) {
        return Err(CmdError::msg(format!("ERR exactly one of BYRADIUS and BYBOX can be specified for {name}")));
    }
    if q.any && q.count == 0 {
        return Err(CmdError::msg("ERR the ANY argument requires COUNT argument"));
    }
    Ok(())
}

/// The points of `z` inside `shape`, box by box in Redis's order, each box
/// in score order; at most `limit` of them (0: all).
fn collect(z: &ZSet, shape: &Shape, limit: usize) -> Vec<Found> {
    let mut found = Vec::new();
    let boxes = shape.search_boxes();
    let mut last: Option<usize> = None;
    for (i, b) in boxes.iter().enumerate() {
        if geo::is_none(b) || last.is_some_and(|l| boxes[l] == *b) {
            continue;
        }
        if limit > 0 && found.len() >= limit {
            break;
        }
        let (min, max) = b.score_range();
        for (member, score) in z.from_score(min).take_while(|(_, s)| *s < max) {
            let pos = geo::position(score);
            if let Some(dist) = shape.contains(pos.0, pos.1) {
                found.push(Found { member: member.clone(), score, pos, dist });
                if limit > 0 && found.len() >= limit {
                    break;
                }
            }
        }
        last = Some(i);
    }
    found
}

fn reply_item(ex: &Exec, q: &Query, f: Found) -> Frame {
    if !(q.with_dist || q.with_hash || q.with_coord) {
        return Frame::Bulk(f.member);
    }
    let mut item = vec![Frame::Bulk(f.member)];
    if q.with_dist {
        item.push(dist_reply(f.dist));
    }
    if q.with_hash {
        item.push(Frame::Integer(f.score as i64));
    }
    if q.with_coord {
        item.push(coords(ex, f.pos));
    }
    Frame::Array(item)
}

/// Largest stored result logged as its members (a quarter of a log
/// record); a larger one is logged as the command.
const STORE_EFFECT_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Stores the result at `dest` (deleting it when empty), logged as its
/// contents; replies with the count.
fn store(ex: &mut Exec, dest: &Bytes, found: Vec<Found>, by_dist: bool) -> CmdResult {
    let n = found.len();
    let bytes: usize = found.iter().map(|f| f.member.len() + 32).sum();
    if bytes > STORE_EFFECT_BYTES_MAX {
        let z = found.into_iter().map(|f| (f.member, if by_dist { f.dist } else { f.score }));
        let mut set = ZSet::default();
        z.for_each(|(m, s)| {
            set.insert(m, s);
        });
        ex.set(dest.clone(), Value::ZSet(set), None);
        return Ok(Frame::Integer(n as i64));
    }
    ex.suppress_verbatim();
    if found.is_empty() {
        if ex.delete(dest) {
            ex.propagate(vec![word("DEL"), dest.clone()]);
        }
        return Ok(Frame::Integer(0));
    }
    let mut z = ZSet::default();
    let mut effect = vec![word("ZADD"), dest.clone()];
    for f in found {
        let score = if by_dist { f.dist } else { f.score };
        effect.push(Bytes::from(format_double(score)));
        effect.push(f.member.clone());
        z.insert(f.member, score);
    }
    ex.set(dest.clone(), Value::ZSet(z), None);
    ex.propagate(vec![word("DEL"), dest.clone()]);
    ex.propagate(effect);
    Ok(Frame::Integer(n as i64))
}
