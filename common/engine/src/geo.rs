//! Geospatial indexing as Redis does it, so scores, positions, distances,
//! geohash strings and search results agree with Redis's: a point is the
//! sorted-set score of its 52-bit interleaved geohash (26 bits of latitude
//! in ±85.05112878°, 26 of longitude in ±180°); a search covers its shape
//! with the geohash box of the centre and its eight neighbours at a step
//! chosen from the radius, queries each box as a score range, and keeps
//! the points inside the shape (haversine distance on a sphere of
//! 6372797.560856 m).

/// Bits per coordinate in a stored score.
pub const STEP_MAX: u8 = 26;
/// The latitude range of Web Mercator, which Redis indexes.
pub const LAT_MIN: f64 = -85.051_128_78;
/// See [`LAT_MIN`].
pub const LAT_MAX: f64 = 85.051_128_78;
/// Longitude range.
pub const LON_MIN: f64 = -180.0;
/// See [`LON_MIN`].
pub const LON_MAX: f64 = 180.0;
const EARTH_RADIUS_M: f64 = 6_372_797.560_856;
const MERCATOR_MAX: f64 = 20_037_726.37;
const DEG_TO_RAD: f64 = std::f64::consts::PI / 180.0;
const BASE32: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// A geohash: `step` bits of each coordinate, interleaved (latitude in the
/// even bits). The zero hash with step 0 marks a box left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hash {
    /// The interleaved bits.
    pub bits: u64,
    /// Bits per coordinate.
    pub step: u8,
}

impl Hash {
    const NONE: Hash = Hash { bits: 0, step: 0 };

    /// The score range `[min, max)` of the stored points inside this box.
    pub fn score_range(&self) -> (f64, f64) {
        let shift = 52 - u32::from(self.step) * 2;
        ((self.bits << shift) as f64, ((self.bits + 1) << shift) as f64)
    }
}

/// The box a hash stands for: (min, max) of each coordinate.
#[derive(Debug, Clone, Copy)]
struct Area {
    lon: (f64, f64),
    lat: (f64, f64),
}

/// Spreads the 32 bits of `x` to the even bits of a u64.
fn spread(x: u32) -> u64 {
    let mut v = u64::from(x);
    v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
    v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
    v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    v = (v | (v << 2)) & 0x3333_3333_3333_3333;
    (v | (v << 1)) & 0x5555_5555_5555_5555
}

/// Gathers the even bits of `v` (the inverse of [`spread`]).
fn squash(v: u64) -> u32 {
    let mut v = v & 0x5555_5555_5555_5555;
    v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
    v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
    v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
    ((v | (v >> 16)) & 0x0000_0000_FFFF_FFFF) as u32
}

/// The hash of a point at `step` within the given ranges (`None` outside
/// them or outside the indexable area).
fn encode_in(lon_range: (f64, f64), lat_range: (f64, f64), lon: f64, lat: f64, step: u8) -> Option<Hash> {
    let outside = |v: f64, (min, max): (f64, f64)| v < min || v > max;
    if outside(lon, (LON_MIN, LON_MAX)) || outside(lat, (LAT_MIN, LAT_MAX)) {
        return None;
    }
    if outside(lon, lon_range) || outside(lat, lat_range) {
        return None;
    }
    let cells = (1u64 << step) as f64;
    let lat_offset = (lat - lat_range.0) / (lat_range.1 - lat_range.0) * cells;
    let lon_offset = (lon - lon_range.0) / (lon_range.1 - lon_range.0) * cells;
    Some(Hash { bits: spread(lat_offset as u32) | (spread(lon_offset as u32) << 1), step })
}

/// The hash of a point in Redis's index ranges.
pub fn encode(lon: f64, lat: f64, step: u8) -> Option<Hash> {
    encode_in((LON_MIN, LON_MAX), (LAT_MIN, LAT_MAX), lon, lat, step)
}

/// The score a point is stored with.
pub fn score_of(lon: f64, lat: f64) -> Option<f64> {
    encode(lon, lat, STEP_MAX).map(|h| h.bits as f64)
}

fn decode_area(h: Hash) -> Area {
    let cells = (1u64 << h.step) as f64;
    let (ilat, ilon) = (squash(h.bits), squash(h.bits >> 1));
    let edge = |i: u32, (min, max): (f64, f64)| min + (f64::from(i) / cells) * (max - min);
    let side = |i: u32, range| (edge(i, range), edge(i + 1, range));
    Area { lon: side(ilon, (LON_MIN, LON_MAX)), lat: side(ilat, (LAT_MIN, LAT_MAX)) }
}

