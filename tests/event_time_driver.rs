//! Event time through the repartition topic, in the test driver: the example's topology (unkeyed
//! seed readings re-keyed by sensor, one-minute windows, 10 s grace) fed input whose upstream
//! partitions are skewed by 30 minutes of event time, as a catch-up on a backlog produces.
//!
//! With watermarks (the default) every window is exact and nothing is late; with watermarks
//! off (Kafka Streams' rule: stream time is the highest timestamp seen) the same input loses
//! readings as late, so the first test can fail. The idle-partition test checks the rules for
//! an upstream partition that receives nothing, then wakes up.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::BTreeMap;

use kstreams::core::EventTimeConfig;
use kstreams::prelude::*;
use kstreams_test::{DriverConfig, TopologyTestDriver};

use kstreams_example::expected;
use kstreams_example::{temperature_averages, Reading, TemperatureSettings, WindowAverage};

const INPUT: &str = "eventos_sensores";
const REPARTITION: &str = "test-app-readings-by-sensor-repartition";
const PARTITIONS: u32 = 3;
const SENSORS: u32 = 12;
/// A minute boundary (s).
const T0: f64 = 1_764_115_200.0;
const IDLE_MS: i64 = 30_000;

/// One reading per sensor every 10 s for `minutes` minutes, starting at `from_minute`.
fn readings(sensors: impl Iterator<Item = u32> + Clone, from_minute: u32, minutes: u32) -> Vec<Reading> {
    let mut out = Vec::new();
    for step in from_minute * 6..(from_minute + minutes) * 6 {
        for sensor in sensors.clone() {
            out.push(Reading {
                sensor_id: sensor,
                temperatura: 10.0 + f64::from(sensor) + f64::from((step * 13 + sensor * 5) % 17) / 8.0,
                timestamp: T0 + f64::from(step) * 10.0 + 0.5,
            });
        }
    }
    out
}

/// The unkeyed seed producer's readings land on any partition; here sensor `s` goes to `s % 3`.
fn partition_of(r: &Reading) -> i32 {
    (r.sensor_id % PARTITIONS) as i32
}

fn driver(watermarks: bool) -> TopologyTestDriver {
    let mut b = StreamsBuilder::new();
    let settings = TemperatureSettings { store: StoreType::InMemory, ..TemperatureSettings::default() };
    temperature_averages(&mut b, &settings);
    let config = DriverConfig {
        partitions: [(INPUT.to_string(), PARTITIONS as i32), (REPARTITION.to_string(), PARTITIONS as i32)]
            .into(),
        event_time: EventTimeConfig { watermarks, idle_ms: IDLE_MS, ..EventTimeConfig::default() },
        ..DriverConfig::default()
    };
    TopologyTestDriver::with_config(b.build().unwrap(), config).unwrap()
}

fn pipe(driver: &TopologyTestDriver, r: &Reading) {
    let value = serde_json::to_vec(r).unwrap();
    driver.pipe_raw(INPUT, Some(partition_of(r)), None, Some(value), 0, Headers::default()).unwrap();
}

fn output(driver: &TopologyTestDriver) -> BTreeMap<(u32, i64), WindowAverage> {
    let out = driver.output_topic("sensor-averages", StringSerde, JsonSerde::<WindowAverage>::new());
    let mut got = BTreeMap::new();
    for (key, avg) in out.read_key_values().unwrap() {
        assert_eq!(key, avg.sensor_id.to_string());
        assert!(got.insert((avg.sensor_id, avg.window_start), avg).is_none(), "a window was emitted twice");
    }
    got
}

fn same(got: &BTreeMap<(u32, i64), WindowAverage>, want: &BTreeMap<(u32, i64), WindowAverage>) -> bool {
    got.len() == want.len()
        && want.iter().all(|(k, w)| {
            got.get(k).is_some_and(|g| {
                g.count == w.count && (g.avg - w.avg).abs() < 1e-9 && g.min == w.min && g.max == w.max
            })
        })
}

/// An hour of readings, fed so that partition 0 always runs 30 minutes of event time ahead of
/// partitions 1 and 2; then one reading per sensor two hours on, closing every window.
fn skewed_hour() -> (Vec<Reading>, i64) {
    let hour = readings(0..SENSORS, 0, 60);
    let skew_ms = 30 * 60 * 1000;
    let mut fed: Vec<(i64, usize, Reading)> = hour
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let lead = if partition_of(&r) == 0 { skew_ms } else { 0 };
            (r.event_time_ms() - lead, i, r)
        })
        .collect();
    fed.sort_by_key(|(at, i, _)| (*at, *i));
    let mut input: Vec<Reading> = fed.into_iter().map(|(_, _, r)| r).collect();
    let close_at = T0 + 3.0 * 3600.0;
    input.extend((0..SENSORS).map(|s| Reading { sensor_id: s, temperatura: 0.0, timestamp: close_at }));
    (input, (close_at * 1000.0) as i64)
}

