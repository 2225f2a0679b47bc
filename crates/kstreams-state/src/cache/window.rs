//! The caching window store.

use std::cell::{Cell, RefCell};

use super::lru::{Cached, LruCache};
use super::merge::MergeIter;
use super::CacheStats;
use crate::segments::is_expired;
use crate::window::WindowEntry;
use crate::{PutOutcome, StoreError, WindowBytesStore};

/// A cache key: the record key followed by the window start (8 bytes, big-endian), in one
/// buffer, so that a lookup borrows a reused scratch buffer instead of allocating a key.
/// Ordered by key, then start.
#[derive(Clone, PartialEq, Eq, Hash)]
struct WindowCacheKey(Vec<u8>);

impl WindowCacheKey {
    fn new(key: &[u8], start: i64) -> Self {
        let mut bytes = Vec::with_capacity(key.len() + 8);
        encode_into(&mut bytes, key, start);
        Self(bytes)
    }

    fn key(&self) -> &[u8] {
        &self.0[..self.0.len() - 8]
    }

    fn start(&self) -> i64 {
        let mut be = [0u8; 8];
        be.copy_from_slice(&self.0[self.0.len() - 8..]);
        i64::from_be_bytes(be)
    }
}

fn encode_into(buf: &mut Vec<u8>, key: &[u8], start: i64) {
    buf.clear();
    buf.extend_from_slice(key);
    buf.extend_from_slice(&start.to_be_bytes());
}

impl std::borrow::Borrow<[u8]> for WindowCacheKey {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl Ord for WindowCacheKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(other.key()).then_with(|| self.start().cmp(&other.start()))
    }
}

impl PartialOrd for WindowCacheKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A write cache in front of a window store (not for stores that retain duplicates).
///
/// Like [`crate::CachingKeyValueStore`]: puts and deletes stay in the cache until `flush` or
/// eviction, which put them into the inner store in ascending window-start order. The cache
/// tracks stream time itself, so expired puts are refused and expired windows never returned
/// even before the inner store has seen the newest puts.
pub struct CachingWindowStore {
    inner: Box<dyn WindowBytesStore>,
    cache: RefCell<LruCache<WindowCacheKey>>,
    /// Where `fetch` and `put` encode the cache key they look up.
    scratch: RefCell<Vec<u8>>,
    observed: i64,
    stats: Cell<CacheStats>,
}

impl CachingWindowStore {
    /// Wraps `inner` with a cache of at most about `max_bytes`. Fails with
    /// [`StoreError::Unsupported`] if `inner` retains duplicates (every put must reach it).
    pub fn new(inner: Box<dyn WindowBytesStore>, max_bytes: usize) -> Result<Self, StoreError> {
        if inner.retains_duplicates() {
            return Err(StoreError::Unsupported {
                store: inner.name().to_owned(),
                operation: "caching a store that retains duplicates",
            });
        }
        let observed = inner.observed_stream_time();
        Ok(Self {
            inner,
            cache: RefCell::new(LruCache::new(max_bytes, |k| k.0.len())),
            scratch: RefCell::new(Vec::new()),
            observed,
            stats: Cell::new(CacheStats::default()),
        })
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

    fn cutoff(&self) -> i64 {
        self.expiry_time().saturating_sub(self.inner.retention_ms())
    }

    fn is_expired(&self, start: i64) -> bool {
        is_expired(start, self.expiry_time(), self.inner.retention_ms())
    }

    /// Puts `entries` into the inner store in ascending start order.
    fn write_through(&mut self, mut entries: Vec<(WindowCacheKey, Cached)>) -> Result<(), StoreError> {
        entries.sort_by_key(|(key, _)| key.start());
        for (key, value) in &entries {
            self.inner.put(key.key(), key.start(), value.as_deref())?;
        }
        self.count(|s| s.writes += entries.len() as u64);
        Ok(())
    }

    fn evict(&mut self) -> Result<(), StoreError> {
        let victims = self.cache.get_mut().victims();
        if victims.is_empty() {
            return Ok(());
        }
        let dirty = self.cache.get_mut().dirty_among(&victims);
        self.write_through(dirty)?;
        let cache = self.cache.get_mut();
        for key in &victims {
            cache.remove(key);
        }
        self.count(|s| s.evictions += victims.len() as u64);
        Ok(())
    }
}

impl WindowBytesStore for CachingWindowStore {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn retention_ms(&self) -> i64 {
        self.inner.retention_ms()
    }

