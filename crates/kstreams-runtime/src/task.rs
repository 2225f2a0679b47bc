//! [`ActiveTask`]: a task a stream thread runs — the core [`StreamTask`] plus what the thread
//! tracks of it: its input progress, its changelog offsets and its checkpoint file — and the
//! lifecycle it goes through, checked in one place ([`ActiveTask::transition`]):
//!
//! ```text
//!   Created ──► Restoring ──► Running ──► Closed
//!      │            │                      ▲
//!      └────────────┴──────────────────────┘  (a failure while creating or restoring)
//! ```
//!
//! A task is created on assignment (or when its thread goes back to the committed offsets),
//! restored from its changelogs, then runs until it is revoked, the thread recovers from a
//! failed transaction, or the instance closes.

use std::time::{Duration, Instant};

use kstreams_core::{
    changelog_topic, LocalPosition, Offsets, OutputRecord, RawRecord, StreamTask, TaskConfig, TaskId,
    TopicPartition, Topology,
};

use crate::checkpoint::Checkpoint;
use crate::error::{Result, RuntimeError};

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskState {
    /// Built, stores opened, nothing restored yet.
    Created,
    /// Replaying changelogs into the stores.
    Restoring,
    /// Processing records.
    Running,
    /// Closed; not used again.
    Closed,
}

impl TaskState {
    /// Whether the lifecycle allows going from `self` to `next`.
    fn can_become(self, next: TaskState) -> bool {
        use TaskState::*;
        matches!(
            (self, next),
            (Created, Restoring)
                | (Created, Closed)
                | (Restoring, Running)
                | (Restoring, Closed)
                | (Running, Closed)
        )
    }
}

/// How far a task got in one of its input partitions.
#[derive(Debug, Clone)]
struct Progress {
    partition: TopicPartition,
    /// The group's committed offset when the task was created.
    committed: Option<i64>,
    /// The offset of the last record processed since.
    processed: Option<i64>,
}

impl Progress {
    /// Whether the record at `offset` was processed by this task already, or was committed
    /// before the task was created. Offsets only grow within a partition, so such a record
    /// can only be a second delivery.
    fn already_seen(&self, offset: i64) -> bool {
        match (self.processed, self.committed) {
            (Some(last), _) => offset <= last,
            (None, Some(committed)) => offset < committed,
            (None, None) => false,
        }
    }
}

/// A task owned by a stream thread.
pub(crate) struct ActiveTask {
    task: StreamTask,
    state: TaskState,
    progress: Vec<Progress>,
    /// Whether anything was processed since the last commit.
    dirty: bool,
    /// Next offset of each changelog partition the local (persistent) stores hold.
    changelog_offsets: Offsets,
    /// The changelog partitions of the stores that keep their data on disk: the only ones a
    /// checkpoint records.
    kept_changelogs: Vec<TopicPartition>,
    checkpoint: Checkpoint,
    checkpoint_on_disk: bool,
    /// The owner epoch of the local state's last writer, when the local state is kept.
    owner_floor: Option<i64>,
    /// Whether a checkpoint means anything: some logged store keeps its data on disk.
    persistent: bool,
    /// Whether each flush records the input position with the state, so the checkpoint can
    /// stay while records are processed (see [`crate::checkpoint`]).
    keeps_position: bool,
    /// When the task last processed a record (or was created).
    last_record_at: Instant,
}

