//! Tables and non-windowed aggregations against hand-computed outputs, plus the topology
//! description and wall-clock punctuations.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::time::Duration;

use kstreams_core::{Processor, ProcessorContext, PunctuationType};
use kstreams_dsl::prelude::*;
use kstreams_test::TopologyTestDriver;

fn s(x: &str) -> String {
    x.to_string()
}

#[test]
fn a_table_keeps_the_latest_value_and_tombstones_delete() {
    let mut b = StreamsBuilder::new();
    let t = b.table("prices", Consumed::with(StringSerde, I64Serde), Materialized::as_("prices").in_memory());
    t.to_changelog_stream().to("changes", Produced::with(StringSerde, OptionSerde(I64Serde)));
    t.filter(|_, v| *v >= 10).to_stream().to("expensive", Produced::with(StringSerde, I64Serde));
    t.filter_not(|_, v| *v >= 10)
        .to_changelog_stream()
        .to("cheap", Produced::with(StringSerde, OptionSerde(I64Serde)));
    t.map_values(|k, v| format!("{k}={v}"))
        .to_stream()
        .to("labels", Produced::with(StringSerde, StringSerde));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("prices", StringSerde, OptionSerde(I64Serde));
    input.pipe(s("a"), Some(5), 0).unwrap();
    input.pipe(s("a"), Some(12), 1).unwrap();
    input.pipe(s("b"), Some(20), 2).unwrap();
    input.pipe(s("a"), None, 3).unwrap(); // tombstone
    input.pipe(s("z"), None, 4).unwrap(); // tombstone of an absent key: nothing happens
    let changes =
        driver.output_topic("changes", StringSerde, OptionSerde(I64Serde)).read_key_values().unwrap();
    assert_eq!(changes, vec![(s("a"), Some(5)), (s("a"), Some(12)), (s("b"), Some(20)), (s("a"), None)]);
    let expensive = driver.output_topic("expensive", StringSerde, I64Serde).read_key_values().unwrap();
    assert_eq!(expensive, vec![(s("a"), 12), (s("b"), 20)]);
    // a: 5 matches "cheap", then 12 does not: the row is deleted downstream.
    let cheap = driver.output_topic("cheap", StringSerde, OptionSerde(I64Serde)).read_key_values().unwrap();
    assert_eq!(cheap, vec![(s("a"), Some(5)), (s("a"), None)]);
    let labels = driver.output_topic("labels", StringSerde, StringSerde).read_key_values().unwrap();
    assert_eq!(labels, vec![(s("a"), s("a=5")), (s("a"), s("a=12")), (s("b"), s("b=20"))]);
    let rows = driver
        .with_store::<kstreams_state::KeyValueStore<String, i64>, _>("prices", |_, st| st.all().unwrap());
    assert_eq!(rows, vec![vec![(s("b"), 20)]]);
}

#[test]
fn count_reduce_and_aggregate_fold_each_key() {
    let mut b = StreamsBuilder::new();
    let g = b.stream("in", Consumed::with(StringSerde, I64Serde)).group_by_key(Grouped::default());
    g.count(Materialized::as_("count")).to_stream().to("count", Produced::with(StringSerde, U64Serde));
    g.reduce(|a, v| (*a).max(*v), Materialized::as_("max").in_memory())
        .to_stream()
        .to("max", Produced::default());
    g.aggregate(
        FnAggregator::new(String::new, |_k, v: &i64, acc: String| format!("{acc}{v}")),
        Materialized::as_("cat"),
    )
    .to_stream()
    .to("cat", Produced::with(StringSerde, StringSerde));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    input.pipe_all([(s("a"), 3, 0), (s("b"), 1, 1), (s("a"), 7, 2), (s("a"), 5, 3)]).unwrap();
    let count = driver.output_topic("count", StringSerde, U64Serde).read_key_values().unwrap();
    assert_eq!(count, vec![(s("a"), 1), (s("b"), 1), (s("a"), 2), (s("a"), 3)]);
    let max = driver.output_topic("max", StringSerde, I64Serde).read_key_values().unwrap();
    assert_eq!(max, vec![(s("a"), 3), (s("b"), 1), (s("a"), 7), (s("a"), 7)]);
    let cat = driver.output_topic("cat", StringSerde, StringSerde).read_key_values().unwrap();
    assert_eq!(cat, vec![(s("a"), s("3")), (s("b"), s("1")), (s("a"), s("37")), (s("a"), s("375"))]);
}

