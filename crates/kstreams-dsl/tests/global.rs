//! Stream-global table joins through the test driver: inner and left joins, a key mapper on a
//! value field, tombstones, global updates that emit nothing, and a global topic whose
//! partition count differs from the stream's.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::HashMap;
use std::sync::Arc;

use kstreams_core::GlobalKeyValueView;
use kstreams_core::Headers;
use kstreams_dsl::prelude::*;
use kstreams_test::{DriverConfig, TopologyTestDriver};
use serde::{Deserialize, Serialize};

fn s(x: &str) -> String {
    x.to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    product: String,
    qty: i64,
}

fn order(product: &str, qty: i64) -> Order {
    Order { product: s(product), qty }
}

/// `orders` (order id → Order) joined with the global table `products` (product id → name)
/// on the order's product field, into `lines`.
fn orders_topology(left: bool, in_memory: bool) -> Topology {
    let mut b = StreamsBuilder::new();
    let materialized = Materialized::as_("products");
    let materialized = if in_memory { materialized.in_memory() } else { materialized };
    let products = b.global_table("products", Consumed::with(StringSerde, StringSerde), materialized);
    let orders = b.stream("orders", Consumed::with(StringSerde, JsonSerde::<Order>::new()));
    let lines = if left {
        orders.left_join_global(
            &products,
            |_id, o| o.product.clone(),
            |_id, o, name| format!("{} x {}", o.qty, name.map_or("?", String::as_str)),
        )
    } else {
        orders.join_global(
            &products,
            |_id, o| o.product.clone(),
            |_id, o, name| format!("{} x {name}", o.qty),
        )
    };
    lines.to("lines", Produced::with(StringSerde, StringSerde));
    b.build().unwrap()
}

fn driver(topology: Topology, partitions: &[(&str, i32)]) -> TopologyTestDriver {
    let config = DriverConfig {
        partitions: partitions.iter().map(|(t, n)| (s(t), *n)).collect::<HashMap<_, _>>(),
        ..DriverConfig::default()
    };
    TopologyTestDriver::with_config(topology, config).unwrap()
}

fn global_value(d: &TopologyTestDriver, key: &str) -> Option<String> {
    d.with_global_store("products", |store| {
        GlobalKeyValueView::new(store.clone(), Arc::new(StringSerde), Arc::new(StringSerde))
            .get(&s(key))
            .unwrap()
    })
    .unwrap()
}

#[test]
fn inner_join_uses_a_value_field_and_the_current_global_value() {
    for in_memory in [true, false] {
        let d = driver(orders_topology(false, in_memory), &[]);
        let products = d.input_topic("products", StringSerde, StringSerde);
        let orders = d.input_topic("orders", StringSerde, JsonSerde::<Order>::new());
        let lines = d.output_topic("lines", StringSerde, StringSerde);

        products.pipe(s("p1"), s("apple"), 0).unwrap();
        orders.pipe(s("o1"), order("p1", 3), 1).unwrap();
        orders.pipe(s("o2"), order("p2", 1), 2).unwrap(); // no p2 yet: dropped
        products.pipe(s("p2"), s("pear"), 3).unwrap();
        products.pipe(s("p1"), s("green apple"), 4).unwrap();
        orders.pipe(s("o3"), order("p2", 5), 5).unwrap();
        orders.pipe(s("o4"), order("p1", 2), 6).unwrap();

        let out = lines.read_records().unwrap();
        let got: Vec<(String, String, i64)> =
            out.into_iter().map(|r| (r.key, r.value, r.timestamp)).collect();
        assert_eq!(
            got,
            vec![
                (s("o1"), s("3 x apple"), 1),
                (s("o3"), s("5 x pear"), 5),
                (s("o4"), s("2 x green apple"), 6),
            ],
            "in_memory = {in_memory}"
        );
        assert_eq!(global_value(&d, "p1"), Some(s("green apple")));
        d.close().unwrap();
    }
}

#[test]
fn left_join_emits_none_for_missing_keys() {
    let d = driver(orders_topology(true, true), &[]);
    let products = d.input_topic("products", StringSerde, StringSerde);
    let orders = d.input_topic("orders", StringSerde, JsonSerde::<Order>::new());
    let lines = d.output_topic("lines", StringSerde, StringSerde);

    orders.pipe(s("o1"), order("p1", 1), 0).unwrap();
    products.pipe(s("p1"), s("apple"), 1).unwrap();
    orders.pipe(s("o2"), order("p1", 2), 2).unwrap();
    orders.pipe(s("o3"), order("p9", 3), 3).unwrap();

    assert_eq!(
        lines.read_key_values().unwrap(),
        vec![(s("o1"), s("1 x ?")), (s("o2"), s("2 x apple")), (s("o3"), s("3 x ?"))]
    );
}

