//! Kafka Streams fidelity of tables, suppression and punctuation (issue 12, items 2, 4 and 5):
//! every expected output is hand-computed from Kafka Streams' rules (`KTableKTableInnerJoin`,
//! `KTableFilter`, `KTableSuppressProcessor`, `PunctuationSchedule`), with timestamps.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use kstreams_core::{Processor, ProcessorContext, PunctuationType};
use kstreams_dsl::prelude::*;
use kstreams_test::TopologyTestDriver;

fn s(x: &str) -> String {
    x.to_string()
}

/// `(key, value, timestamp)` of every record of `topic`, values nullable.
fn read_nullable<V: 'static>(
    driver: &TopologyTestDriver,
    topic: &str,
    value_serde: impl Serde<V> + 'static,
) -> Vec<(String, Option<V>, i64)> {
    driver
        .output_topic(topic, StringSerde, OptionSerde(value_serde))
        .read_records()
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect()
}

/// Item 2 (research §2): a table-table join result carries the larger timestamp of its sides.
#[test]
fn table_table_join_results_carry_the_larger_timestamp() {
    let mut b = StreamsBuilder::new();
    let left = b.table("left", Consumed::with(StringSerde, StringSerde), Materialized::as_("left"));
    let right = b.table("right", Consumed::with(StringSerde, StringSerde), Materialized::as_("right"));
    left.join(&right, |_k, l, r| format!("{l}{r}"))
        .to_changelog_stream()
        .to("inner", Produced::with(StringSerde, OptionSerde(StringSerde)));
    left.left_join(&right, |_k, l, r| format!("{l}{}", r.map_or("-", |r| r.as_str())))
        .to_changelog_stream()
        .to("left-join", Produced::with(StringSerde, OptionSerde(StringSerde)));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let l = driver.input_topic("left", StringSerde, OptionSerde(StringSerde));
    let r = driver.input_topic("right", StringSerde, OptionSerde(StringSerde));
    l.pipe(s("k"), Some(s("L1")), 1_000).unwrap();
    r.pipe(s("k"), Some(s("R1")), 3_000).unwrap();
    l.pipe(s("k"), Some(s("L2")), 2_000).unwrap();
    r.pipe(s("k"), None, 4_000).unwrap();
    assert_eq!(
        read_nullable(&driver, "inner", StringSerde),
        vec![(s("k"), Some(s("L1R1")), 3_000), (s("k"), Some(s("L2R1")), 3_000), (s("k"), None, 4_000)]
    );
    assert_eq!(
        read_nullable(&driver, "left-join", StringSerde),
        vec![
            (s("k"), Some(s("L1-")), 1_000),
            (s("k"), Some(s("L1R1")), 3_000),
            (s("k"), Some(s("L2R1")), 3_000),
            (s("k"), Some(s("L2-")), 4_000),
        ]
    );
}

/// Item 5a (Kafka's `SuppressScenarioTest.shouldSupportFinalResultsForSessionWindows`, caching
/// off): final results never hold the tombstones of merged-away sessions.
#[test]
fn final_results_of_session_windows_hold_no_tombstones() {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::default())
        .windowed_by(SessionWindows::with_inactivity_gap(Duration::from_millis(5)))
        .count(Materialized::as_("sessions").with_caching(false))
        .suppress(Suppressed::until_window_closes())
        .to_changelog_stream()
        .to("out", Produced::with(SessionWindowedSerde::string(), OptionSerde(U64Serde)));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, StringSerde);
    for (key, ts) in [("k1", 0), ("k1", 5), ("k1", 1), ("k2", 11), ("k1", 5), ("k1", 30)] {
        input.pipe(s(key), s("v"), ts).unwrap();
    }
    let out: Vec<(String, i64, i64, Option<u64>, i64)> = driver
        .output_topic("out", SessionWindowedSerde::string(), OptionSerde(U64Serde))
        .read_records()
        .unwrap()
        .into_iter()
        .map(|r| (r.key.key, r.key.window.start, r.key.window.end, r.value, r.timestamp))
        .collect();
    assert_eq!(out, vec![(s("k1"), 0, 5, Some(3), 5), (s("k2"), 11, 11, Some(1), 11)]);
}

