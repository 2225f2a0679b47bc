//! Global stores: state that every instance holds in full, for every task to read.
//!
//! A global store is fed by a *global topic*: every instance reads all partitions of it, with
//! no consumer group, and the topic itself is the store's changelog (nothing else is logged).
//! Stream tasks only read a global store; the runtime's global consumer (or the test driver)
//! is its only writer, through [`GlobalStores::apply`]. Lookups see the latest value applied,
//! and applying an update never triggers processing in the stream tasks.
//!
//! Stream tasks are single-threaded and `!Send`, while one global store is shared by all the
//! stream threads of an instance, so a [`GlobalStore`] is an `Arc<Mutex<..>>` handle around a
//! byte-level [`GlobalStateStore`]. Serdes live in the typed [`GlobalKeyValueView`] on top.
//!
//! Global stores are registered with [`crate::Topology::add_global_store`]. They are not
//! nodes: they belong to no sub-topology and generate no tasks.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Result, StreamsError};
use crate::serde::Serde;
use crate::store::TaskResources;

/// A key-value store of bytes that the global consumer writes and tasks read.
pub trait GlobalStateStore: Send + 'static {
    /// The store's name, unique within a topology.
    fn name(&self) -> &str;
    /// The value stored under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Every entry, in ascending key order.
    fn all(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Applies one record of the global topic: `None` (a tombstone) deletes the key.
    fn apply(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()>;
    /// Applies records in order; a later record for the same key wins.
    fn apply_batch(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        for (k, v) in records {
            self.apply(k, v.as_deref())?;
        }
        Ok(())
    }
    /// Makes applied records durable (persistent stores).
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
    /// Releases resources. The store is not used afterwards.
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
    /// Approximate number of entries, for metrics.
    fn approximate_entries(&self) -> u64 {
        0
    }
}

/// What a global store builder is given: built once per instance, not per task.
pub struct GlobalStoreContext<'a> {
    /// The application id.
    pub application_id: &'a str,
    /// `<state.dir>/<application.id>/global`: persistent global stores live below it.
    pub global_dir: &'a Path,
    /// Resources shared by the global stores of the instance (e.g. one RocksDB database).
    pub resources: &'a mut TaskResources,
}

/// Builds a global store once per instance. Shared by all threads, hence `Send + Sync`.
pub trait GlobalStoreBuilder: Send + Sync {
    /// The store's name.
    fn name(&self) -> &str;
    /// Builds the (empty) store; it is then filled from its topic.
    fn build(&self, ctx: GlobalStoreContext<'_>) -> Result<Box<dyn GlobalStateStore>>;
}

/// A global store registered on a topology, with the topic that feeds it.
#[derive(Clone)]
pub struct GlobalStoreDef {
    /// Name of the source node, for `describe()`.
    pub source_name: String,
    /// Name of the processor node that updates the store, for `describe()`.
    pub processor_name: String,
    /// The topic read in full by every instance (always an external topic).
    pub topic: String,
    /// Builds the store.
    pub builder: Arc<dyn GlobalStoreBuilder>,
}

impl fmt::Debug for GlobalStoreDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlobalStoreDef")
            .field("store", &self.builder.name())
            .field("topic", &self.topic)
            .field("source", &self.source_name)
            .field("processor", &self.processor_name)
            .finish()
    }
}

/// A handle to one global store of an instance: cheap to clone, shared by all threads.
#[derive(Clone)]
pub struct GlobalStore {
    name: Arc<str>,
    topic: Arc<str>,
    inner: Arc<Mutex<Box<dyn GlobalStateStore>>>,
}

impl fmt::Debug for GlobalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlobalStore").field("name", &self.name).field("topic", &self.topic).finish()
    }
}

