//! TEMPORARY: the `geofence` crate's linkage API (crs, linkage, grid_cells) as agreed in the
//! engine contract, written here only so the server compiles until the `linkage-engine`
//! branch is merged; then [`super::engine`] points at `geofence` and this file goes.
//! Straightforward, unoptimised versions of the same functions.
#![allow(missing_docs, clippy::all)]

pub mod crs {
    use std::f64::consts::PI;
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Crs {
        Wgs84,
        Gcj02,
        Bd09,
    }
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct UnknownCrs(pub String);
    impl std::fmt::Display for UnknownCrs {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "unknown coordinate system {:?}", self.0)
        }
    }
    impl std::str::FromStr for Crs {
        type Err = UnknownCrs;
        fn from_str(s: &str) -> Result<Crs, UnknownCrs> {
            match s.to_ascii_lowercase().as_str() {
                "wgs84" => Ok(Crs::Wgs84),
                "gcj02" => Ok(Crs::Gcj02),
                "bd09" => Ok(Crs::Bd09),
                _ => Err(UnknownCrs(s.into())),
            }
        }
    }
    impl std::fmt::Display for Crs {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(match self {
                Crs::Wgs84 => "wgs84",
                Crs::Gcj02 => "gcj02",
                Crs::Bd09 => "bd09",
            })
        }
    }
    const A: f64 = 6378245.0;
    const EE: f64 = 0.006_693_421_622_965_943;
    fn out_of_china(lat: f64, lon: f64) -> bool {
        !(72.004..=137.8347).contains(&lon) || !(0.8293..=55.8271).contains(&lat)
    }
    fn tlat(x: f64, y: f64) -> f64 {
        let mut r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
        r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
        r += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
        r += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
        r
    }
    fn tlon(x: f64, y: f64) -> f64 {
        let mut r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
        r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
        r += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
        r += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
        r
    }
    fn wgs_to_gcj(lat: f64, lon: f64) -> (f64, f64) {
        if out_of_china(lat, lon) {
            return (lat, lon);
        }
        let mut dlat = tlat(lon - 105.0, lat - 35.0);
        let mut dlon = tlon(lon - 105.0, lat - 35.0);
        let rad = lat / 180.0 * PI;
        let mut magic = rad.sin();
        magic = 1.0 - EE * magic * magic;
        let s = magic.sqrt();
        dlat = (dlat * 180.0) / ((A * (1.0 - EE)) / (magic * s) * PI);
        dlon = (dlon * 180.0) / (A / s * rad.cos() * PI);
        (lat + dlat, lon + dlon)
    }
    fn gcj_to_wgs(lat: f64, lon: f64) -> (f64, f64) {
        let (mut wl, mut wo) = (lat, lon);
        for _ in 0..30 {
            let (gl, go) = wgs_to_gcj(wl, wo);
            let (dl, d) = (gl - lat, go - lon);
            wl -= dl;
            wo -= d;
            if dl.abs() < 1e-10 && d.abs() < 1e-10 {
                break;
            }
        }
        (wl, wo)
    }
    const XPI: f64 = PI * 3000.0 / 180.0;
    fn gcj_to_bd(lat: f64, lon: f64) -> (f64, f64) {
        let z = (lon * lon + lat * lat).sqrt() + 0.00002 * (lat * XPI).sin();
        let t = lat.atan2(lon) + 0.000003 * (lon * XPI).cos();
        (z * t.sin() + 0.006, z * t.cos() + 0.0065)
    }
    fn bd_to_gcj(lat: f64, lon: f64) -> (f64, f64) {
        let (x, y) = (lon - 0.0065, lat - 0.006);
        let z = (x * x + y * y).sqrt() - 0.00002 * (y * XPI).sin();
        let t = y.atan2(x) - 0.000003 * (x * XPI).cos();
        (z * t.sin(), z * t.cos())
    }
    impl Crs {
        pub fn to_wgs84(self, lat: f64, lon: f64) -> (f64, f64) {
            match self {
                Crs::Wgs84 => (lat, lon),
                Crs::Gcj02 => gcj_to_wgs(lat, lon),
                Crs::Bd09 => {
                    let (a, b) = bd_to_gcj(lat, lon);
                    gcj_to_wgs(a, b)
                }
            }
        }
        pub fn from_wgs84(self, lat: f64, lon: f64) -> (f64, f64) {
            match self {
                Crs::Wgs84 => (lat, lon),
                Crs::Gcj02 => wgs_to_gcj(lat, lon),
                Crs::Bd09 => {
                    let (a, b) = wgs_to_gcj(lat, lon);
                    gcj_to_bd(a, b)
                }
            }
        }
    }
}

