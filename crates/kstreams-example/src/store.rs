//! Stores the output topic's results through a [`kstreams::sink::Sink`] — what
//! `temperature_averages --db` runs beside the application. Offsets are committed only after a
//! batch is in the database, and the sink upserts, so a restart replays at most one batch
//! without duplicating rows.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kstreams::sink::{Sink, WindowResult};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::Message;

use crate::viewer::{results_consumer_with, DRAIN};
use crate::WindowAverage;

/// Rows written per database transaction at most.
const BATCH: usize = 500;
/// Longest a row waits in a batch.
const BATCH_DELAY: Duration = Duration::from_millis(200);

/// Reads `topic` (consumer group `group`, with the `client` settings) and writes every result
/// to `sink` until `stop` is set and [`DRAIN`] passed; counts the rows in `stored`.
pub fn store_results(
    servers: &str,
    topic: &str,
    group: &str,
    client: &[(String, String)],
    sink: &mut dyn Sink<WindowResult>,
    stop: &AtomicBool,
    stored: &AtomicU64,
) -> anyhow::Result<()> {
    let consumer = results_consumer_with(servers, topic, group, client)?;
    let mut batch: Vec<WindowResult> = Vec::with_capacity(BATCH);
    let mut oldest: Option<Instant> = None;
    let mut stopping_since: Option<Instant> = None;
    loop {
        let stopping =
            stop.load(Ordering::SeqCst) && stopping_since.get_or_insert_with(Instant::now).elapsed() > DRAIN;
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => match m.payload().map(serde_json::from_slice::<WindowAverage>) {
                Some(Ok(w)) => {
                    batch.push(WindowResult::from(&w));
                    oldest.get_or_insert_with(Instant::now);
                }
                Some(Err(e)) => tracing::warn!("db sink: undecodable result at offset {}: {e}", m.offset()),
                None => {}
            },
            Some(Err(e)) => tracing::warn!("db sink: {e}"),
            None => {}
        }
        let due = batch.len() >= BATCH || oldest.is_some_and(|t| t.elapsed() >= BATCH_DELAY);
        if !batch.is_empty() && (due || stopping) {
            sink.write_batch(&batch)?;
            sink.flush()?;
            stored.fetch_add(batch.len() as u64, Ordering::Relaxed);
            consumer.commit_consumer_state(CommitMode::Sync)?;
            batch.clear();
            oldest = None;
        }
        if stopping && batch.is_empty() {
            return Ok(());
        }
    }
}

impl From<&WindowAverage> for WindowResult {
    fn from(w: &WindowAverage) -> Self {
        WindowResult {
            key: w.sensor_id.into(),
            window_start: w.window_start,
            window_end: w.window_end,
            avg: w.avg,
            count: w.count,
            min: w.min,
            max: w.max,
        }
    }
}
