//! What runs in the measured child processes: the raw rdkafka baselines and a kstreams
//! instance. Each prints `RUNNING` when it starts work and, for the raw consumer, `DONE` when
//! it has read everything; the parent measures between the two (or until the output is
//! complete) and then kills it.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kstreams::prelude::*;
use kstreams::runtime::{KafkaStreams, ProcessingGuarantee, State, StreamsConfig};
use kstreams_example::{temperature_averages, Reading, TemperatureSettings, WindowAverage};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::workload::{GRACE_MS, WINDOW_MS};

/// The flags of a child, `--name value` pairs.
pub struct ChildArgs(HashMap<String, String>);

impl ChildArgs {
    /// Parses `--name value` pairs.
    pub fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(name) = it.next() {
            let name = name.strip_prefix("--").with_context(|| format!("expected --flag, got {name}"))?;
            let value = it.next().with_context(|| format!("--{name} needs a value"))?;
            map.insert(name.to_string(), value.clone());
        }
        Ok(Self(map))
    }

    fn get(&self, name: &str) -> anyhow::Result<&str> {
        self.0.get(name).map(String::as_str).with_context(|| format!("--{name} is required"))
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> anyhow::Result<T> {
        self.get(name)?.parse().map_err(|_| anyhow::anyhow!("--{name}: not a number"))
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn assign_all(consumer: &BaseConsumer, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    Ok(())
}

/// (a) Reads `--records` records of `--topic` from the beginning and decodes each reading.
pub fn raw_consume(args: &ChildArgs) -> anyhow::Result<()> {
    let (servers, topic) = (args.get("bootstrap")?, args.get("topic")?);
    let (partitions, records): (i32, u64) = (args.number("partitions")?, args.number("records")?);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", args.get("group")?)
        .set("enable.auto.commit", "false")
        .create()?;
    assign_all(&consumer, topic, partitions)?;
    say("RUNNING");
    let (mut read, mut sum) = (0u64, 0.0f64);
    while read < records {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m?;
            if let Some(Ok(r)) = m.payload().map(serde_json::from_slice::<Reading>) {
                sum += r.temperatura;
            }
            read += 1;
        }
    }
    say(&format!("DONE {sum}"));
    std::thread::park();
    Ok(())
}

/// Queues `record`, serving delivery reports while librdkafka's queue is full.
fn send(producer: &BaseProducer, mut record: BaseRecord<'_, [u8], [u8]>) -> anyhow::Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(5));
            }
            Err((e, _)) => anyhow::bail!("producing: {e}"),
        }
    }
}

