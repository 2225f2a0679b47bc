//! `TopologyTestDriver`: run a [`Topology`] without a broker.
//!
//! The driver runs the very [`StreamTask`]s the runtime runs: records piped into an input topic
//! are partitioned like Kafka's default partitioner would, handed to the task owning that
//! partition, and whatever the tasks produce is either fed back (repartition topics and any
//! topic the topology reads) or kept for [`TestOutputTopic`]s to read. Stores are flushed (a
//! "commit") after every piped record unless [`DriverConfig::commit_every`] says otherwise, and
//! wall-clock time only moves when the test says so.
//!
//! Global stores are built once, like an instance does; a record piped (or written) to a
//! global topic updates them at once, before any later record is processed, whatever its
//! partition, and produces nothing else.
//!
//! Watermarks (`kstreams_core::watermark`) follow the runtime's rules: at each commit every
//! task that writes a repartition topic publishes its stream time to each of its partitions,
//! and tasks reading it hold their stream time to the slowest upstream task. The driver
//! creates every task that writes a repartition topic at its first commit, as an instance
//! would, so an upstream partition that receives nothing holds stream time back until
//! wall-clock time ([`TopologyTestDriver::advance_wall_clock`]) has moved `EventTimeConfig::idle_ms`
//! past its last record, when it reports itself idle. Piping skewed input into chosen
//! partitions ([`TestInputTopic::pipe_record`]) reproduces a catch-up deterministically.
#![deny(missing_docs)]

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use kstreams_core::default_partition;
use kstreams_core::EventTimeConfig;
use kstreams_core::Serde;
use kstreams_core::TaskMetrics;
use kstreams_core::{DeserializationHandler, ProcessingHandler, StreamTask, TaskConfig, TaskId};
use kstreams_core::{GlobalStore, GlobalStores};
use kstreams_core::{Headers, OutputRecord, RawRecord, Record};
use kstreams_core::{Result, StreamsError, Topology};

/// How the driver runs.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// The application id (prefix of internal topics).
    pub application_id: String,
    /// Partition count of every topic not listed in `partitions` (default 1).
    pub default_partitions: i32,
    /// Partition counts per topic (internal topics by full name).
    pub partitions: HashMap<String, i32>,
    /// Flush the stores after this many piped records (1 = after every record).
    pub commit_every: usize,
    /// What happens to records that fail deserialization.
    pub deserialization: DeserializationHandler,
    /// What happens when processing a record fails (the default stops: `pipe` returns the
    /// error).
    pub processing: ProcessingHandler,
    /// Watermarks through repartition topics: on (the default) or off, and the idle time.
    pub event_time: EventTimeConfig,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            application_id: "test-app".into(),
            default_partitions: 1,
            partitions: HashMap::new(),
            commit_every: 1,
            deserialization: DeserializationHandler::default(),
            processing: ProcessingHandler::default(),
            event_time: EventTimeConfig::default(),
        }
    }
}

struct Inner {
    topology: Arc<Topology>,
    config: DriverConfig,
    task_config: TaskConfig,
    tasks: BTreeMap<TaskId, StreamTask>,
    /// Every topic a task reads, found with one lookup per delivered record.
    inputs: HashMap<String, InputTopic, foldhash::fast::RandomState>,
    outputs: HashMap<String, VecDeque<OutputRecord>>,
    /// Tasks that write repartition topics: they exist from the first commit on, as they
    /// would in an instance, so an upstream partition without records still reports "idle".
    watermark_writers: Vec<TaskId>,
    since_commit: usize,
    wall_clock: i64,
    _dir: tempfile::TempDir,
}

/// A topic the topology reads: its sub-topology, partition count, and the next offset of
/// each partition.
struct InputTopic {
    subtopology: u32,
    partitions: i32,
    next_offsets: Vec<i64>,
    round_robin: i32,
}

impl InputTopic {
    /// The partition of a record (given, by key, or round-robin) and its offset.
    fn place(&mut self, partition: Option<i32>, key: Option<&[u8]>) -> (i32, i64) {
        let n = self.partitions;
        let p = match (partition, key) {
            (Some(p), _) => p,
            (None, Some(k)) => default_partition(k, n),
            (None, None) => {
                self.round_robin = (self.round_robin + 1) % n;
                self.round_robin
            }
        };
        let idx = usize::try_from(p).unwrap_or(0);
        if self.next_offsets.len() <= idx {
            self.next_offsets.resize(idx + 1, 0);
        }
        self.next_offsets[idx] += 1;
        (p, self.next_offsets[idx] - 1)
    }
}

