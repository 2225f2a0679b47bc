//! Windowed aggregation and suppression against hand-computed results.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::time::Duration;

use kstreams_core::TaskId;
use kstreams_dsl::prelude::*;
use kstreams_test::TopologyTestDriver;

fn s(x: &str) -> String {
    x.to_string()
}

const MIN: i64 = 60_000;

fn windowed_counts(store: StoreType) -> TopologyTestDriver {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::default())
        .windowed_by(TumblingWindows::of(Duration::from_secs(60)).grace(Duration::from_secs(10)))
        .count(Materialized::as_("counts").with_store_type(store))
        .to_stream()
        .to("out", Produced::with(TimeWindowedSerde::string(Duration::from_secs(60)), U64Serde));
    TopologyTestDriver::new(b.build().unwrap()).unwrap()
}

fn read(driver: &TopologyTestDriver) -> Vec<(String, i64, i64, u64)> {
    driver
        .output_topic("out", TimeWindowedSerde::string(Duration::from_secs(60)), U64Serde)
        .read_key_values()
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.key, k.window.start, k.window.end, v))
        .collect()
}

#[test]
fn tumbling_windows_count_in_order_out_of_order_and_late_records() {
    for store in [StoreType::InMemory, StoreType::RocksDb] {
        let driver = windowed_counts(store);
        let input = driver.input_topic("in", StringSerde, I64Serde);
        input.pipe(s("a"), 0, 0).unwrap();
        input.pipe(s("a"), 0, 30_000).unwrap();
        input.pipe(s("a"), 0, 65_000).unwrap();
        // Out of order but within grace: window [0, 60s) closes at stream time 70s.
        input.pipe(s("a"), 0, 59_000).unwrap();
        input.pipe(s("b"), 0, 1_000).unwrap();
        assert_eq!(
            read(&driver),
            vec![
                (s("a"), 0, MIN, 1),
                (s("a"), 0, MIN, 2),
                (s("a"), MIN, 2 * MIN, 1),
                (s("a"), 0, MIN, 3),
                (s("b"), 0, MIN, 1),
            ]
        );
        assert_eq!(driver.metrics().late_records_dropped, 0);
        input.pipe(s("a"), 0, 70_000).unwrap(); // stream time 70s: window [0, 60s) is closed
        input.pipe(s("a"), 0, 59_999).unwrap(); // late: dropped and counted
        input.pipe(s("b"), 0, 0).unwrap(); // late for key b too
        assert_eq!(read(&driver), vec![(s("a"), MIN, 2 * MIN, 2)]);
        assert_eq!(driver.metrics().late_records_dropped, 2, "{store:?}");
        // The store holds the final counts.
        let counts = driver.with_store::<kstreams_state::WindowStore<String, u64>, _>("counts", |_, st| {
            (st.fetch(&s("a"), 0).unwrap(), st.fetch(&s("a"), MIN).unwrap(), st.fetch(&s("b"), 0).unwrap())
        });
        assert_eq!(counts, vec![(Some(3), Some(2), Some(1))]);
    }
}

#[test]
fn a_record_exactly_at_window_end_plus_grace_closes_the_window() {
    let driver = windowed_counts(StoreType::InMemory);
    let input = driver.input_topic("in", StringSerde, I64Serde);
    input.pipe(s("a"), 0, 0).unwrap();
    input.pipe(s("a"), 0, 69_999).unwrap(); // stream time one ms before close
    input.pipe(s("a"), 0, 1).unwrap(); // still accepted
    input.pipe(s("a"), 0, 70_000).unwrap(); // stream time = end + grace: closed
    input.pipe(s("a"), 0, 2).unwrap(); // dropped
    let out = read(&driver);
    assert_eq!(out.iter().filter(|r| r.1 == 0).map(|r| r.3).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(driver.metrics().late_records_dropped, 1);
}

#[test]
fn hopping_windows_assign_a_record_to_every_window_containing_it() {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, F64Serde))
        .group_by_key(Grouped::default())
        .windowed_by(
            HoppingWindows::of(Duration::from_secs(10), Duration::from_secs(5)).grace(Duration::from_secs(5)),
        )
        .aggregate(Sum::of(|v: &f64| *v), Materialized::as_("sums").in_memory())
        .to_stream()
        .to("out", Produced::with(TimeWindowedSerde::string(Duration::from_secs(10)), F64Serde));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, F64Serde);
    input.pipe(s("k"), 1.0, 3_000).unwrap(); // [0,10s) only: no window starts before 0
    input.pipe(s("k"), 2.0, 12_000).unwrap(); // [5s,15s) and [10s,20s)
    input.pipe(s("k"), 4.0, 7_000).unwrap(); // [0,10s) (open until 15s) and [5s,15s)
    input.pipe(s("k"), 8.0, 16_000).unwrap(); // [10s,20s) and [15s,25s); closes [0,10s)
    input.pipe(s("k"), 16.0, 9_000).unwrap(); // [0,10s) closed: late; [5s,15s) still open
    let out: Vec<(i64, f64)> = driver
        .output_topic("out", TimeWindowedSerde::string(Duration::from_secs(10)), F64Serde)
        .read_key_values()
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.window.start, v))
        .collect();
    assert_eq!(
        out,
        vec![
            (0, 1.0),
            (5_000, 2.0),
            (10_000, 2.0),
            (0, 5.0),
            (5_000, 6.0),
            (10_000, 10.0),
            (15_000, 8.0),
            (5_000, 22.0)
        ]
    );
    assert_eq!(driver.metrics().late_records_dropped, 1, "one record, one closed window");
}

