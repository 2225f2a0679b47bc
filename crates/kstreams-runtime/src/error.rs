//! The runtime's error type: every variant is named after the operation that failed and carries
//! what is needed to find it (topic, partition, task, key, path).

use std::path::PathBuf;
use std::time::Duration;

use kstreams_core::{StreamsError, TaskId};
use rdkafka::error::KafkaError;

/// Result alias of the runtime.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// What went wrong while starting, running or stopping a [`crate::KafkaStreams`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// An error from the logical core: invalid configuration or topology, a processor or
    /// store failure, a record that could not be deserialized under the `fail` policy.
    #[error(transparent)]
    Streams(#[from] StreamsError),
    /// A stream thread panicked outside record processing (where panics go to the processing
    /// handler), e.g. in a punctuation.
    #[error("stream thread `{thread}` panicked: {detail}")]
    ThreadPanicked {
        /// The thread's name.
        thread: String,
        /// The panic message.
        detail: String,
    },
    /// An rdkafka client could not be created.
    #[error("creating the Kafka {client} client failed: {source}")]
    CreateClient {
        /// Which client: `consumer`, `producer`, `restore consumer`, `admin`.
        client: &'static str,
        /// The client error.
        source: KafkaError,
    },
    /// Metadata (topics, partition counts) could not be read from the cluster.
    #[error("fetching metadata for {what} failed: {source}")]
    Metadata {
        /// What was being looked up.
        what: String,
        /// The client error.
        source: KafkaError,
    },
    /// A source topic the topology reads does not exist.
    #[error("source topic `{topic}` does not exist; create it before starting the application")]
    MissingSourceTopic {
        /// The topic.
        topic: String,
    },
    /// An internal topic could not be created or has the wrong partition count.
    #[error("creating internal topic `{topic}` failed: {detail}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// Why.
        detail: String,
    },
    /// Subscribing the consumer to the source topics failed.
    #[error("subscribing to topics {topics:?} failed: {source}")]
    Subscribe {
        /// The topics.
        topics: Vec<String>,
        /// The client error.
        source: KafkaError,
    },
    /// A record could not be handed to the producer.
    #[error("producing a record to `{topic}` (partition {partition:?}) failed: {source}")]
    Produce {
        /// Destination topic.
        topic: String,
        /// Destination partition, if explicit.
        partition: Option<i32>,
        /// The client error.
        source: KafkaError,
    },
    /// The broker did not acknowledge some produced records.
    #[error("{failed} record(s) were not delivered; first failure: {first}")]
    Delivery {
        /// How many deliveries failed.
        failed: u64,
        /// The first failure, with its topic and partition.
        first: String,
    },
    /// Flushing the producer (waiting for outstanding deliveries) failed or timed out.
    #[error("flushing the producer failed: {source}")]
    Flush {
        /// The client error.
        source: KafkaError,
    },
    /// A record cannot be written to its topic (the broker refused it, or would: too large,
    /// an implausible timestamp) and the production handler says fail.
    #[error("a record for `{topic}` cannot be written: {reason} (default.production.exception.handler = log_and_fail)")]
    Refused {
        /// The record's topic.
        topic: String,
        /// Why.
        reason: String,
    },
    /// Committing consumed offsets failed.
    #[error("committing offsets {offsets} failed: {source}")]
    CommitOffsets {
        /// The offsets, as `topic-partition@offset`.
        offsets: String,
        /// The client error.
        source: KafkaError,
    },
    /// A transactional operation failed.
    #[error("transaction {operation} failed for transactional.id `{transactional_id}`: {source}")]
    Transaction {
        /// `init`, `begin`, `send_offsets`, `commit` or `abort`.
        operation: &'static str,
        /// The producer's transactional id.
        transactional_id: String,
        /// The client error.
        source: KafkaError,
    },
    /// Another producer with the same transactional id fenced this one off, or the coordinator
    /// aborted its transaction for running past `transaction.timeout.ms` (a stalled, zombie
    /// instance). Everything it wrote since its last commit is aborted; the thread recreates
    /// its producer and goes back to the committed offsets, and stops only when it is fenced
    /// again before any commit (another live instance uses its transactional id).
    #[error("producer with transactional.id `{transactional_id}` was fenced by a newer producer during {operation}: {detail}")]
    Fenced {
        /// The producer's transactional id.
        transactional_id: String,
        /// The operation during which the fencing was noticed.
        operation: &'static str,
        /// The broker's message.
        detail: String,
    },
    /// A transaction commit did not complete within the transaction timeout: it may or may not
    /// have been applied. The thread recreates its producer (whose `init_transactions`
    /// settles the transaction) and goes back to the committed offsets.
    #[error("committing the transaction of transactional.id `{transactional_id}` timed out; its outcome is unknown: {detail}")]
    TransactionAmbiguous {
        /// The producer's transactional id.
        transactional_id: String,
        /// The client's message.
        detail: String,
    },
    /// The open transaction cannot be committed: some of its records were not delivered, or
    /// were not acknowledged within the transaction timeout (a broker outage). The thread
    /// aborts it and goes back to the committed offsets.
    #[error(
        "the transaction of transactional.id `{transactional_id}` must be aborted ({operation}): {detail}"
    )]
    TransactionAbortable {
        /// The producer's transactional id.
        transactional_id: String,
        /// What failed: `flush` or `produce`.
        operation: &'static str,
        /// What the client reported.
        detail: String,
    },
    /// The consumer group took the thread's partitions away before it committed (it was
    /// kicked out, e.g. after a stall past the session timeout): the transaction is aborted
    /// rather than committed with offsets the group no longer accepts from it.
    #[error("the consumer group revoked the partitions of stream thread `{thread}` before its commit")]
    TasksMigrated {
        /// The thread's name.
        thread: String,
    },
    /// Restoring a store from its changelog failed.
    #[error("restoring store `{store}` of task {task} from `{topic}` failed: {detail}")]
    Restore {
        /// The task.
        task: TaskId,
        /// The store.
        store: String,
        /// Its changelog topic.
        topic: String,
        /// Why.
        detail: String,
    },
    /// Reading a global topic into the global stores failed (bootstrap or update).
    #[error("global store {operation} from `{topic}` (partition {partition}) failed: {detail}")]
    GlobalStore {
        /// `bootstrap` or `update`.
        operation: &'static str,
        /// The global topic.
        topic: String,
        /// The partition, or -1 when the failure concerns all of them.
        partition: i32,
        /// Why.
        detail: String,
    },
    /// Reading or writing a task's checkpoint file failed.
    #[error("checkpoint file `{path}`: {detail}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The state directory could not be created, cleaned or locked.
    #[error("state directory `{path}`: {source}")]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Another instance (in this process or another) holds the lock of the state directory.
    #[error("state directory `{path}` is locked by another instance of the application; give each instance its own state.dir")]
    StateDirLocked {
        /// The application's state directory.
        path: PathBuf,
    },
    /// A task failed while processing, punctuating, flushing or closing.
    #[error("task {task} failed during {operation}: {source}")]
    Task {
        /// The task.
        task: TaskId,
        /// What it was doing.
        operation: &'static str,
        /// The core error.
        source: StreamsError,
    },
    /// A stream thread could not be spawned.
    #[error("spawning stream thread `{thread}` failed: {source}")]
    SpawnThread {
        /// The thread's name.
        thread: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The operation is not allowed in the current state (e.g. `start` twice).
    #[error("cannot {operation} while the application is {state}")]
    IllegalState {
        /// What was attempted.
        operation: &'static str,
        /// The state at the time.
        state: crate::state::State,
    },
    /// Waiting for the threads to stop took longer than allowed.
    #[error("the stream threads did not stop within {0:?}")]
    CloseTimeout(Duration),
    /// An interactive query named a store the topology does not have.
    #[error("no state store `{store}` in this topology")]
    UnknownStore {
        /// The store name.
        store: String,
    },
    /// An interactive query failed in a task (wrong store type, the query panicked).
    #[error("querying store `{store}` of task {task} failed: {detail}")]
    Query {
        /// The store name.
        store: String,
        /// The task whose store was queried.
        task: TaskId,
        /// Why.
        detail: String,
    },
    /// Some stream threads did not answer an interactive query in time (busy restoring,
    /// or a long batch).
    #[error("querying store `{store}`: {missing} stream thread(s) did not answer within {waited:?}")]
    QueryTimeout {
        /// The store name.
        store: String,
        /// How many threads did not answer.
        missing: usize,
        /// How long the query waited.
        waited: Duration,
    },
    /// The SIGINT/SIGTERM listener could not be installed.
    #[error("installing the signal handlers failed: {0}")]
    Signals(std::io::Error),
}

