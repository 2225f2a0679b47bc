//! Typed state stores over the byte-level stores of `kstreams-state`, and the builders that
//! stack them per [`Materialized`]: `Caching( ChangeLogging( RocksDB | memory ) )`.
//!
//! Serdes live here, at the outermost layer; the stores below see only bytes. Changelog
//! records are captured by the logging layer and handed to the task's collector when the store
//! is flushed (at commit), so a key updated many times between commits is logged once.

use std::sync::Arc;

use kstreams_core::collector::ChangelogWriter;
use kstreams_core::serde::{BincodeSerde, Serde};
use kstreams_core::store::{BuiltStore, StateStore, StoreBuilder, StoreContext};
use kstreams_core::{Result, StoreSettings, StreamsError};
use kstreams_state::{
    restore_kv, restore_session, restore_window, CachingKeyValueStore, CachingWindowStore,
    ChangeLoggingKeyValueStore, ChangeLoggingSessionStore, ChangeLoggingWindowStore, CollectingSink,
    KeyValueBytesStore, MemoryKeyValueStore, MemorySessionStore, MemoryWindowStore, RocksConfig,
    RocksDbTaskDb, RocksKeyValueStore, RocksSessionStore, RocksWindowStore, SessionBytesStore,
    SessionStoreOptions, StoreError, StreamClock, WindowBytesStore, WindowStoreOptions,
};

use crate::options::{Materialized, StoreType};

/// How processors hold a store of their task: shared within the task, never across threads.
pub type StoreHandle<T> = std::rc::Rc<std::cell::RefCell<T>>;

/// Default write-cache size per store.
pub const DEFAULT_CACHE_BYTES: usize = 10 * 1024 * 1024;

fn store_err<'a>(store: &'a str, operation: &'static str) -> impl Fn(StoreError) -> StreamsError + 'a {
    move |e| StreamsError::store(store, operation, e)
}

fn serde_err<'a>(
    store: &'a str,
    operation: &'static str,
) -> impl Fn(kstreams_core::SerdeError) -> StreamsError + 'a {
    move |e| StreamsError::store(store, operation, e)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Moves captured changelog records to the task's collector.
struct Logging {
    sink: CollectingSink,
    writer: ChangelogWriter,
}

impl Logging {
    fn new(writer: ChangelogWriter) -> Self {
        Self { sink: CollectingSink::new(), writer }
    }

    fn forward(&self) {
        let records = self.sink.take();
        if records.is_empty() {
            return;
        }
        let ts = now_ms();
        for r in records {
            self.writer.log(&r.key, r.value.as_deref(), ts);
        }
    }

    fn discard(&self) {
        self.sink.take();
    }
}

/// The RocksDB settings of a task's database: [`RocksConfig::default`] overridden by
/// `rocksdb.block.cache.bytes` and `rocksdb.write.buffer.bytes` from the store settings.
pub fn rocks_config(settings: &StoreSettings) -> Result<RocksConfig> {
    let mut config = RocksConfig::default();
    if let Some(b) = settings.bytes(StoreSettings::ROCKSDB_BLOCK_CACHE_BYTES)? {
        config.block_cache_bytes = b;
    }
    if let Some(b) = settings.bytes(StoreSettings::ROCKSDB_WRITE_BUFFER_BYTES)? {
        config.write_buffer_bytes = b;
        // Room for every memtable of a few column families, never below the default cap.
        config.total_write_buffer_bytes = config.total_write_buffer_bytes.max(b.saturating_mul(4));
    }
    Ok(config)
}

/// The write-cache size of a caching store: the configured share, else [`DEFAULT_CACHE_BYTES`].
/// Zero means no cache layer at all.
pub fn cache_bytes(settings: &StoreSettings) -> usize {
    settings.cache_max_bytes.unwrap_or(DEFAULT_CACHE_BYTES)
}

