//! Records/s of the example's application on Apache Kafka (started here by the broker harness on free
//! loopback ports; or the cluster named by `KSTREAMS_TEST_BOOTSTRAP`), against a
//! baseline measured in the same run on the same topic: a raw rdkafka consumer that reads every
//! record and decodes its JSON, and nothing else.
//!
//! The application is the README's job: unkeyed seed readings on a 3-partition topic,
//! re-keyed by sensor through a repartition topic, one-minute windows in cached RocksDB
//! stores with changelogs, suppression, JSON output; at-least-once, one stream thread,
//! committing every 100 ms. Its time runs from RUNNING until the group has committed every
//! input and repartition record, so it includes the second trip through the broker.
//!
//! `cargo bench --bench broker_throughput` (`-- <readings>` to change the 300 000 readings).
//! Compare the ratio, not the absolute figures: these machines are shared.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kstreams::prelude::*;
use kstreams::runtime::{KafkaStreams, State, StreamsConfig};
use kstreams_broker_harness::{unique_name, TestBroker};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use kstreams_example::simulator::{Compression, Publish, ReadingProducer, Simulation};
use kstreams_example::{temperature_averages, Reading, TemperatureSettings};

const PARTITIONS: i32 = 3;

fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        kstreams_example::init_tracing();
    }
    let n: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(300_000);
    let broker = match TestBroker::start() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("broker_throughput skipped: {e} (install the broker with scripts/install-broker.sh)");
            return;
        }
    };
    let servers = broker.bootstrap().to_string();
    let settings = TemperatureSettings {
        input_topic: unique_name("eventos_sensores"),
        output_topic: unique_name("sensor-averages"),
        ..TemperatureSettings::default()
    };
    broker.create_topic(&settings.input_topic, PARTITIONS).unwrap();
    broker.create_topic(&settings.output_topic, PARTITIONS).unwrap();

    // 100 sensors, 1000 readings per second of event time: 300 000 readings span 5 minutes.
    let sim = Simulation { sensors: 100, rate: 1000, speedup: 1, epoch: 1_764_115_200.0 };
    let started = Instant::now();
    let publish = Publish {
        servers: servers.clone(),
        topic: settings.input_topic.clone(),
        keyed: false,
        compression: Compression::None,
    };
    let producer = ReadingProducer::new(publish).unwrap();
    for i in 0..n {
        producer.send(&sim.reading(i)).unwrap();
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    println!("produced {n} readings in {:.1} s", started.elapsed().as_secs_f64());

    let raw = raw_consumer_rate(&servers, &settings.input_topic, n);
    let app = application_rate(&servers, &settings, n);
    println!("raw rdkafka consumer + JSON decode: {raw:>10.0} records/s");
    println!("kstreams application (example):    {app:>10.0} records/s");
    println!("ratio: {:.1} % of the raw consumer", 100.0 * app / raw);
}

/// Reads every record of `topic` from the beginning with a plain consumer and decodes it.
fn raw_consumer_rate(servers: &str, topic: &str, n: u64) -> f64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", unique_name("raw-baseline"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let started = Instant::now();
    let (mut read, mut sum) = (0u64, 0.0f64);
    while read < n {
        assert!(started.elapsed() < Duration::from_secs(600), "raw consumer read only {read} of {n}");
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            if let Some(Ok(r)) = m.payload().map(serde_json::from_slice::<Reading>) {
                sum += r.temperatura;
            }
            read += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    assert!(sum > 0.0);
    n as f64 / secs
}

/// Runs the example's application until it committed every record of its input and of its
/// repartition topic; records/s of input from RUNNING to then.
fn application_rate(servers: &str, settings: &TemperatureSettings, n: u64) -> f64 {
    let app = unique_name("bench-app");
    let dir = tempfile::tempdir().unwrap();
    let mut config = StreamsConfig::builder(app.clone(), servers);
    if let Ok(debug) = std::env::var("BENCH_CONSUMER_DEBUG") {
        config = config.set("consumer.debug", debug);
    }
    if let Ok(extra) = std::env::var("BENCH_SET") {
        for kv in extra.split(',') {
            if let Some((k, v)) = kv.split_once('=') {
                config = config.set(k, v);
            }
        }
    }
    let config = config
        .state_dir(dir.path())
        .commit_interval(Duration::from_millis(
            std::env::var("BENCH_COMMIT_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(100),
        ))
        .set("event.time.max.skew.ms", std::env::var("BENCH_SKEW_MS").unwrap_or_else(|_| "60000".into()))
        .build()
        .unwrap();
    let mut b = StreamsBuilder::new();
    temperature_averages(&mut b, settings);
    let mut streams = KafkaStreams::new(Arc::new(b.build().unwrap()), config);
    streams.start().unwrap();
    assert_eq!(streams.wait_for_state(State::Running, Duration::from_secs(60)), State::Running);
    let started = Instant::now();
    let repartition = format!("{app}-readings-by-sensor-repartition");
    let topics = [settings.input_topic.as_str(), repartition.as_str()];
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", &app)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    loop {
        assert!(started.elapsed() < Duration::from_secs(600), "the application did not finish");
        assert_ne!(streams.state(), State::Error, "{:?}", streams.error());
        let ends = end_offsets(&probe, &topics);
        let committed = committed_offsets(&probe, &topics);
        let input_done = (0..PARTITIONS)
            .all(|p| committed.get(&(topics[0].to_string(), p)) == ends.get(&(topics[0].to_string(), p)));
        let repartition_done = ends.iter().filter(|((t, _), _)| t == topics[1]).all(|(tp, end)| {
            // Watermark records keep arriving after the last reading: within a few of the end.
            committed.get(tp).is_some_and(|c| *c + 10 >= *end)
        });
        if input_done && repartition_done {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = started.elapsed().as_secs_f64();
    streams.close().unwrap();
    n as f64 / secs
}

fn end_offsets(c: &BaseConsumer, topics: &[&str]) -> BTreeMap<(String, i32), i64> {
    let mut out = BTreeMap::new();
    for t in topics {
        for p in 0..PARTITIONS {
            if let Ok((_, high)) = c.fetch_watermarks(t, p, Duration::from_secs(5)) {
                out.insert((t.to_string(), p), high);
            }
        }
    }
    out
}

fn committed_offsets(c: &BaseConsumer, topics: &[&str]) -> BTreeMap<(String, i32), i64> {
    let mut tpl = TopicPartitionList::new();
    for t in topics {
        for p in 0..PARTITIONS {
            tpl.add_partition(t, p);
        }
    }
    let Ok(committed) = c.committed_offsets(tpl, Duration::from_secs(5)) else { return BTreeMap::new() };
    committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
            _ => None,
        })
        .collect()
}