impl ActiveTask {
    /// Builds task `id`, which reads `partitions`, on its local state directory, given the
    /// group's `committed` offsets of those partitions; returns it with the changelog offsets
    /// to restore from.
    ///
    /// The local state is kept when a checkpoint says which changelog offsets it holds and,
    /// for stores that keep an input position, that position is not ahead of `committed`.
    /// Otherwise it is wiped first, since it may hold uncommitted updates.
    pub(crate) fn create(
        topology: &Topology,
        id: TaskId,
        config: &TaskConfig,
        partitions: &[TopicPartition],
        committed: &Offsets,
    ) -> Result<(Self, Offsets)> {
        let dir = config.task_dir(id);
        let checkpoint = Checkpoint::new(&dir);
        // Only stores that keep their data on disk are checkpointed: the others (in memory,
        // e.g. suppression buffers) start empty and are restored from their whole changelog.
        let kept_changelogs: Vec<TopicPartition> = topology
            .subtopologies()
            .iter()
            .filter(|s| s.id == id.subtopology)
            .flat_map(|s| s.stores.iter())
            .filter(|name| {
                topology.stores().get(*name).is_some_and(|b| b.logging_enabled() && b.persistent())
            })
            .map(|name| TopicPartition::new(changelog_topic(&config.application_id, name), id.partition))
            .collect();
        let persistent = !kept_changelogs.is_empty();
        let mut start = match checkpoint.read() {
            Ok(Some(offsets)) if persistent => offsets,
            Ok(_) => Offsets::new(),
            Err(e) => {
                tracing::warn!(task = %id, error = %e, "ignoring unreadable checkpoint; restoring from the changelog");
                Offsets::new()
            }
        };
        start.retain(|tp, _| kept_changelogs.contains(tp));
        if start.is_empty() {
            wipe(id, &dir, "no valid checkpoint")?;
        }
        let build = || task_error(id, "create", StreamTask::new(topology, id, config));
        let mut task = match build() {
            Ok(task) => task,
            // Damaged local state (a corrupt database) must not fail every start: wipe it and
            // restore from the changelogs. A failure with nothing left to wipe is returned.
            Err(e) if dir.exists() => {
                tracing::warn!(task = %id, error = %e, "opening the local state failed");
                wipe(id, &dir, "its local state could not be opened")?;
                start = Offsets::new();
                build()?
            }
            Err(e) => return Err(e),
        };
        if !start.is_empty() {
            if let Some(reason) = local_state_ahead(&task, committed)? {
                task_error(id, "close", task.close())?;
                wipe(id, &dir, &reason)?;
                start = Offsets::new();
                task = build()?;
            }
        }
        let keeps_position = persistent && task.keeps_input_position();
        let owner_floor = if start.is_empty() { None } else { checkpoint.read_owner_epoch() };
        let progress = partitions
            .iter()
            .map(|tp| Progress { partition: tp.clone(), committed: committed.of(tp), processed: None })
            .collect();
        let active = Self {
            task,
            state: TaskState::Created,
            progress,
            dirty: false,
            changelog_offsets: start.clone(),
            kept_changelogs,
            checkpoint,
            // Without an input position the checkpoint only stays until the first record is
            // processed; with one it stays, and the position tells how far the state went.
            checkpoint_on_disk: !start.is_empty(),
            persistent,
            keeps_position,
            owner_floor,
            last_record_at: Instant::now(),
        };
        Ok((active, start))
    }

    /// The owner epoch of the local state's last writer, when the local state is kept.
    pub(crate) fn owner_floor(&self) -> Option<i64> {
        self.owner_floor
    }

    /// The task's id.
    pub(crate) fn id(&self) -> TaskId {
        self.task.id()
    }

    /// The core task, for interactive queries.
    pub(crate) fn stream_task(&self) -> &StreamTask {
        &self.task
    }

    /// Moves the task to `next`, failing if the lifecycle does not allow it.
    fn transition(&mut self, next: TaskState) -> Result<()> {
        if !self.state.can_become(next) {
            return Err(RuntimeError::Streams(kstreams_core::StreamsError::Topology(format!(
                "task {}: illegal transition {:?} -> {next:?}",
                self.id(),
                self.state
            ))));
        }
        self.state = next;
        Ok(())
    }

    /// Starts restoring: the stores to replay the changelogs into.
    pub(crate) fn begin_restore(&mut self) -> Result<&mut StreamTask> {
        self.transition(TaskState::Restoring)?;
        Ok(&mut self.task)
    }

    /// Ends the restore: the stores hold the changelogs up to `ends` and reflect the input up
    /// to the committed offsets; both are recorded before processing (flush, checkpoint), and
    /// the task's wall clock starts now (watermark idleness counts from here).
    /// `stream_time` is the one committed with the input offsets, if any. The task's owner
    /// epoch is chosen above every epoch the restore read (`max_owner_epoch`) and the local
    /// state's, and at least the wall clock: a zombie that never wrote before the restore
    /// still started earlier (its epoch is an earlier clock reading).
    pub(crate) fn finish_restore(
        &mut self,
        mut ends: Offsets,
        stream_time: Option<i64>,
        max_owner_epoch: Option<i64>,
        now_ms: i64,
    ) -> Result<()> {
        if let Some(t) = stream_time {
            self.task.resume_stream_time(t);
        }
        let above = max_owner_epoch.max(self.owner_floor).map_or(i64::MIN, |e| e.saturating_add(1));
        let epoch = now_ms.max(above);
        self.task.set_owner_epoch(epoch);
        if self.persistent {
            self.checkpoint.write_owner_epoch(epoch)?;
        }
        ends.retain(|tp, _| self.kept_changelogs.contains(tp));
        self.changelog_offsets = ends;
        self.flush()?;
        self.write_checkpoint()?;
        self.transition(TaskState::Running)?;
        self.punctuate(now_ms)?;
        Ok(())
    }

