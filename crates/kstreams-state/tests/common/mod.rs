//! Fixtures shared by the contract and model tests: every store implementation and wrapper,
//! built by name, with its temp directory (removed on drop) and task db.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use kstreams_state::*;
use tempfile::TempDir;

/// Retention used by the window and session suites.
pub const RETENTION: i64 = 120_000;
/// Segment width used by the window and session suites.
pub const INTERVAL: i64 = 60_000;
/// The store name used by every fixture.
pub const STORE: &str = "store";

/// A store under test plus what keeps it alive. Fields drop in order: store, db, directory.
pub struct Fixture<S: ?Sized> {
    pub store: Box<S>,
    pub db: Option<Arc<RocksDbTaskDb>>,
    pub sink: Option<CollectingSink>,
    pub dir: Option<TempDir>,
}

/// A RocksDB task db in a fresh temp directory, with small buffers to keep tests light.
pub fn rocks_db() -> (TempDir, Arc<RocksDbTaskDb>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(RocksDbTaskDb::open(dir.path(), &small_config()).unwrap());
    (dir, db)
}

pub fn small_config() -> RocksConfig {
    RocksConfig {
        block_cache_bytes: 1 << 20,
        write_buffer_bytes: 1 << 20,
        total_write_buffer_bytes: 4 << 20,
        ..RocksConfig::default()
    }
}

/// Builds the key-value store stack `kind`, e.g. `caching_logging_rocks`.
pub fn kv(kind: &str) -> Fixture<dyn KeyValueBytesStore> {
    kv_with_cache(kind, 1 << 20)
}

pub fn kv_with_cache(kind: &str, max_bytes: usize) -> Fixture<dyn KeyValueBytesStore> {
    let (dir, db) = if kind.contains("rocks") {
        let (dir, db) = rocks_db();
        (Some(dir), Some(db))
    } else {
        (None, None)
    };
    let mut store: Box<dyn KeyValueBytesStore> = match &db {
        Some(db) => Box::new(RocksKeyValueStore::open(db.clone(), STORE).unwrap()),
        None => Box::new(MemoryKeyValueStore::new(STORE)),
    };
    let mut sink = None;
    if kind.contains("logging") {
        let s = CollectingSink::new();
        store = Box::new(ChangeLoggingKeyValueStore::new(store, Box::new(s.clone())));
        sink = Some(s);
    }
    if kind.contains("caching") {
        store = Box::new(CachingKeyValueStore::new(store, max_bytes));
    }
    Fixture { store, db, sink, dir }
}

pub fn window_options(kind: &str) -> WindowStoreOptions {
    WindowStoreOptions::new(RETENTION).segment_interval_ms(INTERVAL).retain_duplicates(kind.contains("dup"))
}

/// Builds the window store stack `kind`; `dup` in the name turns duplicates mode on.
pub fn window(kind: &str) -> Fixture<dyn WindowBytesStore> {
    window_with_cache(kind, 1 << 20)
}

pub fn window_with_cache(kind: &str, max_bytes: usize) -> Fixture<dyn WindowBytesStore> {
    let options = window_options(kind);
    let (dir, db) = if kind.contains("rocks") {
        let (dir, db) = rocks_db();
        (Some(dir), Some(db))
    } else {
        (None, None)
    };
    let mut store: Box<dyn WindowBytesStore> = match &db {
        Some(db) => Box::new(RocksWindowStore::open(db.clone(), STORE, options).unwrap()),
        None => Box::new(MemoryWindowStore::new(STORE, options).unwrap()),
    };
    let mut sink = None;
    if kind.contains("logging") {
        let s = CollectingSink::new();
        store = Box::new(ChangeLoggingWindowStore::new(store, Box::new(s.clone())));
        sink = Some(s);
    }
    if kind.contains("caching") {
        store = Box::new(CachingWindowStore::new(store, max_bytes).unwrap());
    }
    Fixture { store, db, sink, dir }
}

pub fn session_options() -> SessionStoreOptions {
    SessionStoreOptions::new(RETENTION).segment_interval_ms(INTERVAL)
}

/// Builds the session store stack `kind`.
pub fn session(kind: &str) -> Fixture<dyn SessionBytesStore> {
    let (dir, db) = if kind.contains("rocks") {
        let (dir, db) = rocks_db();
        (Some(dir), Some(db))
    } else {
        (None, None)
    };
    let mut store: Box<dyn SessionBytesStore> = match &db {
        Some(db) => Box::new(RocksSessionStore::open(db.clone(), STORE, session_options()).unwrap()),
        None => Box::new(MemorySessionStore::new(STORE, session_options()).unwrap()),
    };
    let mut sink = None;
    if kind.contains("logging") {
        let s = CollectingSink::new();
        store = Box::new(ChangeLoggingSessionStore::new(store, Box::new(s.clone())));
        sink = Some(s);
    }
    Fixture { store, db, sink, dir }
}

/// Collects a store iterator, failing the test on errors.
pub fn collect(iter: KvIter<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
    iter.collect::<Result<_, _>>().unwrap()
}

/// `(b"k", b"v")` pairs as owned entries.
pub fn pairs(items: &[(&[u8], &[u8])]) -> Vec<(Vec<u8>, Vec<u8>)> {
    items.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
}
