//! The RocksDB window store.

use std::sync::Arc;

use super::segments::RocksSegments;
use super::RocksDbTaskDb;
use crate::segmented::window::{impl_window_store_via_core, WindowCore};
use crate::{StoreError, WindowStoreOptions};

/// A window store with one column family `<name>.<segment id>` per time segment; expired
/// segments are dropped as column families, never scanned. Stream time survives restarts.
///
/// In duplicates mode the sequence number restarts at 0 when the store is reopened (as in
/// Kafka Streams), so values put after a restart may sort before older ones of the same
/// `(key, start)`.
pub struct RocksWindowStore {
    core: WindowCore<RocksSegments>,
}

impl RocksWindowStore {
    /// Opens the store `name`, adopting its existing segments and dropping expired ones.
    pub fn open(db: Arc<RocksDbTaskDb>, name: &str, options: WindowStoreOptions) -> Result<Self, StoreError> {
        let backend = RocksSegments::new(db, name)?;
        Ok(Self { core: WindowCore::open(name, &options, backend)? })
    }

    /// Ids of the live segments, ascending.
    pub fn segment_ids(&self) -> Vec<i64> {
        self.core.segmented().live_segments().collect()
    }

    /// The column family name of segment `id`.
    pub fn segment_column_family(&self, id: i64) -> String {
        self.core.segmented().backend().cf_name(id)
    }
}

impl_window_store_via_core!(RocksWindowStore);
