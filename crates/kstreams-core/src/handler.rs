//! What happens to a record that cannot be deserialized or processed: the handler policies
//! (Kafka Streams' `default.deserialization.exception.handler` and
//! `processing.exception.handler`) and the dead-letter records they write.
//!
//! The task applies them ([`crate::StreamTask`]): a source node only reports that decoding
//! failed, a processor only returns an error (or panics).

use std::fmt;
use std::sync::Arc;

use crate::error::{SerdeError, StreamsError};
use crate::record::{OutputRecord, RawRecord};

/// A user decision on a record that failed deserialization: `true` continues, `false` fails.
pub type CustomHandler = Arc<dyn Fn(&RawRecord, &SerdeError) -> bool + Send + Sync>;

/// What a record that cannot be deserialized becomes.
#[derive(Clone, Default)]
pub enum DeserializationHandler {
    /// Log a warning, count it, skip the record (for input where a bad record must not stop
    /// the pipeline; the metric shows it).
    LogAndContinue,
    /// Stop processing with an error naming the topic, partition and offset (the default, as
    /// Kafka Streams' `LogAndFailExceptionHandler`: a record is never lost silently).
    #[default]
    Fail,
    /// Send the original bytes and headers to this topic, with headers naming the error and
    /// the record's origin, then continue.
    DeadLetter {
        /// The dead-letter topic.
        topic: String,
    },
    /// Ask a function: `true` continues, `false` fails.
    Custom(CustomHandler),
}

impl fmt::Debug for DeserializationHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LogAndContinue => f.write_str("LogAndContinue"),
            Self::Fail => f.write_str("Fail"),
            Self::DeadLetter { topic } => write!(f, "DeadLetter({topic})"),
            Self::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// A user decision on a record whose processing failed: `true` continues, `false` fails.
pub type CustomProcessingHandler = Arc<dyn Fn(&RawRecord, &StreamsError) -> bool + Send + Sync>;

/// What happens when processing a record fails: a processor returned an error, or user code
/// panicked (Kafka Streams' `processing.exception.handler`). Store, topology and
/// serialization failures always stop the task: skipping them would lose state silently.
///
/// Continuing keeps whatever the record changed before the failure (a store update, a record
/// already forwarded downstream), as in Kafka Streams.
#[derive(Clone, Default)]
pub enum ProcessingHandler {
    /// Stop processing with an error naming the processor, topic, partition and offset (the
    /// default).
    #[default]
    Fail,
    /// Log a warning, count it, skip the rest of the record's processing.
    LogAndContinue,
    /// Send the original bytes and headers to this topic, with headers naming the error and
    /// the record's origin, then continue.
    DeadLetter {
        /// The dead-letter topic.
        topic: String,
    },
    /// Ask a function: `true` continues, `false` fails.
    Custom(CustomProcessingHandler),
}

impl fmt::Debug for ProcessingHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fail => f.write_str("Fail"),
            Self::LogAndContinue => f.write_str("LogAndContinue"),
            Self::DeadLetter { topic } => write!(f, "DeadLetter({topic})"),
            Self::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// What happens to a record that cannot be written to its topic: the broker refused it (too
/// large, an invalid timestamp, a policy violation) or the runtime saw before sending that it
/// would (Kafka Streams' `default.production.exception.handler`). Transient failures (a broker
/// down) are not for the handler: the thread retries them from the committed offsets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ProductionHandler {
    /// Stop with an error naming the topic and the reason (the default).
    #[default]
    Fail,
    /// Log a warning, count it, drop the record.
    LogAndContinue,
    /// Write the record (without a value that is itself too large) to this topic, with headers
    /// naming the reason and the topic it was meant for, and go on.
    DeadLetter {
        /// The dead-letter topic.
        topic: String,
    },
}

/// Header names put on dead-lettered records.
pub mod dead_letter_headers {
    /// What failed: `deserialization`, `processing`, `timestamp` or `production`.
    pub const KIND: &str = "kstreams.error.kind";
    /// The error message.
    pub const ERROR: &str = "kstreams.error";
    /// The source topic.
    pub const TOPIC: &str = "kstreams.source.topic";
    /// The source partition (decimal text).
    pub const PARTITION: &str = "kstreams.source.partition";
    /// The source offset (decimal text).
    pub const OFFSET: &str = "kstreams.source.offset";
    /// The topic a refused record was meant for (production failures).
    pub const TARGET_TOPIC: &str = "kstreams.target.topic";
    /// Present when the dead letter was too large to write whole: what was left out.
    pub const TRUNCATED: &str = "kstreams.error.truncated";
}

/// What the task does with a failed record once a handler decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Stop with the error.
    Fail,
    /// Skip the record (log and count it).
    Skip,
    /// Skip it and write it to this dead-letter topic.
    DeadLetter(String),
}

impl DeserializationHandler {
    /// The verdict on `raw`, which failed to decode with `error`.
    pub(crate) fn verdict(&self, raw: &RawRecord, error: &SerdeError) -> Verdict {
        match self {
            Self::LogAndContinue => Verdict::Skip,
            Self::Fail => Verdict::Fail,
            Self::DeadLetter { topic } => Verdict::DeadLetter(topic.clone()),
            Self::Custom(f) if f(raw, error) => Verdict::Skip,
            Self::Custom(_) => Verdict::Fail,
        }
    }
}

impl ProcessingHandler {
    /// The verdict on `raw`, whose processing failed with `error`.
    pub(crate) fn verdict(&self, raw: &RawRecord, error: &StreamsError) -> Verdict {
        match self {
            Self::Fail => Verdict::Fail,
            Self::LogAndContinue => Verdict::Skip,
            Self::DeadLetter { topic } => Verdict::DeadLetter(topic.clone()),
            Self::Custom(f) if f(raw, error) => Verdict::Skip,
            Self::Custom(_) => Verdict::Fail,
        }
    }
}

/// `raw` (original key, value and headers) on its way to the dead-letter `topic`, with headers
/// naming `error` and the record's origin.
pub(crate) fn dead_letter_record(raw: &RawRecord, topic: &str, kind: &str, error: &str) -> OutputRecord {
    use dead_letter_headers as h;
    let mut headers = raw.headers.clone();
    headers.add(h::KIND, kind.as_bytes());
    headers.add(h::ERROR, error.as_bytes());
    headers.add(h::TOPIC, raw.topic.as_bytes());
    headers.add(h::PARTITION, raw.partition.to_string());
    headers.add(h::OFFSET, raw.offset.to_string());
    OutputRecord {
        topic: topic.to_string(),
        partition: None,
        key: raw.key.clone(),
        value: raw.value.clone(),
        timestamp: raw.timestamp,
        headers,
    }
}