impl GlobalStore {
    /// Wraps a built store fed by `topic`.
    pub fn new(topic: &str, store: Box<dyn GlobalStateStore>) -> Self {
        Self { name: Arc::from(store.name()), topic: Arc::from(topic), inner: Arc::new(Mutex::new(store)) }
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The topic that feeds it.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    fn lock(&self, operation: &'static str) -> Result<MutexGuard<'_, Box<dyn GlobalStateStore>>> {
        self.inner.lock().map_err(|_| {
            StreamsError::store(self.name.as_ref(), operation, "a thread panicked while writing the store")
        })
    }

    /// The current value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.lock("get")?.get(key)
    }

    /// Every entry, in ascending key order.
    pub fn all(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.lock("all")?.all()
    }

    /// Applies one record of the global topic (`None` deletes).
    pub fn apply(&self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        self.lock("apply")?.apply(key, value)
    }

    /// Applies records in order, holding the lock once.
    pub fn apply_batch(&self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        self.lock("apply")?.apply_batch(records)
    }

    /// Approximate number of entries.
    pub fn approximate_entries(&self) -> u64 {
        self.lock("count").map(|s| s.approximate_entries()).unwrap_or(0)
    }

    /// Flushes the store.
    pub fn flush(&self) -> Result<()> {
        self.lock("flush")?.flush()
    }

    /// Closes the store.
    pub fn close(&self) -> Result<()> {
        self.lock("close")?.close()
    }
}

/// The global stores of one instance, built once and shared by every task and thread.
///
/// Empty by default: a topology without global stores needs nothing.
#[derive(Clone, Default)]
pub struct GlobalStores {
    stores: Arc<BTreeMap<String, GlobalStore>>,
}

impl fmt::Debug for GlobalStores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.stores.keys()).finish()
    }
}

impl GlobalStores {
    /// The directory of an instance's persistent global stores:
    /// `<state_dir>/<application_id>/global`.
    pub fn dir(state_dir: &Path, application_id: &str) -> PathBuf {
        state_dir.join(application_id).join("global")
    }

    /// Builds the global stores `defs` (a topology's [`crate::Topology::global_stores`]),
    /// empty. Global stores keep no checkpoint: they are filled from their topics from the
    /// beginning on every start, so local state left by an earlier run is wiped first.
    pub fn build(defs: &[GlobalStoreDef], application_id: &str, state_dir: &Path) -> Result<Self> {
        if defs.is_empty() {
            return Ok(Self::default());
        }
        let dir = Self::dir(state_dir, application_id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| StreamsError::store(dir.display().to_string(), "wipe", e))?;
        }
        let mut resources = TaskResources::default();
        let mut stores = BTreeMap::new();
        for def in defs {
            let built = def.builder.build(GlobalStoreContext {
                application_id,
                global_dir: &dir,
                resources: &mut resources,
            })?;
            stores.insert(def.builder.name().to_string(), GlobalStore::new(&def.topic, built));
        }
        Ok(Self { stores: Arc::new(stores) })
    }

    /// True when there are no global stores.
    pub fn is_empty(&self) -> bool {
        self.stores.is_empty()
    }

    /// The store named `name`.
    pub fn get(&self, name: &str) -> Option<&GlobalStore> {
        self.stores.get(name)
    }

    /// Every store, by name.
    pub fn iter(&self) -> impl Iterator<Item = &GlobalStore> {
        self.stores.values()
    }

    /// The topics feeding the stores, sorted, without duplicates.
    pub fn topics(&self) -> Vec<String> {
        let mut t: Vec<String> = self.stores.values().map(|s| s.topic().to_string()).collect();
        t.sort();
        t.dedup();
        t
    }

    /// Applies a record of `topic` to the stores it feeds. Records without a key are skipped,
    /// as Kafka Streams' table sources do. Returns whether `topic` is a global topic.
    pub fn apply(&self, topic: &str, key: Option<&[u8]>, value: Option<&[u8]>) -> Result<bool> {
        let mut found = false;
        for store in self.stores.values().filter(|s| s.topic() == topic) {
            found = true;
            if let Some(k) = key {
                store.apply(k, value)?;
            }
        }
        Ok(found)
    }

    /// Applies keyed records of `topic` in order.
    pub fn apply_batch(&self, topic: &str, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        for store in self.stores.values().filter(|s| s.topic() == topic) {
            store.apply_batch(records)?;
        }
        Ok(())
    }

    /// Flushes every store.
    pub fn flush(&self) -> Result<()> {
        self.stores.values().try_for_each(GlobalStore::flush)
    }

    /// Closes every store.
    pub fn close(&self) -> Result<()> {
        self.stores.values().try_for_each(GlobalStore::close)
    }
}

