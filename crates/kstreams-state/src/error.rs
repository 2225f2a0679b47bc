//! The one error type of this crate.

use std::path::PathBuf;

/// What went wrong in a state store, named after the operation that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Opening the RocksDB database of a task directory failed.
    #[error("opening state directory {path:?} failed")]
    Open {
        /// The task directory.
        path: PathBuf,
        /// What RocksDB reported.
        #[source]
        source: rocksdb::Error,
    },
    /// Creating the state directory of a task failed.
    #[error("creating state directory {path:?} failed")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// What the file system reported.
        #[source]
        source: std::io::Error,
    },
    /// Reading from a store failed.
    #[error("reading from store {store:?} failed")]
    Read {
        /// The store (or column family) that was read.
        store: String,
        /// What RocksDB reported.
        #[source]
        source: rocksdb::Error,
    },
    /// Writing to a store failed.
    #[error("writing to store {store:?} failed")]
    Write {
        /// The store (or column family) that was written.
        store: String,
        /// What RocksDB reported.
        #[source]
        source: rocksdb::Error,
    },
    /// Creating a column family (a key-value store or a segment) failed.
    #[error("creating column family {name:?} failed")]
    CreateColumnFamily {
        /// The column family.
        name: String,
        /// What RocksDB reported.
        #[source]
        source: rocksdb::Error,
    },
    /// Dropping a column family (an expired segment) failed.
    #[error("dropping column family {name:?} failed")]
    DropColumnFamily {
        /// The column family.
        name: String,
        /// What RocksDB reported.
        #[source]
        source: rocksdb::Error,
    },
    /// Committing the task's atomic write batch failed; none of its writes landed.
    #[error("committing the write batch of {path:?} failed")]
    CommitBatch {
        /// The task directory.
        path: PathBuf,
        /// What RocksDB reported.
        #[source]
        source: rocksdb::Error,
    },
    /// A batch operation was called in the wrong state (e.g. `begin_batch` twice).
    #[error("write batch of {path:?}: {detail}")]
    BatchState {
        /// The task directory.
        path: PathBuf,
        /// What was wrong.
        detail: &'static str,
    },
    /// Stored or changelog bytes could not be decoded.
    #[error("store {store:?} holds corrupt data: {detail}")]
    Corrupt {
        /// The store.
        store: String,
        /// What could not be decoded.
        detail: String,
    },
    /// A store name cannot be used (reserved, duplicate, or clashing with segment names).
    #[error("store name {store:?} cannot be used: {reason}")]
    InvalidName {
        /// The rejected name.
        store: String,
        /// Why.
        reason: &'static str,
    },
    /// A store was configured with impossible settings.
    #[error("store {store:?} is misconfigured: {detail}")]
    InvalidConfig {
        /// The store.
        store: String,
        /// What is wrong.
        detail: String,
    },
    /// An argument of a store call was out of range (e.g. a session ending before it starts).
    #[error("invalid argument to store {store:?}: {detail}")]
    InvalidArgument {
        /// The store.
        store: String,
        /// What is wrong.
        detail: String,
    },
    /// The store does not support this operation (e.g. delete in duplicates mode).
    #[error("store {store:?} does not support {operation}")]
    Unsupported {
        /// The store.
        store: String,
        /// The unsupported operation.
        operation: &'static str,
    },
}
