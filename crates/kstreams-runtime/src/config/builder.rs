//! [`StreamsConfigBuilder`]: every setting checked once, at build time, naming the bad key.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kstreams_core::{DeserializationHandler, ProcessingHandler, ProductionHandler};
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;

use super::{keys, ClientKind, ProcessingGuarantee, StreamsConfig, CACHE_ALIASES};
use crate::error::{Result, RuntimeError};

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
    /// A builder with no setting yet.
    pub(super) fn empty() -> Self {
        Self { props: BTreeMap::new(), deserialization: None, processing: None }
    }

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

    /// The production error policy as text (`log_and_fail`, `log_and_continue`,
    /// `dead_letter:<topic>`): what happens to a record the broker refuses for good.
    pub fn production_handler(self, policy: impl Into<String>) -> Self {
        self.set(keys::PRODUCTION_HANDLER, policy)
    }

    /// How far an event time may run ahead of the wall clock before the record is dropped
    /// as implausible; `Duration::ZERO` turns the guard off.
    pub fn event_time_max_future(self, ahead: Duration) -> Self {
        self.set(keys::MAX_FUTURE_MS, ahead.as_millis().to_string())
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
        let max_future_ms = number(p, keys::MAX_FUTURE_MS, 3_600_000, 0..=max_ms)? as i64;
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
            (None, None) => DeserializationHandler::Fail,
            (None, Some(v)) => parse_deserialization_handler(v)?,
        };
        let processing = match (&self.processing, p.get(keys::PROCESSING_HANDLER)) {
            (Some(h), _) => h.clone(),
            (None, None) => ProcessingHandler::Fail,
            (None, Some(v)) => parse_processing_handler(v)?,
        };
        let production = match (p.get(keys::PRODUCTION_HANDLER), p.get(keys::PRODUCTION_HANDLER_NEW)) {
            (Some(a), Some(b)) if a.trim() != b.trim() => {
                return Err(RuntimeError::config(
                    keys::PRODUCTION_HANDLER_NEW,
                    format!("`{b}` contradicts {} = `{a}`; set one of the two", keys::PRODUCTION_HANDLER),
                ))
            }
            (Some(v), _) => parse_production_handler(keys::PRODUCTION_HANDLER, v)?,
            (None, Some(v)) => parse_production_handler(keys::PRODUCTION_HANDLER_NEW, v)?,
            (None, None) => ProductionHandler::Fail,
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
            production,
            max_task_idle,
            replication_factor,
            rocksdb_block_cache_bytes,
            rocksdb_write_buffer_bytes,
            task_timeout,
            event_time: kstreams_core::EventTimeConfig {
                watermarks,
                idle_ms,
                max_future_ms: (max_future_ms > 0).then_some(max_future_ms),
            },
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

/// Parses the production handler setting (`key` names it in errors: it has two names).
pub fn parse_production_handler(key: &str, value: &str) -> Result<ProductionHandler> {
    let v = value.trim();
    let handler = match v {
        "log_and_fail" | "fail" | "org.apache.kafka.streams.errors.DefaultProductionExceptionHandler" => {
            ProductionHandler::Fail
        }
        "log_and_continue" => ProductionHandler::LogAndContinue,
        _ => match v.strip_prefix("dead_letter:") {
            Some(topic) if valid_topic_name(topic) => {
                ProductionHandler::DeadLetter { topic: topic.to_string() }
            }
            Some(topic) => {
                return Err(RuntimeError::config(
                    key,
                    format!("`{topic}` is not a valid dead-letter topic name"),
                ))
            }
            None => {
                return Err(RuntimeError::config(
                    key,
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
    if let Some(why) = voids_guarantees(kind, key, value) {
        return Err(RuntimeError::config(full_key, why));
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

/// Why a producer setting would void the processing guarantees, if it does: the runtime
/// relies on an idempotent producer (no duplicates or reordering from retries, which the
/// changelog's input stamps and the restore depend on) acknowledged by all in-sync replicas
/// (a commit names only records that survive a broker failure).
fn voids_guarantees(kind: ClientKind, key: &str, value: &str) -> Option<String> {
    if kind != ClientKind::Producer {
        return None;
    }
    let v = value.trim().to_ascii_lowercase();
    match key {
        "enable.idempotence" if v != "true" => {
            Some("must stay true: the processing guarantees rest on an idempotent producer".into())
        }
        "acks" | "request.required.acks" if !matches!(v.as_str(), "all" | "-1") => Some(format!(
            "`{value}` voids the processing guarantees: acknowledged records must survive a broker failure (use all)"
        )),
        "max.in.flight.requests.per.connection" | "max.in.flight"
            if v.parse::<u32>().map_or(true, |n| n > 5) =>
        {
            Some(format!("`{value}` voids the processing guarantees: an idempotent producer allows at most 5"))
        }
        "retries" | "message.send.max.retries" if v == "0" => {
            Some("0 voids the processing guarantees: a record whose first send failed would be lost".into())
        }
        _ => None,
    }
}

/// A random id for this process, so instances of one application get distinct client and
/// transactional ids.
fn process_id() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}
