//! The session store contract.

use crate::common::{self, Fixture, RETENTION};
use kstreams_state::{PutOutcome, SessionBytesStore, StoreError};

type F = Fixture<dyn SessionBytesStore>;

fn fixture(kind: &str) -> F {
    common::session(kind)
}

suite!([memory, rocks, logging_memory, logging_rocks];
    [empty_store, put_fetch_remove, find_sessions_overlap_semantics,
     keys_that_are_prefixes_stay_apart, negative_times, fetch_key_orders_by_end,
     all_orders_by_end_key_start, retention_by_end_drops_segments, start_after_end_is_rejected,
     long_sessions_span_segments]);

fn put(s: &mut dyn SessionBytesStore, key: &[u8], start: i64, end: i64) -> PutOutcome {
    s.put(key, start, end, Some(&end.to_be_bytes())).unwrap()
}

fn spans(v: Vec<(i64, i64, Vec<u8>)>) -> Vec<(i64, i64)> {
    v.into_iter().map(|(s, e, _)| (s, e)).collect()
}

fn empty_store(f: &mut F) {
    let s = f.store.as_mut();
    assert_eq!(s.name(), common::STORE);
    assert_eq!(s.retention_ms(), RETENTION);
    assert_eq!(s.observed_stream_time(), i64::MIN);
    assert_eq!(s.fetch_session(b"k", 0, 0).unwrap(), None);
    assert!(s.find_sessions(b"k", i64::MIN, i64::MAX).unwrap().is_empty());
    assert!(s.fetch_key(b"k").unwrap().is_empty());
    assert!(s.all().unwrap().is_empty());
    s.flush().unwrap();
}

fn put_fetch_remove(f: &mut F) {
    let s = f.store.as_mut();
    assert_eq!(s.put(b"k", 0, 10, Some(b"v")).unwrap(), PutOutcome::Written);
    assert_eq!(s.fetch_session(b"k", 0, 10).unwrap(), Some(b"v".to_vec()));
    assert_eq!(s.fetch_session(b"k", 0, 11).unwrap(), None);
    assert_eq!(s.fetch_session(b"k", 1, 10).unwrap(), None);
    s.put(b"k", 0, 10, Some(b"w")).unwrap();
    assert_eq!(s.fetch_session(b"k", 0, 10).unwrap(), Some(b"w".to_vec()));
    assert_eq!(s.put(b"k", 0, 10, None).unwrap(), PutOutcome::Written);
    assert_eq!(s.fetch_session(b"k", 0, 10).unwrap(), None);
    assert!(s.fetch_key(b"k").unwrap().is_empty());
    put(s, b"k", 5, 5);
    assert_eq!(spans(s.fetch_key(b"k").unwrap()), vec![(5, 5)]);
}

fn find_sessions_overlap_semantics(f: &mut F) {
    let s = f.store.as_mut();
    for (a, b) in [(40, 50), (0, 10), (20, 30)] {
        put(s, b"k", a, b);
    }
    put(s, b"other", 15, 15);
    assert_eq!(spans(s.find_sessions(b"k", 10, 20).unwrap()), vec![(0, 10), (20, 30)], "touching counts");
    assert!(s.find_sessions(b"k", 11, 19).unwrap().is_empty());
    assert_eq!(spans(s.find_sessions(b"k", 50, 40).unwrap()), vec![(40, 50)]);
    assert!(s.find_sessions(b"k", 51, 100).unwrap().is_empty());
    assert_eq!(spans(s.find_sessions(b"k", 0, 0).unwrap()), vec![(0, 10)]);
    assert_eq!(spans(s.find_sessions(b"k", i64::MIN, i64::MAX).unwrap()).len(), 3);
    assert_eq!(spans(s.find_sessions(b"k", 25, 45).unwrap()), vec![(20, 30), (40, 50)]);
}

