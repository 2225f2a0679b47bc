//! A byte-bounded LRU map of cached values with dirty flags, ordered by key.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::ops::RangeBounds;

/// Bytes charged per entry on top of its key and value.
const ENTRY_OVERHEAD: usize = 64;

/// A cached value: `None` is a cached delete (tombstone).
pub(crate) type Cached = Option<Vec<u8>>;

struct Slot {
    value: Cached,
    dirty: bool,
    tick: u64,
    size: usize,
}

/// Entries in a hash map: a hit or a put is one hash lookup, with no key comparisons and no
/// bookkeeping allocation. Each entry remembers when it was last used; the use order is only
/// computed when the cache is over budget, and the key order only for range reads and flushes.
pub(crate) struct LruCache<K> {
    /// foldhash: the cache is looked up once or twice per record, and SipHash showed in
    /// profiles; keys are seeded per process.
    entries: HashMap<K, Slot, foldhash::fast::RandomState>,
    tick: u64,
    bytes: usize,
    max_bytes: usize,
    key_size: fn(&K) -> usize,
}

impl<K: Ord + Hash + Clone> LruCache<K> {
    pub fn new(max_bytes: usize, key_size: fn(&K) -> usize) -> Self {
        Self { entries: HashMap::default(), tick: 0, bytes: 0, max_bytes, key_size }
    }