fn rocks_db(ctx: &mut StoreContext<'_>) -> Result<Arc<RocksDbTaskDb>> {
    let path = ctx.task_dir.join("rocksdb");
    let config = rocks_config(ctx.settings)?;
    let fresh = !ctx.resources.contains::<Arc<RocksDbTaskDb>>();
    let db = ctx.resources.get_or_try_insert(|| {
        RocksDbTaskDb::open(&path, &config)
            .map(Arc::new)
            .map_err(|e| StreamsError::store(path.display().to_string(), "open", e))
    })?;
    if fresh {
        ctx.resources.add_flush_scope(std::rc::Rc::new(RocksFlush(db.clone())));
    }
    Ok(db)
}

/// One RocksDB write batch per flush of a task's stores (a commit), instead of one write per
/// flushed entry. Nothing reads a store while the task flushes, so no read misses a write
/// still in the batch.
struct RocksFlush(Arc<RocksDbTaskDb>);

impl kstreams_core::store::FlushScope for RocksFlush {
    fn begin(&self) -> Result<()> {
        self.0.begin_batch().map_err(store_err("rocksdb", "begin batch"))
    }

    fn commit(&self, meta: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        self.0.commit_batch(meta).map_err(store_err("rocksdb", "commit batch"))
    }

    fn read_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.0.get_meta(key).map_err(store_err("rocksdb", "read metadata"))
    }

    fn abort(&self) {
        if let Err(e) = self.0.abort_batch() {
            tracing::warn!(error = %e, "discarding a RocksDB write batch failed");
        }
    }
}

/// Implements [`StateStore`] for a typed store over a byte store stack: flushing forwards the
/// captured changelog records to the task; restoring writes through the stack, flushes it, and
/// drops what the logging layer captured (restored records are already in the changelog).
macro_rules! typed_state_store {
    ($store:ident, $restore:path $(, $extra:item)?) => {
        impl<K: 'static, V: 'static> StateStore for $store<K, V> {
            fn name(&self) -> &str {
                &self.name
            }
            fn flush(&mut self) -> Result<()> {
                self.inner.flush().map_err(store_err(&self.name, "flush"))?;
                if let Some(l) = &self.logging {
                    l.forward();
                }
                Ok(())
            }
            fn restore_batch(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
                $restore(self.inner.as_mut(), records).map_err(store_err(&self.name, "restore"))?;
                self.inner.flush().map_err(store_err(&self.name, "restore"))?;
                if let Some(l) = &self.logging {
                    l.discard();
                }
                Ok(())
            }
            fn close(&mut self) -> Result<()> {
                self.inner.close().map_err(store_err(&self.name, "close"))
            }
            $($extra)?
        }
    };
}

/// Encodes `value` (`None`: a delete) into `buf`, reused between puts.
fn encode_value<'b, V: 'static>(
    serde: &dyn Serde<V>,
    value: Option<&V>,
    buf: &'b mut Vec<u8>,
    store: &str,
) -> Result<Option<&'b [u8]>> {
    let Some(v) = value else { return Ok(None) };
    buf.clear();
    serde.serialize_into(v, buf).map_err(serde_err(store, "put"))?;
    Ok(Some(buf.as_slice()))
}

/// Segment width of window and session stores: half the retention, but at least an hour.
/// A RocksDB segment is a column family, and creating or dropping one costs milliseconds; with
/// Kafka Streams' one-minute minimum, catching up on a backlog created and dropped a column
/// family per minute of event time. Expired windows are still never returned (the stores
/// filter by retention); they are only reclaimed in coarser steps.
fn segment_interval(retention_ms: i64) -> i64 {
    (retention_ms / 2).max(3_600_000)
}

/// A typed key-value store.
pub struct KeyValueStore<K, V> {
    name: String,
    inner: Box<dyn KeyValueBytesStore>,
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
    logging: Option<Logging>,
    key_buf: Vec<u8>,
    /// Reused for encoding values, so a put allocates nothing in steady state.
    value_buf: Vec<u8>,
}

impl<K: 'static, V: 'static> KeyValueStore<K, V> {
    /// The value of `key`.
    pub fn get(&mut self, key: &K) -> Result<Option<V>> {
        self.key_buf.clear();
        self.key_serde.serialize_into(key, &mut self.key_buf).map_err(serde_err(&self.name, "get"))?;
        match self.inner.get(&self.key_buf).map_err(store_err(&self.name, "get"))? {
            Some(bytes) => {
                Ok(Some(self.value_serde.deserialize(&bytes).map_err(serde_err(&self.name, "get"))?))
            }
            None => Ok(None),
        }
    }

