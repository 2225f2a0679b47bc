//! Changelogging and caching stacks: what reaches the changelog, and restoring from it.

use crate::common::{self, collect};
use kstreams_state::*;

fn log_of(sink: &CollectingSink) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    sink.take().into_iter().map(|r| (r.key, r.value)).collect()
}

#[test]
fn kv_round_trip_through_the_changelog() {
    for kind in ["logging_memory", "logging_rocks"] {
        let mut f = common::kv(kind);
        let s = f.store.as_mut();
        s.put(b"a", b"1").unwrap();
        s.put(b"b", b"2").unwrap();
        s.delete(b"a").unwrap();
        s.write_batch(&[(b"c".to_vec(), Some(b"3".to_vec())), (b"b".to_vec(), None)]).unwrap();
        s.put(b"b", b"4").unwrap();
        let records = f.sink.as_ref().unwrap().records();
        assert!(records.iter().all(|r| r.store == common::STORE));
        let log = log_of(f.sink.as_ref().unwrap());
        assert_eq!(log.len(), 6);
        assert_eq!(log[2], (b"a".to_vec(), None), "deletes are tombstones");
        for target in ["memory", "rocks"] {
            let mut fresh = common::kv(target);
            restore_kv(fresh.store.as_mut(), &log).unwrap();
            assert_eq!(collect(fresh.store.all().unwrap()), collect(f.store.all().unwrap()));
        }
    }
}

#[test]
fn window_round_trip_through_the_changelog() {
    for kind in ["logging_memory", "logging_rocks", "logging_memory_dup", "logging_rocks_dup"] {
        let mut f = common::window(kind);
        let s = f.store.as_mut();
        s.put(b"k", 10, Some(b"1")).unwrap();
        s.put(b"k", 10, Some(b"2")).unwrap();
        s.put(b"a", -5, Some(b"3")).unwrap();
        s.put(b"k", 200_000, Some(b"4")).unwrap();
        assert_eq!(s.put(b"k", 10, Some(b"late")).unwrap(), PutOutcome::Expired);
        if !s.retains_duplicates() {
            s.put(b"k", 200_000, None).unwrap();
            s.put(b"k", 190_000, Some(b"5")).unwrap();
        }
        let log = log_of(f.sink.as_ref().unwrap());
        let dup = kind.contains("dup");
        assert_eq!(log.len(), if dup { 4 } else { 6 }, "expired puts are not logged");
        let keys: std::collections::HashSet<_> = log.iter().map(|(k, _)| k.clone()).collect();
        if dup {
            assert_eq!(keys.len(), 4, "duplicates get distinct changelog keys");
        }
        let decoded = window_key::decode(&log[0].0).unwrap();
        assert_eq!((decoded.key, decoded.start, decoded.seq.is_some()), (&b"k"[..], 10, dup));
        let mut fresh = common::window(kind.trim_start_matches("logging_"));
        restore_window(fresh.store.as_mut(), &log).unwrap();
        assert_eq!(fresh.store.all().unwrap(), f.store.all().unwrap(), "{kind}");
        assert_eq!(fresh.store.observed_stream_time(), f.store.observed_stream_time());
    }
}

#[test]
fn session_round_trip_through_the_changelog() {
    for kind in ["logging_memory", "logging_rocks"] {
        let mut f = common::session(kind);
        let s = f.store.as_mut();
        s.put(b"k", 0, 10, Some(b"a")).unwrap();
        s.put(b"k", 0, 10, None).unwrap();
        s.put(b"k", 0, 20, Some(b"b")).unwrap();
        s.put(b"j", -3, -1, Some(b"c")).unwrap();
        let log = log_of(f.sink.as_ref().unwrap());
        assert_eq!(log.len(), 4);
        let first = session_key::decode(&log[0].0).unwrap();
        assert_eq!((first.key, first.start, first.end), (&b"k"[..], 0, 10));
        let mut fresh = common::session(kind.trim_start_matches("logging_"));
        restore_session(fresh.store.as_mut(), &log).unwrap();
        assert_eq!(fresh.store.all().unwrap(), f.store.all().unwrap());
    }
}

#[test]
fn restore_rejects_keys_of_the_wrong_layout() {
    let mut f = common::window("memory");
    let bad = vec![(b"not a window key".to_vec(), Some(b"v".to_vec()))];
    assert!(matches!(restore_window(f.store.as_mut(), &bad), Err(StoreError::Corrupt { .. })));
    let mut f = common::session("memory");
    assert!(matches!(restore_session(f.store.as_mut(), &bad), Err(StoreError::Corrupt { .. })));
}

#[test]
fn cache_over_changelog_logs_once_per_flush() {
    for kind in ["caching_logging_memory", "caching_logging_rocks"] {
        let mut f = common::kv(kind);
        let sink = f.sink.clone().unwrap();
        for n in 0..100u32 {
            f.store.put(b"hot", &n.to_be_bytes()).unwrap();
        }
        assert!(sink.is_empty(), "nothing logged before flush");
        f.store.flush().unwrap();
        assert_eq!(log_of(&sink), vec![(b"hot".to_vec(), Some(99u32.to_be_bytes().to_vec()))]);
        f.store.put(b"hot", b"x").unwrap();
        f.store.delete(b"hot").unwrap();
        f.store.flush().unwrap();
        assert_eq!(log_of(&sink), vec![(b"hot".to_vec(), None)]);
        f.store.flush().unwrap();
        assert!(sink.is_empty(), "a clean cache logs nothing");

        let mut w = common::window(kind);
        let sink = w.sink.clone().unwrap();
        for n in 0..100u32 {
            w.store.put(b"hot", 1_000, Some(&n.to_be_bytes())).unwrap();
        }
        assert!(sink.is_empty());
        w.store.flush().unwrap();
        assert_eq!(log_of(&sink).len(), 1);
    }
}

#[test]
fn tiny_cache_evicts_through_to_the_changelog() {
    let mut f = common::kv_with_cache("caching_logging_memory", 200);
    let sink = f.sink.clone().unwrap();
    for i in 0..10u8 {
        f.store.put(&[i], &[i; 10]).unwrap();
    }
    assert!(!sink.is_empty(), "evictions wrote through before flush");
    f.store.flush().unwrap();
    let mut logged: Vec<u8> = log_of(&sink).into_iter().map(|(k, _)| k[0]).collect();
    logged.sort_unstable();
    assert_eq!(logged, (0..10).collect::<Vec<_>>(), "every key logged exactly once");
    for i in 0..10u8 {
        assert_eq!(f.store.get(&[i]).unwrap(), Some(vec![i; 10]));
    }
}

#[test]
fn cache_counts_hits_misses_and_evictions() {
    let mut cache = CachingKeyValueStore::new(Box::new(MemoryKeyValueStore::new("s")), 150);
    cache.put(b"a", b"1").unwrap();
    assert_eq!(cache.get(b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(cache.get(b"zz").unwrap(), None);
    cache.put(b"b", b"2").unwrap();
    cache.put(b"c", b"3").unwrap();
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (1, 1));
    assert!(stats.evictions >= 1 && stats.writes >= 1, "{stats:?}");
    assert_eq!(cache.get(b"a").unwrap(), Some(b"1".to_vec()), "evicted entry was written through");

    let dup = MemoryWindowStore::new("w", WindowStoreOptions::new(1).retain_duplicates(true)).unwrap();
    assert!(matches!(CachingWindowStore::new(Box::new(dup), 1 << 10), Err(StoreError::Unsupported { .. })));
}