/// How a stream thread goes on after an error that leaves its tasks' progress since the last
/// commit unknown or discarded: it goes back to the committed offsets, either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// Abort the open transaction (the producer is still usable).
    Abort,
    /// Recreate the producer, fencing the old one (fatal or ambiguous transactional errors).
    ResetProducer,
}

impl RuntimeError {
    /// Whether a stream thread can recover from this error, and how (see [`Recovery`]);
    /// `None` stops the thread.
    pub(crate) fn recovery(&self) -> Option<Recovery> {
        match self {
            Self::Fenced { .. } | Self::TransactionAmbiguous { .. } => Some(Recovery::ResetProducer),
            Self::TasksMigrated { .. } | Self::TransactionAbortable { .. } => Some(Recovery::Abort),
            // At-least-once: deliveries that failed transiently (a broker down past the
            // delivery timeout) are written again from the committed offsets.
            Self::Delivery { .. } | Self::Flush { .. } => Some(Recovery::Abort),
            Self::Transaction { source, operation, .. } => match source {
                KafkaError::Transaction(e) if e.is_fatal() => Some(Recovery::ResetProducer),
                KafkaError::Transaction(e) if e.txn_requires_abort() => Some(Recovery::Abort),
                // A retried send_offsets would be a new request: start over instead.
                KafkaError::Transaction(e) if e.is_retriable() && *operation == "send_offsets" => {
                    Some(Recovery::Abort)
                }
                KafkaError::Transaction(e) if e.is_retriable() => Some(Recovery::ResetProducer),
                // rust-rdkafka flushes before committing; that timed out: nothing was committed.
                KafkaError::Flush(_) => Some(Recovery::Abort),
                _ => None,
            },
            _ => None,
        }
    }

    /// A configuration error naming `key`.
    pub fn config(key: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Streams(StreamsError::Config { key: key.into(), detail: detail.into() })
    }

    /// The configuration key this error is about, if it is a configuration error.
    pub fn config_key(&self) -> Option<&str> {
        match self {
            Self::Streams(StreamsError::Config { key, .. }) => Some(key),
            _ => None,
        }
    }
}
