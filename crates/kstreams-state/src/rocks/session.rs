//! The RocksDB session store.

use std::sync::Arc;

use super::segments::RocksSegments;
use super::RocksDbTaskDb;
use crate::segmented::session::{impl_session_store_via_core, SessionCore};
use crate::{SessionStoreOptions, StoreError};

/// A session store with one column family `<name>.<segment id>` per segment of session ends;
/// expired segments are dropped as column families. Stream time survives restarts.
pub struct RocksSessionStore {
    core: SessionCore<RocksSegments>,
}

impl RocksSessionStore {
    /// Opens the store `name`, adopting its existing segments and dropping expired ones.
    pub fn open(
        db: Arc<RocksDbTaskDb>,
        name: &str,
        options: SessionStoreOptions,
    ) -> Result<Self, StoreError> {
        let backend = RocksSegments::new(db, name)?;
        Ok(Self { core: SessionCore::open(name, &options, backend)? })
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

impl_session_store_via_core!(RocksSessionStore);
