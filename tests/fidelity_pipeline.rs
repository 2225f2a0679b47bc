//! The stateful operators of issue 12 on Apache Kafka, across a restart that restores every
//! store from its changelog: `KTable::group_by` + count (adder and subtractor), a
//! foreign-key table join, a stream-table join reading a versioned table as of each record,
//! and a cogrouped aggregation. A first instance processes the first half of the input and
//! closes; a second one, on an empty state directory, processes the second half, whose results
//! depend on what the first one stored: the region a user leaves, the subscriptions of the
//! foreign-key join, the price history, the cogrouped counts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kstreams::prelude::*;
use kstreams_broker_harness::unique_name;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::Message;

mod broker_support;

use broker_support::{config, start, Broker};

const PARTITIONS: i32 = 2;

/// The topics of one run, by role.
struct Topics {
    users: String,
    products: String,
    orders: String,
    prices: String,
    purchases: String,
    clicks: String,
    views: String,
    region_counts: String,
    order_products: String,
    purchase_totals: String,
    activity: String,
}

impl Topics {
    fn new() -> Self {
        let t = |name: &str| unique_name(&format!("fidelity-{name}"));
        Self {
            users: t("users"),
            products: t("products"),
            orders: t("orders"),
            prices: t("prices"),
            purchases: t("purchases"),
            clicks: t("clicks"),
            views: t("views"),
            region_counts: t("region-counts"),
            order_products: t("order-products"),
            purchase_totals: t("purchase-totals"),
            activity: t("activity"),
        }
    }

    fn all(&self) -> [&str; 11] {
        [
            &self.users,
            &self.products,
            &self.orders,
            &self.prices,
            &self.purchases,
            &self.clicks,
            &self.views,
            &self.region_counts,
            &self.order_products,
            &self.purchase_totals,
            &self.activity,
        ]
    }

    fn outputs(&self) -> [&str; 4] {
        [&self.region_counts, &self.order_products, &self.purchase_totals, &self.activity]
    }
}

fn topology(t: &Topics) -> Topology {
    let mut b = StreamsBuilder::new();
    let strings = || Consumed::with(StringSerde, StringSerde);
    b.table(&t.users, strings(), Materialized::as_("users"))
        .group_by(
            |user, region| (region.clone(), user.clone()),
            Grouped::with(StringSerde, StringSerde).named("by-region"),
        )
        .count(Materialized::as_("users-per-region"))
        .to_stream()
        .to(&t.region_counts, Produced::with(StringSerde, U64Serde));

    let products = b.table(&t.products, strings(), Materialized::as_("products"));
    b.table(&t.orders, strings(), Materialized::as_("orders"))
        .join_foreign_key(
            &products,
            |pid| pid.clone(),
            |_pid, name| name.clone(),
            TableJoined::as_("order-product"),
        )
        .to_changelog_stream()
        .to(&t.order_products, Produced::with(StringSerde, OptionSerde(StringSerde)));

    let prices = b.table(
        &t.prices,
        Consumed::with(StringSerde, I64Serde),
        Materialized::as_("prices").versioned(Duration::from_secs(3600)),
    );
    b.stream(&t.purchases, Consumed::with(StringSerde, I64Serde))
        .join_table(&prices, |_item, quantity, price| quantity * price)
        .to(&t.purchase_totals, Produced::with(StringSerde, I64Serde));

    let views = b.stream(&t.views, strings()).group_by_key(Grouped::default());
    let clicks = b.stream(&t.clicks, strings()).group_by_key(Grouped::default());
    views
        .cogroup(|_user, _page, (v, c): (u64, u64)| (v + 1, c))
        .cogroup(&clicks, |_user, _link, (v, c): (u64, u64)| (v, c + 1))
        .aggregate(|| (0, 0), Materialized::as_("activity"))
        .to_stream()
        .to(&t.activity, Produced::with(StringSerde, JsonSerde::<(u64, u64)>::new()));
    b.build().unwrap()
}

/// Sends `(topic, key, value bytes or tombstone, timestamp)` records with the Java client's
/// partitioner (murmur2), as the runtime partitions repartition topics.
fn produce(servers: &str, records: &[(&str, &str, Option<Vec<u8>>, i64)]) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .create()
        .unwrap();
    for (topic, key, value, ts) in records {
        let mut rec: BaseRecord<'_, str, Vec<u8>> = BaseRecord::to(topic).key(*key).timestamp(*ts);
        if let Some(v) = value {
            rec = rec.payload(v);
        }
        p.send(rec).map_err(|(e, _)| e).unwrap();
        // One at a time, acknowledged, so each table update lands before the next record.
        p.flush(Duration::from_secs(30)).unwrap();
    }
}

fn text(s: &str) -> Option<Vec<u8>> {
    Some(s.as_bytes().to_vec())
}

fn number(n: i64) -> Option<Vec<u8>> {
    Some(n.to_be_bytes().to_vec())
}

/// One output record: its key and value bytes (`None`: a tombstone).
type KeyAndBytes = (String, Option<Vec<u8>>);

/// Every record of the output topics, in order per topic.
struct Outputs {
    consumer: BaseConsumer,
    got: BTreeMap<String, Vec<KeyAndBytes>>,
}

