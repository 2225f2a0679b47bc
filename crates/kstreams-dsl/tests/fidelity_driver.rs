//! What Kafka Streams users reach for in the test driver and the Processor API (issue 12):
//! `TestInputTopic`/`TestOutputTopic` as in Kafka's test-utils (research §11), an initial
//! wall-clock time, cancellable punctuations, and typed store queries in the table's types.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use kstreams_core::EventTimeConfig;
use kstreams_dsl::prelude::*;
use kstreams_test::{DriverConfig, TopologyTestDriver};

fn s(x: &str) -> String {
    x.to_string()
}

fn pass_through() -> TopologyTestDriver {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, StringSerde)).to("out", Produced::default());
    b.stream("values", Consumed::with(UnitSerde, StringSerde)).to("values-out", Produced::default());
    TopologyTestDriver::new(b.build().unwrap()).unwrap()
}

/// Research §11: `createInputTopic("in", s, s, Instant.ofEpochMilli(1000), Duration.ofMillis(500))`.
#[test]
fn input_topics_advance_their_time_and_output_topics_read_one_record_at_a_time() {
    let driver = pass_through();
    let input = driver.input_topic_at("in", StringSerde, StringSerde, 1_000, 500);
    let output = driver.output_topic("out", StringSerde, StringSerde);
    assert!(output.is_empty());
    assert!(output.read_record().is_err(), "reading an empty topic fails");
    input.pipe_key_value(s("a"), s("1")).unwrap();
    input.pipe_key_value(s("b"), s("2")).unwrap();
    input.pipe(s("c"), s("3"), 99).unwrap(); // an explicit timestamp does not move the time
    input.pipe_key_value(s("d"), s("4")).unwrap();
    input.advance_time(1_000);
    assert_eq!(output.queue_size(), 4);
    assert_eq!(output.read_key_value().unwrap(), (s("a"), s("1")));
    let r = output.read_record().unwrap();
    assert_eq!((r.key, r.value, r.timestamp), (s("b"), s("2"), 1_500));
    assert_eq!(output.read_value().unwrap(), s("3"));
    let times: Vec<i64> = output.read_records().unwrap().iter().map(|r| r.timestamp).collect();
    assert_eq!(times, vec![2_000]);
    assert_eq!(input.current_time(), 3_500);
    assert!(output.is_empty());
    // `pipeInput(value)`: a null key.
    let values = driver.input_topic_at("values", UnitSerde, StringSerde, 7_000, 0);
    values.pipe_value(s("v")).unwrap();
    let r = driver.output_topic("values-out", UnitSerde, StringSerde).read_record().unwrap();
    assert_eq!((r.value, r.timestamp), (s("v"), 7_000));
}

/// `pipeInput(key, null)`: a tombstone needs no nullable serde; reading one neither.
#[test]
fn tombstones_are_piped_and_read_without_a_nullable_serde() {
    let mut b = StreamsBuilder::new();
    b.table("t", Consumed::with(StringSerde, I64Serde), Materialized::as_("t"))
        .to_changelog_stream()
        .to("out", Produced::with(StringSerde, OptionSerde(I64Serde)));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("t", StringSerde, I64Serde);
    input.pipe(s("a"), 1, 10).unwrap();
    input.pipe_tombstone(s("a"), 20).unwrap();
    let out = driver.output_topic("out", StringSerde, I64Serde);
    assert_eq!(out.read_nullable_key_values().unwrap(), vec![(s("a"), Some(1)), (s("a"), None)]);
}

/// Emits `("p", time)` at each wall-clock punctuation and cancels its schedule after two.
struct Twice {
    fired: u32,
    schedule: Option<Cancellable>,
}

impl Processor<String, String, String, i64> for Twice {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, i64>) -> kstreams_core::Result<()> {
        self.schedule = Some(ctx.schedule(Duration::from_secs(10), PunctuationType::WallClockTime)?);
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
        _k: PunctuationType,
        ts: i64,
        ctx: &mut ProcessorContext<'_, String, i64>,
    ) -> kstreams_core::Result<()> {
        self.fired += 1;
        if self.fired == 2 {
            if let Some(c) = &self.schedule {
                c.cancel();
            }
        }
        ctx.forward(Record::new(s("p"), ts, ts))
    }
}

/// Kafka's `TopologyTestDriver(topology, initialWallClockTime)`, and `Cancellable`.
#[test]
fn wall_clock_starts_at_the_configured_time_and_a_cancelled_punctuation_stops() {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, StringSerde))
        .process(|| Twice { fired: 0, schedule: None }, &[])
        .to("out", Produced::with(StringSerde, I64Serde));
    let config = DriverConfig { initial_wall_clock_ms: 1_000_000, ..DriverConfig::default() };
    let driver = TopologyTestDriver::with_config(b.build().unwrap(), config).unwrap();
    let out = driver.output_topic("out", StringSerde, I64Serde);
    for _ in 0..4 {
        driver.advance_wall_clock(10_000).unwrap();
    }
    assert_eq!(out.read_values().unwrap(), vec![1_010_000, 1_020_000]);
}