/// A typed, read-only view of a global key-value store.
pub struct GlobalKeyValueView<K, V> {
    store: GlobalStore,
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
}

impl<K, V> Clone for GlobalKeyValueView<K, V> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
        }
    }
}

impl<K: 'static, V: 'static> GlobalKeyValueView<K, V> {
    /// Reads `store` with these serdes.
    pub fn new(store: GlobalStore, key_serde: Arc<dyn Serde<K>>, value_serde: Arc<dyn Serde<V>>) -> Self {
        Self { store, key_serde, value_serde }
    }

    /// The underlying byte store.
    pub fn store(&self) -> &GlobalStore {
        &self.store
    }

    /// The current value of `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        let name = self.store.name();
        let k = self.key_serde.serialize(key).map_err(|e| StreamsError::store(name, "get", e))?;
        match self.store.get(&k)? {
            Some(bytes) => Ok(Some(
                self.value_serde.deserialize(&bytes).map_err(|e| StreamsError::store(name, "get", e))?,
            )),
            None => Ok(None),
        }
    }

    /// Every entry, in the byte order of the encoded keys.
    pub fn all(&self) -> Result<Vec<(K, V)>> {
        let name = self.store.name();
        self.store
            .all()?
            .into_iter()
            .map(|(k, v)| {
                Ok((
                    self.key_serde.deserialize(&k).map_err(|e| StreamsError::store(name, "all", e))?,
                    self.value_serde.deserialize(&v).map_err(|e| StreamsError::store(name, "all", e))?,
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Map(BTreeMap<Vec<u8>, Vec<u8>>);

    impl GlobalStateStore for Map {
        fn name(&self) -> &str {
            "g"
        }
        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
            Ok(self.0.get(key).cloned())
        }
        fn all(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
            Ok(self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        }
        fn apply(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
            match value {
                Some(v) => self.0.insert(key.to_vec(), v.to_vec()),
                None => self.0.remove(key),
            };
            Ok(())
        }
    }

    struct MapBuilder;

    impl GlobalStoreBuilder for MapBuilder {
        fn name(&self) -> &str {
            "g"
        }
        fn build(&self, _ctx: GlobalStoreContext<'_>) -> Result<Box<dyn GlobalStateStore>> {
            Ok(Box::new(Map(BTreeMap::new())))
        }
    }

    fn stores() -> (GlobalStores, std::path::PathBuf) {
        let mut t = crate::Topology::new();
        t.add_global_store("src", "topic", "proc", Arc::new(MapBuilder)).expect("registers");
        let dir = std::env::temp_dir().join(format!("kstreams-global-{}", std::process::id()));
        (GlobalStores::build(t.global_stores(), "app", &dir).expect("builds"), dir)
    }

    #[test]
    fn apply_updates_deletes_and_skips_null_keys() {
        let (g, dir) = stores();
        assert_eq!(g.topics(), vec!["topic".to_string()]);
        assert!(g.apply("topic", Some(b"k"), Some(b"v")).expect("applies"));
        assert!(g.apply("topic", None, Some(b"ignored")).expect("applies"));
        assert!(!g.apply("other", Some(b"k"), Some(b"x")).expect("not global"));
        let store = g.get("g").expect("store g");
        assert_eq!(store.all().expect("all"), vec![(b"k".to_vec(), b"v".to_vec())]);
        g.apply("topic", Some(b"k"), None).expect("tombstone");
        assert_eq!(store.get(b"k").expect("get"), None);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn global_stores_make_no_tasks_and_are_described_apart() {
        let mut t = crate::Topology::new();
        t.add_global_store("src", "topic", "proc", Arc::new(MapBuilder)).expect("registers");
        assert!(t.subtopologies().is_empty());
        let text = t.describe().to_string();
        assert!(text.contains("Sub-topology: 0 for global store (will not generate tasks)"), "{text}");
        assert!(t.add_global_store("src2", "topic", "proc2", Arc::new(MapBuilder)).is_err(), "same store");
    }
}
