//! The one stack every typed store is built as, generic over the kind of byte store
//! ([`Layers`]): base store (RocksDB or memory) → changelogging → caching → serdes.

use std::sync::Arc;

use kstreams_core::{
    BuiltStore, ChangelogWriter, FlushScope, Result, Serde, SerdeError, StateStore, StoreBuilder,
    StoreContext, StoreSettings, StreamsError,
};

use crate::changelog::CollectingSink;
use crate::kv::KvEntry;
use crate::rocks::{RocksConfig, RocksDbTaskDb};
use crate::segments::StreamClock;
use crate::typed::spec::{StoreSpec, StoreType};
use crate::StoreError;

/// Default write-cache size per store, when the settings give none.
pub const DEFAULT_CACHE_BYTES: usize = 10 * 1024 * 1024;

pub(crate) fn store_err<'a>(
    store: &'a str,
    operation: &'static str,
) -> impl Fn(StoreError) -> StreamsError + 'a {
    move |e| StreamsError::store(store, operation, e)
}

pub(crate) fn serde_err<'a>(
    store: &'a str,
    operation: &'static str,
) -> impl Fn(SerdeError) -> StreamsError + 'a {
    move |e| StreamsError::store(store, operation, e)
}

/// A kind of byte store the stack is made of: key-value, window or session. Implemented for
/// the trait objects [`crate::KeyValueBytesStore`], [`crate::WindowBytesStore`] and
/// [`crate::SessionBytesStore`].
pub trait Layers: 'static {
    /// What the base store is opened with besides its name (retention, segments, clock).
    type Options: Clone + Send + Sync;
    /// `options` reading the task's stream time from `clock`.
    fn clocked(options: &Self::Options, clock: StreamClock) -> Self::Options;
    /// An in-memory base store.
    fn memory(name: &str, options: Self::Options) -> std::result::Result<Box<Self>, StoreError>;
    /// A base store in the task's RocksDB database.
    fn rocks(
        db: Arc<RocksDbTaskDb>,
        name: &str,
        options: Self::Options,
    ) -> std::result::Result<Box<Self>, StoreError>;
    /// `inner` with its writes captured into `sink`.
    fn logged(inner: Box<Self>, sink: CollectingSink) -> Box<Self>;
    /// `inner` behind a write cache of `bytes` (stores without a cache layer return `inner`).
    fn cached(inner: Box<Self>, bytes: usize) -> std::result::Result<Box<Self>, StoreError>;
    /// Applies changelog records.
    fn restore(store: &mut Self, records: &[KvEntry]) -> std::result::Result<(), StoreError>;
    /// Writes caches down.
    fn flush(store: &mut Self) -> std::result::Result<(), StoreError>;
    /// Releases resources.
    fn close(store: &mut Self) -> std::result::Result<(), StoreError>;
    /// Approximate number of entries, for metrics (0 when unknown).
    fn entries(_store: &Self) -> u64 {
        0
    }
}

/// Moves captured changelog records to the task's changelog writer.
pub(crate) struct Logging {
    sink: CollectingSink,
    writer: ChangelogWriter,
}

impl Logging {
    fn forward(&self) {
        let records = self.sink.take();
        if records.is_empty() {
            return;
        }
        let ts = kstreams_core::now_ms();
        for r in records {
            self.writer.log(&r.key, r.value.as_deref(), ts);
        }
    }

    fn discard(&self) {
        self.sink.take();
    }
}

/// The RocksDB settings of a task's database: [`RocksConfig::default`] with the memory
/// settings of the application's configuration.
pub(crate) fn rocks_config(settings: &StoreSettings) -> RocksConfig {
    let mut config = RocksConfig::default();
    if let Some(b) = settings.rocksdb_block_cache_bytes {
        config.block_cache_bytes = b;
    }
    if let Some(b) = settings.rocksdb_write_buffer_bytes {
        config.write_buffer_bytes = b;
        // Room for every memtable of a few column families, never below the default cap.
        config.total_write_buffer_bytes = config.total_write_buffer_bytes.max(b.saturating_mul(4));
    }
    config
}

