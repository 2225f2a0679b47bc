//! The answer the temperature pipeline must give, computed directly from the readings (one
//! function shared by the root integration tests, so they all check against the same rule).

use std::collections::BTreeMap;

use crate::common::{Reading, WindowAverage};

/// Count, mean, min and max of each sensor's readings per one-minute window, keyed by
/// `(sensor, window start)`. With `closed_before_ms`, only windows that stream time
/// `closed_before_ms` has closed (end + 10 s grace ≤ it) are kept.
pub fn window_averages(
    readings: &[Reading],
    closed_before_ms: Option<i64>,
) -> BTreeMap<(u32, i64), WindowAverage> {
    let mut acc: BTreeMap<(u32, i64), Vec<f64>> = BTreeMap::new();
    for r in readings {
        let start = r.event_time_ms().div_euclid(60_000) * 60_000;
        acc.entry((r.sensor_id, start)).or_default().push(r.temperatura);
    }
    acc.into_iter()
        .filter(|((_, start), _)| closed_before_ms.is_none_or(|t| start + 60_000 + 10_000 <= t))
        .map(|((sensor, start), temps)| {
            let avg = WindowAverage {
                sensor_id: sensor,
                window_start: start,
                window_end: start + 60_000,
                avg: temps.iter().sum::<f64>() / temps.len() as f64,
                count: temps.len() as u64,
                min: temps.iter().copied().fold(f64::INFINITY, f64::min),
                max: temps.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            };
            ((sensor, start), avg)
        })
        .collect()
}