impl Inner {
    fn task(&mut self, id: TaskId) -> Result<&mut StreamTask> {
        if !self.tasks.contains_key(&id) {
            let mut task = StreamTask::new(&self.topology, id, &self.task_config)?;
            task.advance_wall_clock(self.wall_clock)?;
            self.tasks.insert(id, task);
        }
        self.tasks.get_mut(&id).ok_or_else(|| StreamsError::Topology(format!("task {id} missing")))
    }

    /// Delivers one record to its topic: to the owning task, or to the outputs.
    fn deliver(&mut self, rec: OutputRecord) -> Result<()> {
        // The queue only allocates when a record produces records the driver feeds back.
        let mut queue = VecDeque::new();
        let mut first = Some(rec);
        while let Some(rec) = first.take().or_else(|| queue.pop_front()) {
            // A topic is either read by tasks or global, never both (the topology checks).
            let Some(input) = self.inputs.get_mut(&rec.topic) else {
                if !self.task_config.global_stores.apply(
                    &rec.topic,
                    rec.key.as_deref(),
                    rec.value.as_deref(),
                )? {
                    self.outputs.entry(rec.topic.clone()).or_default().push_back(rec);
                }
                continue;
            };
            let sub = input.subtopology;
            let (partition, offset) = input.place(rec.partition, rec.key.as_deref());
            let raw = RawRecord {
                topic: rec.topic,
                partition,
                offset,
                timestamp: rec.timestamp,
                key: rec.key,
                value: rec.value,
                headers: rec.headers,
            };
            let task = self.task(TaskId { subtopology: sub, partition })?;
            task.process(&raw)?;
            queue.extend(task.drain_output());
        }
        Ok(())
    }

    fn after_input(&mut self) -> Result<()> {
        self.since_commit += 1;
        if self.since_commit >= self.config.commit_every {
            self.commit()?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        self.since_commit = 0;
        let mut produced = Vec::new();
        for task in self.tasks.values_mut() {
            task.flush(None)?;
            produced.extend(task.drain_output());
        }
        for rec in produced {
            self.deliver(rec)?;
        }
        self.publish_watermarks()
    }

    /// Delivers the watermarks due from every task.
    fn publish_watermarks(&mut self) -> Result<()> {
        for id in self.watermark_writers.clone() {
            self.task(id)?;
        }
        let mut produced = Vec::new();
        for task in self.tasks.values_mut() {
            if task.publish_watermarks() {
                produced.extend(task.drain_output());
            }
        }
        for rec in produced {
            self.deliver(rec)?;
        }
        Ok(())
    }
}

/// Runs a topology in-process, deterministically, with no broker.
///
/// Usually the topology comes from the DSL (`kstreams_dsl::StreamsBuilder`, whose tests and
/// docs show the driver at work); here it is built with the Processor API:
///
/// ```
/// use std::sync::Arc;
/// use kstreams_core::{I64Serde, StringSerde};
/// use kstreams_core::{TopicRef, Topology};
/// use kstreams_test::TopologyTestDriver;
///
/// let mut t = Topology::new();
/// let source = t.add_source(
///     "source",
///     vec![TopicRef::External("in".into())],
///     Arc::new(StringSerde),
///     Arc::new(I64Serde),
///     None,
/// )?;
/// t.add_sink("sink", TopicRef::External("out".into()), &[source], Arc::new(StringSerde), Arc::new(I64Serde))?;
/// let driver = TopologyTestDriver::new(t)?;
/// let input = driver.input_topic("in", StringSerde, I64Serde);
/// let output = driver.output_topic("out", StringSerde, I64Serde);
/// input.pipe("a".to_string(), 2, 1)?;
/// assert_eq!(output.read_key_values()?, vec![("a".to_string(), 2)]);
/// input.pipe("b".to_string(), 3, 2)?;
/// assert_eq!(driver.discard_unread(), 1); // nobody read "b"
/// assert!(output.read_key_values()?.is_empty());
/// # Ok::<(), kstreams_core::StreamsError>(())
/// ```
#[derive(Clone)]
pub struct TopologyTestDriver {
    inner: Rc<RefCell<Inner>>,
}

impl TopologyTestDriver {
    /// A driver with the default configuration.
    pub fn new(topology: Topology) -> Result<Self> {
        Self::with_config(topology, DriverConfig::default())
    }