    /// Sets the value of `key`.
    pub fn put(&mut self, key: &K, value: &V) -> Result<()> {
        self.key_buf.clear();
        self.key_serde.serialize_into(key, &mut self.key_buf).map_err(serde_err(&self.name, "put"))?;
        self.value_buf.clear();
        self.value_serde.serialize_into(value, &mut self.value_buf).map_err(serde_err(&self.name, "put"))?;
        self.inner.put(&self.key_buf, &self.value_buf).map_err(store_err(&self.name, "put"))
    }

    /// Removes `key`.
    pub fn delete(&mut self, key: &K) -> Result<()> {
        self.key_buf.clear();
        self.key_serde.serialize_into(key, &mut self.key_buf).map_err(serde_err(&self.name, "delete"))?;
        self.inner.delete(&self.key_buf).map_err(store_err(&self.name, "delete"))
    }

    /// Every entry, in the byte order of the encoded keys.
    pub fn all(&self) -> Result<Vec<(K, V)>> {
        let mut out = Vec::new();
        for entry in self.inner.all().map_err(store_err(&self.name, "all"))? {
            let (k, v) = entry.map_err(store_err(&self.name, "all"))?;
            out.push((
                self.key_serde.deserialize(&k).map_err(serde_err(&self.name, "all"))?,
                self.value_serde.deserialize(&v).map_err(serde_err(&self.name, "all"))?,
            ));
        }
        Ok(out)
    }

    /// Entries whose encoded key lies in `[from, to]`.
    pub fn range(&self, from: &K, to: &K) -> Result<Vec<(K, V)>> {
        use std::ops::Bound;
        let f = self.key_serde.serialize(from).map_err(serde_err(&self.name, "range"))?;
        let t = self.key_serde.serialize(to).map_err(serde_err(&self.name, "range"))?;
        let mut out = Vec::new();
        for entry in self
            .inner
            .range(Bound::Included(&f), Bound::Included(&t))
            .map_err(store_err(&self.name, "range"))?
        {
            let (k, v) = entry.map_err(store_err(&self.name, "range"))?;
            out.push((
                self.key_serde.deserialize(&k).map_err(serde_err(&self.name, "range"))?,
                self.value_serde.deserialize(&v).map_err(serde_err(&self.name, "range"))?,
            ));
        }
        Ok(out)
    }
}

typed_state_store!(
    KeyValueStore,
    restore_kv,
    fn approximate_entries(&self) -> u64 {
        self.inner.approximate_num_entries().unwrap_or(0)
    }
);

/// Builds a [`KeyValueStore`] per task.
pub struct KvStoreBuilder<K, V> {
    name: String,
    materialized: Materialized,
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
}

impl<K, V> KvStoreBuilder<K, V> {
    /// A builder for store `name` with these options and serdes.
    pub fn new(
        name: &str,
        materialized: &Materialized,
        key_serde: Arc<dyn Serde<K>>,
        value_serde: Arc<dyn Serde<V>>,
    ) -> Self {
        Self { name: name.to_string(), materialized: materialized.clone(), key_serde, value_serde }
    }
}

impl<K: 'static, V: serde::Serialize + serde::de::DeserializeOwned + 'static> KvStoreBuilder<K, V> {
    /// A builder whose values are stored with bincode.
    pub fn bincode(name: &str, materialized: &Materialized, key_serde: Arc<dyn Serde<K>>) -> Self {
        Self::new(name, materialized, key_serde, Arc::new(BincodeSerde::<V>::new()))
    }
}

