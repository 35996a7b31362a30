//! Geospatial commands against Debian's `redis-server`: random sequences
//! of GEOADD, GEODIST, GEOHASH, GEOPOS, GEORADIUS(BYMEMBER)(_RO), GEOSEARCH
//! and GEOSEARCHSTORE over points in and around Sicily (radii from 0 to
//! 600 km, boxes, every unit and option, STORE/STOREDIST read back with
//! ZRANGE), with bad coordinates, units, radii, options and wrong types:
//! the replies must match, in Redis's order (floats by value: Sixfold
//! prints stored scores as Redis 7.2 does). Unordered searches are compared
//! as they come: Sixfold walks the same boxes in the same order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Raw, redis, same, sixfold};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const SEQUENCES: u64 = 150;
const COMMANDS_PER_SEQUENCE: usize = 40;

fn pick<'a>(rng: &mut SmallRng, xs: &[&'a str]) -> &'a str {
    xs[rng.random_range(0..xs.len())]
}

/// A longitude and latitude, now and then out of range or not a number.
fn lon_lat(rng: &mut SmallRng) -> [String; 2] {
    match rng.random_range(0..30) {
        0 => [pick(rng, &["200", "-180.5", "x", "inf"]).into(), "10".into()],
        1 => ["10".into(), pick(rng, &["86", "-85.06", "", "nan"]).into()],
        2 => ["180".into(), "85.05112878".into()],
        _ => [format!("{:.4}", rng.random_range(12.0..16.5)), format!("{:.4}", rng.random_range(36.5..39.0))],
    }
}

fn member(rng: &mut SmallRng) -> String {
    format!("m{}", rng.random_range(0..25))
}

fn radius(rng: &mut SmallRng) -> Vec<String> {
    let r = pick(rng, &["0", "5", "50", "100", "100", "200", "200", "600", "-1", "x", "1e3"]);
    let unit = pick(rng, &["m", "km", "KM", "ft", "mi", "km", "km", "km", "km", "km", "yd"]);
    let r = if unit.eq_ignore_ascii_case("km") || r.starts_with(['-', 'x', '0']) {
        r.to_string()
    } else {
        format!("{r}000")
    };
    vec![r, unit.into()]
}

/// Result options; `store` adds STORE/STOREDIST to GEORADIUS forms.
fn options(rng: &mut SmallRng, store: bool) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..rng.random_range(0..4) {
        let opt = match rng.random_range(0..10) {
            0 => "WITHDIST",
            1 => "WITHCOORD",
            2 => "WITHHASH",
            3 | 4 => pick(rng, &["ASC", "DESC"]),
            5 | 6 => {
                out.push("COUNT".into());
                out.push(pick(rng, &["1", "3", "10", "5", "2", "0", "-2", "x"]).into());
                if rng.random_range(0..3) == 0 { "ANY" } else { continue }
            }
            7 if store => {
                out.push(pick(rng, &["STORE", "STOREDIST"]).into());
                "dst"
            }
            8 => pick(rng, &["ANY", "WITHDIST", "WITHCOORD"]),
            _ => pick(rng, &["WITHDIST", "WITHHASH", "NOPE", "STORE", "ASC"]),
        };
        out.push(opt.into());
    }
    out
}

/// FROMMEMBER/FROMLONLAT and BYRADIUS/BYBOX, now and then missing or both.
fn search_spec(rng: &mut SmallRng) -> Vec<String> {
    let mut out = Vec::new();
    match rng.random_range(0..20) {
        0 => {}
        1 => out.extend(["FROMMEMBER".into(), member(rng), "FROMLONLAT".into(), "13".into(), "37".into()]),
        2..=10 => out.extend(["FROMMEMBER".into(), member(rng)]),
        _ => {
            out.push("FROMLONLAT".into());
            out.extend(lon_lat(rng));
        }
    }
    match rng.random_range(0..20) {
        0 => {}
        1..=11 => {
            out.push("BYRADIUS".into());
            out.extend(radius(rng));
        }
        _ => {
            out.push("BYBOX".into());
            out.push(pick(rng, &["100", "300", "20", "-5", "x", "0"]).into());
            out.extend(radius(rng));
        }
    }
    out
}