/// The write-cache size of a caching store: the configured share, else
/// [`DEFAULT_CACHE_BYTES`]. Zero means no cache layer at all.
pub(crate) fn cache_bytes(settings: &StoreSettings) -> usize {
    settings.cache_max_bytes.unwrap_or(DEFAULT_CACHE_BYTES)
}

/// Segment width of window and session stores: half the retention, but at least an hour.
/// A RocksDB segment is a column family, and creating or dropping one costs milliseconds; with
/// Kafka Streams' one-minute minimum, catching up on a backlog created and dropped a column
/// family per minute of event time. Expired windows are still never returned (the stores
/// filter by retention); they are only reclaimed in coarser steps.
pub(crate) fn segment_interval(retention_ms: i64) -> i64 {
    (retention_ms / 2).max(3_600_000)
}

/// The task's RocksDB database, opened by its first store (which also registers the flush
/// scope that makes every flush of the task one write batch).
fn rocks_db(ctx: &mut StoreContext<'_>) -> Result<Arc<RocksDbTaskDb>> {
    let path = ctx.task_dir.join("rocksdb");
    let config = rocks_config(ctx.settings);
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

impl FlushScope for RocksFlush {
    fn begin(&self) -> Result<()> {
        self.0.begin_batch().map_err(store_err("rocksdb", "begin batch"))
    }

    fn commit(&self, meta: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        self.0.commit_batch(meta).map_err(store_err("rocksdb", "commit batch"))
    }

    fn read_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.0.get_meta(key).map_err(store_err("rocksdb", "read metadata"))
    }

    fn written_since_flush(&self) -> bool {
        self.0.written_since_batch()
    }

    fn created_empty(&self) -> bool {
        self.0.created_empty()
    }

    fn abort(&self) {
        if let Err(e) = self.0.abort_batch() {
            tracing::warn!(error = %e, "discarding a RocksDB write batch failed");
        }
    }
}

/// Builds the byte stack of `spec` for one task: base, changelogging, caching.
fn build<S: Layers + ?Sized>(
    spec: &StoreSpec,
    options: &S::Options,
    ctx: &mut StoreContext<'_>,
) -> Result<(Box<S>, Option<Logging>)> {
    let name = spec.name.as_str();
    let options = S::clocked(options, StreamClock::from_shared(ctx.stream_time.clone()));
    let base = match spec.store_type {
        StoreType::InMemory => S::memory(name, options),
        StoreType::RocksDb => S::rocks(rocks_db(ctx)?, name, options),
    }
    .map_err(store_err(name, "open"))?;
    let logging = (spec.logging && ctx.changelog.enabled())
        .then(|| Logging { sink: CollectingSink::new(), writer: ctx.changelog.clone() });
    let logged = match &logging {
        Some(l) => S::logged(base, l.sink.clone()),
        None => base,
    };
    let cache = cache_bytes(ctx.settings);
    let inner = if spec.caching && cache > 0 {
        S::cached(logged, cache).map_err(store_err(name, "open"))?
    } else {
        logged
    };
    Ok((inner, logging))
}

/// The timestamp a timestamped store keeps for a value put without one (Kafka's
/// `ConsumerRecord.NO_TIMESTAMP`, which its store facades use the same way).
pub const NO_TIMESTAMP: i64 = -1;

/// Encodes `value` (`None`: a delete) into `buf`, reused between puts; with `timestamp`, in
/// the timestamped layout (Kafka's `ValueAndTimestamp`): the timestamp as a big-endian `i64`,
/// then the value.
pub(crate) fn encode_into<'b, V: 'static>(
    serde: &dyn Serde<V>,
    value: Option<&V>,
    timestamp: Option<i64>,
    buf: &'b mut Vec<u8>,
    store: &str,
) -> Result<Option<&'b [u8]>> {
    let Some(v) = value else { return Ok(None) };
    buf.clear();
    if let Some(ts) = timestamp {
        buf.extend_from_slice(&ts.to_be_bytes());
    }
    serde.serialize_into(v, buf).map_err(serde_err(store, "put"))?;
    Ok(Some(buf.as_slice()))
}