/// The position (longitude, latitude) a stored score stands for: the
/// centre of its box.
pub fn position(score: f64) -> (f64, f64) {
    let a = decode_area(Hash { bits: score as u64, step: STEP_MAX });
    let lon = ((a.lon.0 + a.lon.1) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((a.lat.0 + a.lat.1) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// The standard 11-character geohash of a stored score (re-encoded with
/// latitudes in ±90°, the last character always `0`).
pub fn geohash_string(score: f64) -> String {
    let (lon, lat) = position(score);
    let bits = encode_in((-180.0, 180.0), (-90.0, 90.0), lon, lat, STEP_MAX).map_or(0, |h| h.bits);
    (0..11)
        .map(|i| if i == 10 { BASE32[0] } else { BASE32[((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize] })
        .map(char::from)
        .collect()
}

fn deg_rad(d: f64) -> f64 {
    d * DEG_TO_RAD
}

fn rad_deg(r: f64) -> f64 {
    r / DEG_TO_RAD
}

/// Great-circle (haversine) distance in metres.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (lat1r, lon1r, lat2r, lon2r) = (deg_rad(lat1), deg_rad(lon1), deg_rad(lat2), deg_rad(lon2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let v = ((lon2r - lon1r) / 2.0).sin();
    2.0 * EARTH_RADIUS_M * (u * u + lat1r.cos() * lat2r.cos() * v * v).sqrt().asin()
}

/// Moves a hash one box east (`d > 0`) or west.
fn move_lon(h: &mut Hash, d: i8) {
    let shift = 64 - u32::from(h.step) * 2;
    let (mut x, y) = (h.bits & 0xaaaa_aaaa_aaaa_aaaa, h.bits & 0x5555_5555_5555_5555);
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    x = if d > 0 { x.wrapping_add(zz + 1) } else { (x | zz).wrapping_sub(zz + 1) };
    h.bits = (x & (0xaaaa_aaaa_aaaa_aaaau64 >> shift)) | y;
}

/// Moves a hash one box north (`d > 0`) or south.
fn move_lat(h: &mut Hash, d: i8) {
    let shift = 64 - u32::from(h.step) * 2;
    let (x, mut y) = (h.bits & 0xaaaa_aaaa_aaaa_aaaa, h.bits & 0x5555_5555_5555_5555);
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    y = if d > 0 { y.wrapping_add(zz + 1) } else { (y | zz).wrapping_sub(zz + 1) };
    h.bits = x | (y & (0x5555_5555_5555_5555u64 >> shift));
}

/// Indexes into the nine boxes [`search_boxes`] returns, in Redis's order.
const NORTH: usize = 1;
const SOUTH: usize = 2;
const EAST: usize = 3;
const WEST: usize = 4;
const NORTH_EAST: usize = 5;
const NORTH_WEST: usize = 6;
const SOUTH_EAST: usize = 7;
const SOUTH_WEST: usize = 8;

/// The box and its eight neighbours: centre, N, S, E, W, NE, NW, SE, SW.
fn with_neighbours(h: Hash) -> [Hash; 9] {
    let at = |dlon: i8, dlat: i8| {
        let mut n = h;
        if dlon != 0 {
            move_lon(&mut n, dlon);
        }
        if dlat != 0 {
            move_lat(&mut n, dlat);
        }
        n
    };
    [h, at(0, 1), at(0, -1), at(1, 0), at(-1, 0), at(1, 1), at(-1, 1), at(1, -1), at(-1, -1)]
}

/// What a search covers, around `(lon, lat)`, in metres once multiplied by
/// `to_meters`.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Centre longitude.
    pub lon: f64,
    /// Centre latitude.
    pub lat: f64,
    /// Metres per unit of the sizes.
    pub to_meters: f64,
    /// A circle or a box.
    pub kind: ShapeKind,
}

/// The two shapes a search takes.
#[derive(Debug, Clone, Copy)]
pub enum ShapeKind {
    /// A circle of this radius.
    Radius(f64),
    /// An axis-aligned box of this width and height.
    Box(f64, f64),
}

impl Shape {
    /// Half the height and half the width, in metres.
    fn half_sizes_m(&self) -> (f64, f64) {
        match self.kind {
            ShapeKind::Radius(r) => (r * self.to_meters, r * self.to_meters),
            ShapeKind::Box(w, h) => (h / 2.0 * self.to_meters, w / 2.0 * self.to_meters),
        }
    }

    /// (min lon, min lat, max lon, max lat) of the shape.
    fn bounds(&self) -> (f64, f64, f64, f64) {
        let (height, width) = self.half_sizes_m();
        let lat_delta = rad_deg(height / EARTH_RADIUS_M);
        let lon_delta_top = rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat + lat_delta).cos());
        let lon_delta_bottom = rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat - lat_delta).cos());
        let lon_delta = if self.lat < 0.0 { lon_delta_bottom } else { lon_delta_top };
        (self.lon - lon_delta, self.lat - lat_delta, self.lon + lon_delta, self.lat + lat_delta)
    }

    /// The distance of a point from the centre, if the point is inside.
    pub fn contains(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.kind {
            ShapeKind::Radius(r) => Some(distance(self.lon, self.lat, lon, lat)).filter(|d| *d <= r * self.to_meters),
            ShapeKind::Box(w, h) => {
                let lon_distance = distance(lon, lat, self.lon, lat);
                let lat_distance = distance(lon, lat, lon, self.lat);
                let inside = lon_distance <= w * self.to_meters / 2.0 && lat_distance <= h * self.to_meters / 2.0;
                inside.then(|| distance(self.lon, self.lat, lon, lat))
            }
        }
    }

    /// The nine boxes (centre first; [`Hash::NONE`] for one left out) whose
    /// score ranges hold every stored point inside the shape.
    pub fn search_boxes(&self) -> [Hash; 9] {
        let (min_lon, min_lat, max_lon, max_lat) = self.bounds();
        let radius_m = match self.kind {
            ShapeKind::Radius(r) => r,
            ShapeKind::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
        } * self.to_meters;
        let mut step = estimate_step(radius_m, self.lat);
        let mut boxes = with_neighbours(encode(self.lon, self.lat, step).unwrap_or(Hash::NONE));
        let reaches_out = {
            let (n, s) = (decode_area(boxes[NORTH]), decode_area(boxes[SOUTH]));
            let (e, w) = (decode_area(boxes[EAST]), decode_area(boxes[WEST]));
            n.lat.1 < max_lat || s.lat.0 > min_lat || e.lon.1 < max_lon || w.lon.0 > min_lon
        };
        if step > 1 && reaches_out {
            step -= 1;
            boxes = with_neighbours(encode(self.lon, self.lat, step).unwrap_or(Hash::NONE));
        }
        if step >= 2 {
            let centre = decode_area(boxes[0]);
            let mut drop = |sides: [usize; 3]| sides.iter().for_each(|&i| boxes[i] = Hash::NONE);
            if centre.lat.0 < min_lat {
                drop([SOUTH, SOUTH_WEST, SOUTH_EAST]);
            }
            if centre.lat.1 > max_lat {
                drop([NORTH, NORTH_EAST, NORTH_WEST]);
            }
            if centre.lon.0 < min_lon {
                drop([WEST, SOUTH_WEST, NORTH_WEST]);
            }
            if centre.lon.1 > max_lon {
                drop([EAST, SOUTH_EAST, NORTH_EAST]);
            }
        }
        boxes
    }
}

