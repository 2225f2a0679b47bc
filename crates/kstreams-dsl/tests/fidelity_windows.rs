//! Kafka Streams fidelity of windows (issue 12, items 1, 2, 3 and 6): every expected output is
//! hand-computed from Kafka Streams' rules (`KStreamSlidingWindowAggregate`,
//! `KStreamWindowAggregate`, `KStreamSessionWindowAggregate`, `TimeWindowedSerializer`,
//! `SessionWindowedSerializer`), with the record timestamps Kafka Streams gives each result.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use kstreams_dsl::prelude::*;
use kstreams_test::TopologyTestDriver;

fn s(x: &str) -> String {
    x.to_string()
}

fn secs(x: u64) -> Duration {
    Duration::from_secs(x)
}

/// `(key, start, end, value, timestamp)` of each output record.
type Out<V> = Vec<(String, i64, i64, V, i64)>;

fn read_windowed<V: 'static>(
    driver: &TopologyTestDriver,
    key_serde: impl Serde<Windowed<String>> + 'static,
    value_serde: impl Serde<V> + 'static,
) -> Out<V> {
    driver
        .output_topic("out", key_serde, value_serde)
        .read_records()
        .unwrap()
        .into_iter()
        .map(|r| (r.key.key, r.key.window.start, r.key.window.end, r.value, r.timestamp))
        .collect()
}

fn sliding_count(difference: Duration, grace: Duration) -> TopologyTestDriver {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::default())
        .windowed_by(SlidingWindows::with_time_difference_and_grace(difference, grace))
        .count(Materialized::as_("sliding-counts"))
        .to_stream()
        .to("out", Produced::with(TimeWindowedSerde::string(difference), U64Serde));
    TopologyTestDriver::new(b.build().unwrap()).unwrap()
}

/// Item 1, Example A: size 10 s, grace 0, records at 20 000 and 40 000.
#[test]
fn sliding_windows_with_zero_grace_keep_a_window_ending_at_the_close_time_open() {
    let driver = sliding_count(secs(10), Duration::ZERO);
    let input = driver.input_topic("in", StringSerde, StringSerde);
    input.pipe(s("k"), s("v"), 20_000).unwrap();
    input.pipe(s("k"), s("v"), 40_000).unwrap();
    let out = read_windowed(&driver, TimeWindowedSerde::string(secs(10)), U64Serde);
    assert_eq!(out, vec![(s("k"), 10_000, 20_000, 1, 20_000), (s("k"), 30_000, 40_000, 1, 40_000)]);
    assert_eq!(driver.metrics().late_records_dropped, 0);
}

/// Item 1, Examples B and C: the previous record's right window, the new left window seeded
/// from it, then an out-of-order record (processed as Kafka's `processReverse` does: existing
/// windows by descending start, then the windows it creates).
#[test]
fn sliding_windows_with_zero_grace_create_and_update_windows_in_kafka_order() {
    let driver = sliding_count(secs(10), Duration::ZERO);
    let input = driver.input_topic("in", StringSerde, StringSerde);
    input.pipe(s("k"), s("v"), 20_000).unwrap();
    input.pipe(s("k"), s("v"), 25_000).unwrap();
    let serde = || TimeWindowedSerde::string(secs(10));
    assert_eq!(
        read_windowed(&driver, serde(), U64Serde),
        vec![
            (s("k"), 10_000, 20_000, 1, 20_000),
            (s("k"), 20_001, 30_001, 1, 25_000),
            (s("k"), 15_000, 25_000, 2, 25_000),
        ]
    );
    input.pipe(s("k"), s("v"), 22_000).unwrap();
    assert_eq!(
        read_windowed(&driver, serde(), U64Serde),
        vec![
            (s("k"), 20_001, 30_001, 2, 25_000),
            (s("k"), 15_000, 25_000, 3, 25_000),
            (s("k"), 22_001, 32_001, 1, 25_000),
        ]
    );
    // The record's own left window [12 000, 22 000] ended before the close time 25 000.
    assert_eq!(driver.metrics().late_records_dropped, 1);
}

