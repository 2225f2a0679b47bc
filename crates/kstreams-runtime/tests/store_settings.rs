//! `cache.max.bytes` and the RocksDB settings reach the DSL's stores: with no cache, every
//! update of a count is logged; with the default cache, updates between commits collapse.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kstreams_dsl::prelude::*;
use kstreams_runtime::KafkaStreams;
use kstreams_state::KeyValueStore;
use support::*;

/// Counts five records of one key, then closes (one commit, at shutdown) and returns the
/// changelog records of the count store.
fn changelog_after_five_updates(app: &str, cache_max_bytes: Option<u64>) -> Vec<Read> {
    init_tracing();
    let cluster = mock_cluster(&[("words", 1)]);
    let dir = tempfile::tempdir().unwrap();
    let mut b = StreamsBuilder::new();
    b.stream("words", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::default())
        .count(Materialized::as_("word-counts"));
    let mut cfg = config(&cluster, app, dir.path())
        .commit_interval(Duration::from_secs(600))
        .rocksdb_block_cache_bytes(4 << 20)
        .rocksdb_write_buffer_bytes(1 << 20);
    if let Some(bytes) = cache_max_bytes {
        cfg = cfg.cache_max_bytes(bytes);
    }
    let mut streams = KafkaStreams::new(Arc::new(b.build().unwrap()), cfg.build().unwrap());
    streams.start_with_topic_creator(&cluster).unwrap();
    wait_running(&streams);
    let records: Vec<(Option<&str>, &[u8])> = vec![(Some("a"), b"x"); 5];
    produce(&cluster, "words", &records);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = streams
            .query_key::<KeyValueStore<String, u64>, _, _>(
                "word-counts",
                &"a".to_string(),
                &StringSerde,
                |s| s.get(&"a".into()).unwrap(),
            )
            .unwrap()
            .flatten();
        if n == Some(5) {
            break;
        }
        assert!(Instant::now() < deadline, "count did not reach 5: {n:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    streams.close().unwrap();
    let topic = format!("{app}-word-counts-changelog");
    read_until(&cluster, &topic, Duration::from_secs(2), |r| r.len() > 5)
}

/// The count in a changelog record: the aggregation's store keeps each value's timestamp (8
/// bytes, Kafka's timestamped layout) before the bincode-encoded count.
fn count(r: &Read) -> u64 {
    BincodeSerde::<u64>::new().deserialize(&r.value.as_deref().unwrap()[8..]).unwrap()
}

#[test]
fn without_a_cache_every_update_is_logged() {
    let logged = changelog_after_five_updates("no-cache", Some(0));
    let counts: Vec<u64> = logged.iter().map(count).collect();
    assert_eq!(counts, vec![1, 2, 3, 4, 5]);
}

#[test]
fn the_default_cache_logs_the_last_update_per_commit() {
    let logged = changelog_after_five_updates("default-cache", None);
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(count(&logged[0]), 5);
}
