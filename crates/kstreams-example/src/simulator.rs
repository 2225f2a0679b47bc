//! The sensor simulator shared by `sensor_simulator` and the embedded mode of
//! `temperature_averages`: deterministic readings (so tests can recompute every average) paced
//! to a rate, published as the seed's producer does (`acks=all`, idempotence on).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::Reading;

/// Compression codec of the simulator's producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// Snappy.
    Snappy,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// librdkafka's name of the codec.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

/// Which readings a simulation produces: reading `i` comes from sensor `i % sensors`, at event
/// time `epoch + i / rate * speedup` seconds, so the same settings always give the same data.
#[derive(Debug, Clone, Copy)]
pub struct Simulation {
    /// Number of sensors (ids `0..sensors`).
    pub sensors: u32,
    /// Readings per wall-clock second, all sensors together.
    pub rate: u32,
    /// How much faster than the wall clock event time runs.
    pub speedup: u32,
    /// Event time of the first reading, seconds since the epoch.
    pub epoch: f64,
}

impl Simulation {
    /// Reading number `i`: sensor `s` reads around `20 + s` °C, wobbling by up to 1.9 °C.
    pub fn reading(&self, i: u64) -> Reading {
        let sensors = u64::from(self.sensors.max(1));
        let sensor = (i % sensors) as u32;
        let event_time = self.epoch + i as f64 / f64::from(self.rate.max(1)) * f64::from(self.speedup.max(1));
        let wobble = ((i / sensors) % 20) as f64 / 10.0;
        Reading {
            sensor_id: sensor,
            temperatura: ((20.0 + f64::from(sensor) + wobble) * 10.0).round() / 10.0,
            timestamp: (event_time * 100.0).round() / 100.0,
        }
    }
}

/// Where and how readings are published.
#[derive(Debug, Clone)]
pub struct Publish {
    /// Bootstrap servers.
    pub servers: String,
    /// Topic.
    pub topic: String,
    /// Key records by sensor id (as text); the seed's producer sends no key.
    pub keyed: bool,
    /// Compression codec.
    pub compression: Compression,
}

/// Publishes readings with `acks=all` and idempotence on.
pub struct ReadingProducer {
    producer: BaseProducer,
    publish: Publish,
}

impl ReadingProducer {
    /// Creates the producer.
    pub fn new(publish: Publish) -> anyhow::Result<Self> {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &publish.servers)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("compression.type", publish.compression.as_str())
            .set("linger.ms", "5")
            .create()?;
        Ok(Self { producer, publish })
    }

    /// Queues one reading, waiting while the local queue is full.
    pub fn send(&self, reading: &Reading) -> anyhow::Result<()> {
        let payload = serde_json::to_vec(reading)?;
        let key = reading.sensor_id.to_string();
        let mut record = BaseRecord::<[u8], [u8]>::to(&self.publish.topic).payload(&payload[..]);
        if self.publish.keyed {
            record = record.key(key.as_bytes());
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.producer.poll(Duration::from_millis(20));
                }
                Err((e, _)) => anyhow::bail!("sending a reading to {}: {e}", self.publish.topic),
            }
        }
    }

    /// Serves delivery callbacks for up to `timeout`.
    pub fn poll(&self, timeout: Duration) {
        self.producer.poll(timeout);
    }

    /// Waits until every queued reading is acknowledged.
    pub fn flush(&self, timeout: Duration) -> anyhow::Result<()> {
        self.producer.flush(timeout)?;
        Ok(())
    }
}

/// Publishes `sim`'s readings at its rate until `stop` is set (or `limit` readings were sent),
/// counting them in `sent`; flushes before returning.
pub fn run(
    sim: Simulation,
    publish: Publish,
    limit: Option<u64>,
    stop: &AtomicBool,
    sent: &AtomicU64,
) -> anyhow::Result<()> {
    let producer = ReadingProducer::new(publish)?;
    let started = Instant::now();
    let mut i: u64 = 0;
    while !stop.load(Ordering::SeqCst) && limit.is_none_or(|n| i < n) {
        let due = (started.elapsed().as_secs_f64() * f64::from(sim.rate.max(1))) as u64;
        let due = limit.map_or(due, |n| due.min(n));
        while i < due {
            producer.send(&sim.reading(i))?;
            i += 1;
            sent.store(i, Ordering::Relaxed);
        }
        producer.poll(Duration::from_millis(10));
    }
    producer.flush(Duration::from_secs(30))
}
