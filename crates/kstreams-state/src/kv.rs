//! The byte-level key-value store contract.

use std::ops::Bound;

use crate::bounds::prefix_successor;
use crate::StoreError;

/// A fallible iterator over `(key, value)` pairs in ascending key order.
pub type KvIter<'a> = Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + 'a>;

/// One entry of a write batch or changelog: `None` is a delete (tombstone).
pub type KvEntry = (Vec<u8>, Option<Vec<u8>>);

/// A store of byte keys to byte values, ordered lexicographically by key.
///
/// Implementations: [`crate::MemoryKeyValueStore`], [`crate::RocksKeyValueStore`], and the
/// wrappers [`crate::ChangeLoggingKeyValueStore`] and [`crate::CachingKeyValueStore`].
pub trait KeyValueBytesStore: Send {
    /// The store's name, unique within its task.
    fn name(&self) -> &str;

    /// The value stored under `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `value` under `key`, replacing any previous value.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;

    /// Removes `key`; removing an absent key is not an error.
    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError>;

    /// Applies all entries atomically (`None` = delete), in order: a later entry for the same
    /// key wins.
    fn write_batch(&mut self, entries: &[KvEntry]) -> Result<(), StoreError>;

    /// Entries with keys within the bounds, in ascending lexicographic byte order. Bounds that
    /// describe an empty range (start after end) yield nothing.
    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<KvIter<'_>, StoreError>;

    /// Entries whose key starts with `prefix`, in ascending order.
    fn prefix_scan(&self, prefix: &[u8]) -> Result<KvIter<'_>, StoreError> {
        let end = prefix_successor(prefix);
        let to = match &end {
            Some(end) => Bound::Excluded(end.as_slice()),
            None => Bound::Unbounded,
        };
        self.range(Bound::Included(prefix), to)
    }

    /// Every entry, in ascending order.
    fn all(&self) -> Result<KvIter<'_>, StoreError> {
        self.range(Bound::Unbounded, Bound::Unbounded)
    }

    /// An estimate of the number of entries (exact for in-memory stores).
    fn approximate_num_entries(&self) -> Result<u64, StoreError>;

    /// Makes buffered writes visible to the layer below (caches); a no-op where meaningless.
    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Flushes and releases resources; the store is not used afterwards.
    fn close(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}
