//! Operators Kafka Streams users reach for (issue 12): `KTable::group_by` with adder and
//! subtractor, foreign-key table joins, cogroup and named branches, each against Kafka Streams'
//! documented examples (developer guide, KIP-213, KIP-150, KIP-418), computed by hand.
#![allow(clippy::unwrap_used)]

use kstreams_dsl::prelude::*;
use kstreams_test::TopologyTestDriver;

fn s(x: &str) -> String {
    x.to_string()
}

fn records<V: 'static>(
    driver: &TopologyTestDriver,
    topic: &str,
    serde: impl Serde<V> + 'static,
) -> Vec<(String, Option<V>, i64)> {
    driver
        .output_topic(topic, StringSerde, serde)
        .read_nullable_records()
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect()
}

/// Research §7 (Kafka's `KTableAggregate`, KIP-904): users by region, re-grouped and counted.
#[test]
fn a_regrouped_table_count_subtracts_the_old_value_and_adds_the_new() {
    let mut b = StreamsBuilder::new();
    let users = b.table("users", Consumed::with(StringSerde, StringSerde), Materialized::as_("users"));
    let by_region = users
        .group_by(|user, region| (region.clone(), user.clone()), Grouped::with(StringSerde, StringSerde));
    by_region
        .count(Materialized::as_("per-region"))
        .to_stream()
        .to("counts", Produced::with(StringSerde, U64Serde));
    by_region
        .aggregate(
            Vec::<String>::new,
            |_region, user, mut list| {
                list.push(user.clone());
                list
            },
            |_region, user, mut list| {
                list.retain(|u| u != user);
                list
            },
            Materialized::as_("members"),
        )
        .to_stream()
        .to("members", Produced::with(StringSerde, JsonSerde::<Vec<String>>::new()));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("users", StringSerde, StringSerde);
    input.pipe(s("alice"), s("EU"), 1_000).unwrap();
    input.pipe(s("bob"), s("EU"), 2_000).unwrap();
    input.pipe(s("alice"), s("US"), 3_000).unwrap();
    input.pipe(s("bob"), s("EU"), 4_000).unwrap(); // same value again: one change, −1 then +1
    input.pipe_tombstone(s("bob"), 5_000).unwrap();
    assert_eq!(
        records(&driver, "counts", U64Serde),
        vec![
            (s("EU"), Some(1), 1_000),
            (s("EU"), Some(2), 2_000),
            (s("EU"), Some(1), 3_000),
            (s("US"), Some(1), 3_000),
            (s("EU"), Some(1), 4_000),
            (s("EU"), Some(0), 5_000), // not a tombstone
        ]
    );
    let members = records(&driver, "members", JsonSerde::<Vec<String>>::new());
    assert_eq!(members.last(), Some(&(s("EU"), Some(vec![]), 5_000)));
    assert_eq!(members[3], (s("US"), Some(vec![s("alice")]), 3_000));
    // The result is a table whose store is queried in its own types.
    let stored =
        driver.with_store::<ReadOnlyKeyValueStore<String, u64>, _>("per-region", |_, st| st.all().unwrap());
    assert_eq!(stored, vec![vec![(s("EU"), 0), (s("US"), 1)]]);
}

/// `KGroupedTable::reduce`: the first value of a key is its aggregate.
#[test]
fn a_regrouped_table_reduce_adds_and_subtracts_values() {
    let mut b = StreamsBuilder::new();
    b.table(
        "accounts",
        Consumed::with(StringSerde, JsonSerde::<(String, i64)>::new()),
        Materialized::as_("accounts"),
    )
    .group_by(|_acct, (branch, balance)| (branch.clone(), *balance), Grouped::with(StringSerde, I64Serde))
    .reduce(|total, x| total + x, |total, x| total - x, Materialized::as_("per-branch"))
    .to_stream()
    .to("totals", Produced::with(StringSerde, I64Serde));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("accounts", StringSerde, JsonSerde::<(String, i64)>::new());
    input.pipe(s("a1"), (s("north"), 100), 1).unwrap();
    input.pipe(s("a2"), (s("north"), 50), 2).unwrap();
    input.pipe(s("a1"), (s("north"), 70), 3).unwrap();
    input.pipe(s("a2"), (s("south"), 50), 4).unwrap();
    assert_eq!(
        records(&driver, "totals", I64Serde),
        vec![
            (s("north"), Some(100), 1),
            (s("north"), Some(150), 2),
            (s("north"), Some(120), 3),
            (s("north"), Some(70), 4),
            (s("south"), Some(50), 4),
        ]
    );
}

fn orders_and_products(left: bool) -> TopologyTestDriver {
    let mut b = StreamsBuilder::new();
    let orders = b.table("orders", Consumed::with(StringSerde, StringSerde), Materialized::as_("orders"));
    let products =
        b.table("products", Consumed::with(StringSerde, StringSerde), Materialized::as_("products"));
    let joined = if left {
        orders.left_join_foreign_key(
            &products,
            |pid| pid.clone(),
            |pid, name| format!("{pid}:{}", name.map_or("-", |n| n.as_str())),
            TableJoined::as_("fk"),
        )
    } else {
        orders.join_foreign_key(
            &products,
            |pid| pid.clone(),
            |pid, name| format!("{pid}:{name}"),
            TableJoined::as_("fk"),
        )
    };
    joined.to_changelog_stream().to("out", Produced::with(StringSerde, OptionSerde(StringSerde)));
    TopologyTestDriver::new(b.build().unwrap()).unwrap()
}

