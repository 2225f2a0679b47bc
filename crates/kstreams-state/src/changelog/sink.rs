//! Where changelog records go.

use std::sync::{Arc, Mutex, MutexGuard};

/// Receives one record per successful store write. Implemented by the runtime's record
/// collector; must not fail (it buffers, and reports send errors at commit).
pub trait ChangelogSink: Send {
    /// Records that `key` of `store` now has `value` (`None` = deleted).
    fn record(&mut self, store: &str, key: &[u8], value: Option<&[u8]>);
}

/// One changelog record, as captured by [`CollectingSink`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogRecord {
    /// The store that was written.
    pub store: String,
    /// The changelog key.
    pub key: Vec<u8>,
    /// The new value, `None` for a tombstone.
    pub value: Option<Vec<u8>>,
}

/// A sink that keeps records in memory, shared between clones (for tests and test drivers).
///
/// ```
/// use kstreams_state::{ChangeLoggingKeyValueStore, CollectingSink, KeyValueBytesStore, MemoryKeyValueStore};
/// let sink = CollectingSink::new();
/// let mut store = ChangeLoggingKeyValueStore::new(
///     Box::new(MemoryKeyValueStore::new("s")),
///     Box::new(sink.clone()),
/// );
/// store.put(b"k", b"v").unwrap();
/// assert_eq!(sink.take().len(), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct CollectingSink {
    records: Arc<Mutex<Vec<ChangelogRecord>>>,
}

impl CollectingSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the records so far.
    pub fn records(&self) -> Vec<ChangelogRecord> {
        self.lock().clone()
    }

    /// Removes and returns the records so far.
    pub fn take(&self) -> Vec<ChangelogRecord> {
        std::mem::take(&mut *self.lock())
    }

    /// How many records are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no records are held.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<ChangelogRecord>> {
        // A push either happened or did not; the vector is never half-updated.
        self.records.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ChangelogSink for CollectingSink {
    fn record(&mut self, store: &str, key: &[u8], value: Option<&[u8]>) {
        self.lock().push(ChangelogRecord {
            store: store.to_owned(),
            key: key.to_vec(),
            value: value.map(<[u8]>::to_vec),
        });
    }
}
