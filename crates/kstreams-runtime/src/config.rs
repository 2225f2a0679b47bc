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
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kstreams_core::{DeserializationHandler, ProcessingHandler};
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;

use crate::error::{Result, RuntimeError};

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
    /// `log_and_continue` (default), `fail` or `dead_letter:<topic>`.
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
        StreamsConfigBuilder { props: BTreeMap::new(), deserialization: None, processing: None }
            .set(keys::APPLICATION_ID, application_id)
            .set(keys::BOOTSTRAP_SERVERS, bootstrap_servers)
    }

    /// Parses string properties with Kafka Streams' names (see [`keys`]).
    pub fn from_properties<S: BuildHasher>(props: &HashMap<String, String, S>) -> Result<Self> {
        let mut b = StreamsConfigBuilder { props: BTreeMap::new(), deserialization: None, processing: None };
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

/// Builds a [`StreamsConfig`]; every setting can be given typed or as a string property.
#[derive(Debug, Clone)]
pub struct StreamsConfigBuilder {
    props: BTreeMap<String, String>,
    /// Handlers given as values (custom ones cannot be written as text); they win over the
    /// text settings.
    deserialization: Option<DeserializationHandler>,
    processing: Option<ProcessingHandler>,
}

impl StreamsConfigBuilder {
    /// Sets a property by its Kafka Streams name (or a `consumer.`/`producer.`/`admin.`
    /// prefixed client setting). Checked by [`Self::build`].
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.props.insert(key.into(), value.into());
        self
    }

    /// Number of stream threads.
    pub fn num_stream_threads(self, n: usize) -> Self {
        self.set(keys::NUM_STREAM_THREADS, n.to_string())
    }

    /// Root of the local state.
    pub fn state_dir(self, dir: impl AsRef<Path>) -> Self {
        let dir = dir.as_ref().to_string_lossy().into_owned();
        self.set(keys::STATE_DIR, dir)
    }

    /// The processing guarantee.
    pub fn processing_guarantee(self, g: ProcessingGuarantee) -> Self {
        self.set(keys::PROCESSING_GUARANTEE, g.as_str())
    }

    /// The commit interval.
    pub fn commit_interval(self, every: Duration) -> Self {
        self.set(keys::COMMIT_INTERVAL_MS, every.as_millis().to_string())
    }

    /// Record cache size in bytes.
    pub fn cache_max_bytes(self, bytes: u64) -> Self {
        self.set(keys::CACHE_MAX_BYTES, bytes.to_string())
    }

    /// RocksDB block cache size per task database, in bytes.
    pub fn rocksdb_block_cache_bytes(self, bytes: u64) -> Self {
        self.set(keys::ROCKSDB_BLOCK_CACHE_BYTES, bytes.to_string())
    }

    /// RocksDB memtable size, in bytes (at least 64 KiB).
    pub fn rocksdb_write_buffer_bytes(self, bytes: u64) -> Self {
        self.set(keys::ROCKSDB_WRITE_BUFFER_BYTES, bytes.to_string())
    }

    /// `host:port` for interactive queries.
    pub fn application_server(self, endpoint: impl Into<String>) -> Self {
        self.set(keys::APPLICATION_SERVER, endpoint)
    }

    /// The client id prefix of the threads (also the stem of transactional ids).
    pub fn client_id(self, id: impl Into<String>) -> Self {
        self.set(keys::CLIENT_ID, id)
    }

    /// The deserialization error policy as text (`log_and_continue`, `fail`,
    /// `dead_letter:<topic>`).
    pub fn deserialization_handler(self, policy: impl Into<String>) -> Self {
        self.set(keys::DESERIALIZATION_HANDLER, policy)
    }

    /// The processing error policy as text (`log_and_fail`, `log_and_continue`,
    /// `dead_letter:<topic>`).
    pub fn processing_handler(self, policy: impl Into<String>) -> Self {
        self.set(keys::PROCESSING_HANDLER, policy)
    }

    /// The deserialization error policy as a value, e.g. a
    /// [`DeserializationHandler::Custom`] function; wins over the text setting.
    pub fn deserialization_handler_value(mut self, handler: DeserializationHandler) -> Self {
        self.deserialization = Some(handler);
        self
    }

    /// The processing error policy as a value, e.g. a [`ProcessingHandler::Custom`]
    /// function; wins over the text setting.
    pub fn processing_handler_value(mut self, handler: ProcessingHandler) -> Self {
        self.processing = Some(handler);
        self
    }

    /// How long a task waits for an empty input partition.
    pub fn max_task_idle(self, idle: Duration) -> Self {
        self.set(keys::MAX_TASK_IDLE_MS, idle.as_millis().to_string())
    }

    /// Watermarks through repartition topics on (the default) or off.
    pub fn watermarks(self, on: bool) -> Self {
        self.set(keys::WATERMARKS, on.to_string())
    }

    /// How long an upstream task may stay silent before it stops holding stream time back.
    pub fn event_time_idle(self, idle: Duration) -> Self {
        self.set(keys::IDLE_MS, idle.as_millis().to_string())
    }

    /// How far a task may run ahead (event time) of its slowest sibling before it is paused.
    pub fn max_skew(self, skew: Duration) -> Self {
        self.set(keys::MAX_SKEW_MS, skew.as_millis().to_string())
    }

    /// A setting for one rdkafka client.
    pub fn client_setting(self, kind: ClientKind, key: &str, value: impl Into<String>) -> Self {
        self.set(format!("{}{key}", kind.prefix()), value)
    }

    /// Checks every setting and builds the configuration. Fails with
    /// [`kstreams_core::StreamsError::Config`] naming the first bad key.
    pub fn build(self) -> Result<StreamsConfig> {
        let p = &self.props;
        let application_id = required(p, keys::APPLICATION_ID)?;
        if !application_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            return Err(RuntimeError::config(
                keys::APPLICATION_ID,
                format!("`{application_id}` may only contain ASCII letters, digits, '.', '_' and '-' (it prefixes topic names)"),
            ));
        }
        let bootstrap_servers = required(p, keys::BOOTSTRAP_SERVERS)?;
        let processing_guarantee = match p.get(keys::PROCESSING_GUARANTEE).map(|s| s.trim()) {
            None | Some("at_least_once") => ProcessingGuarantee::AtLeastOnce,
            Some("exactly_once_v2") | Some("exactly_once_beta") => ProcessingGuarantee::ExactlyOnceV2,
            Some(other) => {
                return Err(RuntimeError::config(
                    keys::PROCESSING_GUARANTEE,
                    format!("`{other}` is not one of at_least_once, exactly_once_v2"),
                ))
            }
        };
        let default_commit = match processing_guarantee {
            ProcessingGuarantee::AtLeastOnce => 30_000,
            ProcessingGuarantee::ExactlyOnceV2 => 100,
        };
        let commit_ms = number(p, keys::COMMIT_INTERVAL_MS, default_commit, 1..=u64::MAX)?;
        let num_stream_threads = number(p, keys::NUM_STREAM_THREADS, 1, 1..=1024)? as usize;
        let cache_key =
            CACHE_ALIASES.iter().copied().find(|k| p.contains_key(*k)).unwrap_or(keys::CACHE_MAX_BYTES);
        let cache_max_bytes = number(p, cache_key, 10 * 1024 * 1024, 0..=u64::MAX)?;
        let max_task_idle = Duration::from_millis(number(p, keys::MAX_TASK_IDLE_MS, 0, 0..=u64::MAX)?);
        let task_timeout = Duration::from_millis(number(p, keys::TASK_TIMEOUT_MS, 300_000, 0..=u64::MAX)?);
        let watermarks = match p.get(keys::WATERMARKS).map(|s| s.trim()) {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(RuntimeError::config(keys::WATERMARKS, format!("`{other}` is not true or false")))
            }
        };
        let max_ms = i64::MAX as u64;
        let idle_ms = number(p, keys::IDLE_MS, 30_000, 1..=max_ms)? as i64;
        let watermark_interval =
            Duration::from_millis(number(p, keys::WATERMARK_INTERVAL_MS, 200, 1..=3_600_000)?);
        let max_skew_ms = number(p, keys::MAX_SKEW_MS, 60_000, 0..=max_ms)? as i64;
        let optional_bytes = |key: &str, min: u64| -> Result<Option<u64>> {
            if p.contains_key(key) {
                number(p, key, 0, min..=usize::MAX as u64).map(Some)
            } else {
                Ok(None)
            }
        };
        let rocksdb_block_cache_bytes = optional_bytes(keys::ROCKSDB_BLOCK_CACHE_BYTES, 0)?;
        let rocksdb_write_buffer_bytes = optional_bytes(keys::ROCKSDB_WRITE_BUFFER_BYTES, 64 * 1024)?;
        let replication_factor = match p.get(keys::REPLICATION_FACTOR) {
            None => -1,
            Some(v) => match v.trim().parse::<i32>() {
                Ok(n) if n == -1 || n >= 1 => n,
                _ => {
                    return Err(RuntimeError::config(
                        keys::REPLICATION_FACTOR,
                        format!("`{v}` is not -1 or a positive integer"),
                    ))
                }
            },
        };
        let state_dir = match p.get(keys::STATE_DIR) {
            Some(d) if d.trim().is_empty() => {
                return Err(RuntimeError::config(keys::STATE_DIR, "must not be empty"))
            }
            Some(d) => PathBuf::from(d),
            None => std::env::temp_dir().join("kstreams"),
        };
        let application_server = match p.get(keys::APPLICATION_SERVER) {
            None => None,
            Some(s) => {
                let ok = s
                    .rsplit_once(':')
                    .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
                if !ok {
                    return Err(RuntimeError::config(
                        keys::APPLICATION_SERVER,
                        format!("`{s}` is not host:port"),
                    ));
                }
                Some(s.clone())
            }
        };
        let deserialization = match (&self.deserialization, p.get(keys::DESERIALIZATION_HANDLER)) {
            (Some(h), _) => h.clone(),
            (None, None) => DeserializationHandler::LogAndContinue,
            (None, Some(v)) => parse_deserialization_handler(v)?,
        };
        let processing = match (&self.processing, p.get(keys::PROCESSING_HANDLER)) {
            (Some(h), _) => h.clone(),
            (None, None) => ProcessingHandler::Fail,
            (None, Some(v)) => parse_processing_handler(v)?,
        };
        let client_id = match p.get(keys::CLIENT_ID) {
            Some(id) => id.clone(),
            None => format!("{application_id}-{}", process_id()),
        };

        let mut client_overrides = BTreeMap::new();
        for (key, value) in p {
            if keys::ALL.contains(&key.as_str()) {
                continue;
            }
            let kinds = [ClientKind::Consumer, ClientKind::Producer, ClientKind::Admin];
            match kinds.iter().find(|k| key.starts_with(k.prefix())) {
                Some(kind) => {
                    let bare = &key[kind.prefix().len()..];
                    check_client_setting(*kind, key, bare, value)?;
                    client_overrides.insert((*kind, bare.to_string()), value.clone());
                }
                None => {
                    for kind in kinds {
                        check_client_setting(kind, key, key, value)?;
                        client_overrides.entry((kind, key.clone())).or_insert_with(|| value.clone());
                    }
                }
            }
        }
        Ok(StreamsConfig {
            application_id,
            bootstrap_servers,
            client_id,
            num_stream_threads,
            state_dir,
            processing_guarantee,
            commit_interval: Duration::from_millis(commit_ms),
            cache_max_bytes,
            application_server,
            deserialization,
            processing,
            max_task_idle,
            replication_factor,
            rocksdb_block_cache_bytes,
            rocksdb_write_buffer_bytes,
            task_timeout,
            event_time: kstreams_core::EventTimeConfig { watermarks, idle_ms },
            watermark_interval,
            max_skew_ms,
            client_overrides,
        })
    }
}

