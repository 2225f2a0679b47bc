//! How state stores plug into tasks, without the core knowing how they are implemented.
//!
//! The `kstreams-state` crate implements stores; the core only sees them as [`StateStore`]s
//! that can be flushed, restored from changelog records and closed, and hands typed handles to
//! processors through [`crate::ProcessorContext::store`].

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use crate::collector::ChangelogWriter;
use crate::error::Result;
use crate::id::TaskId;

/// What every state store offers the task that owns it.
pub trait StateStore: 'static {
    /// The store's name, unique within a topology.
    fn name(&self) -> &str;
    /// Writes buffered state (caches) down to the store and its changelog.
    fn flush(&mut self) -> Result<()>;
    /// Applies records read back from the store's changelog topic.
    fn restore_batch(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()>;
    /// Releases resources. The store is not used afterwards.
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
    /// Approximate number of entries, for metrics.
    fn approximate_entries(&self) -> u64 {
        0
    }
}

/// A store built for one task: type-erased for the task, typed for processors, and optionally
/// with typed *views* (read-only handles of other types over the same data, such as a table's
/// values over an aggregation's accumulators) for queries.
pub struct BuiltStore {
    erased: Rc<RefCell<dyn StateStore>>,
    typed: Rc<dyn Any>,
    views: Vec<Rc<dyn Any>>,
}

impl BuiltStore {
    /// Wraps a concrete store. Processors get it back with
    /// `ctx.store::<T>(name)` as `Rc<RefCell<T>>`.
    pub fn new<T: StateStore>(store: T) -> Self {
        let rc = Rc::new(RefCell::new(store));
        let typed: Rc<dyn Any> = rc.clone();
        Self { erased: rc, typed, views: Vec::new() }
    }

    /// The typed handle of the store itself, if it is a `T` (for building views over it).
    pub fn handle<T: 'static>(&self) -> Option<Rc<RefCell<T>>> {
        self.typed.clone().downcast::<RefCell<T>>().ok()
    }

    /// Adds a view of type `V`: `ctx.store::<V>(name)` (and queries for a `V`) return it.
    pub fn with_view<V: 'static>(mut self, view: V) -> Self {
        self.views.push(Rc::new(RefCell::new(view)));
        self
    }

    /// The store as the task sees it.
    pub fn erased(&self) -> &Rc<RefCell<dyn StateStore>> {
        &self.erased
    }

    /// The typed handle, if the store is a `T` or has a view of type `T`.
    pub fn typed<T: 'static>(&self) -> Option<Rc<RefCell<T>>> {
        self.handle::<T>().or_else(|| self.views.iter().find_map(|v| v.clone().downcast::<RefCell<T>>().ok()))
    }
}

/// Groups the writes a task's stores make while they flush, e.g. into one RocksDB write
/// batch per task and commit instead of one write per entry. Registered by store builders
/// with [`TaskResources::add_flush_scope`].
///
/// A scope also keeps the task's **flush metadata** (the runtime stores there the input
/// offsets the flushed state reflects), written atomically with the flushed state and read
/// back when the task is created on the same local state.
pub trait FlushScope {
    /// Called before the task's stores flush.
    fn begin(&self) -> Result<()>;
    /// Called after every store flushed: makes their writes, and the `meta` entries, durable
    /// together.
    fn commit(&self, meta: &[(Vec<u8>, Vec<u8>)]) -> Result<()>;
    /// Called when a store failed to flush: the writes since [`FlushScope::begin`] are dropped.
    fn abort(&self);
    /// The metadata entry `key` of the last committed flush, if any.
    fn read_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Whether the local state holds writes made since the last committed flush (a write cache
    /// evicting between two commits): then the flush metadata no longer describes it.
    fn written_since_flush(&self) -> bool {
        false
    }
    /// Whether opening the stores found no local state and created it empty.
    fn created_empty(&self) -> bool {
        false
    }
}

/// Per-task resources that store builders share, such as one RocksDB database per task.
#[derive(Default)]
pub struct TaskResources {
    map: HashMap<std::any::TypeId, Box<dyn Any>>,
    scopes: Vec<std::rc::Rc<dyn FlushScope>>,
}

impl TaskResources {
    /// Returns the resource of type `T`, creating it with `init` the first time.
    pub fn get_or_try_insert<T: Clone + 'static, E>(
        &mut self,
        init: impl FnOnce() -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let id = std::any::TypeId::of::<T>();
        if let Some(found) = self.map.get(&id).and_then(|b| b.downcast_ref::<T>()) {
            return Ok(found.clone());
        }
        let value = init()?;
        self.map.insert(id, Box::new(value.clone()));
        Ok(value)
    }

    /// Whether a resource of type `T` exists.
    pub fn contains<T: 'static>(&self) -> bool {
        self.map.contains_key(&std::any::TypeId::of::<T>())
    }

    /// Registers a scope around the task's store flushes.
    pub fn add_flush_scope(&mut self, scope: std::rc::Rc<dyn FlushScope>) {
        self.scopes.push(scope);
    }

    /// The registered flush scopes.
    pub fn flush_scopes(&self) -> &[std::rc::Rc<dyn FlushScope>] {
        &self.scopes
    }

    /// Drops every resource (closing shared databases once their stores are closed).
    pub fn clear(&mut self) {
        self.scopes.clear();
        self.map.clear();
    }
}

/// What a store builder is given to build a store for one task.
pub struct StoreContext<'a> {
    /// The task the store belongs to.
    pub task_id: TaskId,
    /// The application id (prefix of internal topic names).
    pub application_id: &'a str,
    /// The task's own state directory; persistent stores live below it.
    pub task_dir: &'a Path,
    /// Where the store writes its changelog records, when logging is enabled.
    pub changelog: ChangelogWriter,
    /// Resources shared by the stores of this task.
    pub resources: &'a mut TaskResources,
    /// Memory settings from the application's configuration (cache size, RocksDB).
    pub settings: &'a crate::StoreSettings,
    /// The task's stream time, kept current by the task: window and session stores expire
    /// their segments by it (see `kstreams_state::StreamClock`).
    pub stream_time: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

/// Builds a store for each task that needs it. Shared by all tasks, hence `Send + Sync`.
pub trait StoreBuilder: Send + Sync {
    /// The store's name.
    fn name(&self) -> &str;
    /// Whether writes go to a changelog topic `<application.id>-<name>-changelog`.
    fn logging_enabled(&self) -> bool;
    /// Whether the store keeps its data on local disk across restarts (RocksDB). The runtime
    /// checkpoints only persistent stores; the others are restored from their changelog in full
    /// whenever their task starts.
    fn persistent(&self) -> bool {
        false
    }
    /// Builds the store for one task.
    fn build(&self, ctx: StoreContext<'_>) -> Result<BuiltStore>;
}

/// The changelog topic of a store.
pub fn changelog_topic(application_id: &str, store: &str) -> String {
    format!("{application_id}-{store}-changelog")
}