pub mod linkage {
    const M_PER_DEG: f64 = 111_320.0;
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Camera {
        pub id: i64,
        pub lat: f64,
        pub lon: f64,
        pub facing_deg: Option<f64>,
        pub fov_deg: f64,
        pub range_m: f64,
    }
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct TrackFix {
        pub time_ms: i64,
        pub lat: f64,
        pub lon: f64,
    }
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct CameraPass {
        pub camera_id: i64,
        pub from_ms: i64,
        pub to_ms: i64,
        pub at_ms: i64,
        pub distance_m: f64,
    }
    #[derive(Debug, Clone, Default)]
    pub struct CameraIndex {
        cameras: Vec<Camera>,
    }
    fn inside(c: &Camera, lat: f64, lon: f64) -> Option<f64> {
        let dy = (lat - c.lat) * M_PER_DEG;
        let dx = (lon - c.lon) * M_PER_DEG * c.lat.to_radians().cos();
        let d = (dx * dx + dy * dy).sqrt();
        if d > c.range_m {
            return None;
        }
        if let Some(f) = c.facing_deg {
            if d > 1e-6 {
                let b = dx.atan2(dy).to_degrees().rem_euclid(360.0);
                let diff = ((b - f + 540.0).rem_euclid(360.0) - 180.0).abs();
                if diff > c.fov_deg / 2.0 {
                    return None;
                }
            }
        }
        Some(d)
    }
    impl CameraIndex {
        pub fn new(cameras: Vec<Camera>) -> Self {
            CameraIndex { cameras }
        }
        pub fn len(&self) -> usize {
            self.cameras.len()
        }
        pub fn is_empty(&self) -> bool {
            self.cameras.is_empty()
        }
        pub fn passes(&self, fixes: &[TrackFix]) -> Vec<CameraPass> {
            let mut out = Vec::new();
            if fixes.is_empty() {
                return out;
            }
            let (mut a0, mut a1, mut o0, mut o1) = (90.0f64, -90.0f64, 180.0f64, -180.0f64);
            for f in fixes {
                a0 = a0.min(f.lat);
                a1 = a1.max(f.lat);
                o0 = o0.min(f.lon);
                o1 = o1.max(f.lon);
            }
            for c in &self.cameras {
                let m = c.range_m / M_PER_DEG * 2.0;
                if c.lat < a0 - m || c.lat > a1 + m || c.lon < o0 - m * 2.0 || c.lon > o1 + m * 2.0
                {
                    continue;
                }
                let mut cur: Option<CameraPass> = None;
                let segs: Vec<(TrackFix, TrackFix)> = if fixes.len() == 1 {
                    vec![(fixes[0], fixes[0])]
                } else {
                    fixes.windows(2).map(|w| (w[0], w[1])).collect()
                };
                for (a, b) in segs {
                    let steps = 200;
                    let mut seg_hit = false;
                    for i in 0..=steps {
                        let t = i as f64 / steps as f64;
                        let lat = a.lat + (b.lat - a.lat) * t;
                        let lon = a.lon + (b.lon - a.lon) * t;
                        let ms = a.time_ms + ((b.time_ms - a.time_ms) as f64 * t) as i64;
                        if let Some(d) = inside(c, lat, lon) {
                            seg_hit = true;
                            match &mut cur {
                                Some(p) => {
                                    p.to_ms = b.time_ms;
                                    if d < p.distance_m {
                                        p.distance_m = d;
                                        p.at_ms = ms;
                                    }
                                }
                                None => {
                                    cur = Some(CameraPass {
                                        camera_id: c.id,
                                        from_ms: a.time_ms,
                                        to_ms: b.time_ms,
                                        at_ms: ms,
                                        distance_m: d,
                                    })
                                }
                            }
                        }
                    }
                    if !seg_hit {
                        if let Some(p) = cur.take() {
                            out.push(p);
                        }
                    }
                }
                if let Some(p) = cur.take() {
                    out.push(p);
                }
            }
            out.sort_by_key(|p| (p.from_ms, p.at_ms));
            out
        }
    }
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Checkpoint {
        pub id: i64,
        pub lat: f64,
        pub lon: f64,
    }
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Motion {
        pub lat: f64,
        pub lon: f64,
        pub speed_kmh: f64,
        pub course_deg: Option<f64>,
    }
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct AheadParams {
        pub horizon_secs: f64,
        pub cone_half_deg: f64,
        pub detour_factor: f64,
        pub min_speed_kmh: f64,
    }
    impl Default for AheadParams {
        fn default() -> Self {
            AheadParams {
                horizon_secs: 900.0,
                cone_half_deg: 60.0,
                detour_factor: 1.3,
                min_speed_kmh: 20.0,
            }
        }
    }
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct CheckpointAhead {
        pub checkpoint_id: i64,
        pub distance_m: f64,
        pub eta_secs: f64,
    }
    pub fn checkpoints_ahead(
        checkpoints: &[Checkpoint],
        from: &Motion,
        p: &AheadParams,
    ) -> Vec<CheckpointAhead> {
        let v = from.speed_kmh.max(p.min_speed_kmh) / 3.6;
        let mut out: Vec<CheckpointAhead> = checkpoints
            .iter()
            .filter_map(|c| {
                let dy = (c.lat - from.lat) * M_PER_DEG;
                let dx = (c.lon - from.lon) * M_PER_DEG * from.lat.to_radians().cos();
                let d = (dx * dx + dy * dy).sqrt();
                if let Some(course) = from.course_deg {
                    let b = dx.atan2(dy).to_degrees().rem_euclid(360.0);
                    let diff = ((b - course + 540.0).rem_euclid(360.0) - 180.0).abs();
                    if d > 1.0 && diff > p.cone_half_deg {
                        return None;
                    }
                }
                let eta = d * p.detour_factor / v;
                (eta <= p.horizon_secs).then_some(CheckpointAhead {
                    checkpoint_id: c.id,
                    distance_m: d,
                    eta_secs: eta,
                })
            })
            .collect();
        out.sort_by(|a, b| a.eta_secs.total_cmp(&b.eta_secs));
        out
    }
}