/// (b) What the topology does on the wire, with plain rdkafka and a hash map: read and decode
/// the readings, re-key them by sensor into `--repartition`, read that back, aggregate each
/// sensor's one-minute windows (grace 10 s, per-partition stream time) and produce one JSON
/// result per closed window to `--output`. No state store, no changelog, no transactions.
pub fn raw_job(args: &ChildArgs) -> anyhow::Result<()> {
    let servers = args.get("bootstrap")?.to_string();
    let (input, repartition, output) = (
        args.get("topic")?.to_string(),
        args.get("repartition")?.to_string(),
        args.get("output")?.to_string(),
    );
    let partitions: i32 = args.number("partitions")?;
    let group = args.get("group")?.to_string();

    // Stage 1: input → repartition, partitioned like the Java client (murmur2), as Kafka
    // Streams and kstreams do. Offsets are committed automatically as the records are polled,
    // so the parent sees when every reading was read. Unkeyed readings of one sensor come from
    // every input partition, so a partition that runs more than `MAX_SKEW_MS` of event time
    // ahead of the slowest one is paused until it is within half of that: without this, the
    // aggregation drops readings as late (as Kafka Streams does here).
    let rekey = {
        let (servers, input, repartition) = (servers.clone(), input.clone(), repartition.clone());
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &servers)
            .set("group.id", &group)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "100")
            .set("enable.partition.eof", "true")
            .create()?;
        assign_all(&consumer, &input, partitions)?;
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &servers)
            .set("partitioner", "murmur2_random")
            .create()?;
        std::thread::spawn(move || -> anyhow::Result<()> {
            const MAX_SKEW_MS: i64 = 6_000;
            let n_partitions = usize::try_from(partitions)?;
            let (mut last, mut at_end, mut paused) =
                (vec![None::<i64>; n_partitions], vec![false; n_partitions], vec![false; n_partitions]);
            let mut n = 0u64;
            loop {
                let m = match consumer.poll(Duration::from_millis(100)) {
                    None => {
                        producer.poll(Duration::ZERO);
                        continue;
                    }
                    Some(Err(KafkaError::PartitionEOF(p))) => {
                        if let Some(e) = usize::try_from(p).ok().and_then(|p| at_end.get_mut(p)) {
                            *e = true;
                        }
                        None
                    }
                    Some(m) => Some(m?),
                };
                if let Some(m) = m {
                    let p = usize::try_from(m.partition())?;
                    at_end[p] = false;
                    let Some(payload) = m.payload() else { continue };
                    let Ok(r) = serde_json::from_slice::<Reading>(payload) else { continue };
                    last[p] = Some(r.event_time_ms());
                    if r.temperatura.is_finite() {
                        let key = r.sensor_id.to_be_bytes();
                        let record = BaseRecord::to(&repartition)
                            .key(&key[..])
                            .payload(payload)
                            .timestamp(r.event_time_ms());
                        send(&producer, record)?;
                    }
                    n += 1;
                    if !n.is_multiple_of(1000) {
                        continue;
                    }
                    producer.poll(Duration::ZERO);
                }
                // The slowest partition that still has records; one not yet read holds all.
                let slowest =
                    (0..n_partitions).filter(|&p| !at_end[p]).map(|p| last[p].unwrap_or(i64::MIN)).min();
                for p in 0..n_partitions {
                    let limit = if paused[p] { MAX_SKEW_MS / 2 } else { MAX_SKEW_MS };
                    let ahead = slowest.is_some_and(|s| last[p].is_some_and(|t| t > s.saturating_add(limit)));
                    if ahead != paused[p] {
                        let mut tpl = TopicPartitionList::new();
                        tpl.add_partition(&input, i32::try_from(p)?);
                        if ahead {
                            consumer.pause(&tpl)?;
                        } else {
                            consumer.resume(&tpl)?;
                        }
                        paused[p] = ahead;
                    }
                }
            }
        })
    };

    // Stage 2: repartition → windows → output.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .set("group.id", format!("{group}-aggregate"))
        .set("enable.auto.commit", "false")
        .create()?;
    assign_all(&consumer, &repartition, partitions)?;
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", &servers).create()?;
    say("RUNNING");
    struct Agg {
        count: u64,
        sum: f64,
        min: f64,
        max: f64,
    }
    #[derive(Default)]
    struct PartitionState {
        stream_time: i64,
        open: BTreeMap<i64, HashMap<u32, Agg>>,
    }
    let mut states: HashMap<i32, PartitionState> = HashMap::new();
    let mut value = Vec::with_capacity(160);
    let mut n = 0u64;
    loop {
        if rekey.is_finished() {
            return match rekey.join() {
                Ok(r) => r,
                Err(_) => anyhow::bail!("the re-keying thread panicked"),
            };
        }
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            producer.poll(Duration::ZERO);
            continue;
        };
        let m = m?;
        let Some(Ok(r)) = m.payload().map(serde_json::from_slice::<Reading>) else { continue };
        let ts = r.event_time_ms();
        let state = states
            .entry(m.partition())
            .or_insert(PartitionState { stream_time: i64::MIN, ..Default::default() });
        state.stream_time = state.stream_time.max(ts);
        let start = ts.div_euclid(WINDOW_MS) * WINDOW_MS;
        if start + WINDOW_MS + GRACE_MS > state.stream_time {
            let a = state.open.entry(start).or_default().entry(r.sensor_id).or_insert(Agg {
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
        while let Some(entry) = state.open.first_entry() {
            let start = *entry.key();
            if start + WINDOW_MS + GRACE_MS > state.stream_time {
                break;
            }
            for (sensor, a) in entry.remove() {
                let w = WindowAverage {
                    sensor_id: sensor,
                    window_start: start,
                    window_end: start + WINDOW_MS,
                    avg: a.sum / a.count as f64,
                    count: a.count,
                    min: a.min,
                    max: a.max,
                };
                value.clear();
                serde_json::to_writer(&mut value, &w)?;
                let key = sensor.to_string();
                send(
                    &producer,
                    BaseRecord::to(&output)
                        .key(key.as_bytes())
                        .payload(&value[..])
                        .timestamp(start + WINDOW_MS - 1),
                )?;
            }
        }
        n += 1;
        if n.is_multiple_of(1000) {
            producer.poll(Duration::ZERO);
        }
    }
}

/// (c) One kstreams instance of the example's topology.
pub fn kstreams(args: &ChildArgs) -> anyhow::Result<()> {
    // To standard error: the parent reads standard output for `RUNNING`.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,librdkafka=warn")),
        )
        .try_init();
    let guarantee = match args.get("guarantee")? {
        "exactly_once_v2" => ProcessingGuarantee::ExactlyOnceV2,
        _ => ProcessingGuarantee::AtLeastOnce,
    };
    let settings = TemperatureSettings {
        input_topic: args.get("topic")?.to_string(),
        output_topic: args.get("output")?.to_string(),
        ..TemperatureSettings::default()
    };
    let mut b = StreamsBuilder::new();
    temperature_averages(&mut b, &settings);
    let mut config = StreamsConfig::builder(args.get("application-id")?, args.get("bootstrap")?)
        .state_dir(args.get("state-dir")?)
        .num_stream_threads(args.number("threads")?)
        .processing_guarantee(guarantee)
        .commit_interval(Duration::from_millis(args.number("commit-ms")?));
    // `KSTREAMS_PERF_CONFIG=key=value,key=value`: more settings, to try some.
    if let Ok(extra) = std::env::var("KSTREAMS_PERF_CONFIG") {
        for setting in extra.split(',').filter(|s| !s.is_empty()) {
            let (key, value) =
                setting.split_once('=').with_context(|| format!("KSTREAMS_PERF_CONFIG: {setting}"))?;
            config = config.set(key, value);
        }
    }
    let config = config.build()?;
    let mut streams = KafkaStreams::new(Arc::new(b.build()?), config);
    streams.start()?;
    match streams.wait_for_state(State::Running, Duration::from_secs(120)) {
        State::Running => say("RUNNING"),
        other => anyhow::bail!("the instance did not reach RUNNING: {other:?} {:?}", streams.error()),
    }
    loop {
        std::thread::sleep(Duration::from_millis(200));
        if streams.state() == State::Error {
            anyhow::bail!("the instance failed: {:?}", streams.error());
        }
    }
}
