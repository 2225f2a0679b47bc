//! The local checkpoint file of a task: `<state.dir>/<application.id>/<task>/.checkpoint`.
//!
//! It records, for each changelog partition, the offset up to which the local (persistent)
//! stores already hold the changelog, so a restart restores only what came after. Kafka
//! Streams' text format: a version line (`0`), a count line, then `topic partition offset`.
//!
//! The file exists only while the local state equals what it says: it is written at each
//! commit and on close, and removed as soon as the task processes a record after that. A crash
//! therefore leaves either an exact checkpoint or none, and with none the task wipes its local
//! state and restores it from the changelog: no update is ever applied twice.

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
        let mut lines = text.lines();
        match lines.next().map(str::trim) {
            Some("0") => {}
            other => return Err(self.error(format!("unsupported version line {other:?}"))),
        }
        let count: usize = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| self.error("missing or invalid entry count".into()))?;
        let mut offsets = Offsets::new();
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let mut parts = line.split_whitespace();
            let parsed = match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(t), Some(p), Some(o), None) => {
                    p.parse::<i32>().ok().zip(o.parse::<i64>().ok()).map(|po| (t, po))
                }
                _ => None,
            };
            let (topic, (partition, offset)) =
                parsed.ok_or_else(|| self.error(format!("malformed line `{line}`")))?;
            offsets.insert((topic.to_string(), partition), offset);
        }
        if offsets.len() != count {
            return Err(self.error(format!("header says {count} entries, found {}", offsets.len())));
        }
        Ok(Some(offsets))
    }

    /// Writes the offsets atomically (temporary file, fsync, rename).
    pub fn write(&self, offsets: &Offsets) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| self.error(format!("creating directory: {e}")))?;
        let mut text = format!("0\n{}\n", offsets.len());
        for ((topic, partition), offset) in offsets {
            text.push_str(&format!("{topic} {partition} {offset}\n"));
        }
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
}