fn generate(rng: &mut SmallRng) -> Vec<String> {
    let key = pick(rng, &["g", "g", "g", "h", "str"]).to_string();
    let mut c: Vec<String> = match rng.random_range(0..16) {
        0..=3 => {
            let mut c = vec!["GEOADD".to_string(), key];
            for _ in 0..rng.random_range(0..2) {
                c.push(pick(rng, &["NX", "XX", "CH", "ch"]).into());
            }
            for _ in 0..rng.random_range(1..6) {
                c.extend(lon_lat(rng));
                c.push(member(rng));
            }
            c
        }
        4 => {
            let mut c = vec!["GEODIST".into(), key, member(rng), member(rng)];
            if rng.random_range(0..2) == 0 {
                c.push(pick(rng, &["m", "km", "ft", "mi", "MI", "parsec"]).into());
            }
            c
        }
        5 => vec!["GEOHASH".into(), key, member(rng), member(rng), member(rng)],
        6 => vec!["GEOPOS".into(), key, member(rng), member(rng)],
        7 | 8 => {
            let name = pick(rng, &["GEORADIUS", "GEORADIUS_RO"]);
            let mut c = vec![name.to_string(), key];
            c.extend(lon_lat(rng));
            c.extend(radius(rng));
            c.extend(options(rng, name == "GEORADIUS"));
            c
        }
        9 | 10 => {
            let name = pick(rng, &["GEORADIUSBYMEMBER", "GEORADIUSBYMEMBER_RO"]);
            let mut c = vec![name.to_string(), key, member(rng)];
            c.extend(radius(rng));
            c.extend(options(rng, name == "GEORADIUSBYMEMBER"));
            c
        }
        11 | 12 => {
            let mut c = vec!["GEOSEARCH".to_string(), key];
            c.extend(search_spec(rng));
            c.extend(options(rng, false));
            c
        }
        13 => {
            let mut c = vec!["GEOSEARCHSTORE".to_string(), "dst".into(), key];
            c.extend(search_spec(rng));
            c.extend(options(rng, false));
            if rng.random_range(0..2) == 0 {
                c.push("STOREDIST".into());
            }
            c
        }
        14 => vec!["ZRANGE".into(), "dst".into(), "0".into(), "-1".into(), "WITHSCORES".into()],
        _ => vec![pick(rng, &["SET", "SET", "DEL", "TYPE"]).into(), pick(rng, &["str", "h", "dst"]).into(), "v".into()],
    };
    if c[0] == "DEL" || c[0] == "TYPE" {
        c.truncate(2);
    }
    c.retain(|a| !a.is_empty() || rng.random_range(0..2) == 0);
    c
}

#[test]
fn geo_commands_answer_like_redis() {
    let ours = sixfold(&[]);
    let theirs = redis();
    let (mut a, mut b) = (Raw::connect(ours.port), Raw::connect(theirs.port));
    let mut mismatches = Vec::new();
    let (mut total, mut found) = (0, 0);
    for seed in 0..SEQUENCES {
        let mut rng = SmallRng::seed_from_u64(seed);
        for c in [&mut a, &mut b] {
            c.cmd(&["FLUSHALL"]);
        }
        for _ in 0..COMMANDS_PER_SEQUENCE {
            let cmd = generate(&mut rng);
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            let (x, y) = (a.cmd(&args), b.cmd(&args));
            total += 1;
            // Searches that found something (so the comparison is not of
            // empty results).
            let hit = match &y {
                sixfold_resp::Frame::Array(items) => !items.is_empty(),
                sixfold_resp::Frame::Integer(n) => *n > 0,
                _ => false,
            };
            if hit && args[0].starts_with("GEO") && (args[0].contains("RADIUS") || args[0].contains("SEARCH")) {
                found += 1;
            }
            if !same(&x, &y) {
                mismatches.push(format!("seed {seed}: {cmd:?}\n  sixfold: {x:.300?}\n  redis:   {y:.300?}"));
            }
        }
    }
    assert!(total >= 6000 && found >= 200, "{total} commands, {found} searches that found something");
    assert!(
        mismatches.is_empty(),
        "{} of {total} replies differ; first ones:\n{}",
        mismatches.len(),
        mismatches.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
}
