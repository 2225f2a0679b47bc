//! RocksDB-only contract: restarts, the task db's atomic batch, segment column families, names.

use std::sync::Arc;

use crate::common::{self, collect, pairs, small_config, STORE};
use kstreams_state::*;

fn open(dir: &tempfile::TempDir) -> Arc<RocksDbTaskDb> {
    // A nested path: missing parent directories are created.
    let path = dir.path().join("task-0_1").join("rocksdb");
    Arc::new(RocksDbTaskDb::open(&path, &small_config()).unwrap())
}

#[test]
fn reopen_keeps_every_store() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open(&dir);
        let mut kv = RocksKeyValueStore::open(db.clone(), "kv").unwrap();
        let mut win = RocksWindowStore::open(db.clone(), "win", common::window_options("")).unwrap();
        let mut ses = RocksSessionStore::open(db.clone(), "ses", common::session_options()).unwrap();
        kv.put(b"k", b"v").unwrap();
        win.put(b"k", 70_000, Some(b"w")).unwrap();
        ses.put(b"k", 1, 2, Some(b"s")).unwrap();
        db.put_meta(b"m", b"1").unwrap();
        kv.close().unwrap();
        win.close().unwrap();
        ses.close().unwrap();
    }
    let db = open(&dir);
    let kv = RocksKeyValueStore::open(db.clone(), "kv").unwrap();
    let win = RocksWindowStore::open(db.clone(), "win", common::window_options("")).unwrap();
    let ses = RocksSessionStore::open(db.clone(), "ses", common::session_options()).unwrap();
    assert_eq!(collect(kv.all().unwrap()), pairs(&[(b"k", b"v")]));
    assert_eq!(win.fetch(b"k", 70_000).unwrap(), Some(b"w".to_vec()));
    assert_eq!(win.observed_stream_time(), 70_000, "stream time survives a restart");
    assert_eq!(win.segment_ids(), vec![1]);
    assert_eq!(ses.fetch_key(b"k").unwrap(), vec![(1, 2, b"s".to_vec())]);
    assert_eq!(ses.observed_stream_time(), 2);
    assert_eq!(db.get_meta(b"m").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn expired_segments_stay_dropped_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open(&dir);
        let mut win = RocksWindowStore::open(db.clone(), STORE, common::window_options("")).unwrap();
        win.put(b"k", 0, Some(b"old")).unwrap();
        win.put(b"k", 300_000, Some(b"new")).unwrap();
        assert_eq!(win.segment_ids(), vec![5]);
    }
    let db = open(&dir);
    assert!(!db.column_families().contains(&format!("{STORE}.0")));
    let win = RocksWindowStore::open(db.clone(), STORE, common::window_options("")).unwrap();
    assert_eq!(win.all().unwrap(), vec![(b"k".to_vec(), 300_000, b"new".to_vec())]);
    assert_eq!(win.segment_column_family(5), format!("{STORE}.5"));
}

#[test]
fn batch_dropped_before_commit_loses_state_and_meta() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open(&dir);
        let mut kv = RocksKeyValueStore::open(db.clone(), "kv").unwrap();
        let mut win = RocksWindowStore::open(db.clone(), "win", common::window_options("")).unwrap();
        kv.put(b"before", b"1").unwrap();
        db.begin_batch().unwrap();
        assert!(db.batch_open());
        kv.put(b"k", b"v").unwrap();
        kv.delete(b"before").unwrap();
        win.put(b"k", 10, Some(b"w")).unwrap();
        db.put_meta(b"offset", b"7").unwrap();
        assert_eq!(kv.get(b"k").unwrap(), None, "pending writes are not visible to reads");
        // crash: everything is dropped without commit_batch
    }
    let db = open(&dir);
    let kv = RocksKeyValueStore::open(db.clone(), "kv").unwrap();
    let win = RocksWindowStore::open(db.clone(), "win", common::window_options("")).unwrap();
    assert_eq!(collect(kv.all().unwrap()), pairs(&[(b"before", b"1")]));
    assert!(win.all().unwrap().is_empty());
    assert_eq!(db.get_meta(b"offset").unwrap(), None);
}

