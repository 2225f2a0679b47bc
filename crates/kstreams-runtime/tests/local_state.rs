//! Local RocksDB state across restarts, on rdkafka's mock cluster: each flush records the
//! input offsets the state reflects (the input position) in the same write batch, and a task
//! keeps its local state only if that position is not ahead of the group's committed offsets.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kstreams_dsl::prelude::*;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use support::*;

const APP: &str = "local-state";
const KEYS: [&str; 3] = ["alpha", "beta", "gamma"];

/// Counts per key in a cached RocksDB store, emitted to `out`.
fn rocks_counts() -> Arc<Topology> {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::default())
        .count(Materialized::as_("counts").with_store_type(StoreType::RocksDb))
        .to_stream()
        .to("out", Produced::with(StringSerde, U64Serde));
    Arc::new(b.build().unwrap())
}

/// The end offset of each partition of `in`.
fn input_ends(cluster: &Mock) -> BTreeMap<i32, i64> {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", cluster.bootstrap_servers()).create().unwrap();
    (0..2).map(|p| (p, consumer.fetch_watermarks("in", p, Duration::from_secs(5)).unwrap().1)).collect()
}

/// Waits until the application committed every record of `in`; returns the offsets.
fn wait_committed_to_end(cluster: &Mock) -> BTreeMap<i32, i64> {
    let ends = input_ends(cluster);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = committed(cluster, APP, "in", 2);
        if ends.iter().all(|(p, end)| *end == 0 || now.get(p) == Some(end)) {
            return now;
        }
        assert!(Instant::now() < deadline, "committed {now:?}, ends {ends:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sets the application's committed offsets of `in` while no instance runs, as a member of
/// its group (the mock cluster refuses commits from outside the group).
fn commit_offsets(cluster: &Mock, offsets: &BTreeMap<i32, i64>) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("group.id", APP)
        .set("enable.auto.commit", "false")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    consumer.subscribe(&["in"]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while consumer.assignment().unwrap().count() < 2 {
        assert!(Instant::now() < deadline, "the offset setter never got the partitions");
        let _ = consumer.poll(Duration::from_millis(100));
    }
    let mut tpl = TopicPartitionList::new();
    for (p, o) in offsets {
        tpl.add_partition_offset("in", *p, Offset::Offset(*o)).unwrap();
    }
    consumer.commit(&tpl, CommitMode::Sync).unwrap();
    consumer.unsubscribe();
    drop(consumer);
    assert_eq!(&committed(cluster, APP, "in", 2), offsets);
}

/// The highest and the last count emitted per key (in partition order), read until every key's
/// last count is `n` or 10 s passed.
fn max_and_last(cluster: &Mock, n: i64) -> BTreeMap<String, (i64, i64)> {
    let summary = |records: &[Read]| -> BTreeMap<String, (i64, i64)> {
        counts_by_key(records)
            .into_iter()
            .map(|(k, v)| (k, (v.iter().copied().max().unwrap_or(0), v.last().copied().unwrap_or(0))))
            .collect()
    };
    let out = read_until(cluster, "out", Duration::from_secs(10), |r| {
        let s = summary(r);
        s.len() == KEYS.len() && s.values().all(|(_, last)| *last == n)
    });
    summary(&out)
}

/// Changelog records restored into the `counts` store so far.
fn restored_records() -> u64 {
    ["0_0", "0_1"]
        .iter()
        .map(|task| {
            let labels = [("task", *task), ("store", "counts"), ("thread", "local-state-StreamThread-1")];
            counter("kstreams_restored_records_total", &labels)
        })
        .sum()
}

#[test]
fn local_state_is_kept_at_the_committed_position_and_wiped_when_ahead_of_it() {
    init_tracing();
    install_recorder();
    let cluster = mock_cluster(&[("in", 2), ("out", 2)]);
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let cfg = config(&cluster, APP, dir.path()).client_id(APP).build().unwrap();
        let streams = start(&cluster, rocks_counts(), cfg);
        wait_running(&streams);
        streams
    };
    let want =
        |n: i64| -> BTreeMap<String, (i64, i64)> { KEYS.iter().map(|k| (k.to_string(), (n, n))).collect() };

    // Run 1: three records per key, committed (the position K1), then two more (K2).
    let mut first = run();
    produce_keyed(&cluster, "in", &keyed_records(&KEYS, 3));
    let k1 = wait_committed_to_end(&cluster);
    produce_keyed(&cluster, "in", &keyed_records(&KEYS, 2));
    let k2 = wait_committed_to_end(&cluster);
    assert_ne!(k1, k2);
    first.close().unwrap();
    assert_eq!(max_and_last(&cluster, 5), want(5));
    assert_eq!(restored_records(), 0, "a fresh start restores nothing");

    // Run 2 on the same state: its input position equals the committed offsets, so the state
    // is kept and nothing is restored; one more record per key counts on from 5.
    let mut second = run();
    assert_eq!(restored_records(), 0, "state at the committed position is kept");
    produce_keyed(&cluster, "in", &keyed_records(&KEYS, 1));
    wait_committed_to_end(&cluster);
    second.close().unwrap();
    assert_eq!(max_and_last(&cluster, 6), want(6));

    // The committed offsets go back to K1 (as if the last commits had never happened): the
    // local state, which counts 6 per key, is ahead of them. Run 3 must wipe it and restore
    // the changelog only up to K1 (3 per key), then count the 3 records after K1 again.
    commit_offsets(&cluster, &k1);
    let mut third = run();
    assert!(restored_records() > 0, "the wiped state was restored from the changelog");
    wait_committed_to_end(&cluster);
    third.close().unwrap();
    // Kept instead of wiped, the counts would reach 9: the re-processed records twice.
    assert_eq!(max_and_last(&cluster, 6), want(6), "re-processing after K1 repeats the same counts");
}
