//! Stateless operators through the test driver, against hand-computed outputs.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use kstreams_core::{Processor, ProcessorContext, PunctuationType};
use kstreams_dsl::prelude::*;
use kstreams_test::{DriverConfig, TopologyTestDriver};

fn s(x: &str) -> String {
    x.to_string()
}

#[test]
fn filter_map_and_friends_transform_records() {
    let mut b = StreamsBuilder::new();
    let src = b.stream("in", Consumed::with(StringSerde, I64Serde));
    src.filter(|_, v| *v % 2 == 0).to("even", Produced::with(StringSerde, I64Serde));
    src.filter_not(|_, v| *v % 2 == 0).to("odd", Produced::with(StringSerde, I64Serde));
    src.map(|k, v| (format!("{k}!"), v * 10)).to("mapped", Produced::with(StringSerde, I64Serde));
    src.map_values(|v| v + 1).to("plus1", Produced::with(StringSerde, I64Serde));
    src.flat_map(|k, v| (0..v).map(move |i| (format!("{k}{i}"), i)))
        .to("fm", Produced::with(StringSerde, I64Serde));
    src.flat_map_values(|v| vec![v; 2]).to("fmv", Produced::with(StringSerde, I64Serde));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    input.pipe_all([(s("a"), 1, 10), (s("b"), 2, 20), (s("c"), 3, 30)]).unwrap();

    let read = |t: &str| driver.output_topic(t, StringSerde, I64Serde).read_key_values().unwrap();
    assert_eq!(read("even"), vec![(s("b"), 2)]);
    assert_eq!(read("odd"), vec![(s("a"), 1), (s("c"), 3)]);
    assert_eq!(read("mapped"), vec![(s("a!"), 10), (s("b!"), 20), (s("c!"), 30)]);
    assert_eq!(read("plus1"), vec![(s("a"), 2), (s("b"), 3), (s("c"), 4)]);
    assert_eq!(
        read("fm"),
        vec![(s("a0"), 0), (s("b0"), 0), (s("b1"), 1), (s("c0"), 0), (s("c1"), 1), (s("c2"), 2)]
    );
    assert_eq!(
        read("fmv"),
        vec![(s("a"), 1), (s("a"), 1), (s("b"), 2), (s("b"), 2), (s("c"), 3), (s("c"), 3)]
    );
    // Timestamps are carried through.
    input.pipe(s("d"), 4, 1234).unwrap();
    let recs = driver.output_topic("even", StringSerde, I64Serde).read_records().unwrap();
    assert_eq!(recs[0].timestamp, 1234);
}

#[test]
fn peek_and_foreach_see_every_record() {
    let peeked = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(AtomicUsize::new(0));
    let mut b = StreamsBuilder::new();
    let (p, f) = (peeked.clone(), seen.clone());
    let s1 = b.stream("in", Consumed::with(StringSerde, I64Serde)).peek(move |_, _| {
        p.fetch_add(1, Ordering::SeqCst);
    });
    s1.foreach(move |_, v| {
        f.fetch_add(*v as usize, Ordering::SeqCst);
    });
    s1.to("out", Produced::default());
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    input.pipe_all([(s("a"), 5, 0), (s("b"), 7, 0)]).unwrap();
    assert_eq!(peeked.load(Ordering::SeqCst), 2);
    assert_eq!(seen.load(Ordering::SeqCst), 12);
    assert_eq!(driver.output_topic("out", StringSerde, I64Serde).read_key_values().unwrap().len(), 2);
}

#[test]
fn split_routes_to_the_first_matching_branch_and_merge_rejoins() {
    let mut b = StreamsBuilder::new();
    let src = b.stream("in", Consumed::with(StringSerde, I64Serde));
    let branches = src
        .split_named("s-")
        .branch(|_, v| *v < 0, Branched::as_("negative"))
        .branch(|_, v| *v < 10, Branched::as_("small"))
        .default_branch(Branched::as_("large"));
    assert_eq!(branches.keys().collect::<Vec<_>>(), ["s-large", "s-negative", "s-small"]);
    branches["s-negative"].to("negative", Produced::default());
    branches["s-small"].to("small", Produced::default());
    branches["s-large"].to("large", Produced::default());
    branches["s-negative"].merge(&branches["s-large"]).to("extremes", Produced::default());
    let no_default = src.split_named("f-").branch(|_, v| *v == 5, Branched::as_("five")).no_default_branch();
    assert_eq!(no_default.len(), 1);
    no_default["f-five"].to("five", Produced::default());
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    input.pipe_all([(s("a"), -3, 0), (s("b"), 5, 1), (s("c"), 50, 2), (s("d"), -1, 3)]).unwrap();
    let read = |t: &str| driver.output_topic(t, StringSerde, I64Serde).read_key_values().unwrap();
    assert_eq!(read("negative"), vec![(s("a"), -3), (s("d"), -1)]);
    assert_eq!(read("small"), vec![(s("b"), 5)]);
    assert_eq!(read("large"), vec![(s("c"), 50)]);
    assert_eq!(read("extremes"), vec![(s("a"), -3), (s("c"), 50), (s("d"), -1)]);
    assert_eq!(read("five"), vec![(s("b"), 5)]);
}