fn pipe_fk_example(driver: &TopologyTestDriver) {
    let orders = driver.input_topic("orders", StringSerde, StringSerde);
    let products = driver.input_topic("products", StringSerde, StringSerde);
    products.pipe(s("p1"), s("apple"), 1_000).unwrap();
    orders.pipe(s("o1"), s("p1"), 2_000).unwrap();
    products.pipe(s("p1"), s("green"), 3_000).unwrap();
    orders.pipe(s("o1"), s("p2"), 4_000).unwrap(); // p2 does not exist
    orders.pipe_tombstone(s("o1"), 5_000).unwrap();
}

/// Research §8 (KIP-213): an inner foreign-key join. A left update is stamped with the later
/// of both rows' timestamps, a right update with its own.
#[test]
fn an_inner_foreign_key_join_follows_both_tables() {
    let driver = orders_and_products(false);
    pipe_fk_example(&driver);
    assert_eq!(
        records(&driver, "out", StringSerde),
        vec![
            (s("o1"), Some(s("p1:apple")), 2_000),
            (s("o1"), Some(s("p1:green")), 3_000),
            (s("o1"), None, 4_000),
            (s("o1"), None, 5_000),
        ]
    );
}

/// The left foreign-key join of the same input: a row without a match joins with `None`.
#[test]
fn a_left_foreign_key_join_keeps_rows_without_a_match() {
    let driver = orders_and_products(true);
    pipe_fk_example(&driver);
    assert_eq!(
        records(&driver, "out", StringSerde),
        vec![
            (s("o1"), Some(s("p1:apple")), 2_000),
            (s("o1"), Some(s("p1:green")), 3_000),
            (s("o1"), Some(s("p2:-")), 4_000),
            (s("o1"), None, 5_000),
        ]
    );
}

/// Research §10 (KIP-150): two grouped streams folded into one aggregate, stamped like any
/// aggregation.
#[test]
fn cogrouped_streams_share_one_aggregate() {
    let mut b = StreamsBuilder::new();
    let a = b.stream("a", Consumed::with(StringSerde, I64Serde)).group_by_key(Grouped::default());
    let c = b.stream("b", Consumed::with(StringSerde, I64Serde)).group_by_key(Grouped::default());
    a.cogroup(|_k, v, agg: String| format!("{agg}A{v}"))
        .cogroup(&c, |_k, v, agg: String| format!("{agg}B{v}"))
        .aggregate(String::new, Materialized::as_("cogrouped"))
        .to_stream()
        .to("out", Produced::with(StringSerde, StringSerde));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    driver.input_topic("a", StringSerde, I64Serde).pipe(s("k"), 1, 1_000).unwrap();
    driver.input_topic("b", StringSerde, I64Serde).pipe(s("k"), 2, 2_000).unwrap();
    driver.input_topic("a", StringSerde, I64Serde).pipe(s("k"), 3, 1_500).unwrap();
    assert_eq!(
        records(&driver, "out", StringSerde),
        vec![
            (s("k"), Some(s("A1")), 1_000),
            (s("k"), Some(s("A1B2")), 2_000),
            (s("k"), Some(s("A1B2A3")), 2_000)
        ]
    );
}

/// Kafka's `KStreamSplitTest.testResultingMap`, as far as Rust allows: named branches, a
/// consumer branch (no entry), positions for unnamed ones, `0` for the default branch.
#[test]
fn split_names_branches_like_kafka_streams() {
    let mut b = StreamsBuilder::new();
    let src = b.stream("in", Consumed::with(StringSerde, I64Serde));
    let branches = src
        .split_named("foo-")
        .branch(|_, v| *v == 1, Branched::as_("bar"))
        .branch(|_, v| *v == 2, Branched::with_consumer(|s| s.to("two", Produced::default())))
        .branch(|_, v| *v == 3, Branched::with_function(|s| s.map_values(|v| v * 10)))
        .branch(|_, v| *v == 4, Branched::default())
        .default_branch(Branched::default());
    assert_eq!(branches.keys().collect::<Vec<_>>(), ["foo-0", "foo-3", "foo-4", "foo-bar"]);
    for (name, stream) in &branches {
        stream.to(name, Produced::with(StringSerde, I64Serde));
    }
    let unnamed = src.split().branch(|_, v| *v > 100, Branched::default()).no_default_branch();
    // Without a name, the prefix is the split node's generated name (KSTREAM-BRANCH-<n>).
    let key = unnamed.keys().next().unwrap();
    assert!(
        unnamed.len() == 1 && key.starts_with("KSTREAM-BRANCH-0") && key.len() == 26 && key.ends_with('1'),
        "{key}"
    );
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    for v in [1, 2, 3, 4, 5] {
        input.pipe(s("k"), v, v).unwrap();
    }
    let read = |t: &str| driver.output_topic(t, StringSerde, I64Serde).read_values().unwrap();
    assert_eq!(read("foo-bar"), vec![1]);
    assert_eq!(read("two"), vec![2]);
    assert_eq!(read("foo-3"), vec![30]);
    assert_eq!(read("foo-4"), vec![4]);
    assert_eq!(read("foo-0"), vec![5]);
}
