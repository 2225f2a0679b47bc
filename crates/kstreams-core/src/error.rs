//! The error type shared by every kstreams crate above the byte level.

use std::fmt;

/// Result alias used across kstreams.
pub type Result<T, E = StreamsError> = std::result::Result<T, E>;

/// What went wrong while building or running a topology.
///
/// Each variant is named after the operation that failed and carries the context needed to
/// find the failing record or setting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamsError {
    /// A value could not be serialized.
    #[error("serializing for topic `{topic}` failed: {detail}")]
    Serialize {
        /// Topic (or store) the bytes were meant for.
        topic: String,
        /// What the serde reported.
        detail: String,
    },
    /// A record read from a topic could not be deserialized.
    #[error("deserializing record at {topic}-{partition}@{offset} failed: {detail}")]
    Deserialize {
        /// Source topic.
        topic: String,
        /// Source partition.
        partition: i32,
        /// Source offset.
        offset: i64,
        /// What the serde reported.
        detail: String,
    },
    /// A processor returned an error.
    #[error("processor `{node}` failed: {detail}")]
    Process {
        /// Name of the processor node.
        node: String,
        /// What the processor reported.
        detail: String,
    },
    /// A state store operation failed.
    #[error("state store `{store}` failed during {operation}: {detail}")]
    Store {
        /// Store name.
        store: String,
        /// The operation that failed (get, put, flush, restore, ...).
        operation: &'static str,
        /// The underlying error.
        detail: String,
    },
    /// The topology is not well formed (unknown store, duplicate name, type mismatch...).
    #[error("invalid topology: {0}")]
    Topology(String),
    /// A configuration setting is invalid.
    #[error("invalid configuration `{key}`: {detail}")]
    Config {
        /// The setting's name, as written in the configuration.
        key: String,
        /// Why it is invalid.
        detail: String,
    },
}

impl StreamsError {
    /// Builds a [`StreamsError::Process`] from any displayable error.
    pub fn process(node: impl Into<String>, detail: impl fmt::Display) -> Self {
        Self::Process { node: node.into(), detail: detail.to_string() }
    }

    /// Builds a [`StreamsError::Store`] from any displayable error.
    pub fn store(store: impl Into<String>, operation: &'static str, detail: impl fmt::Display) -> Self {
        Self::Store { store: store.into(), operation, detail: detail.to_string() }
    }
}

/// Error returned by a [`crate::serde::Serde`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SerdeError(pub String);

impl SerdeError {
    /// Wraps any displayable error.
    pub fn new(detail: impl fmt::Display) -> Self {
        Self(detail.to_string())
    }
}

/// The message of a caught panic (`catch_unwind`'s payload): its text, or a placeholder for a
/// panic raised with a value that is not text.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".to_string())
}