#[test]
fn describe_prints_subtopologies_sources_stores_and_sinks() {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, I64Serde))
        .map(|k, v| (k, v))
        .group_by_key(Grouped::with(StringSerde, I64Serde).named("rekey"))
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("out", Produced::with(StringSerde, U64Serde));
    let topology = b.build().unwrap();
    let text = topology.describe().to_string();
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [in])
      --> KSTREAM-MAP-0000000001
    Processor: KSTREAM-MAP-0000000001 (stores: [])
      --> rekey-repartition-stamp
      <-- KSTREAM-SOURCE-0000000000
    Processor: rekey-repartition-stamp (stores: [])
      --> rekey-repartition-sink
      <-- KSTREAM-MAP-0000000001
    Sink: rekey-repartition-sink (topic: <application.id>-rekey-repartition)
      <-- rekey-repartition-stamp
   Sub-topology: 1
    Source: rekey-repartition-source (topics: [<application.id>-rekey-repartition])
      --> rekey-repartition-dedup
    Processor: rekey-repartition-dedup (stores: [rekey-repartition-dedup])
      --> KSTREAM-AGGREGATE-0000000002
      <-- rekey-repartition-source
    Processor: KSTREAM-AGGREGATE-0000000002 (stores: [counts])
      --> KTABLE-TOSTREAM-0000000003
      <-- rekey-repartition-dedup
    Processor: KTABLE-TOSTREAM-0000000003 (stores: [])
      --> KSTREAM-SINK-0000000004
      <-- KSTREAM-AGGREGATE-0000000002
    Sink: KSTREAM-SINK-0000000004 (topic: out)
      <-- KTABLE-TOSTREAM-0000000003
";
    assert_eq!(text, expected);
    let desc = topology.describe();
    let mermaid = desc.to_mermaid();
    assert!(mermaid.starts_with("flowchart TD"));
    assert!(mermaid.contains("subgraph sub1") && mermaid.contains("s_counts[(\"counts\")]"), "{mermaid}");
    let dot = desc.to_dot();
    assert!(dot.contains("subgraph cluster_0") && dot.contains("\"store:counts\" [shape=cylinder]"), "{dot}");
    assert_eq!(
        topology.changelog_topics("app"),
        vec![
            (s("counts"), s("app-counts-changelog")),
            (s("rekey-repartition-dedup"), s("app-rekey-repartition-dedup-changelog"))
        ]
    );
}

/// Emits how many records it saw every 1 s of wall-clock time.
struct Heartbeat {
    seen: u64,
}

impl Processor<String, i64, String, u64> for Heartbeat {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, u64>) -> kstreams_core::Result<()> {
        ctx.schedule(Duration::from_secs(1), PunctuationType::WallClockTime)?;
        Ok(())
    }
    fn process(
        &mut self,
        _r: Record<String, i64>,
        _ctx: &mut ProcessorContext<'_, String, u64>,
    ) -> kstreams_core::Result<()> {
        self.seen += 1;
        Ok(())
    }
    fn punctuate(
        &mut self,
        _k: PunctuationType,
        ts: i64,
        ctx: &mut ProcessorContext<'_, String, u64>,
    ) -> kstreams_core::Result<()> {
        ctx.forward(Record::new(s("seen"), self.seen, ts))
    }
}

#[test]
fn wall_clock_punctuations_fire_only_when_the_clock_moves() {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, I64Serde))
        .process(|| Heartbeat { seen: 0 }, &[])
        .to("out", Produced::with(StringSerde, U64Serde));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    let out = driver.output_topic("out", StringSerde, U64Serde);
    input.pipe_all([(s("a"), 0, 10_000), (s("b"), 0, 20_000)]).unwrap();
    driver.advance_wall_clock(999).unwrap();
    assert!(out.read_records().unwrap().is_empty(), "stream time does not drive wall-clock punctuations");
    driver.advance_wall_clock(1).unwrap();
    assert_eq!(out.read_key_values().unwrap(), vec![(s("seen"), 2)]);
    input.pipe(s("c"), 0, 30_000).unwrap();
    driver.advance_wall_clock(2_500).unwrap(); // one punctuation per call, however far it jumps
    let fired = out.read_records().unwrap();
    assert_eq!(fired.iter().map(|r| (r.value, r.timestamp)).collect::<Vec<_>>(), vec![(3, 3_500)]);
}
