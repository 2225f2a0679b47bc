//! Catch-up on a backlog, on the real broker (Apache Kafka, started by `kstreams-broker-harness`; or
//! the cluster named by `KSTREAMS_TEST_BOOTSTRAP`).
//!
//! An hour of seed-shaped readings (12 sensors, 60 000 readings, no key: the producer's
//! partitioner spreads them over 3 partitions at random, as the seed's Python producer does)
//! waits in the input topic before the temperature-average application starts with an
//! ordinary 10 s grace. The consumer fetches each partition in large batches, so without
//! watermarks the repartition topic would receive the three partitions' readings minutes
//! apart in event time and most windows would close early. With watermarks every closed
//! window equals the independently computed average and the late-record metric reads zero;
//! event-time alignment pauses partitions that run ahead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kstreams_broker_harness::{unique_name, TestBroker};

mod broker_support;

use broker_support::{counter_total, Placement};
use kstreams_example::expected;
use kstreams_example::{Reading, TemperatureSettings};

const SENSORS: u32 = 12;
const READINGS: u32 = 60_000;
const PARTITIONS: i32 = 3;
/// A minute boundary (s).
const T0: f64 = 1_764_115_200.0;

/// 60 000 readings over one hour: each sensor every 0.72 s, in event-time order.
fn hour_of_readings() -> Vec<Reading> {
    let step = 3600.0 / f64::from(READINGS / SENSORS);
    (0..READINGS)
        .map(|i| {
            let sensor = i % SENSORS;
            let n = i / SENSORS;
            Reading {
                sensor_id: sensor,
                temperatura: 18.0 + f64::from(sensor) / 2.0 + f64::from((n * 7 + sensor) % 23) / 10.0,
                timestamp: T0 + f64::from(n) * step + 0.1,
            }
        })
        .collect()
}

#[test]
fn an_hour_of_unkeyed_backlog_gives_exact_windows_with_a_ten_second_grace() {
    broker_support::record_counters();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();

    let broker = TestBroker::shared().unwrap_or_else(|e| panic!("{e}"));
    let settings = TemperatureSettings {
        input_topic: unique_name("eventos_sensores"),
        output_topic: unique_name("sensor-averages"),
        ..TemperatureSettings::default()
    };
    assert_eq!(settings.grace, Duration::from_secs(10));
    broker.create_topic(&settings.input_topic, PARTITIONS).unwrap_or_else(|e| panic!("{e}"));
    broker.create_topic(&settings.output_topic, PARTITIONS).unwrap_or_else(|e| panic!("{e}"));

    // The backlog, then one reading per sensor on every partition two hours later, so every
    // upstream task moves past the hour and all of its windows close.
    let hour = hour_of_readings();
    let close_at = T0 + 3.0 * 3600.0;
    let closers: Vec<Reading> =
        (0..SENSORS).map(|s| Reading { sensor_id: s, temperatura: 0.0, timestamp: close_at }).collect();
    let started = std::time::Instant::now();
    let (servers, topic) = (broker.bootstrap(), settings.input_topic.as_str());
    broker_support::produce(servers, topic, &hour, Placement::Unkeyed, Duration::ZERO);
    let partitions: [fn(u32) -> i32; PARTITIONS as usize] = [|_| 0, |_| 1, |_| 2];
    for on in partitions {
        broker_support::produce(servers, topic, &closers, Placement::UnkeyedOnPartition(on), Duration::ZERO);
    }
    eprintln!("produced {} readings in {:?}", hour.len() + 3 * closers.len(), started.elapsed());
    let all: Vec<Reading> = hour.iter().chain(&closers).chain(&closers).chain(&closers).cloned().collect();
    let want = expected::window_averages(&all, Some((close_at * 1000.0) as i64));
    assert_eq!(want.len(), (SENSORS * 60) as usize);

    let dir = tempfile::tempdir().unwrap();
    let app = unique_name("backlog");
    let config = broker_support::config(broker.bootstrap(), &app, &format!("{app}-1"), dir.path());
    let mut b = kstreams::dsl::StreamsBuilder::new();
    kstreams_example::temperature_averages(&mut b, &settings);
    let streams = broker_support::start(b.build().unwrap(), config);

    let mut reader = broker_support::OutputReader::new(broker.bootstrap(), &settings.output_topic);
    reader.expect(&want, Duration::from_secs(240), Duration::from_secs(2));
    assert_eq!(counter_total("kstreams_late_records_dropped_total"), 0, "no reading was dropped as late");
    let holds = counter_total("kstreams_alignment_holds_total");
    eprintln!("alignment holds during the catch-up: {holds}");
    assert!(holds > 0, "the partitions fetched first ran ahead and were held back");
    let mut streams = streams;
    streams.close_timeout(Duration::from_secs(30)).unwrap();
}