/// Parses the deserialization handler setting.
pub fn parse_deserialization_handler(value: &str) -> Result<DeserializationHandler> {
    let v = value.trim();
    let handler = match v {
        "log_and_continue" | "org.apache.kafka.streams.errors.LogAndContinueExceptionHandler" => {
            DeserializationHandler::LogAndContinue
        }
        "fail" | "log_and_fail" | "org.apache.kafka.streams.errors.LogAndFailExceptionHandler" => {
            DeserializationHandler::Fail
        }
        _ => match v.strip_prefix("dead_letter:") {
            Some(topic) if valid_topic_name(topic) => {
                DeserializationHandler::DeadLetter { topic: topic.to_string() }
            }
            Some(topic) => {
                return Err(RuntimeError::config(
                    keys::DESERIALIZATION_HANDLER,
                    format!("`{topic}` is not a valid dead-letter topic name"),
                ))
            }
            None => {
                return Err(RuntimeError::config(
                    keys::DESERIALIZATION_HANDLER,
                    format!("`{v}` is not one of log_and_continue, fail, dead_letter:<topic>"),
                ))
            }
        },
    };
    Ok(handler)
}

/// Parses the processing handler setting.
pub fn parse_processing_handler(value: &str) -> Result<ProcessingHandler> {
    let v = value.trim();
    let handler = match v {
        "log_and_fail" | "fail" | "org.apache.kafka.streams.errors.LogAndFailProcessingExceptionHandler" => {
            ProcessingHandler::Fail
        }
        "log_and_continue" | "org.apache.kafka.streams.errors.LogAndContinueProcessingExceptionHandler" => {
            ProcessingHandler::LogAndContinue
        }
        _ => match v.strip_prefix("dead_letter:") {
            Some(topic) if valid_topic_name(topic) => {
                ProcessingHandler::DeadLetter { topic: topic.to_string() }
            }
            Some(topic) => {
                return Err(RuntimeError::config(
                    keys::PROCESSING_HANDLER,
                    format!("`{topic}` is not a valid dead-letter topic name"),
                ))
            }
            None => {
                return Err(RuntimeError::config(
                    keys::PROCESSING_HANDLER,
                    format!("`{v}` is not one of log_and_fail, log_and_continue, dead_letter:<topic>"),
                ))
            }
        },
    };
    Ok(handler)
}