/// An instance drops records whose event time is more than `event.time.max.future.ms` ahead
/// of its wall clock; the driver's clock is mocked, so there the guard is off unless
/// configured, and configured it measures event times against the mocked clock.
#[test]
fn the_far_future_guard_is_off_in_the_driver_unless_set_and_then_follows_the_mocked_clock() {
    let build = || {
        let mut b = StreamsBuilder::new();
        b.stream("in", Consumed::with(StringSerde, StringSerde)).to("out", Produced::default());
        b.build().unwrap()
    };
    // Off by default: a record a year ahead of the clock (at 0) goes through.
    let driver = TopologyTestDriver::new(build()).unwrap();
    let year = 365 * 24 * 3_600_000;
    driver.input_topic("in", StringSerde, StringSerde).pipe(s("a"), s("1"), year).unwrap();
    assert_eq!(
        driver.output_topic("out", StringSerde, StringSerde).read_key_values().unwrap(),
        vec![(s("a"), s("1"))]
    );
    assert_eq!(driver.metrics().invalid_timestamps, 0);

    // One second of tolerance, from a clock starting at 10 000.
    let config = DriverConfig {
        initial_wall_clock_ms: 10_000,
        event_time: EventTimeConfig { max_future_ms: Some(1_000), ..EventTimeConfig::default() },
        ..DriverConfig::default()
    };
    let driver = TopologyTestDriver::with_config(build(), config).unwrap();
    let input = driver.input_topic("in", StringSerde, StringSerde);
    input.pipe(s("a"), s("at the limit"), 11_000).unwrap();
    input.pipe(s("b"), s("a millisecond past it"), 11_001).unwrap();
    driver.advance_wall_clock(5_000).unwrap();
    input.pipe(s("c"), s("within it once the clock moved"), 16_000).unwrap();
    assert_eq!(
        driver.output_topic("out", StringSerde, StringSerde).read_key_values().unwrap(),
        vec![(s("a"), s("at the limit")), (s("c"), s("within it once the clock moved"))]
    );
    assert_eq!(driver.metrics().invalid_timestamps, 1, "the dropped record is counted");
}

/// The answer of the one task.
fn one<T>(answers: Vec<T>) -> T {
    answers.into_iter().next().unwrap()
}

/// Typed store queries return the table's values (a mean), not the accumulator (sum and count),
/// for key-value, windowed and session tables alike.
#[test]
fn store_views_return_the_tables_value_type() {
    let mut b = StreamsBuilder::new();
    let grouped = b.stream("in", Consumed::with(StringSerde, F64Serde)).group_by_key(Grouped::default());
    grouped.aggregate(Mean::of(|x: &f64| *x), Materialized::as_("mean"));
    grouped
        .windowed_by(TumblingWindows::of(Duration::from_secs(10)))
        .aggregate(Mean::of(|x: &f64| *x), Materialized::as_("w"));
    grouped
        .windowed_by(SlidingWindows::with_time_difference(Duration::from_secs(10)))
        .aggregate(Mean::of(|x: &f64| *x), Materialized::as_("sl"));
    grouped
        .windowed_by(SessionWindows::with_inactivity_gap(Duration::from_secs(10)))
        .aggregate(Mean::of(|x: &f64| *x), Materialized::as_("se"));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, F64Serde);
    input.pipe(s("k"), 1.0, 1_000).unwrap();
    input.pipe(s("k"), 3.0, 4_000).unwrap();
    let mean =
        one(driver.with_store::<ReadOnlyKeyValueStore<String, f64>, _>("mean", |_, st| st.all().unwrap()));
    assert_eq!(mean, vec![(s("k"), 2.0)]);
    let w = one(driver
        .with_store::<ReadOnlyWindowStore<String, f64>, _>("w", |_, st| st.fetch_all(0, i64::MAX).unwrap()));
    assert_eq!(w, vec![(Windowed::new(s("k"), Window::new(0, 10_000)), 2.0)]);
    let sl = one(driver.with_store::<ReadOnlyWindowStore<String, f64>, _>("sl", |_, st| {
        st.fetch_range(&s("k"), 0, 10).unwrap()
    }));
    assert_eq!(sl, vec![(Window::new(0, 10_000), 2.0)]);
    let se =
        one(driver
            .with_store::<ReadOnlySessionStore<String, f64>, _>("se", |_, st| st.fetch(&s("k")).unwrap()));
    assert_eq!(se, vec![(Window::new(1_000, 4_000), 2.0)]);
}
