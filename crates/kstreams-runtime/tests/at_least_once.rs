//! The runtime against rdkafka's in-process mock cluster, at-least-once: end to end, restarts
//! with and without local state, two instances in one group, dead letters.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kstreams_core::{I64Serde, StringSerde};
use kstreams_core::{TaskId, TopicRef, Topology};
use kstreams_runtime::{KafkaStreams, State};
use support::*;

const KEYS: [&str; 3] = ["alpha", "beta", "gamma"];

fn expected(n: i64) -> BTreeMap<String, Vec<i64>> {
    KEYS.iter().map(|k| (k.to_string(), (1..=n).collect())).collect()
}

#[test]
fn one_instance_counts_exactly_and_reports_its_states() {
    init_tracing();
    let cluster = mock_cluster(&[("input", 3), ("output", 3)]);
    let dir = tempfile::tempdir().unwrap();
    let restored = Arc::new(AtomicU64::new(0));
    let cfg = config(&cluster, "e2e", dir.path()).build().unwrap();
    let mut streams = KafkaStreams::new(count_topology("input", "output", restored.clone()), cfg);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    streams.set_state_listener(move |new, old| s.lock().unwrap().push((old, new)));
    streams.start_with_topic_creator(&cluster).unwrap();
    wait_running(&streams);
    assert_eq!(streams.active_tasks().len(), 3);

    produce_keyed(&cluster, "input", &keyed_records(&KEYS, 10));
    let out = read_until(&cluster, "output", Duration::from_secs(30), |r| r.len() >= 30);
    // Give a duplicate the chance to show up before comparing.
    let out_again = read_until(&cluster, "output", Duration::from_millis(500), |_| false);
    assert_eq!(out.len(), 30);
    assert_eq!(out_again.len(), 30, "no extra output");
    assert_eq!(counts_by_key(&out), expected(10));

    streams.close().unwrap();
    assert_eq!(streams.state(), State::NotRunning);
    use State::*;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.first(), Some(&(Created, Rebalancing)));
    assert!(seen.contains(&(Rebalancing, Running)), "{seen:?}");
    assert_eq!(&seen[seen.len() - 2..], &[(Running, PendingShutdown), (PendingShutdown, NotRunning)]);
    assert_eq!(restored.load(Ordering::SeqCst), 0, "a fresh start has nothing to restore");

    // The changelog was created with the input's partition count, and each task checkpointed it.
    let changelog = read_until(&cluster, "e2e-counts-changelog", Duration::from_secs(10), |r| r.len() >= 30);
    assert_eq!(changelog.len(), 30);
    assert!(changelog.iter().all(|r| r.headers.contains_key(kstreams_core::INPUT_OFFSET_HEADER)));
    let mut total = 0;
    for p in 0..3 {
        let file = dir
            .path()
            .join("e2e")
            .join(TaskId { subtopology: 0, partition: p }.to_string())
            .join(".checkpoint");
        let text = std::fs::read_to_string(file).expect("checkpoint written on close");
        let offsets = kstreams_core::Offsets::parse(&text).unwrap();
        total += offsets.get("e2e-counts-changelog", p).unwrap();
    }
    assert_eq!(total, 30, "checkpoints cover the whole changelog");
    // Offsets: every input record committed.
    let committed = committed(&cluster, "e2e", "input", 3);
    assert_eq!(committed.values().sum::<i64>(), 30, "{committed:?}");
}

