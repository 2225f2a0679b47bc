//! Core types of kstreams: records, serdes, windows, the Processor API, the logical
//! [`Topology`](topology::Topology) and the [`StreamTask`](task::StreamTask) that both the
//! runtime and the test driver execute.
#![deny(missing_docs)]

pub mod collector;
pub mod error;
pub mod global;
pub mod metrics;
pub mod partition;
pub mod processor;
pub mod record;
pub mod serde;
pub mod source_sink;
pub mod store;
pub mod store_settings;
pub mod task;
pub mod topology;
pub mod watermark;
pub mod window;

pub use error::{panic_message, Result, SerdeError, StreamsError};
pub use global::{GlobalStore, GlobalStores};
pub use processor::{Processor, ProcessorContext, PunctuationType};
pub use record::{Headers, OutputRecord, RawRecord, Record};
pub use store_settings::StoreSettings;
pub use task::{DeserializationHandler, ProcessingHandler, StreamTask, TaskConfig, TaskId, TaskState};
pub use topology::{NodeId, TopicRef, Topology};
pub use window::{Window, Windowed};
