//! Restoring a task's stores from their changelog partitions.
//!
//! Each stream thread has a restore consumer outside the group (`assign`, never `subscribe`).
//! For each logged store of a new task it reads the changelog partition from the checkpointed
//! offset (or the beginning) up to its end when the restore started, and feeds the records to
//! [`kstreams_core::StreamTask::restore`] in batches.
//!
//! The restore consumer reads `read_committed`, so "the end" is the last stable offset: the
//! records of aborted transactions are never applied, and those of a transaction still open
//! (a zombie's, or a crashed instance's until it is fenced) are not either; the broker
//! answers the end-offset request with the LSO and serves nothing past it. Commit and abort
//! markers take offsets too, so the last record read is not the end: the restore ends at the
//! end-of-partition event (fired at the LSO) or at a record past the end, and records the
//! consumer's position there, which the checkpoint then holds. Records stamped with an
//! input offset the group never committed ([`kstreams_core::INPUT_OFFSET_HEADER`]) are skipped:
//! their input will be processed again, and applying them too would count it twice.

use std::time::{Duration, Instant};

use kstreams_core::{
    parse_input_header, parse_owner_epoch, Offsets, StreamTask, TopicPartition, INPUT_OFFSET_HEADER,
    OWNER_EPOCH_HEADER,
};
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;

use crate::config::{ClientKind, StreamsConfig};
use crate::error::{Result, RuntimeError};

/// Records handed to a store per `restore` call.
const BATCH: usize = 1000;
/// How often a long restore logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// A restore that makes no progress for this long fails.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The restore consumer's context: end-of-partition events are how a restore ends, so they are
/// not logged as errors (rust-rdkafka's default context logs every error event it sees).
pub(crate) struct RestoreContext;

impl ClientContext for RestoreContext {
    fn error(&self, error: KafkaError, reason: &str) {
        match error {
            KafkaError::Global(RDKafkaErrorCode::PartitionEOF) | KafkaError::PartitionEOF(_) => {
                tracing::trace!(reason, "restore consumer reached the end of a partition")
            }
            error => tracing::warn!(%error, reason, "restore consumer error"),
        }
    }
}

impl ConsumerContext for RestoreContext {}

/// The restore consumer of one stream thread.
pub(crate) struct Restorer {
    consumer: BaseConsumer<RestoreContext>,
    thread: String,
}

/// What one restore did, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RestoreSummary {
    pub(crate) restored: u64,
    pub(crate) skipped_uncommitted: u64,
    /// Records a previous owner wrote after a later owner had written (a zombie's).
    pub(crate) skipped_stale_owner: u64,
    /// The highest owner epoch read.
    pub(crate) max_owner_epoch: Option<i64>,
}

impl Restorer {
    pub(crate) fn new(config: &StreamsConfig, thread: &str) -> Result<Self> {
        let base = [
            ("client.id", format!("{thread}-restore-consumer")),
            // librdkafka refuses `assign` without a group id; this group is never joined
            // (no subscribe) and never committed to.
            ("group.id", format!("{}-restore-consumer", config.application_id())),
            ("enable.auto.commit", "false".to_string()),
            ("enable.partition.eof", "true".to_string()),
            ("auto.offset.reset", "earliest".to_string()),
            ("isolation.level", "read_committed".to_string()),
        ];
        let consumer: BaseConsumer<RestoreContext> = config
            .client_config(ClientKind::Consumer, &base)
            .create_with_context(RestoreContext)
            .map_err(|source| RuntimeError::CreateClient { client: "restore consumer", source })?;
        Ok(Self { consumer, thread: thread.to_string() })
    }

    /// The low and high watermarks of `topic`-`partition`, asked on this consumer's own
    /// connections (idle outside restores).
    pub(crate) fn fetch_watermarks(
        &self,
        topic: &str,
        partition: i32,
        timeout: Duration,
    ) -> std::result::Result<(i64, i64), KafkaError> {
        self.consumer.fetch_watermarks(topic, partition, timeout)
    }

