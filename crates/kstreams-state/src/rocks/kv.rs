//! The RocksDB key-value store: one column family named after the store.

use std::ops::Bound;
use std::sync::Arc;

use super::db::{StoreClaim, StoreKind};
use super::RocksDbTaskDb;
use crate::bounds::HalfOpen;
use crate::kv::KvEntry;
use crate::{KeyValueBytesStore, KvIter, StoreError};

/// A key-value store in its own column family of the task database.
///
/// `flush` is a no-op: writes go through RocksDB's write-ahead log, so nothing is buffered
/// here (caches above flush themselves).
pub struct RocksKeyValueStore {
    claim: StoreClaim,
}

impl RocksKeyValueStore {
    /// Opens the store `name`, creating its column family if needed. Fails if the name is
    /// reserved, ends in `.<integer>`, or is already open in this task db.
    pub fn open(db: Arc<RocksDbTaskDb>, name: &str) -> Result<Self, StoreError> {
        let claim = StoreClaim::new(db, name, StoreKind::KeyValue)?;
        claim.db().ensure_cf(name)?;
        Ok(Self { claim })
    }

    fn db(&self) -> &RocksDbTaskDb {
        self.claim.db()
    }
}

impl KeyValueBytesStore for RocksKeyValueStore {
    fn name(&self) -> &str {
        self.claim.name()
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.db().get(self.name(), self.name(), key)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let cf = self.db().cf(self.name())?;
        self.db().write(self.name(), |b| b.put_cf(&cf, key, value))
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        let cf = self.db().cf(self.name())?;
        self.db().write(self.name(), |b| b.delete_cf(&cf, key))
    }

    fn write_batch(&mut self, entries: &[KvEntry]) -> Result<(), StoreError> {
        let cf = self.db().cf(self.name())?;
        self.db().write(self.name(), |b| {
            for (key, value) in entries {
                match value {
                    Some(value) => b.put_cf(&cf, key, value),
                    None => b.delete_cf(&cf, key),
                }
            }
        })
    }

    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<KvIter<'_>, StoreError> {
        match HalfOpen::from_bounds(from, to) {
            Some(range) => self.db().iter(self.name(), self.name(), range.lower, range.upper),
            None => Ok(Box::new(std::iter::empty())),
        }
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        self.db().estimate_num_keys(self.name(), self.name())
    }
}
