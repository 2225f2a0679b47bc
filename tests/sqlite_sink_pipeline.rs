//! Simulator → application → SQLite sink, on librdkafka's embedded mock cluster and on a real
//! broker (Apache Kafka started by `kstreams-broker-harness`, or the cluster named by
//! `KSTREAMS_TEST_BOOTSTRAP`): the simulator's
//! readings (unkeyed and keyed) go through the temperature-average application,
//! its output is stored with `kstreams::sink::SqliteSink` by the same writer `--db` runs, and
//! every database row is checked against averages computed here from the readings.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kstreams::prelude::*;
use kstreams::runtime::{KafkaStreams, State, StreamsConfig};
use kstreams::sink::{ResultKey, SqliteSink, WindowResult};
use kstreams_broker_harness::TestBroker;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use kstreams_example::expected;
use kstreams_example::simulator::{Compression, Publish, ReadingProducer, Simulation};
use kstreams_example::{temperature_averages, Reading, TemperatureSettings};

const T0: f64 = 1_764_115_200.0; // a minute boundary

/// The averages of every window closed by stream time `closed_before_ms`, as database rows.
fn expected(readings: &[Reading], closed_before_ms: i64) -> BTreeMap<(i64, i64), WindowResult> {
    expected::window_averages(readings, Some(closed_before_ms))
        .into_values()
        .map(|w| {
            let row = WindowResult {
                key: ResultKey::Int(i64::from(w.sensor_id)),
                window_start: w.window_start,
                window_end: w.window_end,
                avg: w.avg,
                count: w.count,
                min: w.min,
                max: w.max,
            };
            ((i64::from(w.sensor_id), w.window_start), row)
        })
        .collect()
}

/// Where the pipeline runs.
enum Cluster {
    Embedded(MockCluster<'static, DefaultProducerContext>),
    Broker(&'static TestBroker),
}

impl Cluster {
    fn servers(&self) -> String {
        match self {
            Cluster::Embedded(c) => c.bootstrap_servers(),
            Cluster::Broker(b) => b.bootstrap().to_string(),
        }
    }

    fn create_topic(&self, name: &str, partitions: i32) {
        match self {
            Cluster::Embedded(c) => c.create_topic(name, partitions, 1).unwrap(),
            Cluster::Broker(b) => b.create_topic(name, partitions).unwrap(),
        }
    }

    fn start(&self, streams: &mut KafkaStreams) {
        match self {
            Cluster::Embedded(c) => streams.start_with_topic_creator(c).unwrap(),
            Cluster::Broker(_) => streams.start().unwrap(),
        }
    }
}

fn run_pipeline(keyed: bool, compression: Compression) {
    run_on(Cluster::Embedded(MockCluster::<DefaultProducerContext>::new(1).unwrap()), keyed, compression);
}

fn run_on(cluster: Cluster, keyed: bool, compression: Compression) {
    let servers = cluster.servers();
    // Unique names, so the test also runs on a long-lived external cluster.
    let run = kstreams_broker_harness::unique_name("sqlite");
    let settings = TemperatureSettings {
        input_topic: format!("eventos_sensores-{run}"),
        output_topic: format!("sensor-averages-{run}"),
        ..TemperatureSettings::default()
    };
    // One input partition keeps the readings in order (see tests/temperature_pipeline.rs).
    cluster.create_topic(&settings.input_topic, 1);
    cluster.create_topic(&settings.output_topic, 3);

    // 5 sensors, 50 readings/s at 6× speed: 1500 readings span 3 minutes of event time.
    let sim = Simulation { sensors: 5, rate: 50, speedup: 6, epoch: T0 };
    let mut readings: Vec<Reading> = (0..1500).map(|i| sim.reading(i)).collect();
    // One reading per sensor ten minutes later closes every earlier window in every task.
    let late = T0 + 13.0 * 60.0;
    readings.extend((0..5).map(|s| Reading { sensor_id: s, temperatura: 0.0, timestamp: late }));
    let want = expected(&readings, (late * 1000.0) as i64);
    assert_eq!(want.len(), 5 * 3);

    let dir = tempfile::tempdir().unwrap();
    let config = StreamsConfig::builder(format!("temperature-averages-{run}"), servers.as_str())
        .state_dir(dir.path().join("state"))
        .commit_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    let mut b = StreamsBuilder::new();
    temperature_averages(&mut b, &settings);
    let mut streams = KafkaStreams::new(Arc::new(b.build().unwrap()), config);
    cluster.start(&mut streams);
    assert_eq!(
        streams.wait_for_state(State::Running, Duration::from_secs(30)),
        State::Running,
        "{:?}",
        streams.error()
    );

    let publish =
        Publish { servers: servers.clone(), topic: settings.input_topic.clone(), keyed, compression };
    let producer = ReadingProducer::new(publish).unwrap();
    for r in &readings {
        producer.send(r).unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();

    let db = dir.path().join("results.sqlite");
    let stop = Arc::new(AtomicBool::new(false));
    let stored = Arc::new(AtomicU64::new(0));
    let writer = {
        let (servers, db, stop, stored) = (servers.clone(), db.clone(), stop.clone(), stored.clone());
        let (output, group) = (settings.output_topic.clone(), format!("db-sink-{run}"));
        std::thread::spawn(move || {
            let mut sink = SqliteSink::open(&db, "sensor_averages", "sensor_id").unwrap();
            kstreams_example::store::store_results(&servers, &output, &group, &[], &mut sink, &stop, &stored)
        })
    };
    let reader = SqliteSink::open(&db, "sensor_averages", "sensor_id").unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while reader.read_all().unwrap().len() < want.len() && Instant::now() < deadline && !writer.is_finished()
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap().unwrap();
    streams.close().unwrap();

    let rows = reader.read_all().unwrap();
    let got: BTreeMap<(i64, i64), WindowResult> = rows
        .iter()
        .map(|r| match r.key {
            ResultKey::Int(k) => ((k, r.window_start), r.clone()),
            ResultKey::Text(ref t) => panic!("sensor ids are stored as integers, got {t:?}"),
        })
        .collect();
    assert_eq!(rows.len(), got.len(), "one row per sensor and window");
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (k, w) in &want {
        let g = &got[k];
        assert_eq!((g.count, g.window_end), (w.count, w.window_end), "{k:?}");
        assert!((g.avg - w.avg).abs() < 1e-9 && g.min == w.min && g.max == w.max, "{k:?}: {g:?} vs {w:?}");
    }
    assert!(stored.load(Ordering::Relaxed) >= want.len() as u64);
}

#[test]
fn unkeyed_simulator_readings_end_up_as_exact_averages_in_sqlite() {
    run_pipeline(false, Compression::None);
}

#[test]
fn keyed_compressed_readings_give_the_same_rows() {
    run_pipeline(true, Compression::Zstd);
}

#[test]
fn on_a_real_broker_every_database_row_equals_the_computed_average() {
    run_on(Cluster::Broker(TestBroker::shared().unwrap_or_else(|e| panic!("{e}"))), false, Compression::Lz4);
}
