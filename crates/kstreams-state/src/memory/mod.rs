//! In-memory stores: a `BTreeMap` per store (key-value) or per segment (window, session).

mod kv;
mod segments;
mod session;
mod window;

pub use kv::MemoryKeyValueStore;
pub use session::MemorySessionStore;
pub use window::MemoryWindowStore;