    /// Processes one record and remembers its offset for the next commit. Without an input
    /// position, the checkpoint goes at the first record (the state is now ahead of it).
    pub(crate) fn process(&mut self, raw: &RawRecord) -> Result<()> {
        let at = self.progress.iter().position(|p| p.partition.is(&raw.topic, raw.partition));
        if let Some(p) = at.map(|i| &self.progress[i]) {
            if p.already_seen(raw.offset) {
                // The same record again (a record polled before a rebalance handed its
                // partition back to this thread, which then fetches it again from the
                // committed offset): processing it twice would count it twice.
                tracing::warn!(task = %self.id(), partition = %p.partition, offset = raw.offset,
                    processed = ?p.processed, committed = ?p.committed, "record delivered again; skipped");
                metrics::counter!("kstreams_redelivered_records_skipped_total", "task" => self.id().to_string())
                    .increment(1);
                return Ok(());
            }
        }
        if self.checkpoint_on_disk && !self.keeps_position {
            self.checkpoint.remove()?;
            self.checkpoint_on_disk = false;
        }
        let id = self.id();
        task_error(id, "process", self.task.process(raw))?;
        match at {
            Some(i) => self.progress[i].processed = Some(raw.offset),
            // A topic the layout did not list for the task: track it too.
            None => self.progress.push(Progress {
                partition: TopicPartition::new(raw.topic.as_str(), raw.partition),
                committed: None,
                processed: Some(raw.offset),
            }),
        }
        self.dirty = true;
        self.last_record_at = Instant::now();
        Ok(())
    }

    /// Runs due wall-clock punctuations; returns whether any ran.
    pub(crate) fn punctuate(&mut self, now_ms: i64) -> Result<bool> {
        let ran = task_error(self.id(), "punctuate", self.task.advance_wall_clock(now_ms))?;
        if ran {
            self.dirty = true;
        }
        Ok(ran)
    }

    /// Writes the task's watermark into its output if one is due.
    pub(crate) fn publish_watermarks(&mut self) -> bool {
        self.task.publish_watermarks()
    }

    /// Takes what the task produced (output, changelogs, dead letters, watermarks).
    pub(crate) fn drain_output(&mut self) -> Vec<OutputRecord> {
        self.task.drain_output()
    }

    /// Flushes the stores' caches into the stores and the changelog (into the collector),
    /// with the input position in the same atomic write as the flushed state.
    pub(crate) fn flush(&mut self) -> Result<()> {
        let position = self.keeps_position.then(|| self.position());
        task_error(self.id(), "flush", self.task.flush(position.as_ref()))
    }

    /// The input offsets (next to process) that the task's state reflects: the committed
    /// offsets it started from, moved past every record processed since.
    pub(crate) fn position(&self) -> Offsets {
        self.progress
            .iter()
            .filter_map(|p| p.processed.map(|o| o + 1).or(p.committed).map(|o| (p.partition.clone(), o)))
            .collect()
    }

    /// The offsets to commit: for each partition with records processed since the task
    /// started, the offset after the last one.
    pub(crate) fn offsets_to_commit(&self) -> impl Iterator<Item = (&TopicPartition, i64)> {
        self.progress.iter().filter_map(|p| p.processed.map(|o| (&p.partition, o + 1)))
    }

    /// The task's stream time, if it has one: committed with the offsets.
    pub(crate) fn stream_time(&self) -> Option<i64> {
        Some(self.task.stream_time()).filter(|t| *t != i64::MIN)
    }

    /// The group's committed offset of `partition` when the task was created.
    pub(crate) fn committed_at_start(&self, partition: &TopicPartition) -> Option<i64> {
        self.progress.iter().find(|p| p.partition == *partition).and_then(|p| p.committed)
    }

    /// Whether anything was processed or punctuated since the last commit.
    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// `(store, approximate entries)` for each store.
    pub(crate) fn store_sizes(&self) -> Vec<(String, u64)> {
        self.task.store_sizes()
    }