fn filtered(materialized: Materialized) -> Vec<(String, Option<i64>, i64)> {
    let mut b = StreamsBuilder::new();
    b.table("t", Consumed::with(StringSerde, I64Serde), materialized)
        .filter(|_, v| *v > 10)
        .to_changelog_stream()
        .to("out", Produced::with(StringSerde, OptionSerde(I64Serde)));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("t", StringSerde, I64Serde);
    input.pipe_all([(s("a"), 5, 1), (s("a"), 20, 2), (s("a"), 7, 3), (s("b"), 1, 4)]).unwrap();
    read_nullable(&driver, "out", I64Serde)
}

/// Item 5b (research §5b): a filter over a table that is not materialized (Kafka's
/// `builder.table(topic)`) turns every failing update into a tombstone; over a materialized one
/// (`Materialized.as("s")`) only the updates of rows that passed before.
#[test]
fn a_filter_over_an_unmaterialized_table_forwards_a_tombstone_for_every_failing_update() {
    assert_eq!(
        filtered(Materialized::default()),
        vec![(s("a"), None, 1), (s("a"), Some(20), 2), (s("a"), None, 3), (s("b"), None, 4)]
    );
    assert_eq!(filtered(Materialized::as_("s")), vec![(s("a"), Some(20), 2), (s("a"), None, 3)]);
}

/// Records the time of each punctuation as a record `("p", time)`.
struct Ticks {
    kind: PunctuationType,
}

impl Processor<String, String, String, i64> for Ticks {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, i64>) -> kstreams_core::Result<()> {
        ctx.schedule(Duration::from_secs(10), self.kind)?;
        Ok(())
    }
    fn process(
        &mut self,
        _r: Record<String, String>,
        _ctx: &mut ProcessorContext<'_, String, i64>,
    ) -> kstreams_core::Result<()> {
        Ok(())
    }
    fn punctuate(
        &mut self,
        _kind: PunctuationType,
        ts: i64,
        ctx: &mut ProcessorContext<'_, String, i64>,
    ) -> kstreams_core::Result<()> {
        ctx.forward(Record::new(s("p"), ts, ts))
    }
}

fn ticking(kind: PunctuationType) -> TopologyTestDriver {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, StringSerde))
        .process(move || Ticks { kind }, &[])
        .to("out", Produced::with(StringSerde, I64Serde));
    TopologyTestDriver::new(b.build().unwrap()).unwrap()
}

fn ticks(driver: &TopologyTestDriver) -> Vec<i64> {
    driver
        .output_topic("out", StringSerde, I64Serde)
        .read_records()
        .unwrap()
        .iter()
        .map(|r| r.value)
        .collect()
}

/// Item 4 (research §4): stream-time schedules are aligned to multiples of the interval from
/// 0 and are passed the stream time.
#[test]
fn stream_time_punctuations_fire_on_the_interval_grid_from_zero() {
    let driver = ticking(PunctuationType::StreamTime);
    let input = driver.input_topic("in", StringSerde, StringSerde);
    for ts in [3_000, 8_000, 10_500, 35_000, 40_000] {
        input.pipe(s("k"), s("v"), ts).unwrap();
    }
    assert_eq!(ticks(&driver), vec![3_000, 10_500, 35_000, 40_000]);
}

/// Item 4: tasks exist from the driver's construction, so a wall-clock punctuation fires
/// before any record is piped; one call fires a schedule at most once.
#[test]
fn wall_clock_punctuations_fire_before_any_record() {
    let driver = ticking(PunctuationType::WallClockTime);
    driver.advance_wall_clock(10_000).unwrap();
    assert_eq!(ticks(&driver), vec![10_000]);
    driver.advance_wall_clock(25_000).unwrap();
    assert_eq!(ticks(&driver), vec![35_000]);
    driver.advance_wall_clock(4_999).unwrap();
    assert_eq!(ticks(&driver), Vec::<i64>::new());
    driver.advance_wall_clock(1).unwrap();
    assert_eq!(ticks(&driver), vec![40_000]);
}