    /// A driver with the given configuration.
    pub fn with_config(topology: Topology, config: DriverConfig) -> Result<Self> {
        let dir = tempfile::tempdir().map_err(|e| StreamsError::store("state.dir", "create", e))?;
        let partitions_of =
            |name: &str| config.partitions.get(name).copied().unwrap_or(config.default_partitions).max(1);
        let mut inputs = HashMap::default();
        let mut topic_partitions = HashMap::new();
        for sub in topology.subtopologies() {
            for t in &sub.source_topics {
                let name = t.resolve(&config.application_id);
                let input = InputTopic {
                    subtopology: sub.id,
                    partitions: partitions_of(&name),
                    next_offsets: Vec::new(),
                    round_robin: 0,
                };
                inputs.insert(name, input);
            }
            for t in sub.source_topics.iter().chain(&sub.sink_topics) {
                let name = t.resolve(&config.application_id);
                topic_partitions.insert(name.clone(), partitions_of(&name));
            }
        }
        let repartitions: Vec<String> =
            topology.repartition_topics().iter().map(|r| r.topic.resolve(&config.application_id)).collect();
        let mut watermark_writers = Vec::new();
        if config.event_time.watermarks {
            for sub in topology.subtopologies() {
                let writes =
                    sub.sink_topics.iter().any(|t| repartitions.contains(&t.resolve(&config.application_id)));
                let tasks =
                    sub.task_count(&config.application_id, |t| topic_partitions.get(t).copied()).unwrap_or(0);
                if writes {
                    watermark_writers
                        .extend((0..tasks).map(|partition| TaskId { subtopology: sub.id, partition }));
                }
            }
        }
        let task_config = TaskConfig {
            application_id: config.application_id.clone(),
            state_dir: dir.path().to_path_buf(),
            deserialization: config.deserialization.clone(),
            processing: config.processing.clone(),
            global_stores: GlobalStores::build(topology.global_stores(), &config.application_id, dir.path())?,
            store_settings: Default::default(),
            event_time: config.event_time.clone(),
            topic_partitions,
        };
        Ok(Self {
            inner: Rc::new(RefCell::new(Inner {
                topology: Arc::new(topology),
                config,
                task_config,
                tasks: BTreeMap::new(),
                inputs,
                outputs: HashMap::new(),
                watermark_writers,
                since_commit: 0,
                wall_clock: 0,
                _dir: dir,
            })),
        })
    }

    /// A typed handle to pipe records into `topic`.
    pub fn input_topic<K, V>(
        &self,
        topic: &str,
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
    ) -> TestInputTopic<K, V> {
        TestInputTopic {
            driver: self.clone(),
            topic: topic.to_string(),
            key_serde: Arc::new(key_serde),
            value_serde: Arc::new(value_serde),
        }
    }

    /// A typed handle to read what the topology wrote to `topic`.
    pub fn output_topic<K, V>(
        &self,
        topic: &str,
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
    ) -> TestOutputTopic<K, V> {
        TestOutputTopic {
            driver: self.clone(),
            topic: topic.to_string(),
            key_serde: Arc::new(key_serde),
            value_serde: Arc::new(value_serde),
        }
    }

    /// Pipes a serialized record into `topic` (partitioned by key like Kafka's default
    /// partitioner, or into `partition` if given).
    pub fn pipe_raw(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        inner.deliver(OutputRecord {
            topic: topic.to_string(),
            partition,
            key,
            value,
            timestamp,
            headers,
        })?;
        inner.after_input()
    }

    /// Moves wall-clock time forward and runs due wall-clock punctuations.
    pub fn advance_wall_clock(&self, by_ms: i64) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        inner.wall_clock += by_ms;
        let now = inner.wall_clock;
        let mut produced = Vec::new();
        for task in inner.tasks.values_mut() {
            task.advance_wall_clock(now)?;
            produced.extend(task.drain_output());
        }
        for rec in produced {
            inner.deliver(rec)?;
        }
        inner.publish_watermarks()
    }

    /// Flushes every store now (as a commit would).
    pub fn commit(&self) -> Result<()> {
        self.inner.borrow_mut().commit()
    }

    /// Every record written to `topic` and not yet read, serialized (also changelog and
    /// dead-letter topics).
    pub fn read_raw(&self, topic: &str) -> Vec<OutputRecord> {
        self.inner.borrow_mut().outputs.get_mut(topic).map(|q| q.drain(..).collect()).unwrap_or_default()
    }