fn keys_that_are_prefixes_stay_apart(f: &mut F) {
    let s = f.store.as_mut();
    for k in [&b"a"[..], b"ab", b"", b"a\x00"] {
        s.put(k, 1, 2, Some(k)).unwrap();
    }
    assert_eq!(s.fetch_key(b"a").unwrap(), vec![(1, 2, b"a".to_vec())]);
    assert_eq!(s.fetch_key(b"").unwrap(), vec![(1, 2, b"".to_vec())]);
    assert_eq!(s.find_sessions(b"ab", 0, 5).unwrap(), vec![(1, 2, b"ab".to_vec())]);
}

fn negative_times(f: &mut F) {
    let s = f.store.as_mut();
    put(s, b"k", -100, -50);
    put(s, b"k", -10, 0);
    put(s, b"k", -70_000, -61_000);
    assert_eq!(spans(s.find_sessions(b"k", -60, -5).unwrap()), vec![(-100, -50), (-10, 0)]);
    assert_eq!(spans(s.fetch_key(b"k").unwrap()), vec![(-70_000, -61_000), (-100, -50), (-10, 0)]);
    assert_eq!(s.observed_stream_time(), 0);
}

fn fetch_key_orders_by_end(f: &mut F) {
    let s = f.store.as_mut();
    put(s, b"k", 0, 100_000);
    put(s, b"k", 10, 20);
    put(s, b"k", 5, 20);
    assert_eq!(spans(s.fetch_key(b"k").unwrap()), vec![(5, 20), (10, 20), (0, 100_000)]);
}

fn all_orders_by_end_key_start(f: &mut F) {
    let s = f.store.as_mut();
    put(s, b"b", 0, 10);
    put(s, b"a", 0, 70_000);
    put(s, b"a", 5, 10);
    put(s, b"a", 1, 10);
    let all: Vec<_> = s.all().unwrap().into_iter().map(|(k, a, b, _)| (k, a, b)).collect();
    assert_eq!(
        all,
        vec![
            (b"a".to_vec(), 1, 10),
            (b"a".to_vec(), 5, 10),
            (b"b".to_vec(), 0, 10),
            (b"a".to_vec(), 0, 70_000)
        ]
    );
}

fn retention_by_end_drops_segments(f: &mut F) {
    let s = f.store.as_mut();
    put(s, b"k", -5, 10);
    put(s, b"k", 60_000, 70_000);
    let segment_0 = format!("{}.0", common::STORE);
    if let Some(db) = &f.db {
        assert!(db.column_families().contains(&segment_0));
    }
    let s = f.store.as_mut();
    put(s, b"k", 190_000, 200_000); // cutoff 80_000
    assert_eq!(s.fetch_session(b"k", -5, 10).unwrap(), None);
    assert_eq!(s.fetch_session(b"k", 60_000, 70_000).unwrap(), None);
    assert_eq!(put(s, b"k", 0, 79_999), PutOutcome::Expired);
    assert_eq!(put(s, b"k", 0, 80_000), PutOutcome::Written);
    assert_eq!(spans(s.fetch_key(b"k").unwrap()), vec![(0, 80_000), (190_000, 200_000)]);
    assert_eq!(s.all().unwrap().len(), 2);
    if let Some(db) = &f.db {
        assert!(!db.column_families().contains(&segment_0));
    }
}

fn start_after_end_is_rejected(f: &mut F) {
    let s = f.store.as_mut();
    assert!(matches!(s.put(b"k", 11, 10, Some(b"v")), Err(StoreError::InvalidArgument { .. })));
    assert!(s.all().unwrap().is_empty());
}

fn long_sessions_span_segments(f: &mut F) {
    let s = f.store.as_mut();
    put(s, b"k", 10_000, 110_000); // lives in the segment of its end
    assert_eq!(spans(s.find_sessions(b"k", 0, 20_000).unwrap()), vec![(10_000, 110_000)]);
    assert!(s.find_sessions(b"k", 0, 9_999).unwrap().is_empty());
    assert_eq!(spans(s.find_sessions(b"k", 110_000, 110_000).unwrap()), vec![(10_000, 110_000)]);
}
