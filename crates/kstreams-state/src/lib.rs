//! State stores for kstreams: byte-level key-value, window and session stores on RocksDB and in
//! memory, changelogging and caching wrappers, and the typed stores processors use on top
//! ([`KeyValueStore`], [`WindowStore`], [`SessionStore`] and their builders).
//!
//! Everything but the typed layer is bytes; serdes live in the outermost, typed layer.
//! Stores are used as trait objects (`Box<dyn KeyValueBytesStore>` etc.) and stack like
//! Kafka Streams' stores — the runtime builds `Caching(ChangeLogging(RocksDB or memory))`, so a
//! key updated many times between commits is written and logged once, at flush:
//!
//! ```
//! use kstreams_state::*;
//!
//! let sink = CollectingSink::new();
//! let logged = ChangeLoggingKeyValueStore::new(
//!     Box::new(MemoryKeyValueStore::new("counts")),
//!     Box::new(sink.clone()),
//! );
//! let mut store: Box<dyn KeyValueBytesStore> =
//!     Box::new(CachingKeyValueStore::new(Box::new(logged), 1 << 20));
//! for n in 0..100u32 {
//!     store.put(b"k", &n.to_be_bytes())?;
//! }
//! assert!(sink.is_empty());
//! store.flush()?;
//! assert_eq!(sink.len(), 1);
//! # Ok::<(), StoreError>(())
//! ```
//!
//! Modules: [`KeyValueBytesStore`], [`WindowBytesStore`] and [`SessionBytesStore`] are the
//! contracts; [`window_key`] and [`session_key`] the key layouts (also the changelog keys);
//! [`SegmentSpec`] the segment arithmetic; [`RocksDbTaskDb`] the per-task database with its
//! atomic commit batch.
#![deny(missing_docs)]

mod bounds;
mod cache;
mod changelog;
mod codec;
mod error;
mod kv;
mod memory;
mod rocks;
mod segmented;
mod segments;
mod session;
pub mod session_key;
mod typed;
mod window;
pub mod window_key;

pub use bounds::prefix_successor;
pub use cache::{CacheStats, CachingKeyValueStore, CachingWindowStore};
pub use changelog::{
    restore_kv, restore_session, restore_window, ChangeLoggingKeyValueStore, ChangeLoggingSessionStore,
    ChangeLoggingWindowStore, ChangelogRecord, ChangelogSink, CollectingSink,
};
pub use error::StoreError;
pub use kv::{KeyValueBytesStore, KvEntry, KvIter};
pub use memory::{MemoryKeyValueStore, MemorySessionStore, MemoryWindowStore};
pub use rocks::{RocksConfig, RocksDbTaskDb, RocksKeyValueStore, RocksSessionStore, RocksWindowStore};
pub use segments::{SegmentSpec, StreamClock};
pub use session::{KeyedSessionEntry, SessionBytesStore, SessionEntry, SessionStoreOptions};
pub use typed::{
    KeyValueStore, KeyValueStoreBuilder, SessionStore, SessionStoreBuilder, StoreSpec, StoreType, TypedStore,
    TypedStoreBuilder, VersionedKeyValueStore, VersionedKeyValueStoreBuilder, VersionedPut, WindowStore,
    WindowStoreBuilder, DEFAULT_CACHE_BYTES, NO_TIMESTAMP,
};
pub use window::{PutOutcome, WindowBytesStore, WindowEntry, WindowStoreOptions};
