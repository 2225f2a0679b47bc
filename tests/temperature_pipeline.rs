//! The example's temperature-average topology, checked against averages computed here
//! independently: through the test driver, and on the runtime against librdkafka's mock
//! cluster (one instance, then two instances sharing the work, with RocksDB state).
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kstreams::prelude::*;
use kstreams::runtime::{KafkaStreams, State, StreamsConfig};
use kstreams_test::{DriverConfig, TopologyTestDriver};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::Message;

use kstreams_example::{temperature_averages, Reading, TemperatureSettings, WindowAverage};

use kstreams_example::expected::{self, readings, SENSORS, T0};

/// What the pipeline must output: one result per sensor and closed minute.
fn expected(readings: &[Reading], closed_before_ms: i64) -> BTreeMap<(u32, i64), WindowAverage> {
    expected::window_averages(readings, Some(closed_before_ms))
}

fn assert_same(got: &BTreeMap<(u32, i64), WindowAverage>, want: &BTreeMap<(u32, i64), WindowAverage>) {
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (k, w) in want {
        let g = &got[k];
        assert_eq!((g.count, g.window_end), (w.count, w.window_end), "{k:?}");
        assert!((g.avg - w.avg).abs() < 1e-9 && g.min == w.min && g.max == w.max, "{k:?}: {g:?} vs {w:?}");
    }
}

fn topology(store: StoreType) -> Topology {
    let mut b = StreamsBuilder::new();
    temperature_averages(&mut b, &TemperatureSettings { store, ..TemperatureSettings::default() });
    b.build().unwrap()
}

#[test]
fn the_driver_computes_every_closed_window_exactly_once() {
    let input = readings(5);
    let closed_before = (T0 as i64 + 15 * 60) * 1000 - 1; // the last readings' stream time
    let want = expected(&input, closed_before);
    assert_eq!(want.len(), SENSORS as usize * 5);
    for store in [StoreType::InMemory, StoreType::RocksDb] {
        let config = DriverConfig {
            partitions: [("test-app-readings-by-sensor-repartition".to_string(), 3)].into(),
            ..DriverConfig::default()
        };
        let driver = TopologyTestDriver::with_config(topology(store), config).unwrap();
        for r in &input {
            let value = serde_json::to_vec(r).unwrap();
            driver.pipe_raw("eventos_sensores", None, None, Some(value), 0, Headers::default()).unwrap();
        }
        let out = driver.output_topic("sensor-averages", StringSerde, JsonSerde::<WindowAverage>::new());
        let mut got = BTreeMap::new();
        for (key, avg) in out.read_key_values().unwrap() {
            assert_eq!(key, avg.sensor_id.to_string());
            assert!(
                got.insert((avg.sensor_id, avg.window_start), avg).is_none(),
                "a window was emitted twice"
            );
        }
        assert_same(&got, &want);
        assert_eq!(driver.metrics().late_records_dropped, 0);
    }
}

fn produce(servers: &str, records: &[Reading]) {
    let p: BaseProducer =
        ClientConfig::new().set("bootstrap.servers", servers).set("linger.ms", "5").create().unwrap();
    for r in records {
        let value = serde_json::to_vec(r).unwrap();
        let mut rec: BaseRecord<'_, (), Vec<u8>> = BaseRecord::to("eventos_sensores").payload(&value);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((_, back)) => {
                    rec = back;
                    p.poll(Duration::from_millis(20));
                }
            }
        }
    }
    p.flush(Duration::from_secs(10)).unwrap();
}

/// Reads the output topic until `n` distinct windows arrived or the deadline passed.
fn read_results(servers: &str, n: usize) -> (BTreeMap<(u32, i64), WindowAverage>, usize) {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", "pipeline-test-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    c.subscribe(&["sensor-averages"]).unwrap();
    let mut got: BTreeMap<(u32, i64), WindowAverage> = BTreeMap::new();
    let mut records = 0;
    let deadline = Instant::now() + Duration::from_secs(90);
    while got.len() < n && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            let avg: WindowAverage = serde_json::from_slice(m.payload().unwrap()).unwrap();
            records += 1;
            let key = (avg.sensor_id, avg.window_start);
            if let Some(prev) = got.get(&key) {
                assert_eq!(prev, &avg, "a repeated window must be an identical re-emission");
            }
            got.insert(key, avg);
        }
    }
    (got, records)
}

fn start(
    servers: &str,
    cluster: &MockCluster<'static, DefaultProducerContext>,
    dir: &std::path::Path,
) -> KafkaStreams {
    let config = StreamsConfig::builder("temperature-averages", servers)
        .state_dir(dir)
        .commit_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    let mut streams = KafkaStreams::new(Arc::new(topology(StoreType::RocksDb)), config);
    streams.start_with_topic_creator(cluster).unwrap();
    streams
}

#[test]
fn one_and_two_instances_on_a_cluster_output_exactly_the_expected_averages() {
    // One input partition keeps the readings in order (skewed multi-partition input is issue
    // 5); the repartition topic takes the upstream partition count, as in Kafka Streams.
    let cluster = MockCluster::<DefaultProducerContext>::new(1).unwrap();
    let servers = cluster.bootstrap_servers();
    cluster.create_topic("eventos_sensores", 1, 1).unwrap();
    cluster.create_topic("sensor-averages", 3, 1).unwrap();
    let input = readings(4);
    let want = expected(&input, (T0 as i64 + 14 * 60) * 1000);

    let dir = tempfile::tempdir().unwrap();
    let mut a = start(&servers, &cluster, &dir.path().join("a"));
    let mut b = start(&servers, &cluster, &dir.path().join("b"));
    assert_eq!(a.wait_for_state(State::Running, Duration::from_secs(30)), State::Running, "{:?}", a.error());
    assert_eq!(b.wait_for_state(State::Running, Duration::from_secs(30)), State::Running, "{:?}", b.error());
    produce(&servers, &input);
    let (got, records) = read_results(&servers, want.len());
    assert_same(&got, &want);
    assert!(records >= want.len());
    let tasks = a.active_tasks().len() + b.active_tasks().len();
    assert_eq!(tasks, 2, "1 upstream + 1 downstream task shared by the two instances");
    a.close().unwrap();
    b.close().unwrap();
}