#[test]
fn committed_batch_lands_atomically_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open(&dir);
        let mut kv = RocksKeyValueStore::open(db.clone(), "kv").unwrap();
        let mut ses = RocksSessionStore::open(db.clone(), "ses", common::session_options()).unwrap();
        db.begin_batch().unwrap();
        kv.write_batch(&[(b"a".to_vec(), Some(b"1".to_vec()))]).unwrap();
        ses.put(b"k", 0, 5, Some(b"s")).unwrap();
        db.commit_batch(&[(b"offset".to_vec(), b"42".to_vec())]).unwrap();
        assert!(!db.batch_open());
        assert_eq!(kv.get(b"a").unwrap(), Some(b"1".to_vec()));
    }
    let db = open(&dir);
    let kv = RocksKeyValueStore::open(db.clone(), "kv").unwrap();
    let ses = RocksSessionStore::open(db.clone(), "ses", common::session_options()).unwrap();
    assert_eq!(kv.get(b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(ses.fetch_session(b"k", 0, 5).unwrap(), Some(b"s".to_vec()));
    assert_eq!(db.get_meta(b"offset").unwrap(), Some(b"42".to_vec()));
}

#[test]
fn batch_misuse_and_abort() {
    let (_dir, db) = common::rocks_db();
    assert!(matches!(db.commit_batch(&[]), Err(StoreError::BatchState { .. })));
    let mut kv = RocksKeyValueStore::open(db.clone(), "kv").unwrap();
    db.begin_batch().unwrap();
    assert!(matches!(db.begin_batch(), Err(StoreError::BatchState { .. })));
    kv.put(b"k", b"v").unwrap();
    db.abort_batch().unwrap();
    assert_eq!(kv.get(b"k").unwrap(), None);
    kv.put(b"k", b"v").unwrap();
    assert_eq!(kv.get(b"k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn segments_expiring_inside_a_batch_are_dropped_at_commit() {
    let (_dir, db) = common::rocks_db();
    let mut win = RocksWindowStore::open(db.clone(), STORE, common::window_options("")).unwrap();
    win.put(b"k", 0, Some(b"old")).unwrap();
    db.begin_batch().unwrap();
    win.put(b"k", 30_000, Some(b"same segment")).unwrap();
    win.put(b"k", 300_000, Some(b"new")).unwrap();
    assert!(db.column_families().contains(&format!("{STORE}.0")), "drop waits for the batch");
    assert_eq!(win.fetch(b"k", 0).unwrap(), None);
    db.commit_batch(&[]).unwrap();
    let cfs = db.column_families();
    assert!(!cfs.contains(&format!("{STORE}.0")), "{cfs:?}");
    assert_eq!(win.all().unwrap(), vec![(b"k".to_vec(), 300_000, b"new".to_vec())]);
}

#[test]
fn store_names_are_checked() {
    let (_dir, db) = common::rocks_db();
    let kv = RocksKeyValueStore::open(db.clone(), "counts").unwrap();
    let invalid =
        |r: Result<RocksKeyValueStore, StoreError>| matches!(r, Err(StoreError::InvalidName { .. }));
    assert!(invalid(RocksKeyValueStore::open(db.clone(), "counts")), "already open");
    assert!(invalid(RocksKeyValueStore::open(db.clone(), "")));
    assert!(invalid(RocksKeyValueStore::open(db.clone(), "default")));
    assert!(invalid(RocksKeyValueStore::open(db.clone(), "__kstreams_meta")));
    assert!(invalid(RocksKeyValueStore::open(db.clone(), "win.3")), "looks like a segment");
    assert!(RocksKeyValueStore::open(db.clone(), "counts.v2").is_ok());
    assert!(RocksWindowStore::open(db.clone(), "counts", common::window_options("")).is_err());
    drop(kv);
    assert!(RocksKeyValueStore::open(db.clone(), "counts").is_ok(), "released on drop");
}

#[test]
fn memory_segments_are_dropped_whole() {
    let mut win = MemoryWindowStore::new(STORE, common::window_options("")).unwrap();
    win.put(b"k", -1, Some(b"a")).unwrap();
    win.put(b"k", 0, Some(b"b")).unwrap();
    win.put(b"k", 60_000, Some(b"c")).unwrap();
    assert_eq!(win.segment_ids(), vec![-1, 0, 1]);
    win.put(b"k", 180_000, Some(b"d")).unwrap(); // cutoff 60_000: segments -1 and 0 go
    assert_eq!(win.segment_ids(), vec![1, 3]);
    let mut ses = MemorySessionStore::new(STORE, common::session_options()).unwrap();
    ses.put(b"k", 0, 10, Some(b"a")).unwrap();
    ses.put(b"k", 0, 200_000, Some(b"b")).unwrap();
    assert_eq!(ses.segment_ids(), vec![3]);
}

#[test]
fn invalid_options_are_rejected() {
    let bad = WindowStoreOptions::new(-1);
    assert!(matches!(MemoryWindowStore::new("w", bad), Err(StoreError::InvalidConfig { .. })));
    let bad = SessionStoreOptions::new(10).segment_interval_ms(0);
    assert!(matches!(MemorySessionStore::new("s", bad), Err(StoreError::InvalidConfig { .. })));
}

#[test]
fn task_db_is_shareable_and_stores_are_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<RocksDbTaskDb>();
    send::<RocksKeyValueStore>();
    send::<RocksWindowStore>();
    send::<RocksSessionStore>();
    send::<CachingKeyValueStore>();
    send::<CachingWindowStore>();
}
