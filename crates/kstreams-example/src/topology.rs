//! The temperature-average topology: what `temperature_averages` runs and what the tests
//! check, one function for both.

use std::time::Duration;

use kstreams::prelude::*;

use crate::{Reading, WindowAverage};

/// The window store of [`temperature_averages`]: sensor id → count/mean/min/max per window.
pub const STATS_STORE: &str = "temperature-stats";

/// How long closed windows stay in the store for interactive queries.
pub const QUERYABLE_FOR: Duration = Duration::from_secs(3600);

/// Settings of the topology.
#[derive(Debug, Clone)]
pub struct TemperatureSettings {
    /// Input topic (the seed's `eventos_sensores`).
    pub input_topic: String,
    /// Output topic.
    pub output_topic: String,
    /// Window size.
    pub window: Duration,
    /// Grace period for late readings.
    pub grace: Duration,
    /// Store implementation.
    pub store: StoreType,
}

impl Default for TemperatureSettings {
    fn default() -> Self {
        Self {
            input_topic: "eventos_sensores".into(),
            output_topic: "sensor-averages".into(),
            window: Duration::from_secs(60),
            grace: Duration::from_secs(10),
            store: StoreType::RocksDb,
        }
    }
}

/// Unkeyed seed readings → keyed by `sensor_id` (through a repartition topic) → tumbling
/// windows with grace → count/mean/min/max per sensor and window → emitted once per closed
/// window as JSON keyed by the sensor id.
pub fn temperature_averages(b: &mut StreamsBuilder, s: &TemperatureSettings) {
    b.stream(
        &s.input_topic,
        Consumed::with(UnitSerde, JsonSerde::<Reading>::new())
            .with_timestamp_extractor(|_, r: &Reading, _| r.event_time_ms()),
    )
    .filter(|_, r| r.temperatura.is_finite())
    .select_key(|_, r| r.sensor_id)
    .group_by_key(Grouped::with(U32Serde, JsonSerde::<Reading>::new()).named("readings-by-sensor"))
    .windowed_by(TumblingWindows::of(s.window).grace(s.grace))
    .aggregate(
        StatsOf::of(|r: &Reading| r.temperatura),
        // Closed windows stay queryable (`/sensors/<id>/windows`) for an hour; closing and
        // late-dropping still follow the grace period, not this retention.
        Materialized::as_(STATS_STORE).with_store_type(s.store).with_retention(QUERYABLE_FOR),
    )
    .suppress(Suppressed::until_window_closes())
    .to_stream()
    .map(window_average)
    .to(&s.output_topic, Produced::with(StringSerde, JsonSerde::new()));
}

/// One closed window's statistics as the output record: keyed by the sensor id (text).
/// Counts each result in `temperature_windows_emitted_total` (the progress line's `windows`).
pub fn window_average(w: Windowed<u32>, stats: kstreams::dsl::Stats) -> (String, WindowAverage) {
    metrics::counter!("temperature_windows_emitted_total").increment(1);
    let avg = WindowAverage {
        sensor_id: w.key,
        window_start: w.window.start,
        window_end: w.window.end,
        avg: stats.mean(),
        count: stats.count,
        min: stats.min,
        max: stats.max,
    };
    (w.key.to_string(), avg)
}