#[test]
fn restart_honours_the_checkpoint_and_restores_without_it() {
    init_tracing();
    let cluster = mock_cluster(&[("in", 2), ("out", 2)]);
    let dir = tempfile::tempdir().unwrap();
    let restored = Arc::new(AtomicU64::new(0));
    let run = |state_dir: &std::path::Path, restored: &Arc<AtomicU64>| {
        let cfg = config(&cluster, "restart", state_dir).build().unwrap();
        let streams = start(&cluster, count_topology("in", "out", restored.clone()), cfg);
        wait_running(&streams);
        streams
    };

    let mut first = run(dir.path(), &restored);
    produce_keyed(&cluster, "in", &keyed_records(&KEYS, 5));
    assert_eq!(read_until(&cluster, "out", Duration::from_secs(30), |r| r.len() >= 15).len(), 15);
    first.close().unwrap();
    assert_eq!(restored.load(Ordering::SeqCst), 0);

    // Same state directory: the checkpoint covers the changelog, nothing is restored.
    let mut second = run(dir.path(), &restored);
    assert_eq!(restored.load(Ordering::SeqCst), 0, "checkpoint honoured: nothing restored twice");
    produce_keyed(&cluster, "in", &keyed_records(&KEYS, 1));
    let out = read_until(&cluster, "out", Duration::from_secs(30), |r| r.len() >= 18);
    assert_eq!(counts_by_key(&out), expected(6));
    second.close().unwrap();

    // A fresh state directory: everything comes back from the changelog.
    let fresh = tempfile::tempdir().unwrap();
    let mut third = run(fresh.path(), &restored);
    assert_eq!(restored.load(Ordering::SeqCst), 18, "full restore of the 18 changelog records");
    produce_keyed(&cluster, "in", &keyed_records(&KEYS, 1));
    let out = read_until(&cluster, "out", Duration::from_secs(30), |r| r.len() >= 21);
    assert_eq!(counts_by_key(&out), expected(7), "same results after a full restore");
    third.close().unwrap();
}