fn valid_topic_name(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 249
        && t.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn required(p: &BTreeMap<String, String>, key: &str) -> Result<String> {
    match p.get(key).map(|v| v.trim()) {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => Err(RuntimeError::config(key, "is required")),
    }
}

fn number(
    p: &BTreeMap<String, String>,
    key: &str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64> {
    let Some(raw) = p.get(key) else { return Ok(default) };
    match raw.trim().parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        Ok(n) => {
            Err(RuntimeError::config(key, format!("{n} is outside {}..={}", range.start(), range.end())))
        }
        Err(_) => Err(RuntimeError::config(key, format!("`{raw}` is not a non-negative integer"))),
    }
}

/// Lets librdkafka check one pass-through setting, so a typo fails here, naming `full_key`.
fn check_client_setting(kind: ClientKind, full_key: &str, key: &str, value: &str) -> Result<()> {
    const OWNED: [&str; 6] = [
        "group.id",
        "enable.auto.commit",
        "transactional.id",
        "bootstrap.servers",
        "enable.auto.offset.store",
        "isolation.level",
    ];
    if OWNED.contains(&key) {
        return Err(RuntimeError::config(
            full_key,
            format!("`{key}` is set by the runtime and cannot be overridden"),
        ));
    }
    let mut c = ClientConfig::new();
    c.set(key, value);
    match c.create_native_config() {
        Ok(_) => Ok(()),
        Err(KafkaError::ClientConfig(_, desc, _, _)) => {
            Err(RuntimeError::config(full_key, format!("rejected by the {kind:?} client: {desc}")))
        }
        Err(e) => Err(RuntimeError::config(full_key, format!("rejected by the {kind:?} client: {e}"))),
    }
}

/// A random id for this process, so instances of one application get distinct client and
/// transactional ids.
fn process_id() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![("application.id", "app"), ("bootstrap.servers", "127.0.0.1:9092")]
    }

    fn err_key(pairs: &[(&str, &str)]) -> String {
        let mut all = base();
        all.extend_from_slice(pairs);
        let e = StreamsConfig::from_properties(&props(&all)).unwrap_err();
        e.config_key().unwrap_or_else(|| panic!("not a config error: {e}")).to_string()
    }

    #[test]
    fn defaults_follow_kafka_streams() {
        let c = StreamsConfig::from_properties(&props(&base())).unwrap();
        assert_eq!(c.application_id(), "app");
        assert_eq!(c.num_stream_threads(), 1);
        assert_eq!(c.processing_guarantee(), ProcessingGuarantee::AtLeastOnce);
        assert_eq!(c.commit_interval(), Duration::from_secs(30));
        assert_eq!(c.cache_max_bytes(), 10 * 1024 * 1024);
        assert_eq!(c.max_task_idle(), Duration::ZERO);
        assert_eq!(c.task_timeout(), Duration::from_secs(300));
        assert_eq!(c.event_time(), &kstreams_core::EventTimeConfig::default());
        assert_eq!(c.watermark_interval(), Duration::from_millis(200));
        assert_eq!(c.max_skew_ms(), 60_000);
        assert!(c.client_id().starts_with("app-"));
        assert!(matches!(c.deserialization_handler(), DeserializationHandler::LogAndContinue));
        assert!(matches!(c.processing_handler(), ProcessingHandler::Fail));
    }

    #[test]
    fn every_named_setting_is_parsed() {
        let mut all = base();
        all.extend_from_slice(&[
            ("num.stream.threads", "3"),
            ("state.dir", "/var/lib/ks"),
            ("processing.guarantee", "exactly_once_v2"),
            ("commit.interval.ms", "250"),
            ("statestore.cache.max.bytes", "0"),
            ("application.server", "localhost:8080"),
            ("default.deserialization.exception.handler", "dead_letter:bad-input"),
            ("max.task.idle.ms", "500"),
            ("client.id", "me"),
            ("task.timeout.ms", "1000"),
            ("event.time.watermarks", "false"),
            ("event.time.idle.ms", "5000"),
            ("event.time.watermark.interval.ms", "50"),
            ("event.time.max.skew.ms", "0"),
        ]);
        let c = StreamsConfig::from_properties(&props(&all)).unwrap();
        assert_eq!(c.num_stream_threads(), 3);
        assert_eq!(c.state_dir(), Path::new("/var/lib/ks"));
        assert_eq!(c.processing_guarantee(), ProcessingGuarantee::ExactlyOnceV2);
        assert_eq!(c.commit_interval(), Duration::from_millis(250));
        assert_eq!(c.cache_max_bytes(), 0);
        assert_eq!(c.application_server(), Some("localhost:8080"));
        assert!(
            matches!(c.deserialization_handler(), DeserializationHandler::DeadLetter { topic } if topic == "bad-input")
        );
        assert_eq!(c.max_task_idle(), Duration::from_millis(500));
        assert_eq!(c.client_id(), "me");
        assert_eq!(c.task_timeout(), Duration::from_secs(1));
        assert_eq!(c.event_time(), &kstreams_core::EventTimeConfig { watermarks: false, idle_ms: 5000 });
        assert_eq!(c.watermark_interval(), Duration::from_millis(50));
        assert_eq!(c.max_skew_ms(), 0);
    }

    #[test]
    fn typed_builder_matches_properties() {
        let c = StreamsConfig::builder("app", "b:1")
            .num_stream_threads(2)
            .processing_guarantee(ProcessingGuarantee::ExactlyOnceV2)
            .commit_interval(Duration::from_millis(10))
            .deserialization_handler("fail")
            .client_setting(ClientKind::Consumer, "fetch.wait.max.ms", "10")
            .build()
            .unwrap();
        assert_eq!(c.num_stream_threads(), 2);
        assert_eq!(c.commit_interval(), Duration::from_millis(10));
        assert!(matches!(c.deserialization_handler(), DeserializationHandler::Fail));
        assert_eq!(
            c.client_overrides(ClientKind::Consumer).collect::<Vec<_>>(),
            vec![("fetch.wait.max.ms", "10")]
        );
        assert_eq!(c.client_overrides(ClientKind::Producer).count(), 0);
    }

    #[test]
    fn prefixed_settings_go_to_one_client_and_bare_ones_to_all() {
        let mut all = base();
        all.extend_from_slice(&[
            ("producer.linger.ms", "5"),
            ("admin.request.timeout.ms", "1000"),
            ("socket.timeout.ms", "7000"),
        ]);
        let c = StreamsConfig::from_properties(&props(&all)).unwrap();
        let producer: Vec<_> = c.client_overrides(ClientKind::Producer).collect();
        assert_eq!(producer, vec![("linger.ms", "5"), ("socket.timeout.ms", "7000")]);
        let admin: Vec<_> = c.client_overrides(ClientKind::Admin).collect();
        assert_eq!(admin, vec![("request.timeout.ms", "1000"), ("socket.timeout.ms", "7000")]);
        let consumer: Vec<_> = c.client_overrides(ClientKind::Consumer).collect();
        assert_eq!(consumer, vec![("socket.timeout.ms", "7000")]);
    }

    #[test]
    fn invalid_values_name_their_key() {
        assert_eq!(
            StreamsConfig::from_properties(&props(&[("bootstrap.servers", "x")])).unwrap_err().config_key(),
            Some("application.id")
        );
        assert_eq!(err_key(&[("processing.guarantee", "exactly_once")]), "processing.guarantee");
        assert_eq!(err_key(&[("num.stream.threads", "0")]), "num.stream.threads");
        assert_eq!(err_key(&[("num.stream.threads", "two")]), "num.stream.threads");
        assert_eq!(err_key(&[("commit.interval.ms", "-5")]), "commit.interval.ms");
        assert_eq!(err_key(&[("cache.max.bytes", "lots")]), "cache.max.bytes");
        assert_eq!(err_key(&[("application.server", "nohost")]), "application.server");
        assert_eq!(err_key(&[("processing.exception.handler", "retry")]), "processing.exception.handler");
        assert_eq!(
            err_key(&[("processing.exception.handler", "dead_letter:a b")]),
            "processing.exception.handler"
        );
        assert_eq!(
            err_key(&[("default.deserialization.exception.handler", "ignore")]),
            "default.deserialization.exception.handler"
        );
        assert_eq!(
            err_key(&[("default.deserialization.exception.handler", "dead_letter:")]),
            "default.deserialization.exception.handler"
        );
        assert_eq!(err_key(&[("max.task.idle.ms", "soon")]), "max.task.idle.ms");
        assert_eq!(err_key(&[("event.time.watermarks", "yes")]), "event.time.watermarks");
        assert_eq!(err_key(&[("event.time.idle.ms", "0")]), "event.time.idle.ms");
        assert_eq!(err_key(&[("event.time.watermark.interval.ms", "0")]), "event.time.watermark.interval.ms");
        assert_eq!(err_key(&[("event.time.max.skew.ms", "-1")]), "event.time.max.skew.ms");
        assert_eq!(err_key(&[("task.timeout.ms", "never")]), "task.timeout.ms");
        assert_eq!(err_key(&[("consumer.no.such.setting", "1")]), "consumer.no.such.setting");
        assert_eq!(err_key(&[("producer.linger.ms", "not-a-number")]), "producer.linger.ms");
        assert_eq!(err_key(&[("consumer.group.id", "other")]), "consumer.group.id");
        assert_eq!(err_key(&[("application.id", "has space")]), "application.id");
        assert_eq!(err_key(&[("state.dir", " ")]), "state.dir");
    }

    #[test]
    fn store_memory_settings_are_parsed_and_checked() {
        let c = StreamsConfig::from_properties(&props(&base())).unwrap();
        assert_eq!((c.rocksdb_block_cache_bytes(), c.rocksdb_write_buffer_bytes()), (None, None));
        let c = StreamsConfig::builder("app", "127.0.0.1:9092")
            .rocksdb_block_cache_bytes(8 << 20)
            .rocksdb_write_buffer_bytes(1 << 20)
            .cache_max_bytes(0)
            .build()
            .unwrap();
        assert_eq!(c.rocksdb_block_cache_bytes(), Some(8 << 20));
        assert_eq!(c.rocksdb_write_buffer_bytes(), Some(1 << 20));
        assert_eq!(c.cache_max_bytes(), 0);
        assert!(c.client_overrides(ClientKind::Consumer).all(|(k, _)| !k.starts_with("rocksdb.")));
        assert_eq!(err_key(&[("rocksdb.block.cache.bytes", "-1")]), "rocksdb.block.cache.bytes");
        assert_eq!(err_key(&[("rocksdb.write.buffer.bytes", "1000")]), "rocksdb.write.buffer.bytes");
        assert_eq!(err_key(&[("cache.max.bytes", "lots")]), "cache.max.bytes");
    }

    #[test]
    fn error_message_names_key_and_value() {
        let mut all = base();
        all.push(("processing.guarantee", "sometimes"));
        let msg = StreamsConfig::from_properties(&props(&all)).unwrap_err().to_string();
        assert!(msg.contains("processing.guarantee") && msg.contains("sometimes"), "{msg}");
    }
}