/// The step whose boxes are about the size of `range_m` at latitude `lat`.
fn estimate_step(mut range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return STEP_MAX;
    }
    let mut step: i32 = 1;
    while range_m < MERCATOR_MAX {
        range_m *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, i32::from(STEP_MAX)) as u8
}

/// Whether a box was left out of a search.
pub fn is_none(h: &Hash) -> bool {
    *h == Hash::NONE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreading_interleaves_and_squashing_undoes_it() {
        for x in [0u32, 1, 2, 0x3ff_ffff, 0xdead_beef, u32::MAX] {
            assert_eq!(squash(spread(x)), x);
            assert_eq!(spread(x) & 0xaaaa_aaaa_aaaa_aaaa, 0);
        }
    }

    #[test]
    fn a_point_comes_back_within_its_box() {
        for (lon, lat) in [(13.361389, 38.115556), (-122.27652, 37.805186), (0.0, 0.0), (179.9, -85.0)] {
            let (x, y) = position(score_of(lon, lat).unwrap());
            assert!((x - lon).abs() < 1e-5 && (y - lat).abs() < 1e-5, "{lon},{lat} -> {x},{y}");
        }
        assert_eq!(score_of(0.0, 86.0), None);
    }

    #[test]
    fn neighbours_are_the_adjacent_boxes() {
        let h = encode(10.0, 10.0, 10).unwrap();
        let boxes = with_neighbours(h);
        let (c, n, e) = (decode_area(boxes[0]), decode_area(boxes[NORTH]), decode_area(boxes[EAST]));
        assert!((n.lat.0 - c.lat.1).abs() < 1e-9 && (n.lon.0 - c.lon.0).abs() < 1e-9);
        assert!((e.lon.0 - c.lon.1).abs() < 1e-9 && (e.lat.0 - c.lat.0).abs() < 1e-9);
    }

    #[test]
    fn distances_are_haversine_on_redis_earth() {
        // Palermo to Catania, as in Redis's GEODIST documentation.
        let d = distance(13.361389338970184, 38.115_556_395_496_3, 15.087267458438873, 37.50266842333162);
        assert!((d - 166_274.151_6).abs() < 0.01, "{d}");
    }
}