/// A typed store of one task over a byte stack `S`: see [`crate::KeyValueStore`],
/// [`crate::WindowStore`] and [`crate::SessionStore`].
pub struct TypedStore<S: ?Sized, K, V> {
    pub(crate) name: String,
    pub(crate) inner: Box<S>,
    pub(crate) key_serde: Arc<dyn Serde<K>>,
    pub(crate) value_serde: Arc<dyn Serde<V>>,
    logging: Option<Logging>,
    /// Whether values are stored with their timestamp (see [`TypedStoreBuilder::timestamped`]).
    pub(crate) timestamped: bool,
    pub(crate) key_buf: Vec<u8>,
    /// Reused for encoding values, so a put allocates nothing in steady state.
    pub(crate) value_buf: Vec<u8>,
}

impl<S: ?Sized, K: 'static, V: 'static> TypedStore<S, K, V> {
    /// Encodes `key` into the reused key buffer.
    pub(crate) fn encode_key(&mut self, key: &K, operation: &'static str) -> Result<()> {
        self.key_buf.clear();
        self.key_serde.serialize_into(key, &mut self.key_buf).map_err(serde_err(&self.name, operation))
    }

    /// Decodes a stored key.
    pub(crate) fn key(&self, bytes: &[u8], operation: &'static str) -> Result<K> {
        self.key_serde.deserialize(bytes).map_err(serde_err(&self.name, operation))
    }

    /// Decodes a stored value (without its timestamp, in a timestamped store).
    pub(crate) fn value(&self, bytes: &[u8], operation: &'static str) -> Result<V> {
        self.value_with_timestamp(bytes, operation).map(|(v, _)| v)
    }

    /// Decodes a stored value and its timestamp ([`NO_TIMESTAMP`] in a store that keeps none).
    pub(crate) fn value_with_timestamp(&self, bytes: &[u8], operation: &'static str) -> Result<(V, i64)> {
        let (ts, bytes) = match (self.timestamped, bytes) {
            (false, b) => (NO_TIMESTAMP, b),
            (true, [t0, t1, t2, t3, t4, t5, t6, t7, rest @ ..]) => {
                (i64::from_be_bytes([*t0, *t1, *t2, *t3, *t4, *t5, *t6, *t7]), rest)
            }
            (true, b) => {
                return Err(StreamsError::store(
                    self.name.clone(),
                    operation,
                    SerdeError::new(format!("timestamped value needs 8 leading bytes, got {}", b.len())),
                ))
            }
        };
        let value = self.value_serde.deserialize(bytes).map_err(serde_err(&self.name, operation))?;
        Ok((value, ts))
    }

    /// The timestamp to store with a value put with `timestamp` (or without one: `None`), if
    /// the store keeps timestamps.
    pub(crate) fn stored_timestamp(&self, timestamp: Option<i64>) -> Option<i64> {
        self.timestamped.then(|| timestamp.unwrap_or(NO_TIMESTAMP))
    }

    /// Whether values are stored with their timestamps.
    pub fn is_timestamped(&self) -> bool {
        self.timestamped
    }

    /// The store's name.
    pub fn store_name(&self) -> &str {
        &self.name
    }
}