fn suppressed_means() -> TopologyTestDriver {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, F64Serde))
        .group_by_key(Grouped::default())
        .windowed_by(TumblingWindows::of(Duration::from_secs(60)).grace(Duration::from_secs(10)))
        .aggregate(Mean::of(|c: &f64| *c), Materialized::as_("means"))
        .suppress(Suppressed::until_window_closes())
        .to_stream()
        .to("out", Produced::with(TimeWindowedSerde::string(Duration::from_secs(60)), F64Serde));
    TopologyTestDriver::new(b.build().unwrap()).unwrap()
}

#[test]
fn suppression_emits_each_window_once_when_it_closes() {
    let driver = suppressed_means();
    let input = driver.input_topic("in", StringSerde, F64Serde);
    let out = driver.output_topic("out", TimeWindowedSerde::string(Duration::from_secs(60)), F64Serde);
    input.pipe(s("s1"), 20.0, 0).unwrap();
    input.pipe(s("s1"), 22.0, 30_000).unwrap();
    input.pipe(s("s2"), 10.0, 10_000).unwrap();
    input.pipe(s("s1"), 30.0, 65_000).unwrap();
    assert!(out.read_records().unwrap().is_empty(), "nothing is final before stream time 70s");
    input.pipe(s("s1"), 31.0, 69_999).unwrap();
    assert!(out.read_records().unwrap().is_empty());
    input.pipe(s("s2"), 11.0, 70_000).unwrap();
    let got: Vec<(String, i64, f64)> =
        out.read_key_values().unwrap().into_iter().map(|(k, v)| (k.key, k.window.start, v)).collect();
    assert_eq!(got, vec![(s("s1"), 0, 21.0), (s("s2"), 0, 10.0)]);
    input.pipe(s("s1"), 99.0, 1_000).unwrap(); // late: dropped, nothing re-emitted
    input.pipe(s("x"), 0.0, 130_000).unwrap(); // closes [60s, 120s)
    let got: Vec<(String, i64, f64)> =
        out.read_key_values().unwrap().into_iter().map(|(k, v)| (k.key, k.window.start, v)).collect();
    assert_eq!(got, vec![(s("s1"), MIN, 30.5), (s("s2"), MIN, 11.0)]);
    assert_eq!(driver.metrics().late_records_dropped, 1);
}

#[test]
fn suppression_until_time_limit_emits_the_latest_value_after_the_limit() {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::default())
        .count(Materialized::as_("c").in_memory())
        .suppress(Suppressed::until_time_limit(Duration::from_millis(100)))
        .to_stream()
        .to("out", Produced::with(StringSerde, U64Serde));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    let out = driver.output_topic("out", StringSerde, U64Serde);
    input.pipe_all([(s("a"), 0, 0), (s("a"), 0, 50), (s("b"), 0, 60)]).unwrap();
    assert!(out.read_records().unwrap().is_empty());
    input.pipe(s("a"), 0, 120).unwrap();
    assert_eq!(out.read_key_values().unwrap(), vec![(s("a"), 3)]);
    input.pipe(s("x"), 0, 200).unwrap();
    assert_eq!(out.read_key_values().unwrap(), vec![(s("b"), 1)]);
}

#[test]
fn empty_windows_emit_nothing_and_single_record_windows_emit_once() {
    let driver = suppressed_means();
    let input = driver.input_topic("in", StringSerde, F64Serde);
    let out = driver.output_topic("out", TimeWindowedSerde::string(Duration::from_secs(60)), F64Serde);
    input.pipe(s("a"), 5.0, 0).unwrap();
    input.pipe(s("a"), 7.0, 5 * MIN).unwrap(); // windows 1..4 are empty
    let got: Vec<(i64, f64)> =
        out.read_key_values().unwrap().into_iter().map(|(k, v)| (k.window.start, v)).collect();
    assert_eq!(got, vec![(0, 5.0)]);
}

#[test]
fn window_state_is_logged_to_a_changelog_and_tasks_are_per_partition() {
    let driver = windowed_counts(StoreType::RocksDb);
    let input = driver.input_topic("in", StringSerde, I64Serde);
    for i in 0..10 {
        input.pipe(s("a"), 0, i).unwrap();
    }
    driver.commit().unwrap();
    let changelog = driver.read_raw("test-app-counts-changelog");
    assert!(!changelog.is_empty());
    assert!(changelog.iter().all(|r| r.partition == Some(0)));
    assert_eq!(driver.task_ids(), vec![TaskId { subtopology: 0, partition: 0 }]);
}