impl<K: 'static, V: 'static> StoreBuilder for KvStoreBuilder<K, V> {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> String {
        format!("{:?} key-value store", self.materialized.store_type)
    }
    fn logging_enabled(&self) -> bool {
        self.materialized.logging
    }
    fn persistent(&self) -> bool {
        self.materialized.store_type == StoreType::RocksDb
    }
    fn build(&self, mut ctx: StoreContext<'_>) -> Result<BuiltStore> {
        let base: Box<dyn KeyValueBytesStore> = match self.materialized.store_type {
            StoreType::InMemory => Box::new(MemoryKeyValueStore::new(self.name.clone())),
            StoreType::RocksDb => {
                let db = rocks_db(&mut ctx)?;
                Box::new(RocksKeyValueStore::open(db, &self.name).map_err(store_err(&self.name, "open"))?)
            }
        };
        let logging = (self.materialized.logging && ctx.changelog.enabled())
            .then(|| Logging::new(ctx.changelog.clone()));
        let logged: Box<dyn KeyValueBytesStore> = match &logging {
            Some(l) => Box::new(ChangeLoggingKeyValueStore::new(base, Box::new(l.sink.clone()))),
            None => base,
        };
        let cache = cache_bytes(ctx.settings);
        let inner: Box<dyn KeyValueBytesStore> = if self.materialized.caching && cache > 0 {
            Box::new(CachingKeyValueStore::new(logged, cache))
        } else {
            logged
        };
        Ok(BuiltStore::new(KeyValueStore {
            name: self.name.clone(),
            inner,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            logging,
            key_buf: Vec::new(),
            value_buf: Vec::new(),
        }))
    }
}

/// A typed window store: one value per key and window start.
pub struct WindowStore<K, V> {
    name: String,
    inner: Box<dyn WindowBytesStore>,
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
    logging: Option<Logging>,
    key_buf: Vec<u8>,
    /// Reused for encoding values, so a put allocates nothing in steady state.
    value_buf: Vec<u8>,
}

impl<K: 'static, V: 'static> WindowStore<K, V> {
    fn encode_key(&mut self, key: &K, op: &'static str) -> Result<()> {
        self.key_buf.clear();
        self.key_serde.serialize_into(key, &mut self.key_buf).map_err(serde_err(&self.name, op))
    }

    /// The value of `key` in the window starting at `start`.
    pub fn fetch(&mut self, key: &K, start: i64) -> Result<Option<V>> {
        self.encode_key(key, "fetch")?;
        match self.inner.fetch(&self.key_buf, start).map_err(store_err(&self.name, "fetch"))? {
            Some(b) => Ok(Some(self.value_serde.deserialize(&b).map_err(serde_err(&self.name, "fetch"))?)),
            None => Ok(None),
        }
    }

    /// Stores (or with `None` deletes) the value of `key` in the window starting at `start`.
    /// Returns false if the window had already expired from the store.
    pub fn put(&mut self, key: &K, start: i64, value: Option<&V>) -> Result<bool> {
        self.encode_key(key, "put")?;
        let bytes = encode_value(&*self.value_serde, value, &mut self.value_buf, &self.name)?;
        let outcome = self.inner.put(&self.key_buf, start, bytes).map_err(store_err(&self.name, "put"))?;
        Ok(outcome.is_written())
    }

    /// The windows of `key` starting in `[from, to]`, ascending.
    pub fn fetch_range(&mut self, key: &K, from: i64, to: i64) -> Result<Vec<(i64, V)>> {
        self.encode_key(key, "fetch_range")?;
        let raw =
            self.inner.fetch_range(&self.key_buf, from, to).map_err(store_err(&self.name, "fetch_range"))?;
        raw.into_iter()
            .map(|(s, b)| {
                Ok((s, self.value_serde.deserialize(&b).map_err(serde_err(&self.name, "fetch_range"))?))
            })
            .collect()
    }

    /// The windows of every key starting in `[from, to]`, ascending by start then key.
    pub fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<(K, i64, V)>> {
        let raw = self.inner.fetch_all(from, to).map_err(store_err(&self.name, "fetch_all"))?;
        raw.into_iter()
            .map(|(k, s, b)| {
                Ok((
                    self.key_serde.deserialize(&k).map_err(serde_err(&self.name, "fetch_all"))?,
                    s,
                    self.value_serde.deserialize(&b).map_err(serde_err(&self.name, "fetch_all"))?,
                ))
            })
            .collect()
    }
}

typed_state_store!(WindowStore, restore_window);

/// Builds a [`WindowStore`] per task.
pub struct WindowStoreBuilder<K, V> {
    name: String,
    materialized: Materialized,
    retention_ms: i64,
    duplicates: bool,
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
}

