//! The seed tutorial's case: IoT readings `{"sensor_id", "temperatura", "timestamp"}` (seconds,
//! float) keyed by sensor id, one-minute tumbling mean per sensor with a grace period, emitted
//! once per window. Expected averages are computed by hand below.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::time::Duration;

use kstreams_dsl::prelude::*;
use kstreams_test::{DriverConfig, TopologyTestDriver};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Reading {
    sensor_id: u32,
    temperatura: f64,
    timestamp: f64,
}

fn event_time(r: &Reading) -> i64 {
    (r.timestamp * 1000.0).round() as i64
}

fn keyed_topology() -> Topology {
    let mut b = StreamsBuilder::new();
    b.stream(
        "eventos_sensores",
        Consumed::with(StringSerde, JsonSerde::<Reading>::new())
            .with_timestamp_extractor(|_, r, _| event_time(r)),
    )
    .group_by_key(Grouped::default())
    .windowed_by(TumblingWindows::of(Duration::from_secs(60)).grace(Duration::from_secs(10)))
    .aggregate(Mean::of(|r: &Reading| r.temperatura), Materialized::as_("avg-temp-1m"))
    .suppress(Suppressed::until_window_closes())
    .to_stream()
    .to(
        "sensor-averages-1m",
        Produced::with(TimeWindowedSerde::string(Duration::from_secs(60)), JsonSerde::new()),
    );
    b.build().unwrap()
}

/// The seed's producer sends JSON like this (integer temperatures included: `20 + i`).
fn reading(sensor: u32, temp: &str, ts: &str) -> Vec<u8> {
    format!(r#"{{"sensor_id": {sensor}, "temperatura": {temp}, "timestamp": {ts}}}"#).into_bytes()
}

const T0: f64 = 1_700_000_000.0; // 2023-11-14T22:13:20Z; its minute starts at 1_699_999_980 s

fn pipe(driver: &TopologyTestDriver, key: Option<&str>, sensor: u32, temp: &str, ts: f64) {
    driver
        .pipe_raw(
            "eventos_sensores",
            None,
            key.map(|k| k.as_bytes().to_vec()),
            Some(reading(sensor, temp, &format!("{ts:.2}"))),
            0,
            Headers::default(),
        )
        .unwrap();
}

use kstreams_core::Headers;

fn readings() -> Vec<(u32, &'static str, f64)> {
    vec![
        (1, "20.5", T0),         // window A = [1_699_999_980 s, +60 s)
        (2, "18", T0 + 1.25),    // integer temperature, as the seed's `20 + i`
        (1, "21.5", T0 + 15.0),  //
        (1, "22.0", T0 + 39.99), // last ms of window A is 1_700_000_039.999
        (2, "19", T0 + 30.0),    //
        (1, "30.0", T0 + 40.0),  // window B = [1_700_000_040 s, +60 s)
        (1, "23.0", T0 + 35.0),  // out of order, within grace: still window A
        (2, "25.5", T0 + 45.5),  // window B
        (1, "31.0", T0 + 99.9),  // window B
        (2, "40", T0 + 110.0),   // stream time passes end of A + 10 s grace: A is emitted
        (1, "99.0", T0 + 1.0),   // late for A: dropped
        (3, "10", T0 + 170.0),   // passes end of B + grace (B emitted) and of C = [T0+100 s, +60 s)
    ]
}

fn expected() -> Vec<(String, i64, f64)> {
    let a = 1_699_999_980_000;
    let b = 1_700_000_040_000;
    vec![
        ("1".into(), a, (20.5 + 21.5 + 22.0 + 23.0) / 4.0), // 21.75
        ("2".into(), a, (18.0 + 19.0) / 2.0),               // 18.5
        ("1".into(), b, (30.0 + 31.0) / 2.0),               // 30.5
        ("2".into(), b, 25.5),
    ]
}

fn read(driver: &TopologyTestDriver) -> Vec<(String, i64, f64)> {
    let mut out: Vec<(String, i64, f64)> = driver
        .output_topic(
            "sensor-averages-1m",
            TimeWindowedSerde::string(Duration::from_secs(60)),
            JsonSerde::<f64>::new(),
        )
        .read_key_values()
        .unwrap()
        .into_iter()
        .map(|(k, v)| {
            assert_eq!(k.window.end - k.window.start, 60_000);
            (k.key, k.window.start, v)
        })
        .collect();
    out.sort_by(|x, y| (x.1, &x.0).cmp(&(y.1, &y.0)));
    out
}

#[test]
fn seed_readings_keyed_by_sensor_give_one_mean_per_sensor_and_minute() {
    let driver = TopologyTestDriver::new(keyed_topology()).unwrap();
    for (sensor, temp, ts) in readings() {
        pipe(&driver, Some(&sensor.to_string()), sensor, temp, ts);
    }
    let mut want = expected();
    // Sensor 2's reading at T0+110 s is alone in window C, which closes at T0+170 s.
    want.push(("2".into(), 1_700_000_100_000, 40.0));
    assert_eq!(read(&driver), want);
    assert_eq!(driver.metrics().late_records_dropped, 1);
    assert_eq!(driver.metrics().deserialization_errors, 0);
}

#[test]
fn unkeyed_seed_readings_are_rekeyed_through_a_repartition_topic() {
    // The seed's own producer sends no key: select the sensor id as key.
    let mut b = StreamsBuilder::new();
    b.stream(
        "eventos_sensores",
        Consumed::with(UnitSerde, JsonSerde::<Reading>::new())
            .with_timestamp_extractor(|_, r, _| event_time(r)),
    )
    .select_key(|_, r| r.sensor_id.to_string())
    .group_by_key(Grouped::with(StringSerde, JsonSerde::<Reading>::new()).named("by-sensor"))
    .windowed_by(TumblingWindows::of(Duration::from_secs(60)).grace(Duration::from_secs(10)))
    .aggregate(Mean::of(|r: &Reading| r.temperatura), Materialized::as_("avg-temp-1m"))
    .suppress(Suppressed::until_window_closes())
    .to_stream()
    .to(
        "sensor-averages-1m",
        Produced::with(TimeWindowedSerde::string(Duration::from_secs(60)), JsonSerde::new()),
    );
    // One input partition keeps the input order, so the hand-computed lateness holds.
    let config = DriverConfig {
        partitions: [("test-app-by-sensor-repartition".to_string(), 3)].into(),
        ..DriverConfig::default()
    };
    let driver = TopologyTestDriver::with_config(b.build().unwrap(), config).unwrap();
    for (sensor, temp, ts) in readings() {
        pipe(&driver, None, sensor, temp, ts);
    }
    // Each downstream task has its own stream time, so a window closes once a later reading
    // of a sensor in the same partition arrives: flush with one more reading per partition.
    for sensor in [1, 2, 3, 4, 5, 6, 7, 8] {
        pipe(&driver, None, sensor, "0", T0 + 1000.0);
    }
    let got: Vec<(String, i64, f64)> =
        read(&driver).into_iter().filter(|r| r.1 < 1_700_000_100_000).collect();
    assert_eq!(got, expected());
}
