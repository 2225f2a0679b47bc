//! The in-memory window store.

use super::segments::MemorySegments;
use crate::segmented::window::{impl_window_store_via_core, WindowCore};
use crate::{StoreError, WindowStoreOptions};

/// A window store of one `BTreeMap` per time segment; expired segments are dropped whole.
pub struct MemoryWindowStore {
    core: WindowCore<MemorySegments>,
}

impl MemoryWindowStore {
    /// An empty store; fails only if `options` are invalid.
    pub fn new(name: &str, options: WindowStoreOptions) -> Result<Self, StoreError> {
        Ok(Self { core: WindowCore::open(name, &options, MemorySegments::default())? })
    }

    /// Ids of the segments currently held, ascending.
    pub fn segment_ids(&self) -> Vec<i64> {
        self.core.segmented().live_segments().collect()
    }
}

impl_window_store_via_core!(MemoryWindowStore);
