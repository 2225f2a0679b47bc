//! The commit protocol, in one function.
//!
//! It runs every `commit.interval.ms`, before revoked tasks are closed, and at shutdown:
//!
//! 1. **Flush the stores**: write caches into the stores and their changelog records into
//!    the tasks' collectors, and hand every drained record to the producer.
//! 2. **Flush the producer** and wait until the broker acknowledged every record (output,
//!    changelogs, dead letters). A failed delivery stops here: nothing is committed.
//! 3. **Commit the input offsets** (last processed + 1): at-least-once, a synchronous group
//!    commit; exactly-once v2, `send_offsets_to_transaction` then `commit_transaction`, so
//!    output, changelogs and offsets become visible together. Under exactly-once a thread
//!    whose partitions were taken away meanwhile (it was kicked out of the group) aborts
//!    instead: its offsets are no longer its to commit.
//! 4. **Write the checkpoints**: each task's changelog end offsets, to
//!    `<state.dir>/<application.id>/<task>/.checkpoint`, so a restart restores only the rest.
//!
//! An at-least-once offset commit that the group rejects (a rebalance is under way) is not
//! fatal: the offsets are committed next time, and step 4 is skipped so no checkpoint claims
//! more than was committed. A failed transaction (aborted, fenced, or a commit whose outcome
//! is unknown) is returned to the thread, which goes back to the committed offsets
//! (`StreamThread::recover`); step 4 is skipped then too.

use std::fmt::Write as _;
use std::time::Instant;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::error::{Result, RuntimeError};
use crate::producer::RecordProducer;
use crate::rebalance::GroupConsumer;
use crate::task_manager::TaskManager;

/// The prefix of the offset metadata that carries a task's stream time.
const STREAM_TIME_PREFIX: &str = "kstreams.stream-time=";

/// The offset metadata committed with a task's input offsets: its stream time, so that the
/// next owner resumes it (Kafka Streams keeps its partition time there too).
fn stream_time_metadata(stream_time: i64) -> String {
    format!("{STREAM_TIME_PREFIX}{stream_time}")
}

/// The stream time in committed offset metadata, if it holds one.
pub(crate) fn parse_stream_time(metadata: &str) -> Option<i64> {
    metadata.strip_prefix(STREAM_TIME_PREFIX)?.parse().ok()
}

/// Why a commit runs (for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommitReason {
    Interval,
    Revocation,
    Shutdown,
}

/// Runs the commit protocol for the thread's `tasks`. Returns whether the offsets were
/// committed.
pub(crate) fn commit_tasks(
    tasks: &mut TaskManager,
    producer: &mut RecordProducer,
    consumer: &GroupConsumer,
    thread: &str,
    reason: CommitReason,
) -> Result<bool> {
    if !tasks.tasks().any(|t| t.is_dirty()) && !producer.in_transaction() {
        return Ok(true);
    }
    // A member kicked out of the group (after a stall past its session timeout) learns it on
    // a heartbeat: from then on it must not write its caches into the changelogs, which the
    // partitions' new owner already writes.
    if consumer.assignment_lost() {
        return Err(RuntimeError::TasksMigrated { thread: thread.to_string() });
    }
    let started = Instant::now();

    // 1. Flush the stores; send what they (and punctuations) produced. Report store sizes.
    for task in tasks.tasks_mut() {
        task.flush()?;
        for record in task.drain_output() {
            producer.send(&record)?;
        }
        let id = task.id().to_string();
        for (store, entries) in task.store_sizes() {
            metrics::gauge!("kstreams_store_entries", "task" => id.clone(), "store" => store)
                .set(entries as f64);
        }
    }

    // 2. Flush the producer; every record must be acknowledged.
    producer.flush()?;

    // 3. Commit the consumed offsets (or the transaction that carries them).
    let mut offsets = TopicPartitionList::new();
    let mut described = String::new();
    for task in tasks.tasks() {
        let metadata = task.stream_time().map(stream_time_metadata);
        for (tp, next) in task.offsets_to_commit() {
            offsets
                .add_partition_offset(tp.topic(), tp.partition(), Offset::Offset(next))
                .map_err(|source| RuntimeError::CommitOffsets { offsets: tp.to_string(), source })?;
            if let (Some(m), Some(mut e)) = (&metadata, offsets.find_partition(tp.topic(), tp.partition())) {
                e.set_metadata(m.as_str());
            }
            let _ = write!(described, "{tp}@{next} ");
        }
    }
    let committed = if producer.is_transactional() {
        let group = consumer.group_metadata().ok_or_else(|| RuntimeError::CommitOffsets {
            offsets: described.clone(),
            source: rdkafka::error::KafkaError::NoMessageReceived,
        })?;
        // Checked after taking the group metadata: a member kicked out of the group (its
        // member id reset, its partitions lost) must not commit offsets, which the broker
        // would accept from an empty member id without checking its generation.
        if consumer.assignment_lost() {
            return Err(RuntimeError::TasksMigrated { thread: thread.to_string() });
        }
        producer.commit_transaction(&offsets, &group)?;
        true
    } else if offsets.count() == 0 {
        true
    } else {
        match consumer.commit(&offsets, CommitMode::Sync) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(thread, offsets = %described.trim_end(), error = %e, ?reason,
                    "offset commit rejected; offsets will be committed with the next commit");
                metrics::counter!("kstreams_commit_failures_total", "thread" => thread.to_string())
                    .increment(1);
                false
            }
        }
    };

    // 4. Checkpoint the changelog offsets the stores now hold.
    if committed {
        for task in tasks.tasks_mut() {
            task.committed(|tp| producer.last_offset(tp))?;
        }
    }
    let elapsed = started.elapsed();
    metrics::histogram!("kstreams_commit_latency_seconds", "thread" => thread.to_string())
        .record(elapsed.as_secs_f64());
    tracing::debug!(thread, ?reason, offsets = %described.trim_end(), ?elapsed, committed, "commit");
    Ok(committed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_time_survives_the_offset_metadata() {
        for t in [0, 1_700_000_000_000, i64::MAX, -5] {
            assert_eq!(parse_stream_time(&stream_time_metadata(t)), Some(t));
        }
        assert_eq!(parse_stream_time(""), None, "offsets committed by another client");
        assert_eq!(parse_stream_time("AgAAAZ"), None, "Kafka Streams' own encoding is not ours");
    }
}