#[test]
fn global_updates_emit_nothing() {
    let d = driver(orders_topology(true, true), &[]);
    let products = d.input_topic("products", StringSerde, StringSerde);
    let lines = d.output_topic("lines", StringSerde, StringSerde);
    let tasks = d.task_ids(); // every task exists from the driver's construction
    for i in 0..5 {
        products.pipe(format!("p{i}"), format!("product {i}"), i).unwrap();
    }
    assert!(lines.read_key_values().unwrap().is_empty());
    assert_eq!(d.task_ids(), tasks, "a global topic creates no tasks");
    assert_eq!(global_value(&d, "p4"), Some(s("product 4")));
}

#[test]
fn tombstones_delete_from_the_global_table() {
    let d = driver(orders_topology(true, false), &[]);
    let products = d.input_topic("products", StringSerde, StringSerde);
    let orders = d.input_topic("orders", StringSerde, JsonSerde::<Order>::new());
    let lines = d.output_topic("lines", StringSerde, StringSerde);

    products.pipe(s("p1"), s("apple"), 0).unwrap();
    orders.pipe(s("o1"), order("p1", 1), 1).unwrap();
    // A null value: the tombstone of p1.
    d.pipe_raw("products", None, Some(b"p1".to_vec()), None, 2, Headers::new()).unwrap();
    assert_eq!(global_value(&d, "p1"), None);
    orders.pipe(s("o2"), order("p1", 2), 3).unwrap();

    assert_eq!(lines.read_key_values().unwrap(), vec![(s("o1"), s("1 x apple")), (s("o2"), s("2 x ?"))]);
}

#[test]
fn undeserializable_global_records_are_skipped() {
    let mut b = StreamsBuilder::new();
    let prices = b.global_table(
        "prices",
        Consumed::with(StringSerde, I64Serde),
        Materialized::as_("prices").in_memory(),
    );
    b.stream("items", Consumed::with(StringSerde, StringSerde))
        .left_join_global(&prices, |_k, item| item.clone(), |_k, item, price| format!("{item}={price:?}"))
        .to("priced", Produced::with(StringSerde, StringSerde));
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let prices = d.input_topic("prices", StringSerde, I64Serde);
    prices.pipe(s("tea"), 3, 0).unwrap();
    // Three bytes are no i64: skipped, the old value stays.
    d.pipe_raw("prices", None, Some(b"tea".to_vec()), Some(vec![1, 2, 3]), 1, Headers::new()).unwrap();
    d.input_topic("items", StringSerde, StringSerde).pipe(s("k"), s("tea"), 2).unwrap();
    assert_eq!(
        d.output_topic("priced", StringSerde, StringSerde).read_key_values().unwrap(),
        vec![(s("k"), s("tea=Some(3)"))]
    );
}

#[test]
fn every_stream_partition_sees_every_global_partition() {
    // The global topic has 4 partitions, the stream 3: no co-partitioning is needed.
    let d = driver(orders_topology(false, true), &[("products", 4), ("orders", 3)]);
    let products = d.input_topic("products", StringSerde, StringSerde);
    let orders = d.input_topic("orders", StringSerde, JsonSerde::<Order>::new());
    let lines = d.output_topic("lines", StringSerde, StringSerde);

    for p in 0..4 {
        products.pipe_record(Record::new(format!("p{p}"), format!("name{p}"), 0), Some(p)).unwrap();
    }
    let mut expected = Vec::new();
    for o in 0..12i64 {
        let id = format!("o{o}");
        let product = format!("p{}", o % 4);
        orders.pipe_record(Record::new(id.clone(), order(&product, o), o), Some((o % 3) as i32)).unwrap();
        expected.push((id, format!("{o} x name{}", o % 4)));
    }
    assert_eq!(lines.read_key_values().unwrap(), expected);
    let mut tasks = d.task_ids();
    tasks.sort();
    assert_eq!(tasks.len(), 3, "one task per stream partition: {tasks:?}");
    assert!(tasks.iter().all(|t| t.subtopology == 0));
}

#[test]
fn describe_shows_the_global_store_apart() {
    let topology = orders_topology(false, true);
    let text = topology.describe().to_string();
    assert_eq!(topology.subtopologies().len(), 1, "{text}");
    assert!(text.contains("Sub-topology: 1 for global store (will not generate tasks)"), "{text}");
    assert!(text.contains("(topics: [products])"), "{text}");
    assert!(text.contains("(stores: [products])"), "{text}");
    assert_eq!(topology.global_topics(), vec![s("products")]);
}

#[test]
fn a_topic_cannot_be_both_a_stream_and_a_global_table() {
    let mut b = StreamsBuilder::new();
    b.global_table("t", Consumed::with(StringSerde, StringSerde), Materialized::as_("g"));
    b.stream("t", Consumed::with(StringSerde, StringSerde))
        .to("out", Produced::with(StringSerde, StringSerde));
    assert!(b.build().is_err());

    let mut b = StreamsBuilder::new();
    b.table("t", Consumed::with(StringSerde, StringSerde), Materialized::as_("x"));
    b.global_table("u", Consumed::with(StringSerde, StringSerde), Materialized::as_("x"));
    assert!(b.build().is_err(), "store names are shared by tables and global tables");
}
