//! The kstreams runtime: runs a [`kstreams_core::Topology`] on Kafka as a consumer group, with
//! state restore from changelogs, checkpoints and a commit protocol for at-least-once and
//! exactly-once processing.
//!
//! - [`StreamsConfig`]: typed builder and Kafka Streams' property names ([`keys`]).
//! - [`KafkaStreams`]: `new`, `start`, `close`, the observable [`State`], interactive
//!   queries ([`StoreQueries`]).
//! - [`TopicCreator`]: how internal topics (changelogs, repartition topics) are created.
//! - [`ShutdownHandle`] and [`listen_for_signals`]: stopping on SIGINT/SIGTERM.
//!
//! The only crate of kstreams that talks to Kafka (through rdkafka). Every public item is named
//! here, at the root; the modules are private. The threading model is described in
//! `docs/threading.md`, the modules and a record's way through them in `docs/architecture.md`.
#![deny(missing_docs)]

mod alignment;
mod assignment;
mod checkpoint;
mod commit;
mod config;
mod error;
mod global;
mod hosts;
mod partition_group;
mod producer;
mod production;
mod query;
mod rebalance;
mod restore;
mod shutdown;
mod state;
mod state_dir;
mod store_settings;
mod streams;
mod task;
mod task_manager;
mod thread;
mod topics;

pub use assignment::TaskLayout;
pub use config::{
    keys, parse_deserialization_handler, parse_processing_handler, parse_production_handler, ClientKind,
    ProcessingGuarantee, StreamsConfig, StreamsConfigBuilder, ADMIN_PREFIX, CONSUMER_PREFIX, PRODUCER_PREFIX,
};
pub use error::{Result, RuntimeError};
pub use query::{KeyQueryMetadata, StoreQueries, StreamsMetadata, DEFAULT_QUERY_TIMEOUT};
pub use shutdown::{listen_for_signals, ShutdownHandle, ShutdownReason, Signal};
pub use state::{State, StateListener};
pub use streams::KafkaStreams;
pub use topics::{plan_internal_topics, AdminTopicCreator, TopicCreator, TopicSpec};
