//! Typed stores over the byte stores: what processors hold (`ctx.store::<KeyValueStore<K, V>>`)
//! and the builders a topology registers, for the DSL and for Processor-API users alike.
//!
//! One stack for every kind of store, built once per task by [`stack::build`]:
//!
//! ```text
//!   typed store (serdes, reused encode buffers)
//!     └─ Caching      (a write cache flushed at commit: a key updated often is logged once)
//!         └─ ChangeLogging (captures the writes for the changelog topic)
//!             └─ RocksDB (one database per task) | memory
//! ```
//!
//! Serdes live in the outermost layer; everything below sees bytes. Changelog records are
//! captured by the logging layer and handed to the task's changelog writer when the store is
//! flushed (at commit).

mod kv;
mod session;
mod spec;
mod stack;
mod versioned;
mod window;

pub use kv::{KeyValueStore, KeyValueStoreBuilder};
pub use session::{SessionStore, SessionStoreBuilder};
pub use spec::{StoreSpec, StoreType};
pub use stack::{TypedStore, TypedStoreBuilder, DEFAULT_CACHE_BYTES, NO_TIMESTAMP};
pub use versioned::{VersionedKeyValueStore, VersionedKeyValueStoreBuilder, VersionedPut};
pub use window::{WindowStore, WindowStoreBuilder};