/// Flushing forwards the captured changelog records to the task; restoring writes through the
/// stack, flushes it, and drops what the logging layer captured (restored records are in the
/// changelog already).
impl<S: Layers + ?Sized, K: 'static, V: 'static> StateStore for TypedStore<S, K, V> {
    fn name(&self) -> &str {
        &self.name
    }
    fn flush(&mut self) -> Result<()> {
        S::flush(&mut self.inner).map_err(store_err(&self.name, "flush"))?;
        if let Some(l) = &self.logging {
            l.forward();
        }
        Ok(())
    }
    fn restore_batch(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        S::restore(&mut self.inner, records).map_err(store_err(&self.name, "restore"))?;
        S::flush(&mut self.inner).map_err(store_err(&self.name, "restore"))?;
        if let Some(l) = &self.logging {
            l.discard();
        }
        Ok(())
    }
    fn close(&mut self) -> Result<()> {
        S::close(&mut self.inner).map_err(store_err(&self.name, "close"))
    }
    fn approximate_entries(&self) -> u64 {
        S::entries(&self.inner)
    }
}

/// Builds a [`TypedStore`] per task: see [`crate::KeyValueStoreBuilder`],
/// [`crate::WindowStoreBuilder`] and [`crate::SessionStoreBuilder`].
pub struct TypedStoreBuilder<S: Layers + ?Sized, K, V> {
    pub(crate) spec: StoreSpec,
    pub(crate) options: S::Options,
    pub(crate) key_serde: Arc<dyn Serde<K>>,
    pub(crate) value_serde: Arc<dyn Serde<V>>,
    pub(crate) timestamped: bool,
}

impl<S: Layers + ?Sized, K, V> TypedStoreBuilder<S, K, V> {
    /// Keeps a timestamp with every value (Kafka's timestamped stores, `ValueAndTimestamp`):
    /// stored as 8 big-endian bytes before the value, read with the `*_with_timestamp`
    /// methods. The other methods read and write the value alone (a put without a timestamp
    /// stores [`NO_TIMESTAMP`]). The DSL keeps its tables and aggregations this way, to stamp
    /// results as Kafka Streams does.
    pub fn timestamped(mut self) -> Self {
        self.timestamped = true;
        self
    }

    /// The store's specification.
    pub fn spec(&self) -> &StoreSpec {
        &self.spec
    }

    /// The key serde, e.g. to find which task holds a key.
    pub fn key_serde(&self) -> &Arc<dyn Serde<K>> {
        &self.key_serde
    }
}

impl<S: Layers + ?Sized, K: 'static, V: 'static> StoreBuilder for TypedStoreBuilder<S, K, V> {
    fn name(&self) -> &str {
        &self.spec.name
    }
    fn logging_enabled(&self) -> bool {
        self.spec.logging
    }
    fn persistent(&self) -> bool {
        self.spec.store_type == StoreType::RocksDb
    }
    fn build(&self, ctx: StoreContext<'_>) -> Result<BuiltStore> {
        Ok(BuiltStore::new(self.build_typed(ctx)?))
    }
}

impl<S: Layers + ?Sized, K: 'static, V: 'static> TypedStoreBuilder<S, K, V> {
    /// Builds the typed store itself (for stores made of one, such as the versioned store).
    pub(crate) fn build_typed(&self, mut ctx: StoreContext<'_>) -> Result<TypedStore<S, K, V>> {
        let (inner, logging) = build::<S>(&self.spec, &self.options, &mut ctx)?;
        Ok(TypedStore::<S, K, V> {
            name: self.spec.name.clone(),
            inner,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            logging,
            timestamped: self.timestamped,
            key_buf: Vec::new(),
            value_buf: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_settings_override_the_defaults() {
        let defaults = StoreSettings::default();
        assert_eq!(cache_bytes(&defaults), DEFAULT_CACHE_BYTES);
        let rocks = rocks_config(&defaults);
        assert_eq!(rocks.block_cache_bytes, RocksConfig::default().block_cache_bytes);

        let s = StoreSettings {
            cache_max_bytes: Some(0),
            rocksdb_block_cache_bytes: Some(1_048_576),
            rocksdb_write_buffer_bytes: Some(65_536),
        };
        assert_eq!(cache_bytes(&s), 0);
        let rocks = rocks_config(&s);
        assert_eq!((rocks.block_cache_bytes, rocks.write_buffer_bytes), (1_048_576, 65_536));
    }
}
