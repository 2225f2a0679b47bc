//! The runtime side of a task: the core [`StreamTask`] plus what the thread tracks about it
//! (processed offsets, changelog offsets, its checkpoint file).
//!
//! The lifecycle itself is [`kstreams_core::TaskState`]; this module moves a task through it:
//! `Created → Restoring → Running` on assignment, `Running → Closed` on revocation/shutdown.

use std::collections::HashMap;
use std::path::PathBuf;

use kstreams_core::{Headers, OutputRecord, RawRecord, StreamTask, TaskConfig, TaskId, TaskState, Topology};

use crate::checkpoint::{Checkpoint, Offsets};
use crate::error::{Result, RuntimeError};

/// Header stamped on every changelog record: the input record (`topic:partition:offset`)
/// whose processing wrote it. Restore skips records whose input offset was never committed.
pub const INPUT_OFFSET_HEADER: &str = "kstreams.input";

/// Parses an [`INPUT_OFFSET_HEADER`] value.
pub fn parse_input_header(value: &[u8]) -> Option<(&str, i32, i64)> {
    let s = std::str::from_utf8(value).ok()?;
    let (rest, offset) = s.rsplit_once(':')?;
    let (topic, partition) = rest.rsplit_once(':')?;
    Some((topic, partition.parse().ok()?, offset.parse().ok()?))
}

/// A task owned by a stream thread.
pub(crate) struct ActiveTask {
    pub(crate) task: StreamTask,
    /// Last processed offset per input partition since the task started.
    pub(crate) processed: HashMap<(String, i32), i64>,
    /// Whether anything was processed since the last commit.
    pub(crate) dirty: bool,
    /// Next offset of each changelog partition the local stores hold.
    pub(crate) changelog_offsets: Offsets,
    checkpoint: Checkpoint,
    checkpoint_on_disk: bool,
    /// Whether a checkpoint means anything: some logged store keeps its data on disk.
    persistent: bool,
    /// When the task last processed a record (or was created).
    pub(crate) last_record_at: std::time::Instant,
    /// The group's committed offsets of the task's partitions when it was created.
    pub(crate) start_offsets: HashMap<(String, i32), i64>,
    /// When the thread last asked the broker whether records wait in the task's partitions,
    /// and the answer (asked only while the task has seen no record).
    pub(crate) waiting: Option<(std::time::Instant, bool)>,
}

impl ActiveTask {
    /// Builds the task. Local state without a checkpoint (left by a crash, or by a store
    /// that does not checkpoint) is wiped first, since it may hold uncommitted updates.
    /// Returns the task and the changelog offsets to restore from.
    pub(crate) fn create(topology: &Topology, id: TaskId, config: &TaskConfig) -> Result<(Self, Offsets)> {
        let dir: PathBuf = config.task_dir(id);
        let checkpoint = Checkpoint::new(&dir);
        let persistent = topology
            .subtopologies()
            .iter()
            .find(|s| s.id == id.subtopology)
            .map(|s| {
                s.stores.iter().any(|name| {
                    topology.stores().get(name).is_some_and(|b| b.logging_enabled() && b.persistent())
                })
            })
            .unwrap_or(false);
        let start = match checkpoint.read() {
            Ok(Some(offsets)) if persistent => offsets,
            Ok(_) => Offsets::new(),
            Err(e) => {
                tracing::warn!(task = %id, error = %e, "ignoring unreadable checkpoint; restoring from the changelog");
                Offsets::new()
            }
        };
        if start.is_empty() && dir.exists() {
            tracing::info!(task = %id, dir = %dir.display(), "no valid checkpoint: wiping local state before restoring");
            std::fs::remove_dir_all(&dir)
                .map_err(|source| RuntimeError::StateDir { path: dir.clone(), source })?;
        }
        // The checkpoint stays until the first record is processed: the state still matches it.
        let checkpoint_on_disk = !start.is_empty();
        let task = StreamTask::new(topology, id, config).map_err(|source| RuntimeError::Task {
            task: id,
            operation: "create",
            source,
        })?;
        let active = Self {
            task,
            processed: HashMap::new(),
            dirty: false,
            changelog_offsets: start.clone(),
            checkpoint,
            checkpoint_on_disk,
            persistent,
            last_record_at: std::time::Instant::now(),
            start_offsets: HashMap::new(),
            waiting: None,
        };
        Ok((active, start))
    }

    pub(crate) fn id(&self) -> TaskId {
        self.task.id()
    }

    pub(crate) fn transition(&mut self, next: TaskState) -> Result<()> {
        let id = self.id();
        self.task.transition_to(next).map_err(|source| RuntimeError::Task {
            task: id,
            operation: "change state",
            source,
        })
    }

    /// Processes one record: stamps changelog writes with its offset, drops the checkpoint
    /// (the state is now ahead of it), and remembers the offset for the next commit.
    pub(crate) fn process(&mut self, raw: &RawRecord) -> Result<()> {
        if self.checkpoint_on_disk {
            self.checkpoint.remove()?;
            self.checkpoint_on_disk = false;
        }
        if !self.task.changelogs().is_empty() {
            let mut h = Headers::new();
            h.add(INPUT_OFFSET_HEADER, format!("{}:{}:{}", raw.topic, raw.partition, raw.offset));
            self.task.set_changelog_headers(h);
        }
        let id = self.id();
        self.task.process(raw).map_err(|source| RuntimeError::Task {
            task: id,
            operation: "process",
            source,
        })?;
        self.processed.insert((raw.topic.clone(), raw.partition), raw.offset);
        self.dirty = true;
        self.last_record_at = std::time::Instant::now();
        Ok(())
    }

    /// Runs due wall-clock punctuations.
    pub(crate) fn punctuate(&mut self, now_ms: i64) -> Result<bool> {
        let id = self.id();
        let ran = self.task.advance_wall_clock(now_ms).map_err(|source| RuntimeError::Task {
            task: id,
            operation: "punctuate",
            source,
        })?;
        if ran {
            self.dirty = true;
        }
        Ok(ran)
    }

    /// Writes the task's watermark into its output if one is due.
    pub(crate) fn publish_watermarks(&mut self) -> bool {
        self.task.publish_watermarks()
    }

    /// Flushes the stores' caches into the stores and the changelog (into the collector).
    pub(crate) fn flush(&mut self) -> Result<()> {
        let id = self.id();
        self.task.flush().map_err(|source| RuntimeError::Task { task: id, operation: "flush", source })
    }

    pub(crate) fn drain_output(&mut self) -> Vec<OutputRecord> {
        self.task.drain_output()
    }

    /// Writes the checkpoint (persistent stores only) after a successful commit.
    pub(crate) fn write_checkpoint(&mut self) -> Result<()> {
        if self.persistent && !self.changelog_offsets.is_empty() {
            self.checkpoint.write(&self.changelog_offsets)?;
            self.checkpoint_on_disk = true;
        }
        Ok(())
    }

    /// Closes processors and stores. A dirty close (after a failure or a lost partition)
    /// leaves no checkpoint, so the next owner of the local directory restores from scratch.
    pub(crate) fn close(self, clean: bool) -> Result<()> {
        let id = self.id();
        if !clean {
            self.checkpoint.remove()?;
        }
        self.task.close().map_err(|source| RuntimeError::Task { task: id, operation: "close", source })?;
        tracing::info!(task = %id, clean, "task closed");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_header_round_trips() {
        assert_eq!(parse_input_header(b"my.topic-1:2:345"), Some(("my.topic-1", 2, 345)));
        assert_eq!(parse_input_header(b"t:x:1"), None);
        assert_eq!(parse_input_header(b"nonsense"), None);
    }
}
