//! [`StreamsConfig`]: a typed builder, plus string properties with Kafka Streams' names.
//!
//! ```
//! use std::collections::HashMap;
//! use kstreams_runtime::{ProcessingGuarantee, StreamsConfig};
//!
//! let props = HashMap::from([
//!     ("application.id".to_string(), "averages".to_string()),
//!     ("bootstrap.servers".to_string(), "127.0.0.1:9092".to_string()),
//!     ("processing.guarantee".to_string(), "exactly_once_v2".to_string()),
//!     ("consumer.fetch.min.bytes".to_string(), "1024".to_string()),
//! ]);
//! let config = StreamsConfig::from_properties(&props).unwrap();
//! assert_eq!(config.processing_guarantee(), ProcessingGuarantee::ExactlyOnceV2);
//! assert_eq!(config.commit_interval().as_millis(), 100); // the EOS default, as in Kafka Streams
//! ```
//!
//! Keys prefixed `consumer.`, `producer.` and `admin.` go (without the prefix) to that rdkafka
//! client; other keys the runtime does not know go to all three clients, as Kafka Streams does.
//! Every value is checked by [`StreamsConfigBuilder::build`], and rdkafka settings are checked
//! by librdkafka itself, so a typo fails with an error naming the key before anything connects.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kstreams_core::{DeserializationHandler, ProcessingHandler, ProductionHandler};
use rdkafka::config::ClientConfig;

use crate::error::Result;

