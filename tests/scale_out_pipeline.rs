//! Scaling out: three instances of the temperature-average application sharing one
//! application id give the same output as one instance, and both match the averages computed
//! here independently. Runs on librdkafka's embedded mock cluster and on Apache Kafka, with a
//! 3-partition input topic, so the three instances really split the work (3 upstream + 3
//! downstream tasks).
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kstreams::dsl::Stats;
use kstreams::prelude::*;
use kstreams::runtime::{KafkaStreams, State, StreamsConfig};
use kstreams::state::WindowStore;
use kstreams_broker_harness::{unique_name, TestCluster};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;

use kstreams_example::expected;
use kstreams_example::simulator::{Compression, Publish, ReadingProducer};
use kstreams_example::STATS_STORE;
use kstreams_example::{temperature_averages, Reading, TemperatureSettings, WindowAverage};

const SENSORS: u32 = 6;
const MINUTES: u32 = 4;
const T0: f64 = 1_764_115_200.0; // a minute boundary
/// Long enough that no reading is late, whatever order the three input partitions are read
/// in: each downstream task merges sensors coming from different upstream tasks.
const GRACE: Duration = Duration::from_secs(3600);

/// One reading per sensor every 5 s for [`MINUTES`] minutes.
fn readings() -> Vec<Reading> {
    let mut out = Vec::new();
    for step in 0..MINUTES * 12 {
        for sensor in 0..SENSORS {
            out.push(Reading {
                sensor_id: sensor,
                temperatura: 15.0 + f64::from(sensor) + f64::from((step * 7 + sensor * 3) % 11) / 4.0,
                timestamp: T0 + f64::from(step) * 5.0 + 0.25,
            });
        }
    }
    out
}

/// One reading per sensor two hours later: past every window's end plus grace.
fn closers() -> Vec<Reading> {
    let at = T0 + 2.0 * 3600.0 + f64::from(MINUTES) * 60.0;
    (0..SENSORS).map(|s| Reading { sensor_id: s, temperatura: 0.0, timestamp: at }).collect()
}

fn expected(readings: &[Reading]) -> BTreeMap<(u32, i64), WindowAverage> {
    expected::window_averages(readings, None)
}

fn assert_same(
    what: &str,
    got: &BTreeMap<(u32, i64), WindowAverage>,
    want: &BTreeMap<(u32, i64), WindowAverage>,
) {
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{what}");
    for (k, w) in want {
        let g = &got[k];
        assert_eq!((g.count, g.window_end), (w.count, w.window_end), "{what} {k:?}");
        assert!(
            (g.avg - w.avg).abs() < 1e-9 && g.min == w.min && g.max == w.max,
            "{what} {k:?}: {g:?} vs {w:?}"
        );
    }
}

fn start(cluster: &TestCluster, app: &str, input: &str, output: &str, dir: &Path) -> KafkaStreams {
    let config = StreamsConfig::builder(app, cluster.bootstrap().as_str())
        .state_dir(dir)
        .commit_interval(Duration::from_millis(200))
        // The mock cluster answers a follower's SyncGroup that arrives after the leader's with
        // INVALID_REQUEST; the follower rejoins, and the mock then waits (session timeout -
        // 1 s) before it elects a leader again. A short session keeps that wait at 5 s.
        .set("consumer.session.timeout.ms", "6000")
        .set("consumer.heartbeat.interval.ms", "500")
        // Six keyed sensors may leave an input partition empty; its upstream task then holds
        // the downstream windows back until it reports itself idle.
        .set("event.time.idle.ms", "5000")
        .build()
        .unwrap();
    let settings = TemperatureSettings {
        input_topic: input.into(),
        output_topic: output.into(),
        grace: GRACE,
        ..TemperatureSettings::default()
    };
    let mut b = StreamsBuilder::new();
    temperature_averages(&mut b, &settings);
    let mut streams = KafkaStreams::new(Arc::new(b.build().unwrap()), config);
    match cluster.mock() {
        Some(mock) => streams.start_with_topic_creator(mock).unwrap(),
        None => streams.start().unwrap(),
    }
    streams
}

