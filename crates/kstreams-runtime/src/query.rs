//! Interactive queries: [`StoreQueries`] reads the local stores of a running instance from any thread.
use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use kstreams_core::{default_partition, now_ms, Serde, StreamTask, TaskId, TopicPartition, Topology};

use crate::assignment::TaskLayout;
use crate::error::{Result, RuntimeError};
use crate::hosts::HostDirectory;
use crate::state::StateHolder;

/// How long a query waits for the stream threads by default.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(10);

type Answer = std::result::Result<Box<dyn Any + Send>, String>;
type RunQuery = dyn Fn(TaskId, &StreamTask) -> Answer + Send + Sync;

/// A query on its way to a stream thread.
pub(crate) struct QueryRequest {
    store: Arc<str>,
    /// Only the task of this partition (key lookups); `None`: every task with the store.
    partition: Option<i32>,
    run: Arc<RunQuery>,
    reply: Sender<Vec<(TaskId, Answer)>>,
}

impl QueryRequest {
    /// Runs the query against the tasks of one thread and replies (once, even with no task).
    pub(crate) fn serve<'a>(self, tasks: impl Iterator<Item = &'a StreamTask>) {
        let mut answers = Vec::new();
        for task in tasks {
            let id = task.id();
            if self.partition.is_some_and(|p| p != id.partition)
                || !task.store_names().iter().any(|n| **n == *self.store)
            {
                continue;
            }
            answers.push((id, (self.run)(id, task)));
        }
        // The caller may have given up waiting; nothing to do then.
        let _ = self.reply.send(answers);
    }
}

/// Runs every query waiting for a stream thread against its tasks.
pub(crate) fn serve_pending<'a>(
    requests: &Receiver<QueryRequest>,
    tasks: impl Iterator<Item = &'a StreamTask> + Clone,
) {
    while let Ok(request) = requests.try_recv() {
        request.serve(tasks.clone());
    }
}

/// Where the threads of a started instance receive queries.
struct Routes {
    senders: Vec<Sender<QueryRequest>>,
    layout: Arc<TaskLayout>,
}

/// Queries the local stores of a [`crate::KafkaStreams`] instance from any thread. Cheap to
/// clone; get it with [`crate::KafkaStreams::queries`] (before or after `start`).
///
/// Interactive queries: read the local stores of a running instance from any thread.
///
/// Tasks (and their stores) are `!Send` and never leave their stream thread, so a query
/// travels to the stores instead: [`StoreQueries`] sends a boxed closure over a channel to
/// every stream thread; between two polls each thread runs it against the named store of each
/// of its tasks (`task.store::<T>(name)`) and replies on a channel. The caller gathers the
/// replies, waiting at most the query timeout (default 10 s): a thread that is restoring a
/// large changelog or busy with a long batch answers late.
///
/// Queries are generic over the store type `T` (e.g. `kstreams_state::KeyValueStore<K, V>`)
/// and the closure does the typed work:
///
/// ```no_run
/// # use kstreams_runtime::KafkaStreams;
/// # use kstreams_core::StringSerde;
/// # struct KeyValueStore; impl KeyValueStore { fn get(&mut self, _: &String) -> kstreams_core::Result<Option<u64>> { Ok(None) } }
/// # fn f(streams: &KafkaStreams) -> kstreams_runtime::Result<()> {
/// let queries = streams.queries(); // Clone + Send + Sync: hand it to an HTTP server
/// let key = "sensor-7".to_string();
/// let k = key.clone();
/// let count = queries.query_key::<KeyValueStore, _, _>("counts", &key, &StringSerde, move |store| {
///     store.get(&k)
/// })?; // None: the key's partition is not hosted by this instance
/// # Ok(()) }
/// ```
///
/// A key's task is found like Kafka's default partitioner places keys: murmur2 of the
/// serialized key over the partition count of the store's sub-topology. That holds for keyed
/// input produced with the default partitioner and for repartition topics.
///
/// **Which instance hosts a key.** With `application.server` set on every instance,
/// [`StoreQueries::metadata_for_key`] names the instance hosting a key's task and
/// [`StoreQueries::all_metadata`] lists every instance: the instances announce their tasks to
/// each other through the topic `<application.id>-hosts` . An instance
/// answers for itself from its own state, for the others from their latest announcements.
#[derive(Clone)]
pub struct StoreQueries {
    topology: Arc<Topology>,
    state: Arc<StateHolder>,
    application_server: Option<String>,
    hosts: Arc<HostDirectory>,
    routes: Arc<Mutex<Option<Routes>>>,
    timeout: Duration,
}

