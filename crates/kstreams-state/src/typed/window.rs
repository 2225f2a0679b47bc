//! [`WindowStore`]: a typed window store (one value per key and window start), and its builder.

use std::sync::Arc;

use kstreams_core::{Result, Serde};

use crate::kv::KvEntry;
use crate::rocks::RocksDbTaskDb;
use crate::segments::StreamClock;
use crate::typed::spec::StoreSpec;
use crate::typed::stack::{encode_into, segment_interval, store_err, Layers, TypedStore, TypedStoreBuilder};
use crate::window::{WindowBytesStore, WindowStoreOptions};
use crate::{
    restore_window, CachingWindowStore, ChangeLoggingWindowStore, CollectingSink, MemoryWindowStore,
    RocksWindowStore, StoreError,
};

/// A typed window store: one value per key and window start.
pub type WindowStore<K, V> = TypedStore<dyn WindowBytesStore, K, V>;

/// Builds a [`WindowStore`] per task.
pub type WindowStoreBuilder<K, V> = TypedStoreBuilder<dyn WindowBytesStore, K, V>;

impl Layers for dyn WindowBytesStore {
    type Options = WindowStoreOptions;
    fn clocked(options: &WindowStoreOptions, clock: StreamClock) -> WindowStoreOptions {
        options.clone().clock(clock)
    }
    fn memory(name: &str, options: WindowStoreOptions) -> std::result::Result<Box<Self>, StoreError> {
        Ok(Box::new(MemoryWindowStore::new(name, options)?))
    }
    fn rocks(
        db: Arc<RocksDbTaskDb>,
        name: &str,
        options: WindowStoreOptions,
    ) -> std::result::Result<Box<Self>, StoreError> {
        Ok(Box::new(RocksWindowStore::open(db, name, options)?))
    }
    fn logged(inner: Box<Self>, sink: CollectingSink) -> Box<Self> {
        Box::new(ChangeLoggingWindowStore::new(inner, Box::new(sink)))
    }
    fn cached(inner: Box<Self>, bytes: usize) -> std::result::Result<Box<Self>, StoreError> {
        Ok(Box::new(CachingWindowStore::new(inner, bytes)?))
    }
    fn restore(store: &mut Self, records: &[KvEntry]) -> std::result::Result<(), StoreError> {
        restore_window(store, records)
    }
    fn flush(store: &mut Self) -> std::result::Result<(), StoreError> {
        store.flush()
    }
    fn close(store: &mut Self) -> std::result::Result<(), StoreError> {
        store.close()
    }
}

impl<K, V> WindowStoreBuilder<K, V> {
    /// A builder for the store `spec` keeping windows for `retention_ms` of stream time.
    pub fn new(
        spec: StoreSpec,
        retention_ms: i64,
        key_serde: Arc<dyn Serde<K>>,
        value_serde: Arc<dyn Serde<V>>,
    ) -> Self {
        let options =
            WindowStoreOptions::new(retention_ms).segment_interval_ms(segment_interval(retention_ms));
        Self { spec, options, key_serde, value_serde, timestamped: false }
    }

    /// Keeps every value put for one key and start (stream-stream join buffers); disables
    /// caching, which would collapse them.
    pub fn retain_duplicates(mut self) -> Self {
        self.options = self.options.retain_duplicates(true);
        self.spec.caching = false;
        self
    }
}

impl<K: 'static, V: 'static> WindowStore<K, V> {
    /// The value of `key` in the window starting at `start`.
    pub fn fetch(&mut self, key: &K, start: i64) -> Result<Option<V>> {
        self.encode_key(key, "fetch")?;
        match self.inner.fetch(&self.key_buf, start).map_err(store_err(&self.name, "fetch"))? {
            Some(b) => Ok(Some(self.value(&b, "fetch")?)),
            None => Ok(None),
        }
    }

    /// The value of `key` in the window starting at `start`, with its timestamp (see
    /// [`crate::TypedStoreBuilder::timestamped`]).
    pub fn fetch_with_timestamp(&mut self, key: &K, start: i64) -> Result<Option<(V, i64)>> {
        self.encode_key(key, "fetch")?;
        match self.inner.fetch(&self.key_buf, start).map_err(store_err(&self.name, "fetch"))? {
            Some(b) => Ok(Some(self.value_with_timestamp(&b, "fetch")?)),
            None => Ok(None),
        }
    }

    /// Stores (or with `None` deletes) the value of `key` in the window starting at `start`.
    /// Returns false if the window had already expired from the store.
    pub fn put(&mut self, key: &K, start: i64, value: Option<&V>) -> Result<bool> {
        self.put_inner(key, start, value, None)
    }

    /// [`WindowStore::put`] with the value's timestamp, kept by a timestamped store.
    pub fn put_with_timestamp(
        &mut self,
        key: &K,
        start: i64,
        value: Option<&V>,
        timestamp: i64,
    ) -> Result<bool> {
        self.put_inner(key, start, value, Some(timestamp))
    }

    fn put_inner(&mut self, key: &K, start: i64, value: Option<&V>, timestamp: Option<i64>) -> Result<bool> {
        self.encode_key(key, "put")?;
        let ts = self.stored_timestamp(timestamp);
        let bytes = encode_into(&*self.value_serde, value, ts, &mut self.value_buf, &self.name)?;
        let outcome = self.inner.put(&self.key_buf, start, bytes).map_err(store_err(&self.name, "put"))?;
        Ok(outcome.is_written())
    }

    /// The windows of `key` starting in `[from, to]`, ascending.
    pub fn fetch_range(&mut self, key: &K, from: i64, to: i64) -> Result<Vec<(i64, V)>> {
        self.encode_key(key, "fetch_range")?;
        let raw =
            self.inner.fetch_range(&self.key_buf, from, to).map_err(store_err(&self.name, "fetch_range"))?;
        raw.into_iter().map(|(s, b)| Ok((s, self.value(&b, "fetch_range")?))).collect()
    }

    /// The windows of every key starting in `[from, to]`, ascending by start then key.
    pub fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<(K, i64, V)>> {
        let raw = self.inner.fetch_all(from, to).map_err(store_err(&self.name, "fetch_all"))?;
        raw.into_iter()
            .map(|(k, s, b)| Ok((self.key(&k, "fetch_all")?, s, self.value(&b, "fetch_all")?)))
            .collect()
    }
}