pub mod grid_cells {
    const M_PER_DEG: f64 = 111_320.0;
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct CellId {
        pub row: i64,
        pub col: i64,
    }
    fn band_cos(row: i64, cell_m: f64) -> f64 {
        ((row as f64 + 0.5) * cell_m / M_PER_DEG)
            .to_radians()
            .cos()
            .max(1e-6)
    }
    pub fn cell_of(lat: f64, lon: f64, cell_m: f64) -> CellId {
        let row = (lat * M_PER_DEG / cell_m).floor() as i64;
        let col = (lon * M_PER_DEG * band_cos(row, cell_m) / cell_m).floor() as i64;
        CellId { row, col }
    }
    pub fn cell_ring(cell: CellId, cell_m: f64) -> Vec<(f64, f64)> {
        let c = band_cos(cell.row, cell_m);
        let lat0 = cell.row as f64 * cell_m / M_PER_DEG;
        let lat1 = (cell.row + 1) as f64 * cell_m / M_PER_DEG;
        let lon0 = cell.col as f64 * cell_m / (M_PER_DEG * c);
        let lon1 = (cell.col + 1) as f64 * cell_m / (M_PER_DEG * c);
        vec![
            (lon0, lat0),
            (lon1, lat0),
            (lon1, lat1),
            (lon0, lat1),
            (lon0, lat0),
        ]
    }
}
