//! [`SessionStore`]: a typed session store (values per key and session `[start, end]`), and
//! its builder. Session stores have no cache layer.

use std::sync::Arc;

use kstreams_core::{Result, Serde};

use crate::kv::KvEntry;
use crate::rocks::RocksDbTaskDb;
use crate::segments::StreamClock;
use crate::session::{SessionBytesStore, SessionStoreOptions};
use crate::typed::spec::StoreSpec;
use crate::typed::stack::{encode_into, segment_interval, store_err, Layers, TypedStore, TypedStoreBuilder};
use crate::{
    restore_session, ChangeLoggingSessionStore, CollectingSink, MemorySessionStore, RocksSessionStore,
    StoreError,
};

/// A typed session store: values per key and session `[start, end]`.
pub type SessionStore<K, V> = TypedStore<dyn SessionBytesStore, K, V>;

/// Builds a [`SessionStore`] per task.
pub type SessionStoreBuilder<K, V> = TypedStoreBuilder<dyn SessionBytesStore, K, V>;

impl Layers for dyn SessionBytesStore {
    type Options = SessionStoreOptions;
    fn clocked(options: &SessionStoreOptions, clock: StreamClock) -> SessionStoreOptions {
        options.clone().clock(clock)
    }
    fn memory(name: &str, options: SessionStoreOptions) -> std::result::Result<Box<Self>, StoreError> {
        Ok(Box::new(MemorySessionStore::new(name, options)?))
    }
    fn rocks(
        db: Arc<RocksDbTaskDb>,
        name: &str,
        options: SessionStoreOptions,
    ) -> std::result::Result<Box<Self>, StoreError> {
        Ok(Box::new(RocksSessionStore::open(db, name, options)?))
    }
    fn logged(inner: Box<Self>, sink: CollectingSink) -> Box<Self> {
        Box::new(ChangeLoggingSessionStore::new(inner, Box::new(sink)))
    }
    fn cached(inner: Box<Self>, _bytes: usize) -> std::result::Result<Box<Self>, StoreError> {
        Ok(inner)
    }
    fn restore(store: &mut Self, records: &[KvEntry]) -> std::result::Result<(), StoreError> {
        restore_session(store, records)
    }
    fn flush(store: &mut Self) -> std::result::Result<(), StoreError> {
        store.flush()
    }
    fn close(store: &mut Self) -> std::result::Result<(), StoreError> {
        store.close()
    }
}

impl<K, V> SessionStoreBuilder<K, V> {
    /// A builder for the store `spec` keeping sessions for `retention_ms` of stream time.
    pub fn new(
        spec: StoreSpec,
        retention_ms: i64,
        key_serde: Arc<dyn Serde<K>>,
        value_serde: Arc<dyn Serde<V>>,
    ) -> Self {
        let options =
            SessionStoreOptions::new(retention_ms).segment_interval_ms(segment_interval(retention_ms));
        Self { spec, options, key_serde, value_serde, timestamped: false }
    }
}

impl<K: 'static, V: 'static> SessionStore<K, V> {
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
        raw.into_iter().map(|(s, e, b)| Ok((s, e, self.value(&b, "find_sessions")?))).collect()
    }

    /// Stores (or with `None` removes) the session `[start, end]` of `key`.
    pub fn put(&mut self, key: &K, start: i64, end: i64, value: Option<&V>) -> Result<bool> {
        self.encode_key(key, "put")?;
        let ts = self.stored_timestamp(None);
        let bytes = encode_into(&*self.value_serde, value, ts, &mut self.value_buf, &self.name)?;
        let outcome =
            self.inner.put(&self.key_buf, start, end, bytes).map_err(store_err(&self.name, "put"))?;
        Ok(outcome.is_written())
    }

    /// Every session of `key`.
    pub fn fetch_key(&mut self, key: &K) -> Result<Vec<(i64, i64, V)>> {
        self.find_sessions(key, i64::MIN, i64::MAX)
    }
}
