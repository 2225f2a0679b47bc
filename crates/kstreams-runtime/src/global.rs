//! The global consumer: keeps the instance's global stores equal to their topics.
//!
//! At start, before any stream thread runs, one consumer outside the group (`assign`, never
//! `subscribe`, no commits) is assigned every partition of every global topic from the
//! beginning and *bootstraps* the stores: it applies records until it reaches the high
//! watermark each partition had when the bootstrap began. Then a background thread
//! (`<client.id>-GlobalStreamThread`) keeps polling and applying updates until the instance
//! shuts down. Global stores keep no checkpoint: the topics are read in full at every start.
//!
//! A store that cannot apply a record puts the instance in ERROR, like a failed stream thread.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kstreams_core::GlobalStores;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::config::{ClientKind, ProcessingGuarantee, StreamsConfig};
use crate::error::{Result, RuntimeError};
use crate::state::StateHolder;

/// A bootstrap that makes no progress for this long fails.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one poll of the background thread waits.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);

/// Bootstraps the global stores, then starts the thread that keeps them up to date. Returns
/// `None` when the topology has no global stores. `counts` holds the partition count of
/// every topic in the cluster.
pub(crate) fn start(
    stores: &GlobalStores,
    config: &StreamsConfig,
    counts: &BTreeMap<String, i32>,
    state: Arc<StateHolder>,
    shutdown: Arc<AtomicBool>,
) -> Result<Option<JoinHandle<()>>> {
    if stores.is_empty() {
        return Ok(None);
    }
    let mut assignment = TopicPartitionList::new();
    let mut partitions = Vec::new();
    for topic in stores.topics() {
        let n =
            *counts.get(&topic).ok_or_else(|| RuntimeError::MissingSourceTopic { topic: topic.clone() })?;
        for p in 0..n {
            assignment
                .add_partition_offset(&topic, p, Offset::Beginning)
                .map_err(|e| bootstrap_error(&topic, p, e.to_string()))?;
            partitions.push((topic.clone(), p));
        }
    }
    let consumer = create_consumer(config)?;
    consumer.assign(&assignment).map_err(|e| bootstrap_error("global topics", -1, format!("assign: {e}")))?;
    bootstrap(&consumer, stores, &partitions)?;

    let name = format!("{}-GlobalStreamThread", config.client_id());
    let stores = stores.clone();
    let thread_name = name.clone();
    let handle = std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            if let Err(e) = run(&consumer, &stores, &shutdown) {
                tracing::error!(thread = %thread_name, error = %e, "global thread failed; shutting the instance down");
                state.fail(format!("global thread `{thread_name}` failed: {e}"));
                shutdown.store(true, Ordering::SeqCst);
            }
            if let Err(e) = stores.flush() {
                tracing::warn!(thread = %thread_name, error = %e, "flushing the global stores failed");
            }
            tracing::info!(thread = %thread_name, "global thread stopped");
        })
        .map_err(|source| RuntimeError::SpawnThread { thread: name, source })?;
    Ok(Some(handle))
}

fn bootstrap_error(topic: &str, partition: i32, detail: String) -> RuntimeError {
    RuntimeError::GlobalStore { operation: "bootstrap", topic: topic.to_string(), partition, detail }
}

fn create_consumer(config: &StreamsConfig) -> Result<BaseConsumer> {
    let eos = config.processing_guarantee() == ProcessingGuarantee::ExactlyOnceV2;
    let base = [
        ("client.id", format!("{}-global-consumer", config.client_id())),
        // librdkafka refuses `assign` without a group id; this group is never joined
        // (no subscribe) and never committed to.
        ("group.id", format!("{}-global-consumer", config.application_id())),
        ("enable.auto.commit", "false".to_string()),
        ("enable.auto.offset.store", "false".to_string()),
        ("enable.partition.eof", "false".to_string()),
        ("auto.offset.reset", "earliest".to_string()),
        ("isolation.level", if eos { "read_committed" } else { "read_uncommitted" }.to_string()),
    ];
    config
        .client_config(ClientKind::Consumer, &base)
        .create()
        .map_err(|source| RuntimeError::CreateClient { client: "global consumer", source })
}

fn apply(stores: &GlobalStores, m: &BorrowedMessage<'_>, operation: &'static str) -> Result<()> {
    stores.apply(m.topic(), m.key(), m.payload()).map_err(|source| RuntimeError::GlobalStore {
        operation,
        topic: m.topic().to_string(),
        partition: m.partition(),
        detail: format!("applying offset {}: {source}", m.offset()),
    })?;
    Ok(())
}

/// Applies records until every partition reached the high watermark it had at the start.
fn bootstrap(consumer: &BaseConsumer, stores: &GlobalStores, partitions: &[(String, i32)]) -> Result<()> {
    let started = Instant::now();
    let mut remaining: HashMap<(String, i32), i64> = HashMap::new();
    for (topic, p) in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, *p, Duration::from_secs(30))
            .map_err(|e| bootstrap_error(topic, *p, format!("reading watermarks: {e}")))?;
        if high > low {
            remaining.insert((topic.clone(), *p), high);
        }
    }
    tracing::info!(partitions = partitions.len(), to_read = remaining.len(), "bootstrapping global stores");
    let mut applied = 0u64;
    let mut last_progress = Instant::now();
    while !remaining.is_empty() {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                last_progress = Instant::now();
                apply(stores, &m, "bootstrap")?;
                applied += 1;
                let key = (m.topic().to_string(), m.partition());
                if remaining.get(&key).is_some_and(|high| m.offset() + 1 >= *high) {
                    remaining.remove(&key);
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Err(e)) => tracing::warn!(error = %e, "error while bootstrapping global stores; retrying"),
            None => {
                if last_progress.elapsed() > STALL_TIMEOUT {
                    let (topic, p) = remaining.keys().next().cloned().unwrap_or_default();
                    return Err(bootstrap_error(&topic, p, format!("no progress for {STALL_TIMEOUT:?}")));
                }
            }
        }
    }
    stores.flush().map_err(|source| bootstrap_error("global topics", -1, format!("flush: {source}")))?;
    tracing::info!(records = applied, elapsed = ?started.elapsed(), "global stores bootstrapped");
    Ok(())
}

/// Keeps applying updates until shutdown.
fn run(consumer: &BaseConsumer, stores: &GlobalStores, shutdown: &AtomicBool) -> Result<()> {
    while !shutdown.load(Ordering::SeqCst) {
        match consumer.poll(POLL_TIMEOUT) {
            Some(Ok(m)) => {
                apply(stores, &m, "update")?;
                metrics::counter!("kstreams_global_records_total", "topic" => m.topic().to_string())
                    .increment(1);
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(e)) => tracing::warn!(error = %e, "global consumer error; retrying"),
        }
    }
    Ok(())
}
