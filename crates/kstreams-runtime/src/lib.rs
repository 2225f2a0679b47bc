//! The kstreams runtime: runs a [`kstreams_core::Topology`] on Kafka as a consumer group, with
//! state restore from changelogs, checkpoints and a commit protocol for at-least-once and
//! exactly-once processing.
//!
//! - [`StreamsConfig`]: typed builder and Kafka Streams' property names.
//! - [`KafkaStreams`]: `new`, `start`, `close`, the observable [`State`].
//! - [`TopicCreator`]: how internal topics (changelogs, repartition topics) are created.
//!
//! The only crate of kstreams that talks to Kafka (through rdkafka). The threading model is
//! described in `docs/threading.md`.
#![deny(missing_docs)]

pub mod assignment;
pub mod checkpoint;
mod commit;
pub mod config;
pub mod error;
mod global;
pub mod hosts;
mod partition_group;
mod producer;
pub mod query;
mod rebalance;
mod restore;
pub mod shutdown;
pub mod state;
mod state_dir;
mod store_settings;
mod streams;
pub mod task;
mod thread;
pub mod topics;

pub use assignment::TaskLayout;
pub use config::{ClientKind, ProcessingGuarantee, StreamsConfig, StreamsConfigBuilder};
pub use error::{Result, RuntimeError};
pub use query::{KeyQueryMetadata, StoreQueries, StreamsMetadata};
pub use shutdown::{ShutdownHandle, ShutdownReason};
pub use state::{State, StateListener};
pub use streams::KafkaStreams;
pub use topics::{AdminTopicCreator, TopicCreator, TopicSpec};
