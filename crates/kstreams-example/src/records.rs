//! The records of the pipeline: a sensor [`Reading`] in the input topic, a [`WindowAverage`]
//! in the output topic.

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
