//! The in-memory session store.

use super::segments::MemorySegments;
use crate::segmented::session::{impl_session_store_via_core, SessionCore};
use crate::{SessionStoreOptions, StoreError};

/// A session store of one `BTreeMap` per time segment (by session end); expired segments are
/// dropped whole.
pub struct MemorySessionStore {
    core: SessionCore<MemorySegments>,
}

impl MemorySessionStore {
    /// An empty store; fails only if `options` are invalid.
    pub fn new(name: &str, options: SessionStoreOptions) -> Result<Self, StoreError> {
        Ok(Self { core: SessionCore::open(name, &options, MemorySegments::default())? })
    }

    /// Ids of the segments currently held, ascending.
    pub fn segment_ids(&self) -> Vec<i64> {
        self.core.segmented().live_segments().collect()
    }
}

impl_session_store_via_core!(MemorySessionStore);
