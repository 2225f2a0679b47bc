//! Replaying changelog records into a store.
//!
//! Restore into the *innermost* store (or a store without a changelogging layer): restoring
//! through [`crate::ChangeLoggingKeyValueStore`] would write every record back to the
//! changelog.

use crate::kv::KvEntry;
use crate::{session_key, window_key, KeyValueBytesStore, SessionBytesStore, StoreError, WindowBytesStore};

/// Applies a batch of key-value changelog records, atomically.
pub fn restore_kv(store: &mut dyn KeyValueBytesStore, batch: &[KvEntry]) -> Result<(), StoreError> {
    store.write_batch(batch)
}

/// Applies a batch of window changelog records in order. Records that have expired by the
/// time they are replayed are skipped, as they would have been dropped.
pub fn restore_window(store: &mut dyn WindowBytesStore, batch: &[KvEntry]) -> Result<(), StoreError> {
    for (log_key, value) in batch {
        let decoded = window_key::decode(log_key).ok_or_else(|| StoreError::Corrupt {
            store: store.name().to_owned(),
            detail: format!("changelog key of {} bytes is not a window key", log_key.len()),
        })?;
        store.put(decoded.key, decoded.start, value.as_deref())?;
    }
    Ok(())
}

/// Applies a batch of session changelog records in order; expired sessions are skipped.
pub fn restore_session(store: &mut dyn SessionBytesStore, batch: &[KvEntry]) -> Result<(), StoreError> {
    for (log_key, value) in batch {
        let decoded = session_key::decode(log_key).ok_or_else(|| StoreError::Corrupt {
            store: store.name().to_owned(),
            detail: format!("changelog key of {} bytes is not a session key", log_key.len()),
        })?;
        store.put(decoded.key, decoded.start, decoded.end, value.as_deref())?;
    }
    Ok(())
}
