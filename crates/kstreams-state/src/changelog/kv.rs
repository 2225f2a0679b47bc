//! The changelogging key-value store.

use std::ops::Bound;

use super::ChangelogSink;
use crate::kv::KvEntry;
use crate::{KeyValueBytesStore, KvIter, StoreError};

/// Passes every call to the inner store and logs each successful write (key = raw key).
pub struct ChangeLoggingKeyValueStore {
    inner: Box<dyn KeyValueBytesStore>,
    sink: Box<dyn ChangelogSink>,
}

impl ChangeLoggingKeyValueStore {
    /// Wraps `inner`, logging to `sink`.
    pub fn new(inner: Box<dyn KeyValueBytesStore>, sink: Box<dyn ChangelogSink>) -> Self {
        Self { inner, sink }
    }

    /// The wrapped store (for restoring without re-logging).
    pub fn inner_mut(&mut self) -> &mut dyn KeyValueBytesStore {
        self.inner.as_mut()
    }
}

impl KeyValueBytesStore for ChangeLoggingKeyValueStore {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.inner.put(key, value)?;
        self.sink.record(self.inner.name(), key, Some(value));
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.inner.delete(key)?;
        self.sink.record(self.inner.name(), key, None);
        Ok(())
    }

    fn write_batch(&mut self, entries: &[KvEntry]) -> Result<(), StoreError> {
        self.inner.write_batch(entries)?;
        for (key, value) in entries {
            self.sink.record(self.inner.name(), key, value.as_deref());
        }
        Ok(())
    }

    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<KvIter<'_>, StoreError> {
        self.inner.range(from, to)
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KvIter<'_>, StoreError> {
        self.inner.prefix_scan(prefix)
    }

    fn all(&self) -> Result<KvIter<'_>, StoreError> {
        self.inner.all()
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        self.inner.approximate_num_entries()
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.inner.flush()
    }

    fn close(&mut self) -> Result<(), StoreError> {
        self.inner.close()
    }
}
