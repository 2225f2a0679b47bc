//! Interactive queries against a running instance on rdkafka's mock cluster, with the DSL's
//! typed stores: key lookups and ranges in a key-value store, window fetches in a window
//! store, key metadata, and the errors a wrong query gets.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kstreams_dsl::prelude::*;
use kstreams_runtime::{KafkaStreams, RuntimeError};
use kstreams_state::{KeyValueStore, WindowStore};
use rdkafka::producer::{BaseRecord, Producer};
use support::*;

type Counts = KeyValueStore<String, u64>;
type WindowCounts = WindowStore<String, u64>;

fn word_counts(input: &str) -> Arc<Topology> {
    let mut b = StreamsBuilder::new();
    b.stream(input, Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::default())
        .count(Materialized::as_("word-counts"));
    Arc::new(b.build().unwrap())
}

fn per_minute_counts(input: &str) -> Arc<Topology> {
    let mut b = StreamsBuilder::new();
    b.stream(input, Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::default())
        .windowed_by(TumblingWindows::of(Duration::from_secs(60)))
        .count(Materialized::as_("per-minute"));
    Arc::new(b.build().unwrap())
}

/// Produces `(key, timestamp)` records (value `x`) with the default (murmur2) partitioner.
fn produce_at(cluster: &Mock, topic: &str, records: &[(&str, i64)]) {
    let p = producer(cluster);
    for (k, ts) in records {
        p.send(BaseRecord::to(topic).key(*k).payload("x").timestamp(*ts)).map_err(|(e, _)| e).unwrap();
    }
    p.flush(Duration::from_secs(10)).unwrap();
}

