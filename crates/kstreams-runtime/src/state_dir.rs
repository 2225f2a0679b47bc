//! The application's state directory, `<state.dir>/<application.id>/`: locked by one instance
//! at a time, and holding the instance's persistent process id.
//!
//! **The lock.** An instance takes an exclusive advisory lock on `.lock` when it starts and
//! keeps it until it is closed (the operating system drops it when the process dies, so a
//! crash never leaves a stale lock). A second instance on the same directory — in this process
//! or another — fails at start with [`RuntimeError::StateDirLocked`] instead of sharing task
//! directories, checkpoints and RocksDB files with the first.
//!
//! **The process id.** A random UUID, written to `kstreams-process-metadata` the first time the
//! directory is used and read back on every later start. It names the instance across
//! restarts: the exactly-once producers' `transactional.id`s are
//! `<application.id>-<process id>-<thread number>`, so an instance restarted on its state
//! directory (after a crash, a deployment) fences its previous incarnation at once — the new
//! producer's `init_transactions` aborts whatever transaction the old one left open — instead of
//! leaving it to expire after `transaction.timeout.ms` while downstream read-committed readers
//! wait. The lock makes the id unique among live instances; copying a state directory to a
//! second machine would not, and its two instances would keep fencing each other.

use std::fs::{File, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, RuntimeError};

/// Name of the lock file inside the application's state directory.
pub const LOCK_FILE: &str = ".lock";
/// Name of the file holding the process id.
pub const PROCESS_FILE: &str = "kstreams-process-metadata";

/// An application state directory, locked for as long as this value lives.
#[derive(Debug)]
pub(crate) struct StateDirectory {
    dir: PathBuf,
    process_id: String,
    /// Holds the lock; closing the file releases it.
    _lock: File,
}

impl StateDirectory {
    /// Creates (if needed) and locks `<state_dir>/<application_id>`, and reads or creates its
    /// process id.
    pub(crate) fn open(state_dir: &Path, application_id: &str) -> Result<Self> {
        let dir = state_dir.join(application_id);
        let io = |path: &Path, source| RuntimeError::StateDir { path: path.to_path_buf(), source };
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(RuntimeError::StateDirLocked { path: dir }),
            Err(TryLockError::Error(e)) => return Err(io(&lock_path, e)),
        }
        let process_id = read_or_create_process_id(&dir.join(PROCESS_FILE))?;
        Ok(Self { dir, process_id, _lock: lock })
    }

    /// The directory, `<state.dir>/<application.id>`.
    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    /// The persistent process id (a UUID).
    pub(crate) fn process_id(&self) -> &str {
        &self.process_id
    }
}

/// The `transactional.id` of stream thread `index` (0-based) of the instance with `process_id`.
pub(crate) fn transactional_id(application_id: &str, process_id: &str, index: usize) -> String {
    format!("{application_id}-{process_id}-{}", index + 1)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ProcessMetadata {
    process_id: String,
}

/// Reads the process id from `file`; writes a new one when the file is missing or unreadable
/// (a damaged file only costs the fast fencing of one restart).
fn read_or_create_process_id(file: &Path) -> Result<String> {
    if let Ok(text) = std::fs::read_to_string(file) {
        match serde_json::from_str::<ProcessMetadata>(&text) {
            Ok(m) if uuid::Uuid::parse_str(&m.process_id).is_ok() => return Ok(m.process_id),
            _ => {
                tracing::warn!(file = %file.display(), "unreadable process metadata; writing a new process id")
            }
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    let text = serde_json::to_string(&ProcessMetadata { process_id: id.clone() }).unwrap_or_default();
    let tmp = file.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)
    };
    write().map_err(|source| RuntimeError::StateDir { path: file.to_path_buf(), source })?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_id_survives_a_reopen_and_the_directory_is_locked_meanwhile() {
        let root = tempfile::tempdir().unwrap();
        let first = StateDirectory::open(root.path(), "app").unwrap();
        let id = first.process_id().to_string();
        assert!(uuid::Uuid::parse_str(&id).is_ok());
        match StateDirectory::open(root.path(), "app") {
            Err(RuntimeError::StateDirLocked { path }) => assert_eq!(path, root.path().join("app")),
            other => panic!("a second instance on a locked directory: {other:?}"),
        }
        // Another application id is another directory.
        assert!(StateDirectory::open(root.path(), "other").is_ok());
        drop(first);
        let again = StateDirectory::open(root.path(), "app").unwrap();
        assert_eq!(again.process_id(), id, "the id is read back");
        assert_eq!(transactional_id("app", &id, 0), format!("app-{id}-1"));
    }

    #[test]
    fn a_damaged_process_file_gets_a_new_id() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("app")).unwrap();
        std::fs::write(root.path().join("app").join(PROCESS_FILE), "{garbage").unwrap();
        let dir = StateDirectory::open(root.path(), "app").unwrap();
        assert!(uuid::Uuid::parse_str(dir.process_id()).is_ok());
        let text = std::fs::read_to_string(root.path().join("app").join(PROCESS_FILE)).unwrap();
        assert!(text.contains(dir.process_id()));
    }
}
