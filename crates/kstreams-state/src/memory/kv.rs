//! The in-memory key-value store.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::bounds::HalfOpen;
use crate::kv::KvEntry;
use crate::{KeyValueBytesStore, KvIter, StoreError};

/// A key-value store in a `BTreeMap`; its contents live only as long as the process (restore
/// it from its changelog after a restart).
#[derive(Debug, Clone, Default)]
pub struct MemoryKeyValueStore {
    name: String,
    map: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl MemoryKeyValueStore {
    /// An empty store.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), map: BTreeMap::new() }
    }
}

impl KeyValueBytesStore for MemoryKeyValueStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map.get(key).cloned())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.map.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.map.remove(key);
        Ok(())
    }

    fn write_batch(&mut self, entries: &[KvEntry]) -> Result<(), StoreError> {
        for (key, value) in entries {
            match value {
                Some(value) => self.map.insert(key.clone(), value.clone()),
                None => self.map.remove(key),
            };
        }
        Ok(())
    }

    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<KvIter<'_>, StoreError> {
        let Some(range) = HalfOpen::from_bounds(from, to) else {
            return Ok(Box::new(std::iter::empty()));
        };
        let entries = self.map.range::<[u8], _>(range.as_bounds()).map(|(k, v)| Ok((k.clone(), v.clone())));
        Ok(Box::new(entries))
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        Ok(self.map.len() as u64)
    }
}
