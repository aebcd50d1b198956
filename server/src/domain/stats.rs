//! Planning and assessment figures (issue 15), as pure functions of the alarms they count:
//! where and when alarms happen (grid cells, hour of the week, per unit) and how each patrol
//! unit handles them (time to acknowledge and to resolve, outcomes).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};

use super::engine::grid_cells::cell_of;

/// An alarm as the hot-spot figures see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlarmPoint {
    /// Fix time of its first occurrence.
    pub time: DateTime<Utc>,
    /// Its (latest known) position.
    pub lat: Option<f64>,
    /// Longitude.
    pub lon: Option<f64>,
    /// Routed or assigned unit.
    pub unit_id: Option<i64>,
}

/// Hour of the week of `t` at `offset_min` from UTC: Monday 00:00–00:59 is 0, Sunday
/// 23:00–23:59 is 167.
pub fn hour_of_week(t: DateTime<Utc>, offset_min: i32) -> usize {
    let local = t + Duration::minutes(i64::from(offset_min));
    local.weekday().num_days_from_monday() as usize * 24 + local.hour() as usize
}

/// Counts per grid cell `(row, col)`, per hour of the week and per unit.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HotSpots {
    /// Alarms counted.
    pub total: u64,
    /// Alarms with a position, per cell.
    pub cells: BTreeMap<(i64, i64), u64>,
    /// Per hour of the week (168).
    pub hour_of_week: Vec<u64>,
    /// Per unit (None: routed nowhere).
    pub by_unit: BTreeMap<Option<i64>, u64>,
}

/// The hot-spot figures of `alarms` on cells of `cell_m` metres.
pub fn hot_spots(alarms: &[AlarmPoint], cell_m: f64, offset_min: i32) -> HotSpots {
    let mut h = HotSpots {
        hour_of_week: vec![0; 168],
        ..HotSpots::default()
    };
    for a in alarms {
        h.total += 1;
        h.hour_of_week[hour_of_week(a.time, offset_min)] += 1;
        *h.by_unit.entry(a.unit_id).or_default() += 1;
        if let (Some(lat), Some(lon)) = (a.lat, a.lon) {
            let c = cell_of(lat, lon, cell_m);
            *h.cells.entry((c.row, c.col)).or_default() += 1;
        }
    }
    h
}

/// One alarm's handling, as the unit figures see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Handling {
    /// The unit it is routed or assigned to.
    pub unit_id: Option<i64>,
    /// When the server stored it.
    pub opened: DateTime<Utc>,
    /// The first step taken by a person (acknowledge, assign or resolve).
    pub acknowledged: Option<DateTime<Utc>>,
    /// When it was resolved.
    pub resolved: Option<DateTime<Utc>>,
    /// Outcome (`recovered`, `false_alarm`, `not_found`, …).
    pub outcome: Option<String>,
}

/// One unit's figures.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UnitFigures {
    /// Alarms routed or assigned to it.
    pub alarms: u64,
    /// Of them acknowledged (any step by a person).
    pub acknowledged: u64,
    /// Of them resolved.
    pub resolved: u64,
    /// Median seconds to acknowledge (nearest rank).
    pub ack_median_secs: Option<f64>,
    /// 90th percentile seconds to acknowledge (nearest rank).
    pub ack_p90_secs: Option<f64>,
    /// Median seconds to resolve.
    pub resolve_median_secs: Option<f64>,
    /// 90th percentile seconds to resolve.
    pub resolve_p90_secs: Option<f64>,
    /// Resolved alarms per outcome.
    pub outcomes: BTreeMap<String, u64>,
}

/// The nearest-rank percentile `p` (0 < p ≤ 1) of `v` (sorted here).
pub fn percentile(v: &mut [f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = (p * v.len() as f64).ceil().max(1.0) as usize;
    Some(v[rank.min(v.len()) - 1])
}

/// Figures per unit (None: alarms routed nowhere).
pub fn unit_figures(alarms: &[Handling]) -> BTreeMap<Option<i64>, UnitFigures> {
    let mut acc: BTreeMap<Option<i64>, (UnitFigures, Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for a in alarms {
        let (f, ack, res) = acc.entry(a.unit_id).or_default();
        f.alarms += 1;
        if let Some(t) = a.acknowledged {
            f.acknowledged += 1;
            ack.push((t - a.opened).num_milliseconds().max(0) as f64 / 1000.0);
        }
        if let Some(t) = a.resolved {
            f.resolved += 1;
            res.push((t - a.opened).num_milliseconds().max(0) as f64 / 1000.0);
            *f.outcomes
                .entry(a.outcome.clone().unwrap_or_else(|| "other".into()))
                .or_default() += 1;
        }
    }
    acc.into_iter()
        .map(|(u, (mut f, mut ack, mut res))| {
            f.ack_median_secs = percentile(&mut ack, 0.5);
            f.ack_p90_secs = percentile(&mut ack, 0.9);
            f.resolve_median_secs = percentile(&mut res, 0.5);
            f.resolve_p90_secs = percentile(&mut res, 0.9);
            (u, f)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_of_week() {
        // 2024-01-01 was a Monday.
        let t = DateTime::from_timestamp(1_704_067_200, 0).unwrap();
        assert_eq!(hour_of_week(t, 0), 0);
        assert_eq!(hour_of_week(t, 8 * 60), 8);
        assert_eq!(hour_of_week(t, -60), 167);
        assert_eq!(hour_of_week(t + Duration::hours(24 * 6 + 23), 0), 167);
    }

    #[test]
    fn percentiles_nearest_rank() {
        let mut v = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&mut v, 0.5), Some(3.0));
        assert_eq!(percentile(&mut v, 0.9), Some(5.0));
        assert_eq!(percentile(&mut [], 0.5), None);
        let mut ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&mut ten, 0.9), Some(9.0));
        assert_eq!(percentile(&mut ten, 0.5), Some(5.0));
    }
}
