//! The local checkpoint file of a task: `<state.dir>/<application.id>/<task>/.checkpoint`.
//!
//! It records, for each changelog partition, the offset up to which the local (persistent)
//! stores already hold the changelog, so a restart restores only what came after. Kafka
//! Streams' text format: a version line (`0`), a count line, then `topic partition offset`.
//!
//! What the local state holds is known exactly only together with a second record: the
//! **input position**, the input offsets the state reflects, which a task whose stores keep
//! flush metadata (RocksDB) writes in the same atomic write batch as each flush of its
//! stores. The checkpoint is written after each successful commit and stays while the task
//! processes records, so after a crash it is a lower bound of the changelog the state holds.
//! On start (see `ActiveTask::create`):
//!
//! - input position at or behind the group's committed offsets: the state is kept, and the
//!   changelog is replayed from the checkpoint. Replaying values the state already holds is
//!   harmless (changelog records carry whole values, not increments), and records whose input
//!   was never committed are skipped as always;
//! - input position ahead of the committed offsets (the process died between flushing the
//!   stores and committing the offsets): the state counts records that will be processed
//!   again, so it is wiped and restored from the changelog;
//! - no checkpoint, or stores without flush metadata (in-memory, custom): as in Kafka Streams
//!   the checkpoint is removed when the first record is processed, and a missing checkpoint
//!   means wipe and restore.
//!
//! Either way no update is applied twice.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use kstreams_core::Offsets;

use crate::error::{Result, RuntimeError};

/// Name of the checkpoint file inside a task directory.
pub(crate) const CHECKPOINT_FILE: &str = ".checkpoint";
/// Name of the file beside it holding the owner epoch of the task incarnation that wrote the
/// local state last (see [`kstreams_core::OWNER_EPOCH_HEADER`]).
pub(crate) const OWNER_EPOCH_FILE: &str = ".owner-epoch";

/// The checkpoint file of one task directory.
#[derive(Debug, Clone)]
pub(crate) struct Checkpoint {
    path: PathBuf,
    epoch_path: PathBuf,
}

impl Checkpoint {
    /// The checkpoint of the task whose stores live in `task_dir`.
    pub(crate) fn new(task_dir: &Path) -> Self {
        Self { path: task_dir.join(CHECKPOINT_FILE), epoch_path: task_dir.join(OWNER_EPOCH_FILE) }
    }

    /// The owner epoch of the local state's last writer; `None` if unknown (no file, or one
    /// that does not hold a number).
    pub(crate) fn read_owner_epoch(&self) -> Option<i64> {
        fs::read_to_string(&self.epoch_path).ok()?.trim().parse().ok()
    }

    /// Records the owner epoch of the incarnation that writes the local state. Written
    /// before its first checkpoint: a restore from that checkpoint then skips what earlier
    /// owners wrote after it.
    pub(crate) fn write_owner_epoch(&self, epoch: i64) -> Result<()> {
        let dir = self.epoch_path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| self.error(format!("creating directory: {e}")))?;
        let tmp = self.epoch_path.with_extension("tmp-epoch");
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(epoch.to_string().as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &self.epoch_path)
        };
        write().map_err(|e| self.error(format!("writing the owner epoch: {e}")))
    }

    /// The file's path.
    #[cfg(test)]
    fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the offsets; `None` when there is no file.
    pub(crate) fn read(&self) -> Result<Option<Offsets>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.error(format!("reading: {e}"))),
        };
        Offsets::parse(&text).map(Some).map_err(|detail| self.error(detail))
    }

    /// Writes the offsets atomically (temporary file, fsync, rename).
    pub(crate) fn write(&self, offsets: &Offsets) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| self.error(format!("creating directory: {e}")))?;
        let text = offsets.to_text();
        let tmp = self.path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| self.error(format!("writing: {e}")))
    }

    /// Removes the file (no error if it does not exist).
    pub(crate) fn remove(&self) -> Result<()> {
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.error(format!("removing: {e}"))),
        }
    }

    fn error(&self, detail: String) -> RuntimeError {
        RuntimeError::Checkpoint { path: self.path.clone(), detail }
    }
}

#[cfg(test)]
mod tests {
    use kstreams_core::TopicPartition;

    use super::*;

    #[test]
    fn round_trips_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let cp = Checkpoint::new(&dir.path().join("0_1"));
        assert_eq!(cp.read().unwrap(), None);
        let offsets: Offsets = [
            (TopicPartition::new("app-counts-changelog", 1), 42),
            (TopicPartition::new("app-other-changelog", 1), 7),
        ]
        .into_iter()
        .collect();
        cp.write(&offsets).unwrap();
        assert_eq!(
            fs::read_to_string(cp.path()).unwrap(),
            "0\n2\napp-counts-changelog 1 42\napp-other-changelog 1 7\n",
            "Kafka Streams' format"
        );
        assert_eq!(cp.read().unwrap(), Some(offsets));
        cp.remove().unwrap();
        assert!(!cp.path().exists());
        cp.remove().unwrap();
        assert_eq!(cp.read_owner_epoch(), None);
        cp.write_owner_epoch(1_764_115_200_123).unwrap();
        assert_eq!(cp.read_owner_epoch(), Some(1_764_115_200_123));
        fs::write(dir.path().join("0_1").join(OWNER_EPOCH_FILE), "garbage").unwrap();
        assert_eq!(cp.read_owner_epoch(), None, "a damaged epoch file is no epoch");
    }

    #[test]
    fn corrupt_files_are_errors_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let cp = Checkpoint::new(dir.path());
        for bad in ["1\n0\n", "0\n2\nt 0 1\n", "0\n1\nt zero 1\n", ""] {
            fs::write(cp.path(), bad).unwrap();
            let err = cp.read().unwrap_err().to_string();
            assert!(err.contains(".checkpoint"), "{bad:?}: {err}");
        }
    }
}