impl Outputs {
    fn new(servers: &str, topics: &[&str]) -> Self {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", servers)
            .set("group.id", unique_name("fidelity-reader"))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        consumer.subscribe(topics).unwrap();
        Self { consumer, got: BTreeMap::new() }
    }

    /// The latest value of each key of `topic`.
    fn latest(&self, topic: &str) -> BTreeMap<String, Option<Vec<u8>>> {
        self.got.get(topic).map(|rs| rs.iter().cloned().collect()).unwrap_or_default()
    }

    /// Reads until `done` holds; panics after `within`.
    fn read_until(&mut self, within: Duration, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + within;
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}: {:?}", self.got);
            if let Some(m) = self.consumer.poll(Duration::from_millis(200)) {
                let m = m.unwrap();
                let key = String::from_utf8(m.key().unwrap_or_default().to_vec()).unwrap();
                self.got
                    .entry(m.topic().to_string())
                    .or_default()
                    .push((key, m.payload().map(<[u8]>::to_vec)));
            }
        }
    }
}

fn count(v: &Option<Vec<u8>>) -> Option<u64> {
    v.as_deref().map(|b| U64Serde.deserialize(b).unwrap())
}

#[test]
fn stateful_fidelity_operators_keep_their_state_across_a_restart() {
    let started = Instant::now();
    let broker = Broker::shared();
    let servers = broker.bootstrap().to_string();
    let t = Topics::new();
    for topic in t.all() {
        broker.create_topic(topic, PARTITIONS).unwrap_or_else(|e| panic!("{e}"));
    }
    let app = unique_name("fidelity");
    let now = kstreams::core::now_ms();
    let at = |offset_s: i64| now - 600_000 + offset_s * 1000;

    // First instance: the first half of the input.
    let dir1 = tempfile::tempdir().unwrap();
    let mut streams = start(topology(&t), config(&servers, &app, "first", dir1.path()));
    produce(
        &servers,
        &[
            (&t.users, "alice", text("EU"), at(1)),
            (&t.users, "bob", text("EU"), at(2)),
            (&t.users, "carol", text("US"), at(3)),
            (&t.products, "p1", text("apple"), at(1)),
            (&t.products, "p2", text("pear"), at(1)),
            (&t.orders, "o1", text("p1"), at(2)),
            (&t.orders, "o2", text("p2"), at(2)),
            (&t.prices, "apple", number(3), at(10)),
            (&t.prices, "apple", number(4), at(50)),
            (&t.purchases, "apple", number(2), at(30)), // as of 30 s: price 3
            (&t.purchases, "apple", number(1), at(60)), // as of 60 s: price 4
            (&t.views, "u1", text("home"), at(1)),
            (&t.views, "u1", text("cart"), at(2)),
            (&t.clicks, "u1", text("buy"), at(3)),
        ],
    );
    let mut out = Outputs::new(&servers, &t.outputs());
    out.read_until(Duration::from_secs(90), "the first half's results", |o| {
        let regions = o.latest(&t.region_counts);
        let orders = o.latest(&t.order_products);
        let totals = o.got.get(&t.purchase_totals).map_or(0, Vec::len);
        let activity = o.latest(&t.activity);
        count(regions.get("EU").unwrap_or(&None)) == Some(2)
            && count(regions.get("US").unwrap_or(&None)) == Some(1)
            && orders.get("o1") == Some(&text("apple"))
            && orders.get("o2") == Some(&text("pear"))
            && totals >= 2
            && activity.get("u1") == Some(&Some(br#"[2,1]"#.to_vec()))
    });
    let totals: Vec<i64> = out.got[&t.purchase_totals]
        .iter()
        .map(|(_, v)| I64Serde.deserialize(v.as_deref().unwrap()).unwrap())
        .collect();
    assert_eq!(totals, vec![6, 4], "each purchase joins the price valid at its time");
    streams.close().unwrap();

    // Second instance, on an empty state directory: every store is restored from its changelog.
    let dir2 = tempfile::tempdir().unwrap();
    let mut streams = start(topology(&t), config(&servers, &app, "second", dir2.path()));
    produce(
        &servers,
        &[
            (&t.users, "bob", text("US"), at(70)), // leaves EU: subtracted from the restored count
            (&t.products, "p1", text("green apple"), at(70)), // the restored subscription of o1
            (&t.purchases, "apple", number(10), at(40)), // as of 40 s: the restored history, price 3
            (&t.clicks, "u1", text("buy again"), at(70)),
        ],
    );
    out.read_until(Duration::from_secs(90), "the second half's results", |o| {
        let regions = o.latest(&t.region_counts);
        let totals =
            o.got.get(&t.purchase_totals).map(|v| v.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>());
        count(regions.get("EU").unwrap_or(&None)) == Some(1)
            && count(regions.get("US").unwrap_or(&None)) == Some(2)
            && o.latest(&t.order_products).get("o1") == Some(&text("green apple"))
            && totals.is_some_and(|t| t.contains(&number(30)))
            && o.latest(&t.activity).get("u1") == Some(&Some(br#"[2,2]"#.to_vec()))
    });
    assert_eq!(o_latest_keys(&out, &t.order_products), vec!["o1", "o2"]);
    streams.close().unwrap();
    eprintln!("fidelity operators across a restart: {:?}", started.elapsed());
}

fn o_latest_keys(out: &Outputs, topic: &str) -> Vec<String> {
    out.latest(topic).into_keys().collect()
}
