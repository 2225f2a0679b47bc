//! Write caches: dirty entries are held in memory (bounded by `max_bytes`) and written to the
//! inner store on `flush` or when evicted, so many updates of one key between commits become
//! one write — and, with a changelogging store inside, one changelog record.

mod kv;
mod lru;
mod merge;
mod window;

pub use kv::CachingKeyValueStore;
pub use window::CachingWindowStore;

/// Counters of a caching store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads answered by the cache (including cached deletes).
    pub hits: u64,
    /// Reads passed to the inner store.
    pub misses: u64,
    /// Entries evicted to stay within `max_bytes` (dirty ones were written through).
    pub evictions: u64,
    /// Dirty entries written to the inner store by `flush` or eviction.
    pub writes: u64,
}
