//! Readings the root integration tests feed the temperature pipeline, and the answer it must
//! give, computed directly from the readings (shared, so every test checks the same rule).

use std::collections::BTreeMap;

use crate::{Reading, WindowAverage};

/// Sensors in [`readings`].
pub const SENSORS: u32 = 6;
/// Event time of the first reading (s): a minute boundary.
pub const T0: f64 = 1_764_115_200.0;

/// Readings for `minutes` minutes, one per sensor every 5 s, in event-time order, as the
/// seed's producer would send them; then one reading per sensor 10 minutes later, which
/// closes every earlier window in every downstream task.
pub fn readings(minutes: u32) -> Vec<Reading> {
    let mut out = Vec::new();
    for step in 0..minutes * 12 {
        for sensor in 0..SENSORS {
            let temp = 15.0 + f64::from(sensor) + f64::from((step * 7 + sensor * 3) % 11) / 4.0;
            out.push(Reading {
                sensor_id: sensor,
                temperatura: temp,
                timestamp: T0 + f64::from(step) * 5.0 + 0.25,
            });
        }
    }
    for sensor in 0..SENSORS {
        out.push(Reading {
            sensor_id: sensor,
            temperatura: 0.0,
            timestamp: T0 + f64::from(minutes + 10) * 60.0,
        });
    }
    out
}

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
