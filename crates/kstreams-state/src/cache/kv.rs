//! The caching key-value store.

use std::cell::{Cell, RefCell};
use std::ops::Bound;

use super::lru::LruCache;
use super::merge::MergeIter;
use super::CacheStats;
use crate::bounds::HalfOpen;
use crate::kv::KvEntry;
use crate::{KeyValueBytesStore, KvIter, StoreError};

/// A write cache in front of a key-value store.
///
/// Writes (deletes as tombstones) stay in the cache until `flush`, which writes every dirty
/// entry to the inner store in **one** `write_batch` and then flushes it; when the cache grows
/// past `max_bytes`, least recently used entries are evicted, the dirty ones written through in
/// one `write_batch`. Reads are served from the cache first; `range`, `prefix_scan` and `all`
/// merge cache and inner store (the cache wins, cached deletes hide inner entries).
///
/// Flushed entries stay cached (clean) until evicted, so reads of hot keys keep hitting.
pub struct CachingKeyValueStore {
    inner: Box<dyn KeyValueBytesStore>,
    cache: RefCell<LruCache<Vec<u8>>>,
    stats: Cell<CacheStats>,
}

impl CachingKeyValueStore {
    /// Wraps `inner` with a cache of at most about `max_bytes` (keys + values + ~64 bytes of
    /// overhead per entry). `max_bytes = 0` writes every change straight through.
    pub fn new(inner: Box<dyn KeyValueBytesStore>, max_bytes: usize) -> Self {
        Self {
            inner,
            cache: RefCell::new(LruCache::new(max_bytes, Vec::len)),
            stats: Cell::new(CacheStats::default()),
        }
    }

    /// Hit, miss, eviction and write counters since creation.
    pub fn stats(&self) -> CacheStats {
        self.stats.get()
    }

    fn count(&self, update: impl FnOnce(&mut CacheStats)) {
        let mut stats = self.stats.get();
        update(&mut stats);
        self.stats.set(stats);
    }

    /// Evicts least recently used entries until the cache fits, writing dirty ones through.
    fn evict(&mut self) -> Result<(), StoreError> {
        let victims = self.cache.get_mut().victims();
        if victims.is_empty() {
            return Ok(());
        }
        let dirty = self.cache.get_mut().dirty_among(&victims);
        if !dirty.is_empty() {
            self.inner.write_batch(&dirty)?;
        }
        let cache = self.cache.get_mut();
        for key in &victims {
            cache.remove(key);
        }
        self.count(|s| {
            s.evictions += victims.len() as u64;
            s.writes += dirty.len() as u64;
        });
        Ok(())
    }
}

impl KeyValueBytesStore for CachingKeyValueStore {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let cached = self.cache.borrow_mut().get(key);
        match cached {
            Some(value) => {
                self.count(|s| s.hits += 1);
                Ok(value)
            }
            None => {
                self.count(|s| s.misses += 1);
                self.inner.get(key)
            }
        }
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.cache.get_mut().put_dirty_copy(key, <[u8]>::to_vec, Some(value));
        self.evict()
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.cache.get_mut().put_dirty_copy(key, <[u8]>::to_vec, None);
        self.evict()
    }

    fn write_batch(&mut self, entries: &[KvEntry]) -> Result<(), StoreError> {
        let cache = self.cache.get_mut();
        for (key, value) in entries {
            cache.put_dirty(key.clone(), value.clone());
        }
        self.evict()
    }

    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<KvIter<'_>, StoreError> {
        let Some(range) = HalfOpen::from_bounds(from, to) else {
            return Ok(Box::new(std::iter::empty()));
        };
        let lower = range.lower.clone().map_or(Bound::Unbounded, Bound::Included);
        let upper = range.upper.clone().map_or(Bound::Unbounded, Bound::Excluded);
        // The cache is bounded by `max_bytes`, so copying its part of the range is bounded too.
        let cached: Vec<_> =
            self.cache.borrow().range((lower, upper)).map(|(k, v)| (k.clone(), v.clone())).collect();
        let (from, to) = range.as_bounds();
        let inner = self.inner.range(from, to)?;
        Ok(Box::new(MergeIter::new(cached, inner)))
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        let dirty = self.cache.borrow().dirty_values() as u64;
        Ok(self.inner.approximate_num_entries()?.saturating_add(dirty))
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        let dirty = self.cache.get_mut().dirty();
        if !dirty.is_empty() {
            self.inner.write_batch(&dirty)?;
            self.cache.get_mut().mark_all_clean();
            self.count(|s| s.writes += dirty.len() as u64);
        }
        self.inner.flush()
    }

    fn close(&mut self) -> Result<(), StoreError> {
        self.flush()?;
        self.inner.close()
    }
}
