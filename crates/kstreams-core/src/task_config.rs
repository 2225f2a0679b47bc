//! [`TaskConfig`]: the settings every task of an instance (or of the test driver) is built with.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::global::GlobalStores;
use crate::handler::{DeserializationHandler, ProcessingHandler};
use crate::id::TaskId;
use crate::store_settings::StoreSettings;

/// Settings a task is built with.
#[derive(Debug, Clone)]
pub struct TaskConfig {
    /// The application id.
    pub application_id: String,
    /// Root of the state directories: a task keeps its stores in
    /// `<state_dir>/<application_id>/<task_id>`.
    pub state_dir: PathBuf,
    /// What to do with records that fail deserialization.
    pub deserialization: DeserializationHandler,
    /// What to do when processing a record fails.
    pub processing: ProcessingHandler,
    /// The instance's global stores, readable by every task (empty when the topology has
    /// none). Built once per instance with [`GlobalStores::build`].
    pub global_stores: GlobalStores,
    /// Memory settings handed to the store builders (defaults: each store's own).
    pub store_settings: StoreSettings,
    /// Watermark settings and the plausibility guard of event times (see
    /// `docs/time-and-windows.md`).
    pub event_time: EventTimeConfig,
    /// Partition counts of the topics the topology reads and writes, by resolved name. Tasks
    /// need those of repartition topics and of their writers' inputs to publish and follow
    /// watermarks; a topic missing here gets no watermarks.
    pub topic_partitions: HashMap<String, i32>,
}

impl TaskConfig {
    /// The directory of one task's stores.
    pub fn task_dir(&self, id: TaskId) -> PathBuf {
        self.state_dir.join(&self.application_id).join(id.to_string())
    }
}

/// Event-time settings of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTimeConfig {
    /// Publish and follow watermarks through repartition topics (default `true`). Off, a
    /// task's stream time is the highest timestamp it has seen, as in Kafka Streams.
    pub watermarks: bool,
    /// Wall-clock ms after which an upstream task that processed nothing calls itself idle
    /// and is left out of the watermark minimum (default 30 000).
    pub idle_ms: i64,
    /// Records whose event time is further than this (ms) ahead of the task's wall clock are
    /// implausible: dropped like records with a negative time, counted, and dead-lettered
    /// where a dead-letter topic is configured. Kafka brokers refuse such timestamps by
    /// default (`message.timestamp.after.max.ms`, one hour), so letting one through would fail
    /// every write it leads to; and a time near `i64::MAX` would close every window at once.
    /// `None` (the default, as in the test driver, whose wall clock is mocked): no guard.
    pub max_future_ms: Option<i64>,
}

impl Default for EventTimeConfig {
    fn default() -> Self {
        Self { watermarks: true, idle_ms: 30_000, max_future_ms: None }
    }
}
