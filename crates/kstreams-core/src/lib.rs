//! Core types of kstreams: records, serdes, windows, the Processor API, the logical
//! [`Topology`] and the [`StreamTask`] that both the runtime and the test driver execute.
//!
//! Every public item is named here, at the root (one path each); the modules are private
//! and hold one concept each. The engine's plumbing — node wiring, the task context, the
//! record collector, punctuation schedules — is private to the crate: users write
//! [`Processor`]s and topologies, the runtime and the test driver build [`StreamTask`]s.
//! `docs/architecture.md` draws the modules and a record's way through them.
#![deny(missing_docs)]

mod clock;
mod collector;
mod context;
mod describe;
mod error;
mod global;
mod handler;
mod id;
mod metrics;
mod node;
mod offsets;
mod partition;
mod processor;
mod processor_node;
mod punctuation;
mod record;
mod serde;
mod sink;
mod source;
mod store;
mod store_settings;
mod task;
mod task_config;
mod topic;
mod topology;
mod watermark;
mod window;

pub use clock::now_ms;
pub use collector::{
    parse_input_header, parse_owner_epoch, ChangelogWriter, INPUT_OFFSET_HEADER, OWNER_EPOCH_HEADER,
};
pub use describe::TopologyDescription;
pub use error::{panic_message, Result, SerdeError, StreamsError};
pub use global::{
    GlobalKeyValueView, GlobalStateStore, GlobalStore, GlobalStoreBuilder, GlobalStoreContext,
    GlobalStoreDef, GlobalStores,
};
pub use handler::{
    dead_letter_headers, CustomHandler, CustomProcessingHandler, DeserializationHandler, ProcessingHandler,
    ProductionHandler,
};
pub use id::TaskId;
pub use metrics::TaskMetrics;
pub use offsets::{Ahead, Offsets};
pub use partition::{default_partition, group_partitions, murmur2, TaskAssignment};
pub use processor::{Processor, ProcessorContext};
pub use punctuation::{Cancellable, PunctuationType};
pub use record::{Header, Headers, Origin, OutputRecord, RawRecord, Record};
pub use serde::{
    BincodeSerde, BytesSerde, F64Serde, I32Serde, I64Serde, JsonSerde, OptionSerde, PairSerde, Serde,
    StringSerde, U32Serde, U64Serde, UnitSerde,
};
pub use source::TimestampFn;
pub use store::{
    changelog_topic, BuiltStore, FlushScope, StateStore, StoreBuilder, StoreContext, TaskResources,
};
pub use store_settings::StoreSettings;
pub use task::{LocalPosition, StreamTask, RESERVED_HEADERS, SOURCE_HEADER};
pub use task_config::{EventTimeConfig, TaskConfig};
pub use topic::{RepartitionTopic, TopicPartition, TopicRef};
pub use topology::{NodeId, SubTopology, Topology};
pub use watermark::WATERMARK_HEADER;
pub use window::{
    millis, HoppingWindows, JoinWindows, SessionWindowedSerde, SessionWindows, SlidingWindows,
    TimeWindowedSerde, TimeWindows, TumblingWindows, Window, Windowed,
};
