//! The runtime side of a task: the core [`StreamTask`] plus what the thread tracks about it
//! (processed offsets, changelog offsets, its checkpoint file).
//!
//! The lifecycle itself is [`kstreams_core::TaskState`]; this module moves a task through it:
//! `Created → Restoring → Running` on assignment, `Running → Closed` on revocation/shutdown.

use std::collections::HashMap;
use std::path::PathBuf;

use kstreams_core::{Headers, OutputRecord, RawRecord, StreamTask, TaskConfig, TaskId, TaskState, Topology};

use crate::checkpoint::{ahead_of_committed, format_offsets, parse_offsets, Checkpoint, Offsets};
use crate::error::{Result, RuntimeError};

/// Header stamped on every changelog record: the input record (`topic:partition:offset`)
/// whose processing wrote it. Restore skips records whose input offset was never committed.
pub const INPUT_OFFSET_HEADER: &str = "kstreams.input";

/// Flush-metadata key of the input position: the input offsets (next to process) that the
/// flushed local state reflects, in the checkpoint's text format.
pub const INPUT_POSITION_KEY: &[u8] = b"input-position";

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
    /// Whether each flush records the input position with the state (see
    /// [`INPUT_POSITION_KEY`]), so the checkpoint can stay while records are processed.
    keeps_position: bool,
    /// When the task last processed a record (or was created).
    pub(crate) last_record_at: std::time::Instant,
    /// The group's committed offsets of the task's partitions when it was created.
    pub(crate) start_offsets: HashMap<(String, i32), i64>,
    /// When the thread last asked the broker whether records wait in the task's partitions,
    /// and the answer (asked only while the task has seen no record).
    pub(crate) waiting: Option<(std::time::Instant, bool)>,
}

impl ActiveTask {
    /// Builds the task on its local state directory, given the group's committed offsets of
    /// its input partitions, and returns it with the changelog offsets to restore from.
    ///
    /// The local state is kept when a checkpoint says which changelog offsets it holds and,
    /// for stores that keep flush metadata, its input position is not ahead of `committed`.
    /// Otherwise it is wiped first, since it may hold uncommitted updates (see
    /// [`crate::checkpoint`]).
    pub(crate) fn create(
        topology: &Topology,
        id: TaskId,
        config: &TaskConfig,
        committed: &HashMap<(String, i32), i64>,
    ) -> Result<(Self, Offsets)> {
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
        let mut start = match checkpoint.read() {
            Ok(Some(offsets)) if persistent => offsets,
            Ok(_) => Offsets::new(),
            Err(e) => {
                tracing::warn!(task = %id, error = %e, "ignoring unreadable checkpoint; restoring from the changelog");
                Offsets::new()
            }
        };
        if start.is_empty() {
            wipe(id, &dir, "no valid checkpoint")?;
        }
        let new_task = || {
            StreamTask::new(topology, id, config).map_err(|source| RuntimeError::Task {
                task: id,
                operation: "create",
                source,
            })
        };
        let mut task = new_task()?;
        if !start.is_empty() {
            if let Some(reason) = local_state_ahead(&task, committed)? {
                task.close().map_err(|source| RuntimeError::Task { task: id, operation: "close", source })?;
                wipe(id, &dir, &reason)?;
                start = Offsets::new();
                task = new_task()?;
            }
        }
        let keeps_position = persistent && task.keeps_flush_meta();
        // Without an input position the checkpoint only stays until the first record is
        // processed; with one it stays, and the position tells how far the state went.
        let checkpoint_on_disk = !start.is_empty();
        let active = Self {
            task,
            processed: HashMap::new(),
            dirty: false,
            changelog_offsets: start.clone(),
            checkpoint,
            checkpoint_on_disk,
            persistent,
            keeps_position,
            last_record_at: std::time::Instant::now(),
            start_offsets: committed.clone(),
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
        if self.checkpoint_on_disk && !self.keeps_position {
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

    /// Flushes the stores' caches into the stores and the changelog (into the collector),
    /// with the input position in the same atomic write as the flushed state.
    pub(crate) fn flush(&mut self) -> Result<()> {
        let id = self.id();
        let flushed = if self.keeps_position {
            let meta = [(INPUT_POSITION_KEY.to_vec(), format_offsets(&self.position()).into_bytes())];
            self.task.flush_with_meta(&meta)
        } else {
            self.task.flush()
        };
        flushed.map_err(|source| RuntimeError::Task { task: id, operation: "flush", source })
    }

    /// The input offsets (next to process) that the task's state reflects: the committed
    /// offsets it started from, moved past every record processed since.
    pub(crate) fn position(&self) -> Offsets {
        let mut at: Offsets = self.start_offsets.iter().map(|(tp, o)| (tp.clone(), *o)).collect();
        for (tp, last) in &self.processed {
            at.insert(tp.clone(), last + 1);
        }
        at
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
/// with its last flush) is ahead of the committed offsets.
fn local_state_ahead(task: &StreamTask, committed: &HashMap<(String, i32), i64>) -> Result<Option<String>> {
    let id = task.id();
    let stored = task.flush_meta(INPUT_POSITION_KEY).map_err(|source| RuntimeError::Task {
        task: id,
        operation: "read the input position",
        source,
    })?;
    let Some(bytes) = stored else { return Ok(None) };
    let local = match std::str::from_utf8(&bytes).map_err(|e| e.to_string()).and_then(parse_offsets) {
        Ok(local) => local,
        Err(e) => return Ok(Some(format!("unreadable input position ({e})"))),
    };
    let ahead = ahead_of_committed(&local, committed);
    if ahead.is_empty() {
        return Ok(None);
    }
    let described: Vec<String> = ahead
        .iter()
        .map(|(t, p, at, c)| match c {
            Some(c) => format!("{t}-{p}: state at {at}, committed {c}"),
            None => format!("{t}-{p}: state at {at}, nothing committed"),
        })
        .collect();
    Ok(Some(format!("local state is ahead of the committed offsets ({})", described.join(", "))))
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