/// Declares the setting names once: a constant each, and [`keys::ALL`], the list the
/// builder checks properties against.
macro_rules! setting_names {
    ($($(#[$doc:meta])* $name:ident = $value:literal;)*) => {
        /// Names of the settings, as in Kafka Streams.
        pub mod keys {
            $($(#[$doc])* pub const $name: &str = $value;)*
            /// Every setting the runtime reads itself (the others go to the rdkafka clients).
            pub const ALL: &[&str] = &[$($name),*];
        }
    };
}

setting_names! {
    /// The application id: consumer group id and prefix of internal topics. Required.
    APPLICATION_ID = "application.id";
    /// Brokers to bootstrap from. Required.
    BOOTSTRAP_SERVERS = "bootstrap.servers";
    /// Client id prefix of the threads (default `<application.id>-<random process id>`).
    CLIENT_ID = "client.id";
    /// Number of stream threads (default 1).
    NUM_STREAM_THREADS = "num.stream.threads";
    /// Root of the local state (default `<tmp>/kstreams`).
    STATE_DIR = "state.dir";
    /// `at_least_once` (default) or `exactly_once_v2`.
    PROCESSING_GUARANTEE = "processing.guarantee";
    /// Commit interval in ms (default 30000, or 100 under exactly-once).
    COMMIT_INTERVAL_MS = "commit.interval.ms";
    /// Bytes of record cache shared by a thread's stores (default 10 MiB).
    CACHE_MAX_BYTES = "cache.max.bytes";
    /// Kafka Streams' current name for [`CACHE_MAX_BYTES`].
    STATESTORE_CACHE_MAX_BYTES = "statestore.cache.max.bytes";
    /// Kafka Streams' old name for [`CACHE_MAX_BYTES`].
    CACHE_MAX_BYTES_BUFFERING = "cache.max.bytes.buffering";
    /// `host:port` this instance serves interactive queries on.
    APPLICATION_SERVER = "application.server";
    /// `fail` (default, as Kafka Streams), `log_and_continue` or `dead_letter:<topic>`.
    DESERIALIZATION_HANDLER = "default.deserialization.exception.handler";
    /// `log_and_fail` (default), `log_and_continue` or `dead_letter:<topic>`.
    PROCESSING_HANDLER = "processing.exception.handler";
    /// How long a task waits for an empty input partition before processing others (default 0).
    MAX_TASK_IDLE_MS = "max.task.idle.ms";
    /// Replication factor of internal topics (default -1: the broker's default).
    REPLICATION_FACTOR = "replication.factor";
    /// How long creating a task may retry a timed-out broker request, and how long a thread may
    /// go without a successful commit while recovering from failed transactions (default
    /// 300000 ms).
    TASK_TIMEOUT_MS = "task.timeout.ms";
    /// `true` (default) or `false`: publish and follow watermarks through repartition topics.
    WATERMARKS = "event.time.watermarks";
    /// How often tasks publish their watermark besides each commit (default 200 ms).
    WATERMARK_INTERVAL_MS = "event.time.watermark.interval.ms";
    /// How long an upstream task may stay silent or process nothing before it stops holding
    /// stream time back (default 30000 ms).
    IDLE_MS = "event.time.idle.ms";
    /// How far (event-time ms) one task may run ahead of the slowest task of its sub-topology
    /// on the same thread before it is held back (default 60000; 0 turns it off).
    MAX_SKEW_MS = "event.time.max.skew.ms";
    /// How far (ms) an event time may run ahead of the wall clock before the record is dropped
    /// as implausible (counted, dead-lettered with a dead-letter handler); default 3600000,
    /// Kafka's default `message.timestamp.after.max.ms`; 0 turns the guard off.
    MAX_FUTURE_MS = "event.time.max.future.ms";
    /// What happens to a record the broker refuses, or that cannot be sent (too large, an
    /// implausible timestamp): `log_and_fail` (default), `log_and_continue`,
    /// `dead_letter:<topic>`.
    PRODUCTION_HANDLER = "default.production.exception.handler";
    /// Kafka Streams' newer name for [`PRODUCTION_HANDLER`].
    PRODUCTION_HANDLER_NEW = "production.exception.handler";
    /// Bytes of RocksDB block cache per task database (default: the store's, 64 MiB).
    ROCKSDB_BLOCK_CACHE_BYTES = "rocksdb.block.cache.bytes";
    /// Bytes per RocksDB memtable (default: the store's, 16 MiB).
    ROCKSDB_WRITE_BUFFER_BYTES = "rocksdb.write.buffer.bytes";
}

/// Prefix of settings passed to the consumers.
pub const CONSUMER_PREFIX: &str = "consumer.";
/// Prefix of settings passed to the producers.
pub const PRODUCER_PREFIX: &str = "producer.";
/// Prefix of settings passed to the admin client.
pub const ADMIN_PREFIX: &str = "admin.";

/// Older and newer Kafka Streams names accepted for the cache size.
const CACHE_ALIASES: [&str; 3] =
    [keys::CACHE_MAX_BYTES, keys::STATESTORE_CACHE_MAX_BYTES, keys::CACHE_MAX_BYTES_BUFFERING];

/// The delivery guarantee of the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProcessingGuarantee {
    /// Offsets are committed after the output and changelogs are flushed: after a crash some
    /// records are processed again and their output may repeat (with identical values).
    #[default]
    AtLeastOnce,
    /// Output, changelogs and offsets are committed in one Kafka transaction per thread.
    ExactlyOnceV2,
}

impl ProcessingGuarantee {
    /// The setting's value as written in a configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AtLeastOnce => "at_least_once",
            Self::ExactlyOnceV2 => "exactly_once_v2",
        }
    }
}

impl fmt::Display for ProcessingGuarantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which rdkafka client a pass-through setting is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClientKind {
    /// The stream threads' consumers (and the restore consumers).
    Consumer,
    /// The stream threads' producers.
    Producer,
    /// The admin client that creates internal topics.
    Admin,
}

impl ClientKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::Consumer => CONSUMER_PREFIX,
            Self::Producer => PRODUCER_PREFIX,
            Self::Admin => ADMIN_PREFIX,
        }
    }
}

/// The validated configuration of a [`crate::KafkaStreams`] instance.
#[derive(Debug, Clone)]
pub struct StreamsConfig {
    application_id: String,
    bootstrap_servers: String,
    client_id: String,
    num_stream_threads: usize,
    state_dir: PathBuf,
    processing_guarantee: ProcessingGuarantee,
    commit_interval: Duration,
    cache_max_bytes: u64,
    application_server: Option<String>,
    deserialization: DeserializationHandler,
    processing: ProcessingHandler,
    production: ProductionHandler,
    max_task_idle: Duration,
    replication_factor: i32,
    rocksdb_block_cache_bytes: Option<u64>,
    rocksdb_write_buffer_bytes: Option<u64>,
    task_timeout: Duration,
    event_time: kstreams_core::EventTimeConfig,
    watermark_interval: Duration,
    max_skew_ms: i64,
    /// Pass-through settings: (client, rdkafka key) → value.
    client_overrides: BTreeMap<(ClientKind, String), String>,
}