    fn put(&mut self, key: &[u8], window_start: i64, value: Option<&[u8]>) -> Result<PutOutcome, StoreError> {
        self.observed = self.observed.max(window_start);
        if self.is_expired(window_start) {
            return Ok(PutOutcome::Expired);
        }
        let scratch = self.scratch.get_mut();
        encode_into(scratch, key, window_start);
        self.cache.get_mut().put_dirty_copy(scratch.as_slice(), |b| WindowCacheKey(b.to_vec()), value);
        self.evict()?;
        Ok(PutOutcome::Written)
    }

    fn fetch(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>, StoreError> {
        if self.is_expired(window_start) {
            return Ok(None);
        }
        let cached = {
            let mut scratch = self.scratch.borrow_mut();
            encode_into(&mut scratch, key, window_start);
            self.cache.borrow_mut().get(scratch.as_slice())
        };
        match cached {
            Some(value) => {
                self.count(|s| s.hits += 1);
                Ok(value)
            }
            None => {
                self.count(|s| s.misses += 1);
                // The inner store has never been written a window that starts later than its
                // observed stream time (persisted with its writes): a new window, the common
                // miss, needs no read of it.
                if window_start > self.inner.observed_stream_time() {
                    return Ok(None);
                }
                self.inner.fetch(key, window_start)
            }
        }
    }

    fn fetch_range(&self, key: &[u8], from: i64, to: i64) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let from = from.max(self.cutoff());
        if from > to {
            return Ok(Vec::new());
        }
        let cached: Vec<_> = self
            .cache
            .borrow()
            .range(WindowCacheKey::new(key, from)..=WindowCacheKey::new(key, to))
            .map(|(k, v)| (k.start(), v.clone()))
            .collect();
        let inner = self.inner.fetch_range(key, from, to)?;
        MergeIter::new(cached, inner.into_iter().map(Ok)).collect()
    }

    fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<WindowEntry>, StoreError> {
        let from = from.max(self.cutoff());
        if from > to {
            return Ok(Vec::new());
        }
        let mut cached: Vec<_> = self
            .cache
            .borrow()
            .iter()
            .filter(|(k, _)| (from..=to).contains(&k.start()))
            .map(|(k, v)| ((k.start(), k.key().to_vec()), v.clone()))
            .collect();
        cached.sort_by(|a, b| a.0.cmp(&b.0));
        let inner =
            self.inner.fetch_all(from, to)?.into_iter().map(|(key, start, value)| Ok(((start, key), value)));
        MergeIter::new(cached, inner)
            .map(|item| item.map(|((start, key), value)| (key, start, value)))
            .collect()
    }

    fn observed_stream_time(&self) -> i64 {
        self.observed.max(self.inner.observed_stream_time())
    }

    fn clock_time(&self) -> Option<i64> {
        self.inner.clock_time()
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        let dirty = self.cache.get_mut().dirty();
        if !dirty.is_empty() {
            self.write_through(dirty)?;
            self.cache.get_mut().mark_all_clean();
        }
        let observed = self.expiry_time();
        let retention = self.inner.retention_ms();
        self.cache.get_mut().retain(|k| !is_expired(k.start(), observed, retention));
        self.inner.flush()
    }

    fn close(&mut self) -> Result<(), StoreError> {
        self.flush()?;
        self.inner.close()
    }
}