impl<K, V> WindowStoreBuilder<K, V> {
    /// A builder for store `name` keeping windows for `retention_ms` of stream time.
    pub fn new(
        name: &str,
        materialized: &Materialized,
        retention_ms: i64,
        key_serde: Arc<dyn Serde<K>>,
        value_serde: Arc<dyn Serde<V>>,
    ) -> Self {
        Self {
            name: name.to_string(),
            materialized: materialized.clone(),
            retention_ms,
            duplicates: false,
            key_serde,
            value_serde,
        }
    }

    /// Keeps every value put for one key and start (stream-stream join buffers); disables
    /// caching, which would collapse them.
    pub fn retain_duplicates(mut self) -> Self {
        self.duplicates = true;
        self.materialized.caching = false;
        self
    }
}

impl<K: 'static, V: 'static> StoreBuilder for WindowStoreBuilder<K, V> {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> String {
        format!("{:?} window store", self.materialized.store_type)
    }
    fn logging_enabled(&self) -> bool {
        self.materialized.logging
    }
    fn persistent(&self) -> bool {
        self.materialized.store_type == StoreType::RocksDb
    }
    fn build(&self, mut ctx: StoreContext<'_>) -> Result<BuiltStore> {
        let options = WindowStoreOptions::new(self.retention_ms)
            .segment_interval_ms(segment_interval(self.retention_ms))
            .retain_duplicates(self.duplicates)
            .clock(StreamClock::from_shared(ctx.stream_time.clone()));
        let base: Box<dyn WindowBytesStore> = match self.materialized.store_type {
            StoreType::InMemory => {
                Box::new(MemoryWindowStore::new(&self.name, options).map_err(store_err(&self.name, "open"))?)
            }
            StoreType::RocksDb => {
                let db = rocks_db(&mut ctx)?;
                Box::new(
                    RocksWindowStore::open(db, &self.name, options).map_err(store_err(&self.name, "open"))?,
                )
            }
        };
        let logging = (self.materialized.logging && ctx.changelog.enabled())
            .then(|| Logging::new(ctx.changelog.clone()));
        let logged: Box<dyn WindowBytesStore> = match &logging {
            Some(l) => Box::new(ChangeLoggingWindowStore::new(base, Box::new(l.sink.clone()))),
            None => base,
        };
        let cache = cache_bytes(ctx.settings);
        let inner: Box<dyn WindowBytesStore> = if self.materialized.caching && cache > 0 {
            Box::new(CachingWindowStore::new(logged, cache).map_err(store_err(&self.name, "open"))?)
        } else {
            logged
        };
        Ok(BuiltStore::new(WindowStore {
            name: self.name.clone(),
            inner,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            logging,
            key_buf: Vec::new(),
            value_buf: Vec::new(),
        }))
    }
}

/// A typed session store: values per key and session `[start, end]`.
pub struct SessionStore<K, V> {
    name: String,
    inner: Box<dyn SessionBytesStore>,
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
    logging: Option<Logging>,
    key_buf: Vec<u8>,
    /// Reused for encoding values, so a put allocates nothing in steady state.
    value_buf: Vec<u8>,
}

impl<K: 'static, V: 'static> SessionStore<K, V> {
    fn encode_key(&mut self, key: &K, op: &'static str) -> Result<()> {
        self.key_buf.clear();
        self.key_serde.serialize_into(key, &mut self.key_buf).map_err(serde_err(&self.name, op))
    }

