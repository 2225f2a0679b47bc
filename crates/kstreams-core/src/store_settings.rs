//! [`StoreSettings`]: memory settings the runtime hands to store builders through
//! [`crate::StoreContext`], so `cache.max.bytes` and the RocksDB settings of the
//! application's configuration reach the stores it builds.
//!
//! ```
//! use kstreams_core::StoreSettings;
//!
//! let s = StoreSettings { rocksdb_block_cache_bytes: Some(1 << 20), ..StoreSettings::default() };
//! assert_eq!(s.cache_max_bytes, None); // the store's own default
//! ```

/// Settings for the stores of one task. The defaults leave every store at its own defaults
/// (what the test driver uses).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreSettings {
    /// Bytes of write cache for each caching store of the task; `Some(0)` disables caching
    /// (every write goes through to the store and its changelog). `None`: the store's default.
    pub cache_max_bytes: Option<usize>,
    /// Bytes of the RocksDB block cache of each task's database (`rocksdb.block.cache.bytes`).
    pub rocksdb_block_cache_bytes: Option<usize>,
    /// Bytes of each RocksDB memtable (`rocksdb.write.buffer.bytes`).
    pub rocksdb_write_buffer_bytes: Option<usize>,
}
