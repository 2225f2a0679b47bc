//! One RocksDB database per task directory, shared by all stores of the task.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rocksdb::{
    BoundColumnFamily, Cache, ColumnFamilyDescriptor, DBWithThreadMode, Direction, IteratorMode,
    MultiThreaded, Options, ReadOptions, WriteBatch, WriteOptions,
};

use super::RocksConfig;
use crate::{KvIter, StoreError};

type Db = DBWithThreadMode<MultiThreaded>;

/// Column family holding the runtime's metadata (e.g. processed input offsets).
const META_CF: &str = "__kstreams_meta";
/// Column family holding the stores' own bookkeeping (stream time of segmented stores).
const INTERNAL_CF: &str = "__kstreams_internal";
/// Metadata key present while the database holds writes made outside a batch since the last
/// committed batch: cache evictions between two commits, writes of a restore. Set in the same
/// write as the first of them, removed in the same write as the next batch.
const UNFLUSHED_KEY: &[u8] = b"__written-since-last-batch";
const RESERVED_CFS: [&str; 3] = ["default", META_CF, INTERNAL_CF];

/// The RocksDB database of one task: every store of the task is a column family in it, so one
/// `WriteBatch` can update several stores and the task's metadata atomically.
///
/// Writes outside a batch (a write cache evicting between two commits, a restore) land at once,
/// and mark the database as holding state newer than its last batch
/// ([`RocksDbTaskDb::written_since_batch`]) until the next batch commits: metadata written with
/// a batch (the input position the state reflects) then no longer describes the state.
///
/// Stores are opened from an `Arc<RocksDbTaskDb>`. Between [`RocksDbTaskDb::begin_batch`] and
/// [`RocksDbTaskDb::commit_batch`] all their writes (and [`RocksDbTaskDb::put_meta`]) collect in
/// one pending batch; **reads during an open batch do not see the pending writes**, so a batch
/// should bracket only the commit's flush of the stores, not processing.
///
/// ```
/// use std::sync::Arc;
/// use kstreams_state::{KeyValueBytesStore, RocksConfig, RocksDbTaskDb, RocksKeyValueStore};
///
/// let dir = tempfile::tempdir()?;
/// let db = Arc::new(RocksDbTaskDb::open(dir.path(), &RocksConfig::default())?);
/// let mut counts = RocksKeyValueStore::open(db.clone(), "counts")?;
/// db.begin_batch()?;
/// counts.put(b"k", b"1")?;
/// db.commit_batch(&[(b"offset/input-0".to_vec(), 42u64.to_be_bytes().to_vec())])?;
/// assert_eq!(counts.get(b"k")?, Some(b"1".to_vec()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RocksDbTaskDb {
    db: Db,
    path: PathBuf,
    cf_options: Options,
    write_options: WriteOptions,
    /// Whether `open` found no database and created an empty one.
    created_empty: bool,
    state: Mutex<DbState>,
}

struct DbState {
    /// Column families currently open.
    cfs: BTreeSet<String>,
    /// Store names currently claimed by open stores.
    stores: HashSet<String>,
    pending: Option<PendingBatch>,
    /// Whether the database holds writes made outside a batch since the last batch.
    unflushed: bool,
}

struct PendingBatch {
    batch: WriteBatch,
    /// Column families to drop once the batch has been written.
    drops: Vec<String>,
}

/// What kind of store claims a name; segmented stores own `<name>.<segment id>` families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreKind {
    KeyValue,
    Segmented,
}

impl RocksDbTaskDb {
    /// Opens (or creates, with missing parent directories) the database in `path`, reopening
    /// every existing column family so that all stores' data survives a restart.
    pub fn open(path: &Path, config: &RocksConfig) -> Result<Self, StoreError> {
        std::fs::create_dir_all(path)
            .map_err(|source| StoreError::CreateDir { path: path.to_path_buf(), source })?;
        let open_err = |source| StoreError::Open { path: path.to_path_buf(), source };
        let cache = Cache::new_lru_cache(config.block_cache_bytes);
        let cf_options = config.column_family_options(&cache);
        let db_options = config.db_options(&cf_options);
        let created_empty = !path.join("CURRENT").exists();
        let mut cfs: BTreeSet<String> = if !created_empty {
            Db::list_cf(&db_options, path).map_err(open_err)?.into_iter().collect()
        } else {
            BTreeSet::new()
        };
        cfs.extend(RESERVED_CFS.iter().map(|s| (*s).to_owned()));
        let descriptors = cfs.iter().map(|name| ColumnFamilyDescriptor::new(name, cf_options.clone()));
        let db = Db::open_cf_descriptors(&db_options, path, descriptors).map_err(open_err)?;
        let mut write_options = WriteOptions::default();
        write_options.disable_wal(false);
        let meta = db.cf_handle(META_CF).ok_or_else(|| StoreError::Corrupt {
            store: META_CF.to_owned(),
            detail: "column family is missing".to_owned(),
        })?;
        let unflushed = db
            .get_cf(&meta, UNFLUSHED_KEY)
            .map_err(|source| StoreError::Read { store: META_CF.to_owned(), source })?
            .is_some();
        drop(meta);
        tracing::debug!(path = %path.display(), column_families = cfs.len(), unflushed, "opened task db");
        Ok(Self {
            db,
            path: path.to_path_buf(),
            cf_options,
            write_options,
            created_empty,
            state: Mutex::new(DbState { cfs, stores: HashSet::new(), pending: None, unflushed }),
        })
    }