    /// Sessions of `key` with `end >= earliest_end` and `start <= latest_start`.
    pub fn find_sessions(
        &mut self,
        key: &K,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<(i64, i64, V)>> {
        self.encode_key(key, "find_sessions")?;
        let raw = self
            .inner
            .find_sessions(&self.key_buf, earliest_end, latest_start)
            .map_err(store_err(&self.name, "find_sessions"))?;
        raw.into_iter()
            .map(|(s, e, b)| {
                Ok((s, e, self.value_serde.deserialize(&b).map_err(serde_err(&self.name, "find_sessions"))?))
            })
            .collect()
    }

    /// Stores (or with `None` removes) the session `[start, end]` of `key`.
    pub fn put(&mut self, key: &K, start: i64, end: i64, value: Option<&V>) -> Result<bool> {
        self.encode_key(key, "put")?;
        let bytes = encode_value(&*self.value_serde, value, &mut self.value_buf, &self.name)?;
        let outcome =
            self.inner.put(&self.key_buf, start, end, bytes).map_err(store_err(&self.name, "put"))?;
        Ok(outcome.is_written())
    }

    /// Every session of `key`.
    pub fn fetch_key(&mut self, key: &K) -> Result<Vec<(i64, i64, V)>> {
        self.find_sessions(key, i64::MIN, i64::MAX)
    }
}

typed_state_store!(SessionStore, restore_session);

/// Builds a [`SessionStore`] per task.
pub struct SessionStoreBuilder<K, V> {
    name: String,
    materialized: Materialized,
    retention_ms: i64,
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
}

impl<K, V> SessionStoreBuilder<K, V> {
    /// A builder for store `name` keeping sessions for `retention_ms` of stream time.
    pub fn new(
        name: &str,
        materialized: &Materialized,
        retention_ms: i64,
        key_serde: Arc<dyn Serde<K>>,
        value_serde: Arc<dyn Serde<V>>,
    ) -> Self {
        Self {
            name: name.to_string(),
            materialized: materialized.clone(),
            retention_ms,
            key_serde,
            value_serde,
        }
    }
}

impl<K: 'static, V: 'static> StoreBuilder for SessionStoreBuilder<K, V> {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> String {
        format!("{:?} session store", self.materialized.store_type)
    }
    fn logging_enabled(&self) -> bool {
        self.materialized.logging
    }
    fn persistent(&self) -> bool {
        self.materialized.store_type == StoreType::RocksDb
    }
    fn build(&self, mut ctx: StoreContext<'_>) -> Result<BuiltStore> {
        let options = SessionStoreOptions::new(self.retention_ms)
            .segment_interval_ms(segment_interval(self.retention_ms))
            .clock(StreamClock::from_shared(ctx.stream_time.clone()));
        let base: Box<dyn SessionBytesStore> = match self.materialized.store_type {
            StoreType::InMemory => {
                Box::new(MemorySessionStore::new(&self.name, options).map_err(store_err(&self.name, "open"))?)
            }
            StoreType::RocksDb => {
                let db = rocks_db(&mut ctx)?;
                Box::new(
                    RocksSessionStore::open(db, &self.name, options)
                        .map_err(store_err(&self.name, "open"))?,
                )
            }
        };
        let logging = (self.materialized.logging && ctx.changelog.enabled())
            .then(|| Logging::new(ctx.changelog.clone()));
        let inner: Box<dyn SessionBytesStore> = match &logging {
            Some(l) => Box::new(ChangeLoggingSessionStore::new(base, Box::new(l.sink.clone()))),
            None => base,
        };
        Ok(BuiltStore::new(SessionStore {
            name: self.name.clone(),
            inner,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            logging,
            key_buf: Vec::new(),
            value_buf: Vec::new(),
        }))
    }
}

#[cfg(test)]
mod settings_tests {
    use super::*;

    #[test]
    fn store_settings_override_the_defaults() {
        let defaults = StoreSettings::default();
        assert_eq!(cache_bytes(&defaults), DEFAULT_CACHE_BYTES);
        let rocks = rocks_config(&defaults).unwrap();
        assert_eq!(rocks.block_cache_bytes, RocksConfig::default().block_cache_bytes);

        let s = StoreSettings { cache_max_bytes: Some(0), ..StoreSettings::default() }
            .with(StoreSettings::ROCKSDB_BLOCK_CACHE_BYTES, "1048576")
            .with(StoreSettings::ROCKSDB_WRITE_BUFFER_BYTES, "65536");
        assert_eq!(cache_bytes(&s), 0);
        let rocks = rocks_config(&s).unwrap();
        assert_eq!((rocks.block_cache_bytes, rocks.write_buffer_bytes), (1_048_576, 65_536));

        let bad = StoreSettings::default().with(StoreSettings::ROCKSDB_BLOCK_CACHE_BYTES, "big");
        assert!(rocks_config(&bad).unwrap_err().to_string().contains("rocksdb.block.cache.bytes"));
    }
}