/// Item 2: a windowed result carries the largest timestamp of the records it aggregates.
#[test]
fn aggregation_results_carry_the_largest_timestamp_aggregated() {
    let mut b = StreamsBuilder::new();
    let grouped = b.stream("in", Consumed::with(StringSerde, StringSerde)).group_by_key(Grouped::default());
    grouped
        .windowed_by(TumblingWindows::of(secs(10)))
        .count(Materialized::as_("windowed"))
        .to_stream()
        .to("out", Produced::with(TimeWindowedSerde::string(secs(10)), U64Serde));
    grouped.count(Materialized::as_("plain")).to_stream().to("plain", Produced::with(StringSerde, U64Serde));
    grouped
        .reduce(|a: &String, v: &String| format!("{a}{v}"), Materialized::as_("reduced"))
        .to_stream()
        .to("reduced", Produced::with(StringSerde, StringSerde));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, StringSerde);
    input.pipe(s("k"), s("a"), 5_000).unwrap();
    input.pipe(s("k"), s("b"), 2_000).unwrap();
    assert_eq!(
        read_windowed(&driver, TimeWindowedSerde::string(secs(10)), U64Serde),
        vec![(s("k"), 0, 10_000, 1, 5_000), (s("k"), 0, 10_000, 2, 5_000)]
    );
    let plain: Vec<(u64, i64)> = driver
        .output_topic("plain", StringSerde, U64Serde)
        .read_records()
        .unwrap()
        .into_iter()
        .map(|r| (r.value, r.timestamp))
        .collect();
    assert_eq!(plain, vec![(1, 5_000), (2, 5_000)]);
    let reduced: Vec<(String, i64)> = driver
        .output_topic("reduced", StringSerde, StringSerde)
        .read_records()
        .unwrap()
        .into_iter()
        .map(|r| (r.value, r.timestamp))
        .collect();
    assert_eq!(reduced, vec![(s("a"), 5_000), (s("ab"), 5_000)]);
}

fn session_count_changelog(gap: Duration) -> TopologyTestDriver {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::default())
        .windowed_by(SessionWindows::with_inactivity_gap(gap))
        .count(Materialized::as_("sessions").with_caching(false))
        .to_changelog_stream()
        .to("out", Produced::with(SessionWindowedSerde::string(), OptionSerde(U64Serde)));
    TopologyTestDriver::new(b.build().unwrap()).unwrap()
}

/// Items 2 and 6 (research §6): gap 5 s, grace 0. A session result carries the session's end;
/// a session ending exactly at the close time is kept (Kafka drops only `end < close time`).
#[test]
fn sessions_ending_at_the_close_time_are_kept_and_results_carry_the_session_end() {
    let driver = session_count_changelog(secs(5));
    let input = driver.input_topic("in", StringSerde, StringSerde);
    for (key, ts) in [("k", 10_000), ("k", 30_000), ("k", 24_999), ("k", 25_000), ("j", 25_000)] {
        input.pipe(s(key), s("v"), ts).unwrap();
    }
    assert_eq!(
        read_windowed(&driver, SessionWindowedSerde::string(), OptionSerde(U64Serde)),
        vec![
            (s("k"), 10_000, 10_000, Some(1), 10_000),
            (s("k"), 30_000, 30_000, Some(1), 30_000),
            // k@24 999: its session [24 999, 24 999] ends before the close time 25 000: dropped.
            (s("k"), 30_000, 30_000, None, 30_000),
            (s("k"), 25_000, 30_000, Some(2), 30_000),
            (s("j"), 25_000, 25_000, Some(1), 25_000),
        ]
    );
    assert_eq!(driver.metrics().late_records_dropped, 1);
}

/// Item 3: Kafka's time-windowed key is the key then the 8-byte window start; its session key
/// the key, the end, then the start.
#[test]
fn windowed_keys_use_kafka_streams_wire_formats() {
    let time = TimeWindowedSerde::string(secs(10));
    let key = Windowed::new(s("a"), Window::new(60_000, 70_000));
    let bytes = time.serialize(&key).unwrap();
    assert_eq!(bytes, vec![0x61, 0, 0, 0, 0, 0, 0, 0xEA, 0x60]);
    assert_eq!(time.deserialize(&bytes).unwrap(), key, "the end is the start plus the window size");

    let session = SessionWindowedSerde::string();
    let key = Windowed::new(s("a"), Window::new(60_000, 65_000));
    let bytes = session.serialize(&key).unwrap();
    assert_eq!(bytes, vec![0x61, 0, 0, 0, 0, 0, 0, 0xFD, 0xE8, 0, 0, 0, 0, 0, 0, 0xEA, 0x60]);
    assert_eq!(session.deserialize(&bytes).unwrap(), key);

    // A windowed table's own key serde (used when `to` is given no serdes) is Kafka's.
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::default())
        .windowed_by(TumblingWindows::of(secs(10)))
        .count(Materialized::as_("c"))
        .to_stream()
        .to("out", Produced::default());
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    driver.input_topic("in", StringSerde, StringSerde).pipe(s("a"), s("v"), 65_000).unwrap();
    let raw = driver.read_raw("out");
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].key.as_deref(), Some(&[0x61, 0, 0, 0, 0, 0, 0, 0xEA, 0x60][..]));
}
