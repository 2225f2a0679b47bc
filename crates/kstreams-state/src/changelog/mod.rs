//! Changelogging wrappers: every successful write is also handed to a [`ChangelogSink`] (the
//! runtime's producer to the store's changelog topic), and `restore_*` replays such records.
//!
//! Changelog keys: the raw key for key-value stores, [`crate::window_key`] for window stores
//! (with a sequence number in duplicates mode, so a compacted topic keeps every duplicate) and
//! [`crate::session_key`] for session stores. A `None` value is a tombstone.

mod kv;
mod restore;
mod session;
mod sink;
mod window;

pub use kv::ChangeLoggingKeyValueStore;
pub use restore::{restore_kv, restore_session, restore_window};
pub use session::ChangeLoggingSessionStore;
pub use sink::{ChangelogRecord, ChangelogSink, CollectingSink};
pub use window::ChangeLoggingWindowStore;
