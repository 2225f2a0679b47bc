//! The record collector: where sinks and changelogs put serialized records for the runtime (or
//! the test driver) to send.

use std::cell::RefCell;
use std::rc::Rc;

use crate::record::{Headers, OutputRecord};

/// Serialized records produced by one task since they were last drained.
#[derive(Debug, Default)]
pub struct RecordCollector {
    records: Vec<OutputRecord>,
}

impl RecordCollector {
    /// Adds a record.
    pub fn send(&mut self, record: OutputRecord) {
        self.records.push(record);
    }

    /// Takes every collected record, in the order they were sent.
    pub fn drain(&mut self) -> Vec<OutputRecord> {
        std::mem::take(&mut self.records)
    }

    /// Number of records waiting.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// Shared handle to a task's collector.
pub type SharedCollector = Rc<RefCell<RecordCollector>>;

/// Writes one store's changelog records into the task's collector.
#[derive(Clone)]
pub struct ChangelogWriter {
    collector: SharedCollector,
    topic: Option<Rc<str>>,
    partition: i32,
    headers: Rc<RefCell<Headers>>,
}

impl ChangelogWriter {
    /// A writer to `topic`, partition `partition`; `None` disables logging. `headers` is
    /// shared by all the writers of a task, so the task can stamp every changelog record.
    pub fn new(
        collector: SharedCollector,
        topic: Option<String>,
        partition: i32,
        headers: Rc<RefCell<Headers>>,
    ) -> Self {
        Self { collector, topic: topic.map(Rc::from), partition, headers }
    }

    /// A writer that logs nothing (for stores built outside a task, e.g. in tests).
    pub fn disabled() -> Self {
        Self::new(Rc::default(), None, 0, Rc::default())
    }

    /// True when the store logs its writes.
    pub fn enabled(&self) -> bool {
        self.topic.is_some()
    }

    /// The changelog topic, if logging is enabled.
    pub fn topic(&self) -> Option<&str> {
        self.topic.as_deref()
    }

    /// Records one write (`None` = delete) at `timestamp`.
    pub fn log(&self, key: &[u8], value: Option<&[u8]>, timestamp: i64) {
        if let Some(topic) = &self.topic {
            self.collector.borrow_mut().send(OutputRecord {
                topic: topic.to_string(),
                partition: Some(self.partition),
                key: Some(key.to_vec()),
                value: value.map(<[u8]>::to_vec),
                timestamp,
                headers: self.headers.borrow().clone(),
            });
        }
    }
}
