//! [`KeyValueStore`]: a typed key-value store, and its builder.

use std::ops::Bound;
use std::sync::Arc;

use kstreams_core::{BincodeSerde, Result, Serde};

use crate::kv::{KeyValueBytesStore, KvEntry};
use crate::rocks::RocksDbTaskDb;
use crate::segments::StreamClock;
use crate::typed::spec::StoreSpec;
use crate::typed::stack::{encode_into, serde_err, store_err, Layers, TypedStore, TypedStoreBuilder};
use crate::{
    restore_kv, CachingKeyValueStore, ChangeLoggingKeyValueStore, CollectingSink, MemoryKeyValueStore,
    RocksKeyValueStore, StoreError,
};

/// A typed key-value store.
pub type KeyValueStore<K, V> = TypedStore<dyn KeyValueBytesStore, K, V>;

/// Builds a [`KeyValueStore`] per task.
pub type KeyValueStoreBuilder<K, V> = TypedStoreBuilder<dyn KeyValueBytesStore, K, V>;

impl Layers for dyn KeyValueBytesStore {
    type Options = ();
    fn clocked(_: &(), _: StreamClock) {}
    fn memory(name: &str, _: ()) -> std::result::Result<Box<Self>, StoreError> {
        Ok(Box::new(MemoryKeyValueStore::new(name)))
    }
    fn rocks(db: Arc<RocksDbTaskDb>, name: &str, _: ()) -> std::result::Result<Box<Self>, StoreError> {
        Ok(Box::new(RocksKeyValueStore::open(db, name)?))
    }
    fn logged(inner: Box<Self>, sink: CollectingSink) -> Box<Self> {
        Box::new(ChangeLoggingKeyValueStore::new(inner, Box::new(sink)))
    }
    fn cached(inner: Box<Self>, bytes: usize) -> std::result::Result<Box<Self>, StoreError> {
        Ok(Box::new(CachingKeyValueStore::new(inner, bytes)))
    }
    fn restore(store: &mut Self, records: &[KvEntry]) -> std::result::Result<(), StoreError> {
        restore_kv(store, records)
    }
    fn flush(store: &mut Self) -> std::result::Result<(), StoreError> {
        store.flush()
    }
    fn close(store: &mut Self) -> std::result::Result<(), StoreError> {
        store.close()
    }
    fn entries(store: &Self) -> u64 {
        store.approximate_num_entries().unwrap_or(0)
    }
}

impl<K, V> KeyValueStoreBuilder<K, V> {
    /// A builder for the store `spec` with these serdes.
    pub fn new(spec: StoreSpec, key_serde: Arc<dyn Serde<K>>, value_serde: Arc<dyn Serde<V>>) -> Self {
        Self { spec, options: (), key_serde, value_serde, timestamped: false }
    }
}

impl<K, V: serde::Serialize + serde::de::DeserializeOwned + 'static> KeyValueStoreBuilder<K, V> {
    /// A builder whose values are stored with bincode.
    pub fn bincode(spec: StoreSpec, key_serde: Arc<dyn Serde<K>>) -> Self {
        Self::new(spec, key_serde, Arc::new(BincodeSerde::<V>::new()))
    }
}

impl<K: 'static, V: 'static> KeyValueStore<K, V> {
    /// The value of `key`.
    pub fn get(&mut self, key: &K) -> Result<Option<V>> {
        self.encode_key(key, "get")?;
        match self.inner.get(&self.key_buf).map_err(store_err(&self.name, "get"))? {
            Some(bytes) => Ok(Some(self.value(&bytes, "get")?)),
            None => Ok(None),
        }
    }

    /// The value of `key` with its timestamp (see [`crate::TypedStoreBuilder::timestamped`];
    /// [`crate::NO_TIMESTAMP`] in a store that keeps none).
    pub fn get_with_timestamp(&mut self, key: &K) -> Result<Option<(V, i64)>> {
        self.encode_key(key, "get")?;
        match self.inner.get(&self.key_buf).map_err(store_err(&self.name, "get"))? {
            Some(bytes) => Ok(Some(self.value_with_timestamp(&bytes, "get")?)),
            None => Ok(None),
        }
    }

    /// Sets the value of `key`.
    pub fn put(&mut self, key: &K, value: &V) -> Result<()> {
        self.put_inner(key, value, None)
    }

    /// Sets the value of `key` and, in a timestamped store, its timestamp.
    pub fn put_with_timestamp(&mut self, key: &K, value: &V, timestamp: i64) -> Result<()> {
        self.put_inner(key, value, Some(timestamp))
    }

    fn put_inner(&mut self, key: &K, value: &V, timestamp: Option<i64>) -> Result<()> {
        self.encode_key(key, "put")?;
        let ts = self.stored_timestamp(timestamp);
        let bytes = encode_into(&*self.value_serde, Some(value), ts, &mut self.value_buf, &self.name)?;
        let bytes = bytes.unwrap_or_default();
        self.inner.put(&self.key_buf, bytes).map_err(store_err(&self.name, "put"))
    }

    /// Every entry with its timestamp, in the byte order of the encoded keys.
    pub fn all_with_timestamps(&self) -> Result<Vec<(K, V, i64)>> {
        let mut out = Vec::new();
        for entry in self.inner.all().map_err(store_err(&self.name, "all"))? {
            let (k, v) = entry.map_err(store_err(&self.name, "all"))?;
            let (v, ts) = self.value_with_timestamp(&v, "all")?;
            out.push((self.key(&k, "all")?, v, ts));
        }
        Ok(out)
    }

    /// Removes `key`.
    pub fn delete(&mut self, key: &K) -> Result<()> {
        self.encode_key(key, "delete")?;
        self.inner.delete(&self.key_buf).map_err(store_err(&self.name, "delete"))
    }

    /// Every entry, in the byte order of the encoded keys.
    pub fn all(&self) -> Result<Vec<(K, V)>> {
        let mut out = Vec::new();
        for entry in self.inner.all().map_err(store_err(&self.name, "all"))? {
            let (k, v) = entry.map_err(store_err(&self.name, "all"))?;
            out.push((self.key(&k, "all")?, self.value(&v, "all")?));
        }
        Ok(out)
    }

    /// Entries whose encoded key starts with the bytes `prefix`, in key byte order.
    pub fn prefix_scan(&self, prefix: &[u8]) -> Result<Vec<(K, V)>> {
        let mut out = Vec::new();
        for entry in self.inner.prefix_scan(prefix).map_err(store_err(&self.name, "prefix_scan"))? {
            let (k, v) = entry.map_err(store_err(&self.name, "prefix_scan"))?;
            out.push((self.key(&k, "prefix_scan")?, self.value(&v, "prefix_scan")?));
        }
        Ok(out)
    }

    /// Entries whose encoded key lies in `[from, to]`.
    pub fn range(&self, from: &K, to: &K) -> Result<Vec<(K, V)>> {
        let f = self.key_serde.serialize(from).map_err(serde_err(&self.name, "range"))?;
        let t = self.key_serde.serialize(to).map_err(serde_err(&self.name, "range"))?;
        let mut out = Vec::new();
        for entry in self
            .inner
            .range(Bound::Included(&f), Bound::Included(&t))
            .map_err(store_err(&self.name, "range"))?
        {
            let (k, v) = entry.map_err(store_err(&self.name, "range"))?;
            out.push((self.key(&k, "range")?, self.value(&v, "range")?));
        }
        Ok(out)
    }
}
