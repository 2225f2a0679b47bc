//! RocksDB stores: one database per task directory, one column family per key-value store and
//! per window/session segment.

mod config;
mod db;
mod kv;
mod segments;
mod session;
mod window;

pub use config::RocksConfig;
pub use db::RocksDbTaskDb;
pub use kv::RocksKeyValueStore;
pub use session::RocksSessionStore;
pub use window::RocksWindowStore;
