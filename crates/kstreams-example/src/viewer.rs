//! The results viewer shared by `results_viewer` and the embedded mode of
//! `temperature_averages`: reads the output topic and prints one table row per closed window.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;

use crate::WindowAverage;

/// How long readers keep reading after being asked to stop, for results committed meanwhile.
pub const DRAIN: Duration = Duration::from_secs(3);

/// A consumer of the output topic, reading committed results from the start.
pub fn results_consumer(servers: &str, topic: &str, group: &str) -> anyhow::Result<BaseConsumer> {
    results_consumer_with(servers, topic, group, &[])
}

/// [`results_consumer`] with extra client settings (`(librdkafka name, value)`), applied last.
pub fn results_consumer_with(
    servers: &str,
    topic: &str,
    group: &str,
    extra: &[(String, String)],
) -> anyhow::Result<BaseConsumer> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", servers)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false");
    for (key, value) in extra {
        config.set(key, value);
    }
    let consumer: BaseConsumer = config.create()?;
    consumer.subscribe(&[topic])?;
    Ok(consumer)
}

/// The table's header line.
pub fn header() -> String {
    format!(
        "{:>6}  {:>8}  {:>8}  {:>7}  {:>5}  {:>6}  {:>6}",
        "sensor", "from", "to", "avg", "count", "min", "max"
    )
}

/// One table row.
pub fn row(w: &WindowAverage) -> String {
    format!(
        "{:>6}  {:>8}  {:>8}  {:>7.2}  {:>5}  {:>6.1}  {:>6.1}",
        w.sensor_id,
        clock(w.window_start),
        clock(w.window_end),
        w.avg,
        w.count,
        w.min,
        w.max
    )
}

/// Prints each result of `topic` as it arrives (the header again every `header_every` rows, 0
/// for once) until `stop` is set and [`DRAIN`] passed; counts them in `shown`.
pub fn view(
    servers: &str,
    topic: &str,
    group: &str,
    header_every: u64,
    stop: &AtomicBool,
    shown: &AtomicU64,
) -> anyhow::Result<()> {
    let consumer = results_consumer(servers, topic, group)?;
    println!("{}", header());
    let mut stopping_since: Option<Instant> = None;
    loop {
        if stop.load(Ordering::SeqCst) && stopping_since.get_or_insert_with(Instant::now).elapsed() > DRAIN {
            return Ok(());
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => match m.payload().map(serde_json::from_slice::<WindowAverage>) {
                Some(Ok(w)) => {
                    let n = shown.fetch_add(1, Ordering::Relaxed) + 1;
                    if header_every > 0 && n > 1 && (n - 1).is_multiple_of(header_every) {
                        println!("{}", header());
                    }
                    println!("{}", row(&w));
                }
                Some(Err(e)) => tracing::warn!("viewer: undecodable result at offset {}: {e}", m.offset()),
                None => {}
            },
            Some(Err(e)) => tracing::warn!("viewer: {e}"),
            None => {}
        }
    }
}

/// `HH:MM:SS` (UTC) of an epoch-millisecond timestamp.
pub fn clock(ms: i64) -> String {
    let s = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}
