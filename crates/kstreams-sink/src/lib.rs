//! Sinks: where the results of a kstreams application end up outside Kafka.
//!
//! A [`Sink`] takes batches of rows and stores them; the stock [`SqliteSink`] stores closed
//! windows ([`WindowResult`]) in a SQLite file with upserts keyed by (key, window start), so
//! writing the same results again — a replay after a crash under at-least-once, a second
//! instance reading the same output — leaves one row per window holding the latest values.
//!
//! ```
//! use kstreams_sink::{Sink, SqliteSink, WindowResult};
//!
//! let mut sink = SqliteSink::open_in_memory("sensor_averages", "sensor_id")?;
//! let row = WindowResult {
//!     key: 7.into(), window_start: 0, window_end: 60_000, avg: 21.4, count: 60, min: 20.1, max: 22.9,
//! };
//! sink.write_batch(&[row.clone(), row.clone()])?; // a replay is harmless
//! assert_eq!(sink.read_all()?, vec![row]);
//! # Ok::<(), kstreams_sink::SinkError>(())
//! ```
//!
//! It is its own crate so that SQLite (compiled from source by `rusqlite`'s `bundled` feature,
//! so no system library is needed) is built only by programs that store results; the
//! `kstreams` facade re-exports it as `kstreams::sink` with its `sink` feature (off by
//! default).
#![deny(missing_docs)]

mod error;
mod sqlite;

pub use error::SinkError;
pub use sqlite::SqliteSink;

use serde::{Deserialize, Serialize};

/// Where rows go. Writes are idempotent where the implementation says so ([`SqliteSink`] is),
/// which is what at-least-once delivery needs.
pub trait Sink<T>: Send {
    /// Stores `rows`, all or none of them.
    fn write_batch(&mut self, rows: &[T]) -> Result<(), SinkError>;

    /// Stores one row.
    fn write(&mut self, row: &T) -> Result<(), SinkError> {
        self.write_batch(std::slice::from_ref(row))
    }

    /// Makes every written row durable. No-op by default (for sinks whose writes already are).
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// The key of a windowed result: an integer (a sensor id) or text. Stored as SQLite's INTEGER
/// or TEXT, so SQL queries compare it naturally (`WHERE sensor_id = 7`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResultKey {
    /// An integer key.
    Int(i64),
    /// A text key.
    Text(String),
}

impl From<i64> for ResultKey {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<u32> for ResultKey {
    fn from(v: u32) -> Self {
        Self::Int(i64::from(v))
    }
}

impl From<i32> for ResultKey {
    fn from(v: i32) -> Self {
        Self::Int(i64::from(v))
    }
}

impl From<String> for ResultKey {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<&str> for ResultKey {
    fn from(v: &str) -> Self {
        Self::Text(v.to_string())
    }
}

impl std::fmt::Display for ResultKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Int(v) => write!(f, "{v}"),
            Self::Text(v) => f.write_str(v),
        }
    }
}

/// The summary of one closed window of one key: count, mean, min and max of a measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowResult {
    /// The grouping key (e.g. the sensor id).
    pub key: ResultKey,
    /// Window start, ms since the epoch (inclusive).
    pub window_start: i64,
    /// Window end, ms since the epoch (exclusive).
    pub window_end: i64,
    /// Mean of the values.
    pub avg: f64,
    /// Number of values.
    pub count: u64,
    /// Lowest value.
    pub min: f64,
    /// Highest value.
    pub max: f64,
}
