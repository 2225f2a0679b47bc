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

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, RuntimeError};

/// Name of the checkpoint file inside a task directory.
pub const CHECKPOINT_FILE: &str = ".checkpoint";

/// Changelog offsets: (topic, partition) → the next offset to restore from.
pub type Offsets = BTreeMap<(String, i32), i64>;

/// The checkpoint file of one task directory.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    path: PathBuf,
}

impl Checkpoint {
    /// The checkpoint of the task whose stores live in `task_dir`.
    pub fn new(task_dir: &Path) -> Self {
        Self { path: task_dir.join(CHECKPOINT_FILE) }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file exists.
    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// Reads the offsets; `None` when there is no file.
    pub fn read(&self) -> Result<Option<Offsets>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.error(format!("reading: {e}"))),
        };
        parse_offsets(&text).map(Some).map_err(|detail| self.error(detail))
    }

    /// Writes the offsets atomically (temporary file, fsync, rename).
    pub fn write(&self, offsets: &Offsets) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| self.error(format!("creating directory: {e}")))?;
        let text = format_offsets(offsets);
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
    pub fn remove(&self) -> Result<()> {
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

/// Offsets in the checkpoint's text format: a version line (`0`), a count line, then one
/// `topic partition offset` line per entry.
pub fn format_offsets(offsets: &Offsets) -> String {
    let mut text = format!("0\n{}\n", offsets.len());
    for ((topic, partition), offset) in offsets {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    text
}

/// Parses [`format_offsets`]' text; the error says what is wrong with it.
pub fn parse_offsets(text: &str) -> std::result::Result<Offsets, String> {
    let mut lines = text.lines();
    match lines.next().map(str::trim) {
        Some("0") => {}
        other => return Err(format!("unsupported version line {other:?}")),
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| "missing or invalid entry count".to_string())?;
    let mut offsets = Offsets::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let mut parts = line.split_whitespace();
        let parsed = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(t), Some(p), Some(o), None) => {
                p.parse::<i32>().ok().zip(o.parse::<i64>().ok()).map(|po| (t, po))
            }
            _ => None,
        };
        let (topic, (partition, offset)) = parsed.ok_or_else(|| format!("malformed line `{line}`"))?;
        offsets.insert((topic.to_string(), partition), offset);
    }
    if offsets.len() != count {
        return Err(format!("header says {count} entries, found {}", offsets.len()));
    }
    Ok(offsets)
}

/// The input partitions where `local` (the input offsets a task's local state reflects) is
/// ahead of `committed` (the group's committed offsets): records the state already counts
/// but whose offsets were never committed, so they will be processed again. A partition
/// without a committed offset is ahead as soon as the state reflects any of its records.
pub fn ahead_of_committed(
    local: &Offsets,
    committed: &std::collections::HashMap<(String, i32), i64>,
) -> Vec<(String, i32, i64, Option<i64>)> {
    local
        .iter()
        .filter_map(|((topic, partition), &at)| {
            let c = committed.get(&(topic.clone(), *partition)).copied();
            (at > c.unwrap_or(0)).then(|| (topic.clone(), *partition, at, c))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let cp = Checkpoint::new(&dir.path().join("0_1"));
        assert_eq!(cp.read().unwrap(), None);
        let offsets = Offsets::from([
            (("app-counts-changelog".to_string(), 1), 42),
            (("app-other-changelog".to_string(), 1), 7),
        ]);
        cp.write(&offsets).unwrap();
        assert_eq!(
            fs::read_to_string(cp.path()).unwrap(),
            "0\n2\napp-counts-changelog 1 42\napp-other-changelog 1 7\n",
            "Kafka Streams' format"
        );
        assert_eq!(cp.read().unwrap(), Some(offsets));
        cp.remove().unwrap();
        assert!(!cp.exists());
        cp.remove().unwrap();
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

    #[test]
    fn a_position_is_ahead_only_where_it_passed_the_committed_offset() {
        let tp = |p: i32| ("in".to_string(), p);
        let local = Offsets::from([(tp(0), 10), (tp(1), 5), (tp(2), 3)]);
        let committed = std::collections::HashMap::from([(tp(0), 10), (tp(1), 7)]);
        // Partition 0 equal, 1 behind (another owner went on): kept. 2 has nothing committed.
        assert_eq!(ahead_of_committed(&local, &committed), vec![("in".to_string(), 2, 3, None)]);
        let committed = std::collections::HashMap::from([(tp(0), 9), (tp(1), 7), (tp(2), 3)]);
        assert_eq!(ahead_of_committed(&local, &committed), vec![("in".to_string(), 0, 10, Some(9))]);
        assert!(ahead_of_committed(&Offsets::new(), &committed).is_empty());
        assert_eq!(parse_offsets(&format_offsets(&local)), Ok(local));
    }
}
