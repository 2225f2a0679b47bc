//! The temperature-average topology shared by the examples and the root integration tests, so
//! what the tests check is exactly what the program runs; with the simulator, the viewer and
//! the database writer that the all-in-one program and the separate programs share.
// Each example and test uses a part of this module.
#![allow(dead_code)]

pub mod queries;
pub mod simulator;
pub mod store;
pub mod viewer;

use std::time::Duration;

use kstreams::prelude::*;
use serde::{Deserialize, Serialize};

/// A sensor reading exactly as the seed tutorial's Python producer sends it:
/// `{"sensor_id": 7, "temperatura": 21.4, "timestamp": 1764115200.53}` (seconds, float).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The sensor's id.
    pub sensor_id: u32,
    /// Temperature in °C (the seed sends integers too: `20 + i`).
    pub temperatura: f64,
    /// Event time, seconds since the epoch.
    pub timestamp: f64,
}

impl Reading {
    /// Event time in milliseconds.
    pub fn event_time_ms(&self) -> i64 {
        (self.timestamp * 1000.0).round() as i64
    }
}

/// One closed window of one sensor, as written to the output topic (keyed by sensor id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowAverage {
    /// The sensor's id.
    pub sensor_id: u32,
    /// Window start, ms since the epoch.
    pub window_start: i64,
    /// Window end (exclusive), ms since the epoch.
    pub window_end: i64,
    /// Mean temperature.
    pub avg: f64,
    /// Number of readings.
    pub count: u64,
    /// Lowest reading.
    pub min: f64,
    /// Highest reading.
    pub max: f64,
}

/// Logs through `tracing` at `info` (librdkafka at `warn`) unless `RUST_LOG` says otherwise.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,librdkafka=warn")),
        )
        .init();
}

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
        Materialized::as_("temperature-stats").with_store_type(s.store).with_retention(QUERYABLE_FOR),
    )
    .suppress(Suppressed::until_window_closes())
    .to_stream()
    .map(window_average)
    .to(&s.output_topic, Produced::with(StringSerde, JsonSerde::new()));
}

/// One closed window's statistics as the output record: keyed by the sensor id (text).
pub fn window_average(w: Windowed<u32>, stats: kstreams::dsl::Stats) -> (String, WindowAverage) {
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