    /// Restores every changelog of `task` from `start` (missing entries: the beginning) to
    /// the end. `committed` holds the group's committed offsets of the task's input partitions.
    /// `owner_floor` is the owner epoch of the local state's last writer, if known: records
    /// of lower epochs after the checkpoint are a zombie's. `keep_alive` is called between polls, at least every 200 ms: it keeps the thread's
    /// group membership alive however long the restore takes. Returns the next offset of each
    /// changelog partition.
    pub(crate) fn restore(
        &self,
        task: &mut StreamTask,
        start: &Offsets,
        committed: &Offsets,
        owner_floor: Option<i64>,
        keep_alive: &mut dyn FnMut(),
    ) -> Result<(Offsets, RestoreSummary)> {
        let id = task.id();
        let partition = id.partition;
        let mut ends = Offsets::new();
        let mut summary = RestoreSummary::default();
        let changelogs: Vec<(String, String)> = task.changelogs().to_vec();
        for (store, topic) in changelogs {
            let fail = |detail: String| RuntimeError::Restore {
                task: id,
                store: store.clone(),
                topic: topic.clone(),
                detail,
            };
            let (low, high) = self
                .consumer
                .fetch_watermarks(&topic, partition, Duration::from_secs(30))
                .map_err(|e| fail(format!("reading watermarks: {e}")))?;
            let tp = TopicPartition::new(topic.as_str(), partition);
            let checkpointed = start.of(&tp);
            let from = checkpointed.unwrap_or(low).max(low);
            // The epoch below which records are stale: from the local state's writer only when
            // restoring on top of that state.
            let mut owner_max = owner_floor.filter(|_| checkpointed.is_some());
            if from >= high {
                ends.insert(tp, from);
                tracing::debug!(task = %id, store, from, high, "nothing to restore");
                continue;
            }
            let started = Instant::now();
            tracing::info!(task = %id, store, topic, from, high, "restoring store from changelog");
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&topic, partition, Offset::Offset(from))
                .map_err(|e| fail(e.to_string()))?;
            self.consumer
                .assign(&tpl)
                .map_err(|e| fail(format!("assigning the changelog partition: {e}")))?;
            let labels =
                [("task", id.to_string()), ("store", store.clone()), ("thread", self.thread.clone())];
            let mut batch: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::with_capacity(BATCH);
            let mut last_progress = Instant::now();
            let mut last_report = Instant::now();
            let mut position = from;
            while position < high {
                keep_alive();
                if last_report.elapsed() >= PROGRESS_EVERY {
                    last_report = Instant::now();
                    let done = (position - from) as f64 / (high - from).max(1) as f64;
                    tracing::info!(task = %id, store, topic, position, high, elapsed = ?started.elapsed(),
                        "restoring: {:.0}% done", done * 100.0);
                }
                match self.consumer.poll(Duration::from_millis(200)) {
                    Some(Ok(m)) => {
                        last_progress = Instant::now();
                        position = m.offset() + 1;
                        if m.offset() >= high {
                            break;
                        }
                        let (mut uncommitted, mut owner) = (false, None);
                        if let Some(hs) = m.headers() {
                            for h in hs.iter() {
                                match (h.key, h.value) {
                                    (INPUT_OFFSET_HEADER, Some(v)) => {
                                        uncommitted = parse_input_header(v).is_some_and(|(t, p, o)| {
                                            committed.get(t, p).is_none_or(|c| o >= c)
                                        });
                                    }
                                    (OWNER_EPOCH_HEADER, Some(v)) => owner = parse_owner_epoch(v),
                                    _ => {}
                                }
                            }
                        }
                        if let Some(epoch) = owner {
                            if owner_max.is_some_and(|max| epoch < max) {
                                summary.skipped_stale_owner += 1;
                                continue;
                            }
                            owner_max = Some(owner_max.map_or(epoch, |max| max.max(epoch)));
                        }
                        if uncommitted {
                            summary.skipped_uncommitted += 1;
                            continue;
                        }
                        let Some(key) = m.key() else { continue };
                        batch.push((key.to_vec(), m.payload().map(<[u8]>::to_vec)));
                        if batch.len() >= BATCH {
                            summary.restored +=
                                self.apply(task, &store, &mut batch, &labels, high - position)?;
                        }
                    }
                    Some(Err(KafkaError::PartitionEOF(_))) => {
                        // Past the trailing markers: the consumer stands at the end.
                        let at = self.consumer.position().ok().and_then(|tpl| {
                            tpl.find_partition(&topic, partition).and_then(|e| e.offset().to_raw())
                        });
                        position = position.max(at.unwrap_or(position));
                        break;
                    }
                    Some(Err(e)) => {
                        tracing::warn!(task = %id, store, error = %e, "error while restoring; retrying")
                    }
                    None => {
                        if last_progress.elapsed() > STALL_TIMEOUT {
                            return Err(fail(format!(
                                "no progress for {STALL_TIMEOUT:?} at offset {position} of {high}"
                            )));
                        }
                    }
                }
            }
            summary.restored += self.apply(task, &store, &mut batch, &labels, 0)?;
            summary.max_owner_epoch = summary.max_owner_epoch.max(owner_max);
            ends.insert(tp, position.min(high).max(from));
            self.consumer.unassign().map_err(|e| fail(format!("unassigning: {e}")))?;
            tracing::info!(task = %id, store, records = summary.restored, skipped_uncommitted = summary.skipped_uncommitted,
                skipped_stale_owner = summary.skipped_stale_owner,
                elapsed = ?started.elapsed(), "restore finished");
        }
        Ok((ends, summary))
    }

    fn apply(
        &self,
        task: &mut StreamTask,
        store: &str,
        batch: &mut Vec<(Vec<u8>, Option<Vec<u8>>)>,
        labels: &[(&'static str, String); 3],
        remaining: i64,
    ) -> Result<u64> {
        let n = batch.len() as u64;
        if n > 0 {
            task.restore(store, batch).map_err(|source| RuntimeError::Task {
                task: task.id(),
                operation: "restore",
                source,
            })?;
            batch.clear();
        }
        metrics::counter!("kstreams_restored_records_total", labels).increment(n);
        metrics::gauge!("kstreams_restore_remaining_records", labels).set(remaining.max(0) as f64);
        Ok(n)
    }
}
