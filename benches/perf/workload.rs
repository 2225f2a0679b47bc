//! The readings a run feeds every system, and the answer each must give, computed here from the
//! readings alone.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use kstreams_example::{Reading, WindowAverage};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// Window size and grace of the topology (the example's defaults).
pub const WINDOW_MS: i64 = 60_000;
/// Grace period of the topology.
pub const GRACE_MS: i64 = 10_000;
/// At most this many closing readings (one per sensor) end a run.
const CLOSING_SENSORS: u32 = 256;

/// One workload: which sensors, how many readings, how dense in event time, keyed or not.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Short name printed in the results (`W1-unkeyed`, `W1-keyed`, `W2`).
    pub name: String,
    /// Distinct sensors; reading `i` comes from sensor `i % sensors`.
    pub sensors: u32,
    /// Readings before the closing ones.
    pub readings: u64,
    /// Readings per second of event time, all sensors together.
    pub per_event_second: u64,
    /// Key each reading by its sensor id (4-byte big-endian, as Java's `IntegerSerializer`,
    /// placed by murmur2 as the Java client does); the seed's producer sends no key.
    pub keyed: bool,
    /// Event time of the first reading, ms: a minute boundary two hours before now, so that no
    /// broker's retention or future-timestamp check meets the readings.
    pub epoch_ms: i64,
}

impl Workload {
    /// A workload that starts at the minute boundary two hours ago.
    pub fn new(name: &str, sensors: u32, readings: u64, per_event_second: u64, keyed: bool) -> Self {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let epoch_ms = (now - 2 * 3_600_000).div_euclid(WINDOW_MS) * WINDOW_MS;
        Self { name: name.to_string(), sensors: sensors.max(1), readings, per_event_second, keyed, epoch_ms }
    }

    fn event_time_ms(&self, i: u64) -> i64 {
        self.epoch_ms + (i as i128 * 1000 / i128::from(self.per_event_second.max(1))) as i64
    }

    /// Reading `i`: temperatures are multiples of 0.5, so every sum, mean, min and max is
    /// exact in binary and any order of addition gives the same answer.
    pub fn reading(&self, i: u64) -> Reading {
        let sensors = u64::from(self.sensors);
        let sensor = (i % sensors) as u32;
        let step = i / sensors;
        Reading {
            sensor_id: sensor,
            temperatura: 20.0 + f64::from(sensor % 10) + 0.5 * (step % 12) as f64,
            timestamp: self.event_time_ms(i) as f64 / 1000.0,
        }
    }

    /// Readings that close every window of the workload in every downstream task: one for
    /// each of the first sensors, a window and a grace after the last reading.
    pub fn closing_readings(&self) -> Vec<Reading> {
        let last = self.event_time_ms(self.readings.saturating_sub(1));
        let at = (last.div_euclid(WINDOW_MS) + 2) * WINDOW_MS + GRACE_MS;
        (0..self.sensors.min(CLOSING_SENSORS))
            .map(|s| Reading { sensor_id: s, temperatura: 0.0, timestamp: at as f64 / 1000.0 })
            .collect()
    }

    /// Every window of the readings (not the closing ones), with its count, mean, min and max.
    pub fn expected(&self) -> HashMap<(u32, i64), WindowAverage> {
        struct Acc {
            count: u64,
            sum: f64,
            min: f64,
            max: f64,
        }
        let mut acc: HashMap<(u32, i64), Acc> = HashMap::new();
        for i in 0..self.readings {
            let r = self.reading(i);
            let start = r.event_time_ms().div_euclid(WINDOW_MS) * WINDOW_MS;
            let a = acc.entry((r.sensor_id, start)).or_insert(Acc {
                count: 0,
                sum: 0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            });
            a.count += 1;
            a.sum += r.temperatura;
            a.min = a.min.min(r.temperatura);
            a.max = a.max.max(r.temperatura);
        }
        acc.into_iter()
            .map(|((sensor, start), a)| {
                let w = WindowAverage {
                    sensor_id: sensor,
                    window_start: start,
                    window_end: start + WINDOW_MS,
                    avg: a.sum / a.count as f64,
                    count: a.count,
                    min: a.min,
                    max: a.max,
                };
                ((sensor, start), w)
            })
            .collect()
    }
}

/// Writes readings to `topic` as fast as the broker takes them (`acks=all`, idempotent).
pub fn produce(
    servers: &str,
    topic: &str,
    keyed: bool,
    readings: impl Iterator<Item = Reading>,
) -> anyhow::Result<u64> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        // Keys go where the Java client puts them, so a keyed topic is co-partitioned with
        // the topology's repartition topic.
        .set("partitioner", "murmur2_random")
        // Readings without a key are spread at random, one by one, so partitions stay even.
        .set("sticky.partitioning.linger.ms", "0")
        .create()
        .context("creating the workload producer")?;
    let mut n = 0;
    let mut payload = Vec::with_capacity(128);
    for r in readings {
        payload.clear();
        serde_json::to_writer(&mut payload, &r)?;
        let key = r.sensor_id.to_be_bytes();
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(&payload[..]);
        if keyed {
            record = record.key(&key[..]);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => anyhow::bail!("producing to {topic}: {e}"),
            }
        }
        n += 1;
        if n % 10_000 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(300)).context("flushing the workload")?;
    Ok(n)
}
