//! Deduplication of repartitioned records: an upstream replay (records re-sent to a
//! repartition topic after a crash) must not be counted twice downstream.
#![allow(clippy::unwrap_used)] // tests may unwrap

use kstreams_core::Headers;
use kstreams_dsl::prelude::*;
use kstreams_test::{DriverConfig, TopologyTestDriver};

const REPARTITION: &str = "test-app-by-key-repartition";

fn s(x: &str) -> String {
    x.to_string()
}

/// `in` (String, i64) -> flat_map into `v` copies keyed by the value -> count per key.
fn counting_driver() -> TopologyTestDriver {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, I64Serde))
        .flat_map(|k: String, v: i64| (0..v).map(move |_| (k.clone(), v)).collect::<Vec<_>>())
        .group_by_key(Grouped::with(StringSerde, I64Serde).named("by-key"))
        .count(Materialized::as_("counts").in_memory())
        .to_stream()
        .to("counts", Produced::with(StringSerde, U64Serde));
    let config = DriverConfig { default_partitions: 1, ..DriverConfig::default() };
    TopologyTestDriver::with_config(b.build().unwrap(), config).unwrap()
}

fn pipe_repartition(driver: &TopologyTestDriver, key: &str, src: Option<&str>) {
    let mut headers = Headers::new();
    if let Some(src) = src {
        headers.add("kstreams.src", src.as_bytes().to_vec());
    }
    driver
        .pipe_raw(
            REPARTITION,
            Some(0),
            Some(StringSerde.serialize(&s(key)).unwrap()),
            Some(I64Serde.serialize(&1).unwrap()),
            0,
            headers,
        )
        .unwrap();
}

fn counts(driver: &TopologyTestDriver) -> Vec<(String, u64)> {
    driver.output_topic("counts", StringSerde, U64Serde).read_key_values().unwrap()
}

#[test]
fn a_replayed_upstream_record_is_dropped() {
    let driver = counting_driver();
    pipe_repartition(&driver, "a", Some("in:0:5:0"));
    pipe_repartition(&driver, "a", Some("in:0:6:0"));
    // The upstream task crashed before committing offsets 5 and 6 and re-sends them.
    pipe_repartition(&driver, "a", Some("in:0:5:0"));
    pipe_repartition(&driver, "a", Some("in:0:6:0"));
    assert_eq!(counts(&driver), vec![(s("a"), 1), (s("a"), 2)]);
    assert_eq!(driver.metrics().dropped_records, 2);
    // New input after the replay counts again; another input partition is tracked apart.
    pipe_repartition(&driver, "a", Some("in:0:7:0"));
    pipe_repartition(&driver, "a", Some("in:1:0:0"));
    pipe_repartition(&driver, "a", Some("other:0:0:0"));
    assert_eq!(counts(&driver), vec![(s("a"), 3), (s("a"), 4), (s("a"), 5)]);
    assert_eq!(driver.metrics().dropped_records, 2);
}

#[test]
fn the_positions_are_kept_in_a_changelogged_store() {
    let driver = counting_driver();
    pipe_repartition(&driver, "a", Some("in:0:5:0"));
    driver.commit().unwrap();
    let changelog = driver.read_raw("test-app-by-key-repartition-dedup-changelog");
    let last = changelog.last().expect("the dedup store writes its changelog");
    assert_eq!(last.key.as_deref(), Some(&b"in:0"[..]));
    let mut value = 5i64.to_be_bytes().to_vec();
    value.extend_from_slice(&0u32.to_be_bytes());
    assert_eq!(last.value.as_deref(), Some(&value[..]));
}

#[test]
fn every_output_of_one_input_record_is_kept() {
    let driver = counting_driver();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    // One input record becomes three repartitioned records: same origin, seq 0, 1, 2.
    input.pipe(s("a"), 3, 0).unwrap();
    input.pipe(s("b"), 2, 1).unwrap();
    assert_eq!(counts(&driver), vec![(s("a"), 1), (s("a"), 2), (s("a"), 3), (s("b"), 1), (s("b"), 2)]);
    assert_eq!(driver.metrics().dropped_records, 0);
}

#[test]
fn records_without_the_header_pass() {
    let driver = counting_driver();
    pipe_repartition(&driver, "a", None);
    pipe_repartition(&driver, "a", None);
    // A malformed header is treated as no header.
    pipe_repartition(&driver, "a", Some("garbage"));
    assert_eq!(counts(&driver), vec![(s("a"), 1), (s("a"), 2), (s("a"), 3)]);
    assert_eq!(driver.metrics().dropped_records, 0);
}

#[test]
fn a_stamped_record_after_unstamped_ones_is_still_checked() {
    let driver = counting_driver();
    pipe_repartition(&driver, "a", Some("in:0:1:0"));
    pipe_repartition(&driver, "a", None);
    pipe_repartition(&driver, "a", Some("in:0:1:0"));
    assert_eq!(counts(&driver), vec![(s("a"), 1), (s("a"), 2)]);
    assert_eq!(driver.metrics().dropped_records, 1);
}