/// Where a key of a store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyQueryMetadata {
    /// The key's partition (murmur2 of the serialized key over the source partition count).
    pub partition: i32,
    /// The task holding the key.
    pub task: TaskId,
    /// Whether that task is active on this instance now.
    pub local: bool,
    /// The `application.server` of the instance hosting the task: this one's when the task is
    /// local, another's from its announcement. `None` when the setting
    /// is absent or no live instance claims the task (e.g. during a rebalance).
    pub host: Option<String>,
}

/// What one instance hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamsMetadata {
    /// Its `application.server`, if set.
    pub host: Option<String>,
    /// The stores of its active tasks.
    pub store_names: BTreeSet<String>,
    /// Its active tasks.
    pub tasks: Vec<TaskId>,
    /// The input partitions of those tasks.
    pub topic_partitions: Vec<TopicPartition>,
}

impl StoreQueries {
    pub(crate) fn new(
        topology: Arc<Topology>,
        state: Arc<StateHolder>,
        application_server: Option<String>,
        hosts: Arc<HostDirectory>,
    ) -> Self {
        Self {
            topology,
            state,
            application_server,
            hosts,
            routes: Arc::new(Mutex::new(None)),
            timeout: DEFAULT_QUERY_TIMEOUT,
        }
    }

    /// Connects the handle to the threads of a starting instance: one receiver per thread.
    pub(crate) fn attach(&self, layout: Arc<TaskLayout>, threads: usize) -> Vec<Receiver<QueryRequest>> {
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..threads).map(|_| mpsc::channel()).unzip();
        *self.routes.lock().unwrap_or_else(PoisonError::into_inner) = Some(Routes { senders, layout });
        receivers
    }

    /// This handle with another timeout for waiting on the stream threads.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs `f` against store `store` (of type `T`) of every active task of this instance
    /// that has it, and returns the answers by task. Use it for ranges and scans; merge the
    /// tasks' answers as the query needs.
    pub fn query<T: 'static, R: Send + 'static>(
        &self,
        store: &str,
        f: impl Fn(TaskId, &mut T) -> R + Send + Sync + 'static,
    ) -> Result<BTreeMap<TaskId, R>> {
        self.run::<T, R>(store, None, f)
    }

    /// Runs `f` against store `store` of the task of `partition`, if that task is active on
    /// this instance (`None` otherwise).
    pub fn query_partition<T: 'static, R: Send + 'static>(
        &self,
        store: &str,
        partition: i32,
        f: impl FnOnce(&mut T) -> R + Send + 'static,
    ) -> Result<Option<R>> {
        let once = Mutex::new(Some(f));
        let f = move |_: TaskId, s: &mut T| {
            let f = once.lock().unwrap_or_else(PoisonError::into_inner).take();
            f.map(|f| f(s))
        };
        let answers = self.run::<T, Option<R>>(store, Some(partition), f)?;
        Ok(answers.into_values().next().flatten())
    }

    /// Runs `f` against store `store` of the task holding `key`, if that task is active on
    /// this instance (`None` otherwise: see [`Self::metadata_for_key`]). `key_serde` writes the
    /// key as the store's sub-topology partitions it (its key serde), as Kafka Streams'
    /// `queryMetadataForKey` takes a key serializer.
    pub fn query_key<T: 'static, K: 'static, R: Send + 'static>(
        &self,
        store: &str,
        key: &K,
        key_serde: &dyn Serde<K>,
        f: impl FnOnce(&mut T) -> R + Send + 'static,
    ) -> Result<Option<R>> {
        let meta = self.metadata_for_key(store, key, key_serde)?;
        self.query_partition(store, meta.partition, f)
    }

    /// Which task holds `key` of `store` (written with `key_serde`), and whether it runs here.
    pub fn metadata_for_key<K: 'static>(
        &self,
        store: &str,
        key: &K,
        key_serde: &dyn Serde<K>,
    ) -> Result<KeyQueryMetadata> {
        let bytes = key_serde.serialize(key).map_err(|e| RuntimeError::Query {
            store: store.to_string(),
            task: TaskId { subtopology: 0, partition: -1 },
            detail: format!("serializing the key: {e}"),
        })?;
        let subtopology = self.subtopology_of(store)?;
        let partitions = self.with_routes(|r| {
            r.map_or(0, |r| r.layout.tasks().filter(|t| t.subtopology == subtopology).count())
        });
        if partitions == 0 {
            return Err(RuntimeError::IllegalState { operation: "locate a key", state: self.state.state() });
        }
        let partition = default_partition(&bytes, i32::try_from(partitions).unwrap_or(i32::MAX));
        let task = TaskId { subtopology, partition };
        let local = self.state.active_tasks().contains(&task);
        let host = match (&self.application_server, local) {
            (Some(me), true) => Some(me.clone()),
            (Some(me), false) => self.hosts.host_of(task, now_ms(), me),
            (None, _) => None,
        };
        Ok(KeyQueryMetadata { partition, task, local, host })
    }

    /// Every instance and what it hosts: this one first (from its own state), then, with
    /// `application.server` set, every other live instance by its latest announcement. Empty
    /// before start.
    pub fn all_metadata(&self) -> Vec<StreamsMetadata> {
        let tasks = self.state.active_tasks();
        let others = match &self.application_server {
            Some(me) => self.hosts.hosts(now_ms(), me),
            None => BTreeMap::new(),
        };
        self.with_routes(|routes| {
            let Some(routes) = routes else { return Vec::new() };
            let describe = |host: Option<String>, tasks: Vec<TaskId>| {
                let subtopologies = self.topology.subtopologies();
                let mut store_names = BTreeSet::new();
                let mut topic_partitions = Vec::new();
                for id in &tasks {
                    if let Some(sub) = subtopologies.iter().find(|s| s.id == id.subtopology) {
                        store_names.extend(sub.stores.iter().cloned());
                    }
                    topic_partitions.extend(routes.layout.partitions_of(*id).iter().cloned());
                }
                topic_partitions.sort();
                StreamsMetadata { host, store_names, tasks, topic_partitions }
            };
            let mut all = vec![describe(self.application_server.clone(), tasks.clone())];
            for (host, tasks) in others {
                // A task this instance runs is answered here, whatever an older claim says.
                let theirs: Vec<TaskId> = tasks.into_iter().filter(|t| !all[0].tasks.contains(t)).collect();
                if !theirs.is_empty() {
                    all.push(describe(Some(host), theirs));
                }
            }
            all
        })
    }

    fn with_routes<R>(&self, f: impl FnOnce(Option<&Routes>) -> R) -> R {
        f(self.routes.lock().unwrap_or_else(PoisonError::into_inner).as_ref())
    }

    fn subtopology_of(&self, store: &str) -> Result<u32> {
        self.topology
            .subtopologies()
            .iter()
            .find(|s| s.stores.iter().any(|n| n == store))
            .map(|s| s.id)
            .ok_or_else(|| RuntimeError::UnknownStore { store: store.to_string() })
    }

    fn run<T: 'static, R: Send + 'static>(
        &self,
        store: &str,
        partition: Option<i32>,
        f: impl Fn(TaskId, &mut T) -> R + Send + Sync + 'static,
    ) -> Result<BTreeMap<TaskId, R>> {
        self.subtopology_of(store)?;
        let state = self.state.state();
        if !state.is_running_or_rebalancing() {
            return Err(RuntimeError::IllegalState { operation: "query a store", state });
        }
        let name: Arc<str> = Arc::from(store);
        let store_name = name.clone();
        let run: Arc<RunQuery> = Arc::new(move |_, task: &StreamTask| {
            let handle = task.store::<T>(&store_name).map_err(|e| e.to_string())?;
            let mut store = handle.try_borrow_mut().map_err(|_| "the store is in use".to_string())?;
            let id = task.id();
            catch_unwind(AssertUnwindSafe(|| f(id, &mut *store)))
                .map(|r| Box::new(r) as Box<dyn Any + Send>)
                .map_err(|panic| format!("the query panicked: {}", kstreams_core::panic_message(&*panic)))
        });
        let (reply, answers) = mpsc::channel();
        let expected = self.with_routes(|routes| {
            let senders = routes.map_or(&[][..], |r| r.senders.as_slice());
            senders
                .iter()
                .filter(|s| {
                    let request = QueryRequest {
                        store: name.clone(),
                        partition,
                        run: run.clone(),
                        reply: reply.clone(),
                    };
                    // A stopped thread has dropped its receiver: it has no tasks to ask.
                    s.send(request).is_ok()
                })
                .count()
        });
        drop(reply);
        let started = Instant::now();
        let mut out = BTreeMap::new();
        for received in 0..expected {
            let left = self.timeout.saturating_sub(started.elapsed());
            let batch = match answers.recv_timeout(left) {
                Ok(batch) => batch,
                // Every thread that was asked stopped before answering.
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(RuntimeError::QueryTimeout {
                        store: store.to_string(),
                        missing: expected - received,
                        waited: self.timeout,
                    })
                }
            };
            for (task, answer) in batch {
                let value = answer
                    .and_then(|b| b.downcast::<R>().map_err(|_| "unexpected answer type".to_string()))
                    .map_err(|detail| RuntimeError::Query { store: store.to_string(), task, detail })?;
                out.insert(task, *value);
            }
        }
        Ok(out)
    }
}