#[test]
fn two_instances_split_the_partitions() {
    init_tracing();
    let cluster = mock_cluster(&[("events", 4), ("totals", 4)]);
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let restored = Arc::new(AtomicU64::new(0));
    let mut a = start(
        &cluster,
        count_topology("events", "totals", restored.clone()),
        config(&cluster, "split", d1.path()).build().unwrap(),
    );
    wait_running(&a);
    let mut b = start(
        &cluster,
        count_topology("events", "totals", restored.clone()),
        config(&cluster, "split", d2.path()).build().unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(45);
    loop {
        let (ta, tb) = (a.active_tasks(), b.active_tasks());
        let split = !ta.is_empty()
            && !tb.is_empty()
            && ta.len() + tb.len() == 4
            && ta.iter().all(|t| !tb.contains(t));
        if split && a.state() == State::Running && b.state() == State::Running {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "partitions not split: a={ta:?} b={tb:?} ({}, {})",
            a.state(),
            b.state()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    produce_keyed(&cluster, "events", &keyed_records(&["k1", "k2", "k3", "k4", "k5", "k6"], 4));
    let out = read_until(&cluster, "totals", Duration::from_secs(30), |r| r.len() >= 24);
    let want: BTreeMap<String, Vec<i64>> = (1..=6).map(|i| (format!("k{i}"), (1..=4).collect())).collect();
    assert_eq!(counts_by_key(&out), want);
    a.close().unwrap();
    b.close().unwrap();
}

#[test]
fn undeserializable_records_go_to_the_dead_letter_topic() {
    init_tracing();
    let cluster = mock_cluster(&[("numbers", 1), ("doubled", 1), ("numbers-dlq", 1)]);
    let dir = tempfile::tempdir().unwrap();
    let mut t = Topology::new();
    let src = t
        .add_source(
            "source",
            vec![TopicRef::External("numbers".into())],
            Arc::new(StringSerde),
            Arc::new(I64Serde),
            None,
        )
        .unwrap();
    t.add_sink(
        "sink",
        TopicRef::External("doubled".into()),
        &[src],
        Arc::new(StringSerde),
        Arc::new(I64Serde),
    )
    .unwrap();
    let cfg = config(&cluster, "dlq", dir.path())
        .deserialization_handler("dead_letter:numbers-dlq")
        .build()
        .unwrap();
    let mut streams = start(&cluster, Arc::new(t), cfg);
    wait_running(&streams);
    produce(&cluster, "numbers", &[(Some("good"), &7i64.to_be_bytes())]);
    produce_with_headers(&cluster, "numbers", &[(Some("bad"), b"xyz")], &[("trace", "t-1")]);
    produce(&cluster, "numbers", &[(Some("good"), &8i64.to_be_bytes())]);

    let dead = read_until(&cluster, "numbers-dlq", Duration::from_secs(30), |r| !r.is_empty());
    assert_eq!(dead.len(), 1);
    let d = &dead[0];
    assert_eq!(d.key.as_deref(), Some(&b"bad"[..]));
    assert_eq!(d.value.as_deref(), Some(&b"xyz"[..]), "original bytes");
    assert_eq!(d.headers["trace"], b"t-1", "original headers kept");
    assert_eq!(d.headers["kstreams.source.topic"], b"numbers");
    assert_eq!(d.headers["kstreams.source.partition"], b"0");
    assert_eq!(d.headers["kstreams.source.offset"], b"1");
    assert!(String::from_utf8_lossy(&d.headers["kstreams.error"]).contains("expected 8 bytes"));
    let good = read_until(&cluster, "doubled", Duration::from_secs(30), |r| r.len() >= 2);
    assert_eq!(good.len(), 2, "processing continued after the bad record");
    streams.close().unwrap();
    assert_eq!(streams.state(), State::NotRunning);
}

#[test]
fn start_fails_when_a_source_topic_is_missing() {
    init_tracing();
    let cluster = mock_cluster(&[("output", 1)]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&cluster, "missing", dir.path()).build().unwrap();
    let mut streams = KafkaStreams::new(count_topology("nope", "output", Arc::default()), cfg);
    let err = streams.start_with_topic_creator(&cluster).unwrap_err().to_string();
    assert!(err.contains("`nope`"), "{err}");
    assert_eq!(streams.state(), State::Created);
}

/// Text → length (to `output`), panicking on `boom` (user code with a bug).
fn fragile_lengths(output: &str) -> Arc<Topology> {
    use kstreams_dsl::prelude::{Consumed, Produced, StreamsBuilder, U64Serde};
    let mut b = StreamsBuilder::new();
    b.stream("words", Consumed::with(StringSerde, StringSerde))
        .map_values(|v: String| {
            assert_ne!(v, "boom", "cannot measure a boom");
            v.len() as u64
        })
        .to(output, Produced::with(StringSerde, U64Serde));
    Arc::new(b.build().unwrap())
}

#[test]
fn a_panic_in_user_code_fails_the_instance_cleanly_or_is_skipped_as_configured() {
    init_tracing();
    let cluster = mock_cluster(&[("words", 1), ("lengths-1", 1), ("lengths-2", 1)]);
    let records: [(Option<&str>, &[u8]); 3] = [(Some("k"), b"abc"), (Some("k"), b"boom"), (Some("k"), b"de")];
    produce(&cluster, "words", &records);

    // Default (log_and_fail): the instance goes to ERROR naming the record, and closes.
    let dir = tempfile::tempdir().unwrap();
    let mut failing = start(
        &cluster,
        fragile_lengths("lengths-1"),
        config(&cluster, "fragile", dir.path()).build().unwrap(),
    );
    let state = failing.wait_for_state(State::Error, Duration::from_secs(30));
    assert_eq!(state, State::Error);
    let error = failing.error().unwrap_or_default();
    assert!(error.contains("cannot measure a boom") && error.contains("words-0@1"), "{error}");
    failing.close_timeout(Duration::from_secs(30)).unwrap();

    // log_and_continue: the record is skipped, the others go through, the instance runs on.
    let dir = tempfile::tempdir().unwrap();
    let cfg =
        config(&cluster, "tolerant", dir.path()).set("processing.exception.handler", "log_and_continue");
    let mut tolerant = start(&cluster, fragile_lengths("lengths-2"), cfg.build().unwrap());
    let out = read_until(&cluster, "lengths-2", Duration::from_secs(30), |r| r.len() >= 2);
    let lengths: Vec<u64> =
        out.iter().map(|r| u64::from_be_bytes(r.value.as_deref().unwrap().try_into().unwrap())).collect();
    assert_eq!(lengths, vec![3, 2]);
    assert_eq!(tolerant.state(), State::Running);
    tolerant.close().unwrap();
}
