//! [`StoreSettings`]: memory settings the runtime hands to store builders through
//! [`crate::store::StoreContext`], so `cache.max.bytes` and RocksDB settings of the
//! application's configuration reach the stores it builds.
//!
//! ```
//! use kstreams_core::StoreSettings;
//!
//! let s = StoreSettings::default().with(StoreSettings::ROCKSDB_BLOCK_CACHE_BYTES, "1048576");
//! assert_eq!(s.bytes(StoreSettings::ROCKSDB_BLOCK_CACHE_BYTES).unwrap(), Some(1_048_576));
//! assert_eq!(s.cache_max_bytes, None); // the store's own default
//! ```

use std::collections::BTreeMap;

use crate::error::{Result, StreamsError};

/// Settings for the stores of one task. The defaults leave every store at its own defaults
/// (what the test driver uses).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreSettings {
    /// Bytes of write cache for each caching store of the task; `Some(0)` disables caching
    /// (every write goes through to the store and its changelog). `None`: the store's default.
    pub cache_max_bytes: Option<usize>,
    /// Further settings by name, interpreted by store implementations (see the constants).
    pub properties: BTreeMap<String, String>,
}

impl StoreSettings {
    /// Size in bytes of the RocksDB block cache of each task's database.
    pub const ROCKSDB_BLOCK_CACHE_BYTES: &'static str = "rocksdb.block.cache.bytes";
    /// Size in bytes of each RocksDB memtable (write buffer).
    pub const ROCKSDB_WRITE_BUFFER_BYTES: &'static str = "rocksdb.write.buffer.bytes";

    /// These settings with property `key` set to `value`.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// The raw value of property `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }

    /// Property `key` as a byte count; [`StreamsError::Config`] naming the key when it is not
    /// a non-negative integer.
    pub fn bytes(&self, key: &str) -> Result<Option<usize>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.trim().parse::<usize>().map(Some).map_err(|_| StreamsError::Config {
                key: key.to_string(),
                detail: format!("`{v}` is not a byte count"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_parse_and_name_the_key_on_error() {
        let s = StoreSettings::default()
            .with(StoreSettings::ROCKSDB_WRITE_BUFFER_BYTES, " 4096 ")
            .with("x", "lots");
        assert_eq!(s.bytes(StoreSettings::ROCKSDB_WRITE_BUFFER_BYTES).unwrap(), Some(4096));
        assert_eq!(s.bytes("missing").unwrap(), None);
        assert!(s.bytes("x").unwrap_err().to_string().contains("`x`"));
    }
}