/// Interactive queries, straight on the instance (see [`StoreQueries`] for a handle that can
/// be shared with other threads).
impl crate::KafkaStreams {
    /// Runs `f` against store `store` (of type `T`) of every active task that has it.
    pub fn query_store<T: 'static, R: Send + 'static>(
        &self,
        store: &str,
        f: impl Fn(TaskId, &mut T) -> R + Send + Sync + 'static,
    ) -> Result<BTreeMap<TaskId, R>> {
        self.queries().query(store, f)
    }

    /// Runs `f` against store `store` of the task holding `key`, if local (see
    /// [`StoreQueries::query_key`]).
    pub fn query_key<T: 'static, K: 'static, R: Send + 'static>(
        &self,
        store: &str,
        key: &K,
        key_serde: &dyn Serde<K>,
        f: impl FnOnce(&mut T) -> R + Send + 'static,
    ) -> Result<Option<R>> {
        self.queries().query_key(store, key, key_serde, f)
    }

    /// Which task holds `key` of `store`, and whether it runs here.
    pub fn metadata_for_key<K: 'static>(
        &self,
        store: &str,
        key: &K,
        key_serde: &dyn Serde<K>,
    ) -> Result<KeyQueryMetadata> {
        self.queries().metadata_for_key(store, key, key_serde)
    }

    /// Every instance of the application and what it hosts (see [`StoreQueries::all_metadata`]).
    pub fn all_metadata(&self) -> Vec<StreamsMetadata> {
        self.queries().all_metadata()
    }
}