    /// The cached value of `key`, marking it used; `None` on a miss. The key is borrowed, so
    /// a lookup allocates nothing but the returned copy of the value.
    pub fn get<Q>(&mut self, key: &Q) -> Option<Cached>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let tick = self.next_tick();
        let slot = self.entries.get_mut(key)?;
        slot.tick = tick;
        Some(slot.value.clone())
    }

    /// Caches `value` for `key` as dirty (to be written to the inner store).
    pub fn put_dirty(&mut self, key: K, value: Cached) {
        let tick = self.next_tick();
        let size = (self.key_size)(&key) + value.as_ref().map_or(0, Vec::len) + ENTRY_OVERHEAD;
        let slot = Slot { value, dirty: true, tick, size };
        self.bytes += size;
        if let Some(old) = self.entries.insert(key, slot) {
            self.bytes -= old.size;
        }
    }

    /// Caches a copy of `value` for `key` as dirty. An update of a cached key copies into the
    /// entry's own buffer: no allocation unless the value grew.
    /// `owned` makes the key to store when `key` is not cached yet.
    pub fn put_dirty_copy<Q>(&mut self, key: &Q, owned: impl FnOnce(&Q) -> K, value: Option<&[u8]>)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let tick = self.next_tick();
        if let Some(slot) = self.entries.get_mut(key) {
            let key_size = slot.size - ENTRY_OVERHEAD - slot.value.as_ref().map_or(0, Vec::len);
            match (value, slot.value.as_mut()) {
                (Some(v), Some(buf)) => {
                    buf.clear();
                    buf.extend_from_slice(v);
                }
                (v, _) => slot.value = v.map(<[u8]>::to_vec),
            }
            let size = key_size + value.map_or(0, <[u8]>::len) + ENTRY_OVERHEAD;
            self.bytes = self.bytes - slot.size + size;
            slot.size = size;
            slot.dirty = true;
            slot.tick = tick;
            return;
        }
        self.put_dirty(owned(key), value.map(<[u8]>::to_vec));
    }

    /// Least recently used keys to evict, oldest first, once the cache exceeds `max_bytes`:
    /// enough of them to bring it down to three quarters of the budget, so that the sort of
    /// the use order is paid once per quarter of the cache rather than on every put.
    pub fn victims(&self) -> Vec<K> {
        if self.bytes <= self.max_bytes {
            return Vec::new();
        }
        let mut excess = self.bytes.saturating_sub(self.max_bytes / 4 * 3);
        let mut by_use: Vec<(u64, &K, usize)> =
            self.entries.iter().map(|(k, s)| (s.tick, k, s.size)).collect();
        by_use.sort_unstable_by_key(|(tick, _, _)| *tick);
        let mut out = Vec::new();
        for (_, key, size) in by_use {
            if excess == 0 {
                break;
            }
            excess = excess.saturating_sub(size);
            out.push(key.clone());
        }
        out
    }

    /// The dirty entries among `keys`, in the given order.
    pub fn dirty_among(&self, keys: &[K]) -> Vec<(K, Cached)> {
        keys.iter()
            .filter_map(|k| {
                let slot = self.entries.get(k)?;
                slot.dirty.then(|| (k.clone(), slot.value.clone()))
            })
            .collect()
    }

    /// Every dirty entry, in key order.
    pub fn dirty(&self) -> Vec<(K, Cached)> {
        let mut out: Vec<(K, Cached)> =
            self.entries.iter().filter(|(_, s)| s.dirty).map(|(k, s)| (k.clone(), s.value.clone())).collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// How many dirty entries hold a value (not a delete).
    pub fn dirty_values(&self) -> usize {
        self.entries.values().filter(|s| s.dirty && s.value.is_some()).count()
    }

    /// Marks every entry clean (written to the inner store) and forgets the deletes: once
    /// written they only remember that a key is absent, which the inner store also knows, and
    /// kept they would fill the cache with keys that are rarely read again (a suppression
    /// buffer deletes every key it emits).
    pub fn mark_all_clean(&mut self) {
        let mut freed = 0;
        self.entries.retain(|_, slot| {
            slot.dirty = false;
            if slot.value.is_none() {
                freed += slot.size;
                return false;
            }
            true
        });
        self.bytes -= freed;
    }

    pub fn remove<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(slot) = self.entries.remove(key) {
            self.bytes -= slot.size;
        }
    }

    /// Keeps only the entries for which `keep` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        let doomed: Vec<K> = self.entries.keys().filter(|k| !keep(k)).cloned().collect();
        for key in &doomed {
            self.remove(key);
        }
    }

    /// Cached entries with keys in `range`, ascending.
    pub fn range<R: RangeBounds<K>>(&self, range: R) -> impl Iterator<Item = (&K, &Cached)> {
        let mut hits: Vec<(&K, &Cached)> =
            self.entries.iter().filter(|(k, _)| range.contains(*k)).map(|(k, s)| (k, &s.value)).collect();
        hits.sort_unstable_by(|a, b| a.0.cmp(b.0));
        hits.into_iter()
    }

    /// Every cached entry, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &Cached)> {
        let mut all: Vec<(&K, &Cached)> = self.entries.iter().map(|(k, s)| (k, &s.value)).collect();
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all.into_iter()
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_first() {
        let mut cache: LruCache<Vec<u8>> = LruCache::new(2 * (ENTRY_OVERHEAD + 2), Vec::len);
        cache.put_dirty(b"a".to_vec(), Some(b"1".to_vec()));
        cache.put_dirty(b"b".to_vec(), Some(b"2".to_vec()));
        assert!(cache.victims().is_empty());
        assert_eq!(cache.get(&b"a".to_vec()), Some(Some(b"1".to_vec())));
        cache.put_dirty(b"c".to_vec(), None);
        // Over budget: evict down to 3/4 of it, least recently used (b) first.
        assert_eq!(cache.victims(), vec![b"b".to_vec(), b"a".to_vec()]);
    }

    #[test]
    fn an_in_place_update_keeps_the_byte_count_exact() {
        let mut cache: LruCache<Vec<u8>> = LruCache::new(1 << 20, Vec::len);
        cache.put_dirty_copy(&b"k"[..], <[u8]>::to_vec, Some(&b"12345"[..]));
        assert_eq!(cache.bytes, 1 + 5 + ENTRY_OVERHEAD);
        cache.put_dirty_copy(&b"k"[..], <[u8]>::to_vec, Some(&b"1"[..]));
        assert_eq!(cache.bytes, 1 + 1 + ENTRY_OVERHEAD);
        cache.put_dirty_copy(&b"k"[..], <[u8]>::to_vec, None);
        assert_eq!(cache.bytes, 1 + ENTRY_OVERHEAD);
        assert_eq!(cache.get(&b"k"[..]), Some(None));
        cache.put_dirty_copy(&b"k"[..], <[u8]>::to_vec, Some(&b"123"[..]));
        assert_eq!(cache.get(&b"k"[..]), Some(Some(b"123".to_vec())));
        assert_eq!(cache.dirty(), vec![(b"k".to_vec(), Some(b"123".to_vec()))]);
        cache.mark_all_clean();
        cache.put_dirty_copy(&b"k"[..], <[u8]>::to_vec, Some(&b"4"[..]));
        assert_eq!(cache.dirty(), vec![(b"k".to_vec(), Some(b"4".to_vec()))]);
        assert_eq!(cache.bytes, 1 + 1 + ENTRY_OVERHEAD);
    }
}