    /// Drops every record written so far and not read, in every topic; returns how many.
    /// Changelog topics fill up in a long run (a benchmark) when no test reads them.
    pub fn discard_unread(&self) -> usize {
        let mut inner = self.inner.borrow_mut();
        inner.outputs.values_mut().map(|q| q.drain(..).count()).sum()
    }

    /// The counters of all tasks added up.
    pub fn metrics(&self) -> TaskMetrics {
        let inner = self.inner.borrow();
        let mut total = TaskMetrics::default();
        for t in inner.tasks.values() {
            total.add(t.metrics());
        }
        total
    }

    /// Runs `f` on every task that has a store named `name`, with a typed handle to it.
    pub fn with_store<T: 'static, R>(&self, name: &str, mut f: impl FnMut(TaskId, &mut T) -> R) -> Vec<R> {
        let inner = self.inner.borrow();
        let mut out = Vec::new();
        for (id, task) in &inner.tasks {
            if let Ok(store) = task.store::<T>(name) {
                out.push(f(*id, &mut store.borrow_mut()));
            }
        }
        out
    }

    /// Runs `f` on the global store named `name`, if the topology has one. Read it typed
    /// with [`kstreams_core::GlobalKeyValueView`].
    pub fn with_global_store<R>(&self, name: &str, f: impl FnOnce(&GlobalStore) -> R) -> Option<R> {
        let inner = self.inner.borrow();
        inner.task_config.global_stores.get(name).map(f)
    }

    /// Ids of the tasks created so far.
    pub fn task_ids(&self) -> Vec<TaskId> {
        self.inner.borrow().tasks.keys().copied().collect()
    }

    /// Flushes and closes every task.
    pub fn close(self) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        inner.commit()?;
        let tasks = std::mem::take(&mut inner.tasks);
        for (_, task) in tasks {
            task.close()?;
        }
        inner.task_config.global_stores.close()
    }
}

/// A typed input topic of a [`TopologyTestDriver`].
pub struct TestInputTopic<K, V> {
    driver: TopologyTestDriver,
    topic: String,
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
}

impl<K: 'static, V: 'static> TestInputTopic<K, V> {
    /// Pipes a record with this key, value and timestamp (ms).
    pub fn pipe(&self, key: K, value: V, timestamp: i64) -> Result<()> {
        self.pipe_record(Record::new(key, value, timestamp), None)
    }

    /// Pipes a record into a given partition.
    pub fn pipe_record(&self, record: Record<K, V>, partition: Option<i32>) -> Result<()> {
        let ser = |e: kstreams_core::SerdeError| StreamsError::Serialize {
            topic: self.topic.clone(),
            detail: e.to_string(),
        };
        let key = self.key_serde.serialize_nullable(&record.key).map_err(ser)?;
        let value = self.value_serde.serialize_nullable(&record.value).map_err(ser)?;
        self.driver.pipe_raw(&self.topic, partition, key, value, record.timestamp, record.headers)
    }

    /// Pipes several `(key, value, timestamp)` records in order.
    pub fn pipe_all(&self, records: impl IntoIterator<Item = (K, V, i64)>) -> Result<()> {
        for (k, v, ts) in records {
            self.pipe(k, v, ts)?;
        }
        Ok(())
    }
}

/// A typed output topic of a [`TopologyTestDriver`].
pub struct TestOutputTopic<K, V> {
    driver: TopologyTestDriver,
    topic: String,
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
}

impl<K: 'static, V: 'static> TestOutputTopic<K, V> {
    /// Reads (and consumes) every record written so far, in order.
    pub fn read_records(&self) -> Result<Vec<Record<K, V>>> {
        self.driver
            .read_raw(&self.topic)
            .into_iter()
            .map(|r| {
                let de = |e: kstreams_core::SerdeError| StreamsError::Deserialize {
                    topic: self.topic.clone(),
                    partition: r.partition.unwrap_or(-1),
                    offset: -1,
                    detail: e.to_string(),
                };
                Ok(Record {
                    key: self.key_serde.deserialize_nullable(r.key.as_deref()).map_err(de)?,
                    value: self.value_serde.deserialize_nullable(r.value.as_deref()).map_err(de)?,
                    timestamp: r.timestamp,
                    headers: r.headers.clone(),
                })
            })
            .collect()
    }

    /// Reads every record as `(key, value)` pairs.
    pub fn read_key_values(&self) -> Result<Vec<(K, V)>> {
        Ok(self.read_records()?.into_iter().map(|r| (r.key, r.value)).collect())
    }
}