#[test]
fn thirty_minutes_of_upstream_skew_lose_nothing_with_watermarks() {
    let (input, closed_at) = skewed_hour();
    let want = expected::window_averages(&input, Some(closed_at));
    assert_eq!(want.len(), (SENSORS * 60) as usize);

    let d = driver(true);
    for r in &input {
        pipe(&d, r);
    }
    let got = output(&d);
    assert_eq!(d.metrics().late_records_dropped, 0, "no reading is late");
    assert_eq!(got.len(), want.len(), "every window is emitted once");
    assert!(same(&got, &want), "every window equals the independently computed average");
}

#[test]
fn without_watermarks_the_same_skew_drops_readings_as_late() {
    let (input, closed_at) = skewed_hour();
    let want = expected::window_averages(&input, Some(closed_at));
    let d = driver(false);
    for r in &input {
        pipe(&d, r);
    }
    let got = output(&d);
    let late = d.metrics().late_records_dropped;
    // Partition 0 runs 30 minutes ahead, so partitions 1 and 2 (8 of 12 sensors) are late
    // for most of the hour: about 8 sensors x 6 readings x 29.5 minutes.
    assert!(late > 1000, "late readings: {late}");
    assert!(!same(&got, &want), "windows of the late readings are wrong or missing");
}

#[test]
fn an_idle_upstream_partition_holds_windows_back_only_for_the_idle_time() {
    let d = driver(true);
    // Ten minutes of readings, only for sensors on partitions 0 and 1: partition 2 is idle.
    let active = readings((0..SENSORS).filter(|s| s % PARTITIONS != 2), 0, 10);
    for r in &active {
        pipe(&d, r);
    }
    assert!(output(&d).is_empty(), "upstream task 2 was never heard from: nothing may close yet");
    assert_eq!(d.metrics().late_records_dropped, 0);

    // After the idle time, partition 2 no longer holds stream time back.
    d.advance_wall_clock(IDLE_MS).unwrap();
    let last_ms = active.iter().map(Reading::event_time_ms).max().unwrap();
    let want = expected::window_averages(&active, Some(last_ms));
    assert_eq!(want.len(), 8 * 9, "nine minutes closed for 8 sensors");
    let got = output(&d);
    assert!(same(&got, &want), "the closed windows of the active partitions go out: {}", got.len());

    // Partition 2 wakes up. Its readings older than stream time minus grace are late (dropped
    // and counted); readings inside the grace period still count. Afterwards it takes part
    // in the watermark again: later windows wait for it.
    let sensor = 2; // on partition 2
    let old = Reading { sensor_id: sensor, temperatura: 99.0, timestamp: T0 + 30.0 };
    let last_s = last_ms as f64 / 1000.0;
    // 40 s before stream time, in the window [9 min, 10 min) that has not closed yet.
    let in_grace = Reading { sensor_id: sensor, temperatura: 11.0, timestamp: last_s - 40.0 };
    let newer = Reading { sensor_id: sensor, temperatura: 12.0, timestamp: last_s + 10.0 };
    pipe(&d, &old);
    assert_eq!(d.metrics().late_records_dropped, 1, "a reading from minute 0 is late");
    pipe(&d, &in_grace);
    pipe(&d, &newer);
    assert_eq!(d.metrics().late_records_dropped, 1, "readings within the grace period are kept");

    // Everything moves on two minutes; the window of `in_grace` closes with its reading.
    let mut later = readings(0..SENSORS, 11, 2);
    later.push(Reading { sensor_id: sensor, temperatura: 0.0, timestamp: T0 + 20.0 * 60.0 });
    for r in &later {
        pipe(&d, r);
    }
    let got = output(&d);
    let start = (in_grace.event_time_ms() / 60_000) * 60_000;
    let w = got.get(&(sensor, start)).expect("the window of the reading within grace closed");
    assert_eq!((w.count, w.avg), (1, 11.0));
    assert!(!got.contains_key(&(sensor, (T0 as i64) * 1000)), "the late reading's window never opened");
    assert_eq!(d.metrics().late_records_dropped, 1);
}