    /// The task directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names of the column families currently in the database, sorted (reserved ones
    /// included). Window and session segments appear as `<store>.<segment id>`.
    pub fn column_families(&self) -> Vec<String> {
        self.lock().cfs.iter().cloned().collect()
    }

    /// Writes a metadata entry; joins the pending batch if one is open.
    pub fn put_meta(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let cf = self.cf(META_CF)?;
        self.write(META_CF, |batch| batch.put_cf(&cf, key, value))
    }

    /// Reads a metadata entry (committed data only).
    pub fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(META_CF, META_CF, key)
    }

    /// Whether [`RocksDbTaskDb::open`] found no database in its directory and created it.
    pub fn created_empty(&self) -> bool {
        self.created_empty
    }

    /// Whether the database holds writes made outside a batch since its last committed batch
    /// (as left by this process or, read at open, by an earlier one).
    pub fn written_since_batch(&self) -> bool {
        self.lock().unflushed
    }

    /// Starts collecting every store write and metadata write into one pending batch.
    pub fn begin_batch(&self) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.pending.is_some() {
            return Err(self.batch_state("a batch is already open"));
        }
        state.pending = Some(PendingBatch { batch: WriteBatch::default(), drops: Vec::new() });
        Ok(())
    }

    /// Whether a batch is open.
    pub fn batch_open(&self) -> bool {
        self.lock().pending.is_some()
    }

    /// Adds `meta` to the pending batch and writes it atomically: either all store writes since
    /// [`RocksDbTaskDb::begin_batch`] and all of `meta` land, or none do. Segments that expired
    /// during the batch are dropped afterwards.
    pub fn commit_batch(&self, meta: &[(Vec<u8>, Vec<u8>)]) -> Result<(), StoreError> {
        let meta_cf = self.cf(META_CF)?;
        let mut state = self.lock();
        let Some(PendingBatch { mut batch, drops }) = state.pending.take() else {
            return Err(self.batch_state("commit_batch without begin_batch"));
        };
        for (key, value) in meta {
            batch.put_cf(&meta_cf, key, value);
        }
        if state.unflushed {
            batch.delete_cf(&meta_cf, UNFLUSHED_KEY);
        }
        let written = self
            .db
            .write_opt(batch, &self.write_options)
            .map_err(|source| StoreError::CommitBatch { path: self.path.clone(), source });
        if written.is_ok() {
            state.unflushed = false;
        }
        let dropped = self.drop_now(&mut state, drops);
        written.and(dropped)
    }

    /// Discards the pending batch: none of its writes land. Stores that wrote into it hold
    /// state that no longer matches the database and must be closed and restored.
    pub fn abort_batch(&self) -> Result<(), StoreError> {
        let mut state = self.lock();
        match state.pending.take() {
            Some(pending) => self.drop_now(&mut state, pending.drops),
            None => Ok(()),
        }
    }

    // ---- crate-internal plumbing for the stores ----

    /// Reserves `name` for one open store, rejecting reserved, duplicate and ambiguous names.
    pub(crate) fn claim(&self, name: &str, kind: StoreKind) -> Result<(), StoreError> {
        let invalid = |reason| StoreError::InvalidName { store: name.to_owned(), reason };
        if name.is_empty() {
            return Err(invalid("store names must not be empty"));
        }
        if name.starts_with("__") || RESERVED_CFS.contains(&name) {
            return Err(invalid("the name is reserved"));
        }
        if kind == StoreKind::KeyValue && segment_of(name).is_some() {
            return Err(invalid(
                "key-value store names must not end in `.<integer>` (reserved for segments)",
            ));
        }
        if !self.lock().stores.insert(name.to_owned()) {
            return Err(invalid("a store with this name is already open in this task"));
        }
        Ok(())
    }

    /// Releases a name reserved with [`RocksDbTaskDb::claim`].
    pub(crate) fn release(&self, name: &str) {
        self.lock().stores.remove(name);
    }

    /// Creates the column family `name` if it does not exist.
    pub(crate) fn ensure_cf(&self, name: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.cfs.contains(name) {
            return Ok(());
        }
        self.db
            .create_cf(name, &self.cf_options)
            .map_err(|source| StoreError::CreateColumnFamily { name: name.to_owned(), source })?;
        state.cfs.insert(name.to_owned());
        Ok(())
    }

    /// Drops the column family `name`, after the pending batch if one is open (the batch may
    /// still hold writes to it).
    pub(crate) fn drop_cf(&self, name: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        if let Some(pending) = state.pending.as_mut() {
            pending.drops.push(name.to_owned());
            return Ok(());
        }
        self.drop_now(&mut state, vec![name.to_owned()])
    }

    /// Segment ids of the segmented store `store`, from its `<store>.<id>` column families.
    pub(crate) fn segment_ids(&self, store: &str) -> Vec<i64> {
        self.lock()
            .cfs
            .iter()
            .filter_map(|cf| {
                let (owner, id) = segment_of(cf)?;
                (owner == store).then_some(id)
            })
            .collect()
    }

    /// The column family handle of `name`.
    pub(crate) fn cf(&self, name: &str) -> Result<Arc<BoundColumnFamily<'_>>, StoreError> {
        self.db.cf_handle(name).ok_or_else(|| StoreError::Corrupt {
            store: name.to_owned(),
            detail: "column family is missing".to_owned(),
        })
    }

    /// The internal bookkeeping column family.
    pub(crate) fn internal_cf(&self) -> Result<Arc<BoundColumnFamily<'_>>, StoreError> {
        self.cf(INTERNAL_CF)
    }

    /// Reads an internal bookkeeping entry.
    pub(crate) fn get_internal(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(INTERNAL_CF, INTERNAL_CF, key)
    }

    /// Applies `fill`'s writes: into the pending batch if one is open, else as one write.
    pub(crate) fn write(&self, store: &str, fill: impl FnOnce(&mut WriteBatch)) -> Result<(), StoreError> {
        let mut state = self.lock();
        if let Some(pending) = state.pending.as_mut() {
            fill(&mut pending.batch);
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        fill(&mut batch);
        let marking = !state.unflushed;
        if marking {
            batch.put_cf(&self.cf(META_CF)?, UNFLUSHED_KEY, []);
        }
        self.db
            .write_opt(batch, &self.write_options)
            .map_err(|source| StoreError::Write { store: store.to_owned(), source })?;
        if marking {
            state.unflushed = true;
        }
        Ok(())
    }

    /// Reads `key` from column family `cf` on behalf of `store`.
    pub(crate) fn get(&self, store: &str, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let handle = self.cf(cf)?;
        self.db.get_cf(&handle, key).map_err(|source| StoreError::Read { store: store.to_owned(), source })
    }

    /// Iterates column family `cf` over `[lower, upper)`.
    pub(crate) fn iter(
        &self,
        store: &str,
        cf: &str,
        lower: Option<Vec<u8>>,
        upper: Option<Vec<u8>>,
    ) -> Result<KvIter<'_>, StoreError> {
        let handle = self.cf(cf)?;
        let mut read = ReadOptions::default();
        if let Some(upper) = upper {
            read.set_iterate_upper_bound(upper);
        }
        let iter = match lower {
            Some(lower) => {
                let mode = IteratorMode::From(&lower, Direction::Forward);
                self.db.iterator_cf_opt(&handle, read, mode)
            }
            None => self.db.iterator_cf_opt(&handle, read, IteratorMode::Start),
        };
        let store = store.to_owned();
        Ok(Box::new(iter.map(move |item| {
            item.map(|(k, v)| (k.into_vec(), v.into_vec()))
                .map_err(|source| StoreError::Read { store: store.clone(), source })
        })))
    }

    /// RocksDB's estimate of the keys in column family `cf`.
    pub(crate) fn estimate_num_keys(&self, store: &str, cf: &str) -> Result<u64, StoreError> {
        let handle = self.cf(cf)?;
        self.db
            .property_int_value_cf(&handle, rocksdb::properties::ESTIMATE_NUM_KEYS)
            .map(|n| n.unwrap_or(0))
            .map_err(|source| StoreError::Read { store: store.to_owned(), source })
    }

    fn drop_now(&self, state: &mut DbState, names: Vec<String>) -> Result<(), StoreError> {
        for name in names {
            if state.cfs.remove(&name) {
                self.db.drop_cf(&name).map_err(|source| StoreError::DropColumnFamily { name, source })?;
            }
        }
        Ok(())
    }

    fn batch_state(&self, detail: &'static str) -> StoreError {
        StoreError::BatchState { path: self.path.clone(), detail }
    }

    fn lock(&self) -> MutexGuard<'_, DbState> {
        // The state stays consistent across a panic in another thread: every critical section
        // either completes its update or leaves it untouched.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl std::fmt::Debug for RocksDbTaskDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbTaskDb").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Splits a segment column family name `<store>.<id>` into `(store, id)`.
fn segment_of(cf: &str) -> Option<(&str, i64)> {
    let (store, id) = cf.rsplit_once('.')?;
    Some((store, id.parse().ok()?))
}

/// The column family name of segment `id` of `store`.
pub(crate) fn segment_cf(store: &str, id: i64) -> String {
    format!("{store}.{id}")
}

/// Holds a store name claimed in a task db and releases it on drop.
pub(crate) struct StoreClaim {
    db: Arc<RocksDbTaskDb>,
    name: String,
}

impl StoreClaim {
    pub fn new(db: Arc<RocksDbTaskDb>, name: &str, kind: StoreKind) -> Result<Self, StoreError> {
        db.claim(name, kind)?;
        Ok(Self { db, name: name.to_owned() })
    }

    pub fn db(&self) -> &RocksDbTaskDb {
        &self.db
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for StoreClaim {
    fn drop(&mut self) {
        self.db.release(&self.name);
    }
}