#[test]
fn select_key_then_grouping_goes_through_a_repartition_topic() {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(UnitSerde, StringSerde))
        .select_key(|_, v: &String| v.split(':').next().unwrap_or_default().to_string())
        .group_by_key(Grouped::with(StringSerde, StringSerde).named("by-sensor"))
        .count(Materialized::as_("counts").in_memory())
        .to_stream()
        .to("counts", Produced::with(StringSerde, U64Serde));
    let topology = b.build().unwrap();
    let desc = topology.describe().to_string();
    assert!(desc.contains("Sub-topology: 1"), "{desc}");
    assert!(desc.contains("by-sensor-repartition"), "{desc}");
    let config = DriverConfig {
        partitions: [("test-app-by-sensor-repartition".to_string(), 3)].into(),
        default_partitions: 2,
        ..DriverConfig::default()
    };
    let driver = TopologyTestDriver::with_config(topology, config).unwrap();
    let input = driver.input_topic("in", UnitSerde, StringSerde);
    for (i, v) in ["1:a", "2:b", "1:c", "3:d", "1:e"].iter().enumerate() {
        input.pipe((), s(v), i as i64).unwrap();
    }
    let mut out = driver.output_topic("counts", StringSerde, U64Serde).read_key_values().unwrap();
    out.sort();
    assert_eq!(out, vec![(s("1"), 1), (s("1"), 2), (s("1"), 3), (s("2"), 1), (s("3"), 1)]);
    // The upstream tasks (2 partitions of `in`) and downstream tasks exist separately.
    assert!(driver.task_ids().iter().any(|t| t.subtopology == 1));
}

#[test]
fn grouping_after_a_key_change_without_serdes_fails_at_build() {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, I64Serde))
        .map(|k, v| (k, v))
        .group_by_key(Grouped::default())
        .count(Materialized::default());
    let err = b.build().unwrap_err().to_string();
    assert!(err.contains("serde"), "{err}");
}

#[test]
fn explicit_repartition_keeps_records() {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, I64Serde))
        .repartition(Repartitioned::default().named("shuffle").with_partitions(4))
        .to("out", Produced::default());
    let topology = b.build().unwrap();
    assert_eq!(topology.repartition_topics()[0].partitions, Some(4));
    let driver = TopologyTestDriver::new(topology).unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    input.pipe_all([(s("x"), 1, 0), (s("y"), 2, 0)]).unwrap();
    let mut out = driver.output_topic("out", StringSerde, I64Serde).read_key_values().unwrap();
    out.sort();
    assert_eq!(out, vec![(s("x"), 1), (s("y"), 2)]);
}

/// A custom processor: emits the running count per key every 10 ms of stream time, using a
/// store for its state and a stream-time punctuation.
struct EveryTen {
    store: Option<std::rc::Rc<std::cell::RefCell<kstreams_state::KeyValueStore<String, u64>>>>,
}

impl Processor<String, i64, String, u64> for EveryTen {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, u64>) -> kstreams_core::Result<()> {
        self.store = Some(ctx.store("seen")?);
        ctx.schedule(std::time::Duration::from_millis(10), PunctuationType::StreamTime)?;
        Ok(())
    }
    fn process(
        &mut self,
        r: Record<String, i64>,
        _ctx: &mut ProcessorContext<'_, String, u64>,
    ) -> kstreams_core::Result<()> {
        if let Some(st) = &self.store {
            let mut st = st.borrow_mut();
            let n = st.get(&r.key)?.unwrap_or(0);
            st.put(&r.key, &(n + 1))?;
        }
        Ok(())
    }
    fn punctuate(
        &mut self,
        _k: PunctuationType,
        ts: i64,
        ctx: &mut ProcessorContext<'_, String, u64>,
    ) -> kstreams_core::Result<()> {
        let all = match &self.store {
            Some(st) => st.borrow().all()?,
            None => Vec::new(),
        };
        for (k, n) in all {
            ctx.forward(Record::new(k, n, ts))?;
        }
        Ok(())
    }
}

#[test]
fn custom_processors_use_stores_and_punctuations() {
    let mut b = StreamsBuilder::new();
    b.add_state_store(Arc::new(kstreams_state::KeyValueStoreBuilder::<String, u64>::new(
        kstreams_state::StoreSpec::new("seen").in_memory(),
        Arc::new(StringSerde),
        Arc::new(U64Serde),
    )));
    b.stream("in", Consumed::with(StringSerde, I64Serde))
        .process(|| EveryTen { store: None }, &["seen"])
        .to("out", Produced::with(StringSerde, U64Serde));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    let out = driver.output_topic("out", StringSerde, U64Serde);
    input.pipe(s("a"), 0, 100).unwrap(); // first stream time: punctuation starts (store empty before the record? no: after)
    let first = out.read_records().unwrap();
    assert_eq!(first.iter().map(|r| (r.key.clone(), r.value)).collect::<Vec<_>>(), vec![(s("a"), 1)]);
    input.pipe(s("b"), 0, 105).unwrap();
    assert!(out.read_records().unwrap().is_empty(), "not due before 110");
    input.pipe(s("a"), 0, 111).unwrap();
    let due = out.read_records().unwrap();
    assert_eq!(
        due.iter().map(|r| (r.key.clone(), r.value, r.timestamp)).collect::<Vec<_>>(),
        vec![(s("a"), 2, 111), (s("b"), 1, 111)]
    );
}
