//! The window store contract.

use crate::common::{self, Fixture, RETENTION};
use kstreams_state::{PutOutcome, StoreError, WindowBytesStore};

type F = Fixture<dyn WindowBytesStore>;

fn fixture(kind: &str) -> F {
    common::window(kind)
}

suite!([memory, rocks, caching_memory, caching_rocks, logging_memory, caching_logging_rocks];
    [empty_store, put_fetch_delete, fetch_range_is_inclusive_and_ordered,
     keys_that_are_prefixes_stay_apart, negative_timestamps, fetch_all_orders_by_start_then_key,
     retention_expires_windows_and_drops_segments, observed_stream_time_is_max_start]);

mod duplicates {
    use super::*;

    fn fixture(kind: &str) -> F {
        common::window(kind)
    }

    suite!([memory_dup, rocks_dup, logging_memory_dup, logging_rocks_dup];
        [duplicates_keep_every_value_in_order, duplicates_expire]);
}

fn put(s: &mut dyn WindowBytesStore, key: &[u8], start: i64, value: &[u8]) -> PutOutcome {
    s.put(key, start, Some(value)).unwrap()
}

fn starts(v: Vec<(i64, Vec<u8>)>) -> Vec<i64> {
    v.into_iter().map(|(t, _)| t).collect()
}

fn empty_store(f: &mut F) {
    let s = f.store.as_mut();
    assert_eq!(s.name(), common::STORE);
    assert_eq!(s.retention_ms(), RETENTION);
    assert!(!s.retains_duplicates());
    assert_eq!(s.observed_stream_time(), i64::MIN);
    assert_eq!(s.fetch(b"k", 0).unwrap(), None);
    assert!(s.fetch_range(b"k", i64::MIN, i64::MAX).unwrap().is_empty());
    assert!(s.fetch_all(i64::MIN, i64::MAX).unwrap().is_empty());
    assert!(s.all().unwrap().is_empty());
    s.flush().unwrap();
}

fn put_fetch_delete(f: &mut F) {
    let s = f.store.as_mut();
    assert_eq!(put(s, b"k", 10, b"v"), PutOutcome::Written);
    assert_eq!(s.fetch(b"k", 10).unwrap(), Some(b"v".to_vec()));
    assert_eq!(s.fetch(b"k", 11).unwrap(), None);
    assert_eq!(s.fetch(b"other", 10).unwrap(), None);
    s.flush().unwrap();
    assert_eq!(put(s, b"k", 10, b"w"), PutOutcome::Written);
    assert_eq!(s.fetch(b"k", 10).unwrap(), Some(b"w".to_vec()));
    assert_eq!(s.put(b"k", 10, None).unwrap(), PutOutcome::Written);
    assert_eq!(s.fetch(b"k", 10).unwrap(), None);
    assert!(s.fetch_range(b"k", 0, 20).unwrap().is_empty());
    s.flush().unwrap();
    assert_eq!(s.fetch(b"k", 10).unwrap(), None);
    assert_eq!(s.put(b"absent", 10, None).unwrap(), PutOutcome::Written);
    assert!(s.all().unwrap().is_empty());
}

fn fetch_range_is_inclusive_and_ordered(f: &mut F) {
    let s = f.store.as_mut();
    for t in [30, 10, 20, 40] {
        put(s, b"k", t, &[t as u8]);
    }
    put(s, b"other", 20, b"o");
    for _ in 0..2 {
        assert_eq!(
            s.fetch_range(b"k", 10, 30).unwrap(),
            vec![(10, vec![10]), (20, vec![20]), (30, vec![30])]
        );
        assert_eq!(starts(s.fetch_range(b"k", 11, 29).unwrap()), vec![20]);
        assert!(s.fetch_range(b"k", 30, 10).unwrap().is_empty());
        assert_eq!(starts(s.fetch_range(b"k", i64::MIN, i64::MAX).unwrap()), vec![10, 20, 30, 40]);
        s.flush().unwrap();
    }
    put(s, b"k", 20, b"new");
    s.put(b"k", 30, None).unwrap();
    assert_eq!(
        s.fetch_range(b"k", 0, 100).unwrap(),
        vec![(10, vec![10]), (20, b"new".to_vec()), (40, vec![40])]
    );
}

fn keys_that_are_prefixes_stay_apart(f: &mut F) {
    let s = f.store.as_mut();
    for k in [&b"a"[..], b"ab", b"", b"a\x00", b"b"] {
        put(s, k, 5, k);
        put(s, k, 100_000, k);
    }
    s.flush().unwrap();
    assert_eq!(s.fetch_range(b"a", 0, 10).unwrap(), vec![(5, b"a".to_vec())]);
    assert_eq!(s.fetch_range(b"", 0, 10).unwrap(), vec![(5, b"".to_vec())]);
    assert_eq!(s.fetch(b"ab", 5).unwrap(), Some(b"ab".to_vec()));
    let keys: Vec<Vec<u8>> = s.fetch_all(5, 5).unwrap().into_iter().map(|e| e.0).collect();
    let expected: Vec<Vec<u8>> = [&b""[..], b"a", b"a\x00", b"ab", b"b"].iter().map(|k| k.to_vec()).collect();
    assert_eq!(keys, expected);
}

