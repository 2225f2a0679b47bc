//! `TopologyTestDriver`: run a [`Topology`] without a broker.
//!
//! The driver runs the very [`StreamTask`]s the runtime runs: records piped into an input topic
//! are partitioned like Kafka's default partitioner would, handed to the task owning that
//! partition, and whatever the tasks produce is either fed back (repartition topics and any
//! topic the topology reads) or kept for [`TestOutputTopic`]s to read. Stores are flushed (a
//! "commit") after every piped record unless [`DriverConfig::commit_every`] says otherwise, and
//! wall-clock time only moves when the test says so (from [`DriverConfig::initial_wall_clock_ms`]).
//! As in Kafka Streams' driver, every task exists from the driver's construction: processors
//! are initialized, and a wall-clock punctuation fires on
//! [`TopologyTestDriver::advance_wall_clock`] before any record was piped.
//!
//! The topics follow Kafka's `TestInputTopic` and `TestOutputTopic`: input topics keep a time
//! that advances after each record piped without a timestamp
//! ([`TopologyTestDriver::input_topic_at`]), tombstones and null keys need no nullable serde
//! ([`TestInputTopic::pipe_tombstone`], [`TestInputTopic::pipe_value`]), and output topics are
//! read all at once or one record at a time ([`TestOutputTopic::read_record`],
//! [`TestOutputTopic::queue_size`]).
//!
//! Global stores are built once, like an instance does; a record piped (or written) to a
//! global topic updates them at once, before any later record is processed, whatever its
//! partition, and produces nothing else.
//!
//! Watermarks (`kstreams_core::watermark`) follow the runtime's rules: at each commit every
//! task that writes a repartition topic publishes its stream time to each of its partitions,
//! and tasks reading it hold their stream time to the slowest upstream task. Since every task
//! exists from the start, as in an instance, an upstream partition that receives nothing holds
//! stream time back until wall-clock time ([`TopologyTestDriver::advance_wall_clock`]) has moved
//! `EventTimeConfig::idle_ms` past its last record, when it reports itself idle. Piping skewed
//! input into chosen partitions ([`TestInputTopic::pipe_record`]) reproduces a catch-up
//! deterministically.
#![deny(missing_docs)]

mod topics;

pub use topics::{TestInputTopic, TestOutputTopic};

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
use kstreams_core::{Headers, OutputRecord, RawRecord};
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
    /// Watermarks through repartition topics: on (the default) or off, the idle time, and the
    /// far-future guard. The guard (`EventTimeConfig::max_future_ms`) is off by default here,
    /// unlike in an instance (`event.time.max.future.ms`, one hour): it compares event times
    /// with the wall clock, which in the driver is mocked and starts at
    /// [`initial_wall_clock_ms`](Self::initial_wall_clock_ms) (0), so most tests' event times
    /// would look far ahead of it. Set it to test the guard against the mocked clock.
    pub event_time: EventTimeConfig,
    /// The wall-clock time (ms) the driver starts at (Kafka's `TopologyTestDriver(topology,
    /// initialWallClockTime)`). Default 0, not the current time, so tests are reproducible.
    pub initial_wall_clock_ms: i64,
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
            initial_wall_clock_ms: 0,
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
    /// Tasks that write repartition topics: each commit makes them publish watermarks (they
    /// exist from the start, so an upstream partition without records still reports "idle").
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

    /// Takes the next unread record of `topic`.
    fn pop(&mut self, topic: &str) -> Result<OutputRecord> {
        self.outputs
            .get_mut(topic)
            .and_then(|q| q.pop_front())
            .ok_or_else(|| StreamsError::Topology(format!("empty topic `{topic}`: no record left to read")))
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
        let mut all_tasks = Vec::new();
        for sub in topology.subtopologies() {
            let tasks =
                sub.task_count(&config.application_id, |t| topic_partitions.get(t).copied()).unwrap_or(0);
            all_tasks.extend((0..tasks).map(|partition| TaskId { subtopology: sub.id, partition }));
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
        let wall_clock = config.initial_wall_clock_ms;
        let driver = Self {
            inner: Rc::new(RefCell::new(Inner {
                topology: Arc::new(topology),
                config,
                task_config,
                tasks: BTreeMap::new(),
                inputs,
                outputs: HashMap::new(),
                watermark_writers,
                since_commit: 0,
                wall_clock,
                _dir: dir,
            })),
        };
        // Every task exists from the start, as in Kafka's driver: processors are initialized
        // and their wall-clock punctuations scheduled before any record is piped.
        {
            let mut inner = driver.inner.borrow_mut();
            for id in all_tasks {
                inner.task(id)?;
            }
        }
        Ok(driver)
    }

    /// A typed handle to pipe records into `topic`. Records piped without a timestamp get
    /// the topic's time, 0 (see [`TopologyTestDriver::input_topic_at`]).
    pub fn input_topic<K, V>(
        &self,
        topic: &str,
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
    ) -> TestInputTopic<K, V> {
        self.input_topic_at(topic, key_serde, value_serde, 0, 0)
    }

    /// A typed handle to pipe records into `topic` whose time starts at `start_ms` and
    /// advances by `auto_advance_ms` after each record piped without a timestamp (Kafka's
    /// `createInputTopic(topic, ks, vs, startTimestamp, autoAdvance)`). A record piped with a
    /// timestamp does not move the topic's time.
    pub fn input_topic_at<K, V>(
        &self,
        topic: &str,
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
        start_ms: i64,
        auto_advance_ms: i64,
    ) -> TestInputTopic<K, V> {
        TestInputTopic {
            driver: self.clone(),
            topic: topic.to_string(),
            key_serde: Arc::new(key_serde),
            value_serde: Arc::new(value_serde),
            time: std::cell::Cell::new(start_ms),
            auto_advance_ms,
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