impl StreamsConfig {
    /// A builder with the two required settings.
    pub fn builder(
        application_id: impl Into<String>,
        bootstrap_servers: impl Into<String>,
    ) -> StreamsConfigBuilder {
        StreamsConfigBuilder::empty()
            .set(keys::APPLICATION_ID, application_id)
            .set(keys::BOOTSTRAP_SERVERS, bootstrap_servers)
    }

    /// Parses string properties with Kafka Streams' names (see [`keys`]).
    pub fn from_properties<S: BuildHasher>(props: &HashMap<String, String, S>) -> Result<Self> {
        let mut b = StreamsConfigBuilder::empty();
        for (k, v) in props {
            b = b.set(k.as_str(), v.as_str());
        }
        b.build()
    }

    /// The application id (consumer group, internal topic prefix).
    pub fn application_id(&self) -> &str {
        &self.application_id
    }

    /// The bootstrap servers.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// The client id prefix of this instance's threads.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Number of stream threads.
    pub fn num_stream_threads(&self) -> usize {
        self.num_stream_threads
    }

    /// Root of the local state.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The processing guarantee.
    pub fn processing_guarantee(&self) -> ProcessingGuarantee {
        self.processing_guarantee
    }

    /// How often tasks commit.
    pub fn commit_interval(&self) -> Duration {
        self.commit_interval
    }

    /// Record cache size per instance, in bytes.
    pub fn cache_max_bytes(&self) -> u64 {
        self.cache_max_bytes
    }

    /// `host:port` for interactive queries, if set.
    pub fn application_server(&self) -> Option<&str> {
        self.application_server.as_deref()
    }

    /// The deserialization error policy.
    pub fn deserialization_handler(&self) -> &DeserializationHandler {
        &self.deserialization
    }

    /// The processing error policy.
    pub fn processing_handler(&self) -> &ProcessingHandler {
        &self.processing
    }

    /// The production error policy: records the broker refuses for good.
    pub fn production_handler(&self) -> &ProductionHandler {
        &self.production
    }

    /// How long a task waits for an empty input partition.
    pub fn max_task_idle(&self) -> Duration {
        self.max_task_idle
    }

    /// Replication factor of internal topics (-1: the broker's default).
    pub fn replication_factor(&self) -> i32 {
        self.replication_factor
    }

    /// How long creating a task retries timed-out broker requests.
    pub fn task_timeout(&self) -> Duration {
        self.task_timeout
    }

    /// Watermark settings of the tasks.
    pub fn event_time(&self) -> &kstreams_core::EventTimeConfig {
        &self.event_time
    }

    /// How often tasks publish watermarks besides each commit.
    pub fn watermark_interval(&self) -> Duration {
        self.watermark_interval
    }

    /// Event-time skew (ms) after which a task's partitions are paused; 0 = never.
    pub fn max_skew_ms(&self) -> i64 {
        self.max_skew_ms
    }

    /// `rocksdb.block.cache.bytes`, if set.
    pub fn rocksdb_block_cache_bytes(&self) -> Option<u64> {
        self.rocksdb_block_cache_bytes
    }

    /// `rocksdb.write.buffer.bytes`, if set.
    pub fn rocksdb_write_buffer_bytes(&self) -> Option<u64> {
        self.rocksdb_write_buffer_bytes
    }

    /// The pass-through settings of one client, without prefix.
    pub fn client_overrides(&self, kind: ClientKind) -> impl Iterator<Item = (&str, &str)> {
        self.client_overrides
            .iter()
            .filter(move |((k, _), _)| *k == kind)
            .map(|((_, key), v)| (key.as_str(), v.as_str()))
    }

    /// The rdkafka configuration of `kind` with the runtime's own settings in `base` and the
    /// user's pass-through settings on top.
    pub(crate) fn client_config(&self, kind: ClientKind, base: &[(&str, String)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers);
        for (k, v) in base {
            c.set(*k, v);
        }
        for (k, v) in self.client_overrides(kind) {
            c.set(k, v);
        }
        c
    }
}

mod builder;
#[cfg(test)]
mod tests;

pub use builder::{
    parse_deserialization_handler, parse_processing_handler, parse_production_handler, StreamsConfigBuilder,
};
