//! Where a task's output goes before the runtime (or the test driver) sends it: the record
//! collector, and the changelog writers of its stores, which stamp every changelog record
//! with the input record the task processed last ([`INPUT_OFFSET_HEADER`]).

use std::cell::RefCell;
use std::rc::Rc;

use crate::record::{Headers, Origin, OutputRecord};

/// Header on every changelog record: the input record (`topic:partition:offset`) the task
/// had processed last when the record was written. A restore skips the records whose input
/// offset the group never committed: that input will be processed again.
pub const INPUT_OFFSET_HEADER: &str = "kstreams.input";

/// Header on every changelog record of a task incarnation that knows its owner epoch: a
/// number (decimal text) larger than that of every earlier owner of the task. A restore skips
/// records whose epoch is below one it has already read: they were written late by a
/// previous owner that had lost the task without knowing it (a zombie, frozen past its
/// session timeout), after the next owner had already written its own.
pub const OWNER_EPOCH_HEADER: &str = "kstreams.owner";

/// Parses an [`OWNER_EPOCH_HEADER`] value.
pub fn parse_owner_epoch(value: &[u8]) -> Option<i64> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Parses an [`INPUT_OFFSET_HEADER`] value into `(topic, partition, offset)`.
///
/// ```
/// assert_eq!(kstreams_core::parse_input_header(b"my.topic-1:2:345"), Some(("my.topic-1", 2, 345)));
/// assert_eq!(kstreams_core::parse_input_header(b"t:x:1"), None);
/// ```
pub fn parse_input_header(value: &[u8]) -> Option<(&str, i32, i64)> {
    let s = std::str::from_utf8(value).ok()?;
    let (rest, offset) = s.rsplit_once(':')?;
    let (topic, partition) = rest.rsplit_once(':')?;
    Some((topic, partition.parse().ok()?, offset.parse().ok()?))
}

/// Serialized records produced by one task since they were last drained.
#[derive(Debug, Default)]
pub(crate) struct RecordCollector {
    records: Vec<OutputRecord>,
}

impl RecordCollector {
    /// Adds a record.
    pub(crate) fn send(&mut self, record: OutputRecord) {
        self.records.push(record);
    }

    /// Takes every collected record, in the order they were sent.
    pub(crate) fn drain(&mut self) -> Vec<OutputRecord> {
        std::mem::take(&mut self.records)
    }
}

/// Shared handle to a task's collector.
pub(crate) type SharedCollector = Rc<RefCell<RecordCollector>>;

/// The input record a task processed last, shared by the task (which sets it per record) and
/// its changelog writers (which stamp it). The header text is formatted once per input
/// record that leads to changelog writes, not per input record.
#[derive(Clone, Default)]
pub(crate) struct InputStamp(Rc<RefCell<Stamp>>);

#[derive(Default)]
struct Stamp {
    last: Option<Origin>,
    /// The header value of `last`, once formatted.
    text: Option<Vec<u8>>,
    /// The [`OWNER_EPOCH_HEADER`] value, once the runtime set it.
    owner: Option<Vec<u8>>,
}

impl InputStamp {
    /// Records that the task is processing `origin` (every record has another offset: no
    /// comparison, the text is formatted again only if a changelog record is written).
    pub(crate) fn set(&self, origin: &Origin) {
        let mut s = self.0.borrow_mut();
        s.last = Some(origin.clone());
        s.text = None;
    }

    /// Sets the owner epoch stamped from now on.
    pub(crate) fn set_owner(&self, epoch: i64) {
        self.0.borrow_mut().owner = Some(epoch.to_string().into_bytes());
    }

    /// The headers of a changelog record written now.
    fn headers(&self) -> Headers {
        let mut headers = Headers::new();
        let mut s = self.0.borrow_mut();
        let Stamp { last, text, owner } = &mut *s;
        if let Some(o) = last {
            let value =
                text.get_or_insert_with(|| format!("{}:{}:{}", o.topic, o.partition, o.offset).into_bytes());
            headers.add(INPUT_OFFSET_HEADER, value.clone());
        }
        if let Some(epoch) = owner {
            headers.add(OWNER_EPOCH_HEADER, epoch.clone());
        }
        headers
    }
}

/// Writes one store's changelog records into the task's collector.
#[derive(Clone)]
pub struct ChangelogWriter {
    collector: SharedCollector,
    topic: Option<Rc<str>>,
    partition: i32,
    stamp: InputStamp,
}

impl ChangelogWriter {
    /// A writer to `topic`, partition `partition`; `None` disables logging.
    pub(crate) fn new(
        collector: SharedCollector,
        topic: Option<String>,
        partition: i32,
        stamp: InputStamp,
    ) -> Self {
        Self { collector, topic: topic.map(Rc::from), partition, stamp }
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
                headers: self.stamp.headers(),
            });
        }
    }
}