fn negative_timestamps(f: &mut F) {
    let s = f.store.as_mut();
    for t in [-70_000, 0, -1, -60_001] {
        put(s, b"k", t, &t.to_be_bytes());
    }
    assert_eq!(s.observed_stream_time(), 0);
    assert_eq!(starts(s.fetch_range(b"k", -100_000, 0).unwrap()), vec![-70_000, -60_001, -1, 0]);
    assert_eq!(s.fetch(b"k", -1).unwrap(), Some((-1i64).to_be_bytes().to_vec()));
    s.flush().unwrap();
    let all: Vec<i64> = s.fetch_all(-60_001, -1).unwrap().into_iter().map(|e| e.1).collect();
    assert_eq!(all, vec![-60_001, -1]);
}

fn fetch_all_orders_by_start_then_key(f: &mut F) {
    let s = f.store.as_mut();
    put(s, b"b", 10, b"b10");
    put(s, b"a", 20, b"a20");
    s.flush().unwrap();
    put(s, b"a", 10, b"a10");
    put(s, b"c", 5, b"c5");
    let all: Vec<_> = s.all().unwrap().into_iter().map(|(k, t, _)| (k, t)).collect();
    assert_eq!(all, vec![(b"c".to_vec(), 5), (b"a".to_vec(), 10), (b"b".to_vec(), 10), (b"a".to_vec(), 20)]);
    let at_10: Vec<_> = s.fetch_all(10, 10).unwrap().into_iter().map(|e| e.2).collect();
    assert_eq!(at_10, vec![b"a10".to_vec(), b"b10".to_vec()]);
}

fn retention_expires_windows_and_drops_segments(f: &mut F) {
    let s = f.store.as_mut();
    put(s, b"k", 0, b"0");
    put(s, b"k", 70_000, b"70");
    s.flush().unwrap();
    let segment_0 = format!("{}.0", common::STORE);
    if let Some(db) = &f.db {
        assert!(db.column_families().contains(&segment_0));
    }
    let s = f.store.as_mut();
    put(s, b"k", 200_000, b"200"); // cutoff = 80_000
    assert_eq!(s.observed_stream_time(), 200_000);
    assert_eq!(s.fetch(b"k", 0).unwrap(), None);
    assert_eq!(s.fetch(b"k", 70_000).unwrap(), None, "expired though its segment is live");
    assert_eq!(put(s, b"k", 79_999, b"late"), PutOutcome::Expired);
    assert_eq!(s.put(b"k", 0, None).unwrap(), PutOutcome::Expired);
    assert_eq!(put(s, b"k", 80_000, b"80"), PutOutcome::Written, "start == cutoff is live");
    assert_eq!(starts(s.fetch_range(b"k", i64::MIN, i64::MAX).unwrap()), vec![80_000, 200_000]);
    s.flush().unwrap();
    let all: Vec<i64> = s.all().unwrap().into_iter().map(|e| e.1).collect();
    assert_eq!(all, vec![80_000, 200_000]);
    assert_eq!(s.fetch(b"k", 79_999).unwrap(), None);
    if let Some(db) = &f.db {
        let cfs = db.column_families();
        assert!(!cfs.contains(&segment_0), "expired segment dropped: {cfs:?}");
        assert!(cfs.contains(&format!("{}.1", common::STORE)), "{cfs:?}");
        assert!(cfs.contains(&format!("{}.3", common::STORE)), "{cfs:?}");
    }
}

fn observed_stream_time_is_max_start(f: &mut F) {
    let s = f.store.as_mut();
    put(s, b"k", 10, b"v");
    put(s, b"k", 5, b"v");
    assert_eq!(s.observed_stream_time(), 10);
    s.put(b"k", 20, None).unwrap();
    assert_eq!(s.observed_stream_time(), 20);
    s.flush().unwrap();
    assert_eq!(s.observed_stream_time(), 20);
}

fn duplicates_keep_every_value_in_order(f: &mut F) {
    let s = f.store.as_mut();
    assert!(s.retains_duplicates());
    put(s, b"k", 10, b"1");
    put(s, b"k", 10, b"2");
    put(s, b"k", 5, b"0");
    put(s, b"k", 10, b"3");
    put(s, b"k2", 10, b"x");
    put(s, b"k\x00", 10, b"y");
    let values = |v: Vec<(i64, Vec<u8>)>| v.into_iter().map(|(t, v)| (t, v[0])).collect::<Vec<_>>();
    assert_eq!(
        values(s.fetch_range(b"k", 0, 20).unwrap()),
        vec![(5, b'0'), (10, b'1'), (10, b'2'), (10, b'3')]
    );
    assert_eq!(s.fetch(b"k", 10).unwrap(), Some(b"1".to_vec()));
    let at_10: Vec<_> = s.fetch_all(10, 10).unwrap().into_iter().map(|e| e.2[0]).collect();
    assert_eq!(at_10, vec![b'1', b'2', b'3', b'y', b'x']);
    assert!(matches!(s.put(b"k", 10, None), Err(StoreError::Unsupported { .. })));
    assert_eq!(s.fetch_range(b"k", 10, 10).unwrap().len(), 3);
}

fn duplicates_expire(f: &mut F) {
    let s = f.store.as_mut();
    put(s, b"k", 0, b"a");
    put(s, b"k", 0, b"b");
    put(s, b"k", 200_000, b"c");
    assert_eq!(put(s, b"k", 0, b"d"), PutOutcome::Expired);
    assert_eq!(starts(s.fetch_range(b"k", i64::MIN, i64::MAX).unwrap()), vec![200_000]);
}