/// Readings counted in the window stores of `instances` (0 for an instance that cannot be
/// asked right now, e.g. while rebalancing).
fn counted(instances: &[KafkaStreams]) -> u64 {
    instances
        .iter()
        .map(|s| {
            s.query_store::<WindowStore<u32, Stats>, _>(STATS_STORE, |_, store| {
                store
                    .fetch_all(0, i64::MAX)
                    .map(|w| w.iter().map(|(_, _, st)| st.count).sum::<u64>())
                    .unwrap_or(0)
            })
            .map(|by_task| by_task.values().sum::<u64>())
            .unwrap_or(0)
        })
        .sum()
}

/// Reads `topic` until `n` distinct windows arrived or the deadline passed.
fn read_results(servers: &str, topic: &str, n: usize) -> BTreeMap<(u32, i64), WindowAverage> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", format!("{topic}-reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    let mut got: BTreeMap<(u32, i64), WindowAverage> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while got.len() < n && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            let avg: WindowAverage = serde_json::from_slice(m.payload().unwrap()).unwrap();
            assert_eq!(m.key(), Some(avg.sensor_id.to_string().as_bytes()), "results are keyed by sensor");
            let key = (avg.sensor_id, avg.window_start);
            if let Some(prev) = got.get(&key) {
                assert_eq!(prev, &avg, "{topic}: a repeated window must be an identical re-emission");
            }
            got.insert(key, avg);
        }
    }
    got
}

#[test]
fn three_instances_give_the_same_output_as_one() {
    three_instances_on(TestCluster::embedded().unwrap());
}

#[test]
fn three_instances_give_the_same_output_as_one_on_kafka() {
    three_instances_on(TestCluster::kafka().unwrap_or_else(|e| panic!("{e}")));
}

fn three_instances_on(cluster: TestCluster) {
    let servers = cluster.bootstrap();
    // Unique names: the Kafka broker is shared by the tests of this binary.
    let (in_topic, out_one, out_three) =
        (unique_name("eventos_sensores"), unique_name("averages-one"), unique_name("averages-three"));
    for topic in [&in_topic, &out_one, &out_three] {
        cluster.create_topic(topic, 3).unwrap();
    }
    let (app_one, app_three) = (unique_name("scale-one"), unique_name("scale-three"));
    let input = readings();
    let want = expected(&input);
    assert_eq!(want.len(), (SENSORS * MINUTES) as usize);

    // The same program twice on the same input: once alone, once as three instances of one
    // application id (each with its own state directory).
    let dir = tempfile::tempdir().unwrap();
    let one = vec![start(&cluster, &app_one, &in_topic, &out_one, &dir.path().join("one"))];
    let three: Vec<KafkaStreams> = (1..=3)
        .map(|i| start(&cluster, &app_three, &in_topic, &out_three, &dir.path().join(format!("three-{i}"))))
        .collect();
    for s in one.iter().chain(&three) {
        assert_eq!(
            s.wait_for_state(State::Running, Duration::from_secs(30)),
            State::Running,
            "{:?}",
            s.error()
        );
    }

    // Keyed by sensor, as the simulator's --keyed mode sends them: spread over 3 partitions.
    let publish = Publish {
        servers: servers.clone(),
        topic: in_topic.clone(),
        keyed: true,
        compression: Compression::None,
    };
    let producer = ReadingProducer::new(publish).unwrap();
    for r in &input {
        producer.send(r).unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    // Every reading in a store before the closers go out, so none of them can overtake a
    // reading from another input partition.
    let deadline = Instant::now() + Duration::from_secs(90);
    while (counted(&one) < input.len() as u64 || counted(&three) < input.len() as u64)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(counted(&one), input.len() as u64, "one instance stored every reading");
    assert_eq!(counted(&three), input.len() as u64, "three instances stored every reading once");
    for r in &closers() {
        producer.send(r).unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();

    let got_one = read_results(&servers, &out_one, want.len());
    let got_three = read_results(&servers, &out_three, want.len());
    assert_same("1 instance", &got_one, &want);
    assert_same("3 instances", &got_three, &want);
    assert_eq!(got_one, got_three, "3 instances output exactly what 1 instance outputs");

    let tasks: Vec<usize> = three.iter().map(|s| s.active_tasks().len()).collect();
    assert_eq!(tasks.iter().sum::<usize>(), 6, "3 upstream + 3 downstream tasks: {tasks:?}");
    assert!(tasks.iter().all(|n| *n > 0), "every instance has work: {tasks:?}");
    assert_eq!(one[0].active_tasks().len(), 6);
    for mut s in one.into_iter().chain(three) {
        s.close().unwrap();
    }
}