    /// After a successful commit: the changelogs hold what the producer delivered up to
    /// `last_offset(topic)` (of this task's partition); the checkpoint records it.
    pub(crate) fn committed(&mut self, last_offset: impl Fn(&TopicPartition) -> Option<i64>) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        for tp in &self.kept_changelogs {
            if let Some(last) = last_offset(tp) {
                self.changelog_offsets.raise(tp.clone(), last + 1);
            }
        }
        self.write_checkpoint()?;
        self.dirty = false;
        Ok(())
    }

    /// Writes the checkpoint (persistent stores only).
    fn write_checkpoint(&mut self) -> Result<()> {
        if self.persistent && !self.changelog_offsets.is_empty() {
            self.checkpoint.write(&self.changelog_offsets)?;
            self.checkpoint_on_disk = true;
        }
        Ok(())
    }

    /// The highest timestamp the task has seen.
    pub(crate) fn observed_time(&self) -> i64 {
        self.task.observed_time()
    }

    /// Whether event-time alignment holds the task back.
    pub(crate) fn is_held(&self) -> bool {
        self.task.is_held()
    }

    /// Holds the task back (or lets it go on).
    pub(crate) fn set_held(&mut self, held: bool) {
        self.task.set_held(held);
    }

    /// How long since the task last processed a record (or was created).
    pub(crate) fn quiet_for(&self) -> Duration {
        self.last_record_at.elapsed()
    }

    /// Closes processors and stores. A dirty close (after a failure or a lost partition)
    /// leaves no checkpoint, so the next owner of the local directory restores from scratch.
    pub(crate) fn close(mut self, clean: bool) -> Result<()> {
        let id = self.id();
        self.transition(TaskState::Closed)?;
        if !clean {
            self.checkpoint.remove()?;
        }
        task_error(id, "close", self.task.close())?;
        tracing::info!(task = %id, clean, "task closed");
        Ok(())
    }
}

/// Names task `id` and `operation` in a core error.
fn task_error<T>(id: TaskId, operation: &'static str, r: kstreams_core::Result<T>) -> Result<T> {
    r.map_err(|source| RuntimeError::Task { task: id, operation, source })
}

/// Removes a task's local state directory, saying why in the log.
fn wipe(id: TaskId, dir: &std::path::Path, reason: &str) -> Result<()> {
    if dir.exists() {
        tracing::info!(task = %id, dir = %dir.display(), reason, "wiping local state before restoring");
        std::fs::remove_dir_all(dir)
            .map_err(|source| RuntimeError::StateDir { path: dir.to_path_buf(), source })?;
    }
    Ok(())
}

/// Why the task's local state must not be kept, if it must not: its input position (written
/// with its last flush) is ahead of the committed offsets, or cannot be read.
fn local_state_ahead(task: &StreamTask, committed: &Offsets) -> Result<Option<String>> {
    let position = task_error(task.id(), "read the input position", task.local_position())?;
    let local = match position {
        LocalPosition::Unknown => return Ok(None),
        LocalPosition::At(local) => local,
        LocalPosition::Unreadable(e) => return Ok(Some(format!("unreadable input position ({e})"))),
        LocalPosition::Missing => return Ok(Some("the checkpoint names state that is not on disk".into())),
        LocalPosition::Unflushed => {
            return Ok(Some(
                "the state was written after its last flush (evicted from the cache before a crash)".into(),
            ))
        }
    };
    let ahead = local.ahead_of(committed);
    if ahead.is_empty() {
        return Ok(None);
    }
    let described: Vec<String> = ahead
        .iter()
        .map(|a| match a.committed {
            Some(c) => format!("{}: state at {}, committed {c}", a.partition, a.at),
            None => format!("{}: state at {}, nothing committed", a.partition, a.at),
        })
        .collect();
    Ok(Some(format!("local state is ahead of the committed offsets ({})", described.join(", "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(committed: Option<i64>, processed: Option<i64>) -> Progress {
        Progress { partition: TopicPartition::new("in", 0), committed, processed }
    }

    #[test]
    fn a_record_at_or_before_the_last_processed_one_was_seen() {
        let p = progress(Some(10), Some(14));
        assert!(p.already_seen(14), "the last record, delivered again");
        assert!(p.already_seen(10));
        assert!(!p.already_seen(15));
    }

    #[test]
    fn before_any_record_the_committed_offset_is_the_first_new_one() {
        let p = progress(Some(10), None);
        assert!(p.already_seen(9), "committed before the task was created");
        assert!(!p.already_seen(10), "the committed offset is the next record to process");
        assert!(!progress(None, None).already_seen(0), "nothing committed: everything is new");
    }
}
