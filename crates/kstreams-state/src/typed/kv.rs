//! [`KeyValueStore`]: a typed key-value store, and its builder.

use std::ops::Bound;
use std::sync::Arc;

use kstreams_core::{BincodeSerde, Result, Serde};

use crate::kv::{KeyValueBytesStore, KvEntry};
use crate::rocks::RocksDbTaskDb;
use crate::segments::StreamClock;
use crate::typed::spec::StoreSpec;
use crate::typed::stack::{serde_err, store_err, Layers, TypedStore, TypedStoreBuilder};
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
        Self { spec, options: (), key_serde, value_serde }
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

    /// Sets the value of `key`.
    pub fn put(&mut self, key: &K, value: &V) -> Result<()> {
        self.encode_key(key, "put")?;
        self.value_buf.clear();
        self.value_serde.serialize_into(value, &mut self.value_buf).map_err(serde_err(&self.name, "put"))?;
        self.inner.put(&self.key_buf, &self.value_buf).map_err(store_err(&self.name, "put"))
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
