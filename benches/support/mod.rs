//! The cases of the temperature bench, shared by `temperature.rs` (the system allocator) and
//! `temperature_mimalloc.rs` (mimalloc).

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput};
use kstreams::core::EventTimeConfig;
use kstreams::prelude::*;
use kstreams_test::{DriverConfig, TopologyTestDriver};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Reading {
    sensor_id: u32,
    temperatura: f64,
    timestamp: f64,
}

const RECORDS: usize = 100_000;
const SENSORS: u32 = 100;

fn readings() -> Vec<(Vec<u8>, Vec<u8>)> {
    readings_from(0)
}

/// [`RECORDS`] readings, 50 ms apart, starting `round` spans of them after the first ones.
fn readings_from(round: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let start = 1_764_115_200.0 + round as f64 * RECORDS as f64 * 0.05;
    (0..RECORDS)
        .map(|i| {
            let sensor = (i as u32 * 7919) % SENSORS;
            let r = Reading {
                sensor_id: sensor,
                temperatura: 20.0 + (i % 97) as f64 / 10.0,
                timestamp: start + i as f64 * 0.05,
            };
            (sensor.to_string().into_bytes(), serde_json::to_vec(&r).expect("serializable"))
        })
        .collect()
}

fn topology(store: StoreType) -> Topology {
    let mut b = StreamsBuilder::new();
    b.stream(
        "eventos_sensores",
        Consumed::with(StringSerde, JsonSerde::<Reading>::new())
            .with_timestamp_extractor(|_, r, _| (r.timestamp * 1000.0) as i64),
    )
    .filter(|_, r| r.temperatura.is_finite())
    .group_by_key(Grouped::default())
    .windowed_by(TumblingWindows::of(Duration::from_secs(60)).grace(Duration::from_secs(10)))
    .aggregate(Mean::of(|r: &Reading| r.temperatura), Materialized::as_("avg").with_store_type(store))
    .suppress(Suppressed::until_window_closes())
    .to_stream()
    .to(
        "sensor-averages",
        Produced::with(TimeWindowedSerde::string(Duration::from_secs(60)), JsonSerde::new()),
    );
    b.build().expect("valid topology")
}

/// The example's shape: unkeyed readings re-keyed by sensor through a repartition topic.
fn repartition_topology() -> Topology {
    let mut b = StreamsBuilder::new();
    b.stream(
        "eventos_sensores",
        Consumed::with(StringSerde, JsonSerde::<Reading>::new())
            .with_timestamp_extractor(|_, r, _| (r.timestamp * 1000.0) as i64),
    )
    .filter(|_, r| r.temperatura.is_finite())
    .select_key(|_, r| r.sensor_id)
    .group_by_key(Grouped::with(U32Serde, JsonSerde::<Reading>::new()).named("by-sensor"))
    .windowed_by(TumblingWindows::of(Duration::from_secs(60)).grace(Duration::from_secs(10)))
    .aggregate(
        Mean::of(|r: &Reading| r.temperatura),
        Materialized::as_("avg").with_store_type(StoreType::InMemory),
    )
    .suppress(Suppressed::until_window_closes())
    .to_stream()
    .to(
        "sensor-averages",
        Produced::with(TimeWindowedSerde::of(U32Serde, Duration::from_secs(60)), JsonSerde::new()),
    );
    b.build().expect("valid topology")
}

fn run(input: &[(Vec<u8>, Vec<u8>)], store: StoreType) -> usize {
    run_topology(input, topology(store), DriverConfig::default())
}

fn run_topology(input: &[(Vec<u8>, Vec<u8>)], topology: Topology, config: DriverConfig) -> usize {
    let config = DriverConfig { commit_every: 10_000, ..config };
    let driver = TopologyTestDriver::with_config(topology, config).expect("driver");
    pipe(&driver, input)
}

fn pipe(driver: &TopologyTestDriver, input: &[(Vec<u8>, Vec<u8>)]) -> usize {
    for (k, v) in input {
        let ts = 0;
        driver
            .pipe_raw("eventos_sensores", None, Some(k.clone()), Some(v.clone()), ts, Headers::default())
            .expect("processed");
    }
    let n = driver.read_raw("sensor-averages").len();
    // Changelog records stay in the driver unless read: drop them, as a broker would take them.
    driver.discard_unread();
    n
}

/// Every case of the bench, in one group.
pub fn bench(c: &mut Criterion) {
    let input = readings();
    let mut group = c.benchmark_group("temperature-average");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.sample_size(10);
    group.bench_function("baseline-json-decode", |b| {
        b.iter(|| {
            input
                .iter()
                .map(|(_, v)| serde_json::from_slice::<Reading>(v).map(|r| r.temperatura).unwrap_or(0.0))
                .sum::<f64>()
        })
    });
    group.bench_function("driver-in-memory", |b| {
        b.iter_batched(|| (), |_| run(&input, StoreType::InMemory), BatchSize::PerIteration)
    });
    group.bench_function("driver-rocksdb-cached", |b| {
        b.iter_batched(|| (), |_| run(&input, StoreType::RocksDb), BatchSize::PerIteration)
    });
    // The same, in steady state: one driver (one RocksDB open) for every iteration, each
    // piping the next 100k readings in event time, as a long-running application does.
    group.bench_function("driver-rocksdb-cached-steady", |b| {
        let config = DriverConfig { commit_every: 10_000, ..DriverConfig::default() };
        let driver = TopologyTestDriver::with_config(topology(StoreType::RocksDb), config).expect("driver");
        let mut round = 0;
        b.iter_batched(
            || {
                round += 1;
                readings_from(round)
            },
            |next| pipe(&driver, &next),
            BatchSize::PerIteration,
        )
    });
    for watermarks in [false, true] {
        let name = if watermarks { "repartition-watermarks-on" } else { "repartition-watermarks-off" };
        group.bench_function(name, |b| {
            b.iter_batched(
                || (),
                |_| {
                    let config = DriverConfig {
                        event_time: EventTimeConfig { watermarks, ..EventTimeConfig::default() },
                        ..DriverConfig::default()
                    };
                    run_topology(&input, repartition_topology(), config)
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}