/// Retries `f` until it returns `Some` (the instance processes asynchronously).
fn eventually<R>(what: &str, mut f: impl FnMut() -> Option<R>) -> R {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(r) = f() {
            return r;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn key_lookups_and_ranges_read_the_key_value_store_of_the_owning_task() {
    init_tracing();
    let cluster = mock_cluster(&[("words", 3)]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&cluster, "iq-kv", dir.path()).application_server("localhost:7070").build().unwrap();
    let mut streams = KafkaStreams::new(word_counts("words"), cfg);

    let queries = streams.queries();
    let before = queries.query::<Counts, _>("word-counts", |_, s| s.all().unwrap());
    assert!(matches!(before, Err(RuntimeError::IllegalState { .. })), "not started: {before:?}");

    streams.start_with_topic_creator(&cluster).unwrap();
    wait_running(&streams);
    let now = 1_700_000_000_000;
    produce_at(&cluster, "words", &[("a", now), ("b", now), ("a", now), ("c", now), ("a", now), ("b", now)]);

    // A key lookup runs only in the task of the key's partition, from another thread.
    let a = eventually("a = 3", || {
        let q = queries.clone();
        let found = std::thread::spawn(move || {
            q.query_key::<Counts, _, _>("word-counts", &"a".to_string(), &StringSerde, |s| {
                s.get(&"a".to_string()).unwrap()
            })
            .unwrap()
        })
        .join()
        .unwrap();
        found.flatten().filter(|n| *n == 3)
    });
    assert_eq!(a, 3);
    let meta = streams.metadata_for_key("word-counts", &"a".to_string(), &StringSerde).unwrap();
    assert_eq!(meta.partition, kstreams_core::default_partition(b"a", 3));
    assert!(meta.local);
    assert_eq!(meta.host.as_deref(), Some("localhost:7070"));

    // A scan runs in every task; each holds the keys of its partition.
    let per_task = eventually("all counts", || {
        let t = streams.query_store::<Counts, _>("word-counts", |_, s| s.all().unwrap()).unwrap();
        (t.values().map(Vec::len).sum::<usize>() == 3).then_some(t)
    });
    assert_eq!(per_task.len(), 3, "one answer per task");
    for (task, entries) in &per_task {
        for (k, _) in entries {
            assert_eq!(kstreams_core::default_partition(k.as_bytes(), 3), task.partition);
        }
    }
    let all: BTreeMap<String, u64> = per_task.into_values().flatten().collect();
    assert_eq!(all, BTreeMap::from([("a".into(), 3), ("b".into(), 2), ("c".into(), 1)]));
    let range: BTreeMap<String, u64> = streams
        .query_store::<Counts, _>("word-counts", |_, s| s.range(&"a".into(), &"b".into()).unwrap())
        .unwrap()
        .into_values()
        .flatten()
        .collect();
    assert_eq!(range, BTreeMap::from([("a".into(), 3), ("b".into(), 2)]));

    // Metadata of this instance.
    let meta = streams.all_metadata();
    assert_eq!(meta.len(), 1);
    assert_eq!(meta[0].tasks.len(), 3);
    assert!(meta[0].store_names.contains("word-counts"));
    assert_eq!(meta[0].topic_partitions.len(), 3);

    // Wrong queries say what is wrong, and the instance keeps running.
    let unknown = queries.query::<Counts, _>("nope", |_, _| ()).unwrap_err();
    assert!(matches!(unknown, RuntimeError::UnknownStore { .. }), "{unknown}");
    let wrong_type = queries.query::<WindowCounts, _>("word-counts", |_, _| ()).unwrap_err();
    assert!(matches!(wrong_type, RuntimeError::Query { .. }), "{wrong_type}");
    // The query panics once per task, and with RUST_BACKTRACE set each panic prints a
    // symbolized backtrace of a debug build: on a loaded machine the three can take longer
    // than the default 10 s wait, which is not what is tested here.
    let patient = queries.clone().with_timeout(Duration::from_secs(120));
    let panicked = patient.query::<Counts, ()>("word-counts", |_, _| panic!("bad query")).unwrap_err();
    assert!(panicked.to_string().contains("bad query"), "{panicked}");
    assert_eq!(streams.state(), kstreams_runtime::State::Running);

    streams.close().unwrap();
    let after = queries.query::<Counts, _>("word-counts", |_, s| s.all().unwrap());
    assert!(matches!(after, Err(RuntimeError::IllegalState { .. })), "closed: {after:?}");
}

#[test]
fn window_fetches_read_the_window_store() {
    init_tracing();
    let cluster = mock_cluster(&[("readings", 2)]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&cluster, "iq-window", dir.path()).build().unwrap();
    let mut streams = KafkaStreams::new(per_minute_counts("readings"), cfg);
    streams.start_with_topic_creator(&cluster).unwrap();
    wait_running(&streams);
    let base: i64 = 1_700_000_040_000; // a minute boundary
    assert_eq!(base % 60_000, 0);
    produce_at(
        &cluster,
        "readings",
        &[("s1", base + 1_000), ("s1", base + 2_000), ("s2", base + 3_000), ("s1", base + 61_000)],
    );

    let key = "s1".to_string();
    let windows = eventually("two windows of s1", || {
        let k = key.clone();
        let found = streams
            .query_key::<WindowCounts, _, _>("per-minute", &key, &StringSerde, move |s| {
                s.fetch_range(&k, base, base + 60_000).unwrap()
            })
            .unwrap()?;
        (found.len() == 2 && found[1].1 == 1).then_some(found)
    });
    assert_eq!(windows, vec![(base, 2), (base + 60_000, 1)]);
    let k = key.clone();
    let first = streams.query_key::<WindowCounts, _, _>("per-minute", &key, &StringSerde, move |s| {
        s.fetch(&k, base).unwrap()
    });
    assert_eq!(first.unwrap(), Some(Some(2)));
    // Every key's windows in a time range, across tasks.
    let mut all: Vec<(String, i64, u64)> = streams
        .query_store::<WindowCounts, _>("per-minute", move |_, s| s.fetch_all(base, base).unwrap())
        .unwrap()
        .into_values()
        .flatten()
        .collect();
    all.sort();
    assert_eq!(all, vec![("s1".into(), base, 2), ("s2".into(), base, 1)]);
    streams.close().unwrap();
}

/// A key of `store`'s input (`partitions` partitions) whose task is `task`.
fn key_of_task(task: kstreams_core::TaskId, partitions: i32) -> String {
    (0..)
        .map(|i| format!("key-{i}"))
        .find(|k| kstreams_core::default_partition(k.as_bytes(), partitions) == task.partition)
        .unwrap()
}

#[test]
fn instances_know_which_of_them_hosts_a_key() {
    init_tracing();
    let cluster = mock_cluster(&[("words", 2)]);
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (host_a, host_b) = ("127.0.0.1:7001", "127.0.0.1:7002");
    let instance = |dir: &std::path::Path, host: &str| {
        let cfg = config(&cluster, "iq-hosts", dir).application_server(host).build().unwrap();
        let mut streams = KafkaStreams::new(word_counts("words"), cfg);
        streams.start_with_topic_creator(&cluster).unwrap();
        streams
    };
    let mut a = instance(d1.path(), host_a);
    wait_running(&a);
    let mut b = instance(d2.path(), host_b);
    let (task_a, task_b) = eventually("one task each", || {
        let (ta, tb) = (a.active_tasks(), b.active_tasks());
        let running =
            a.state() == kstreams_runtime::State::Running && b.state() == kstreams_runtime::State::Running;
        (running && ta.len() == 1 && tb.len() == 1).then(|| (ta[0], tb[0]))
    });
    let (key_a, key_b) = (key_of_task(task_a, 2), key_of_task(task_b, 2));

    // Each instance names the other as the host of the other's keys, once announced.
    let remote = eventually("a knows b's key", || {
        let meta = a.metadata_for_key("word-counts", &key_b, &StringSerde).unwrap();
        meta.host.is_some().then_some(meta)
    });
    assert_eq!((remote.task, remote.local, remote.host.as_deref()), (task_b, false, Some(host_b)));
    let local = a.metadata_for_key("word-counts", &key_a, &StringSerde).unwrap();
    assert_eq!((local.task, local.local, local.host.as_deref()), (task_a, true, Some(host_a)));
    let from_b = eventually("b knows a's key", || {
        b.metadata_for_key("word-counts", &key_a, &StringSerde).unwrap().host
    });
    assert_eq!(from_b, host_a);

    // Every instance, this one first.
    let all = a.all_metadata();
    let summary: Vec<(Option<&str>, Vec<kstreams_core::TaskId>)> =
        all.iter().map(|m| (m.host.as_deref(), m.tasks.clone())).collect();
    assert_eq!(summary, vec![(Some(host_a), vec![task_a]), (Some(host_b), vec![task_b])]);
    assert!(all.iter().all(|m| m.store_names.contains("word-counts") && m.topic_partitions.len() == 1));

    // b leaves: a takes its task over and answers for both keys itself.
    b.close().unwrap();
    let meta = eventually("a hosts b's old key", || {
        let meta = a.metadata_for_key("word-counts", &key_b, &StringSerde).unwrap();
        (meta.local && a.state() == kstreams_runtime::State::Running).then_some(meta)
    });
    assert_eq!(meta.host.as_deref(), Some(host_a));
    let all = eventually("b's tombstone read", || {
        let all = a.all_metadata();
        (all.len() == 1).then_some(all)
    });
    assert_eq!(all[0].tasks.len(), 2);
    a.close().unwrap();
}
