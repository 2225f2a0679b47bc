//! Tasks: one instance of a sub-topology for one input partition.
//!
//! The runtime and the test driver both run exactly this code: they build a [`StreamTask`]
//! from the [`Topology`], feed it [`RawRecord`]s, and drain the serialized records it produces.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use crate::collector::{ChangelogWriter, RecordCollector, SharedCollector};
use crate::error::{Result, SerdeError, StreamsError};
use crate::global::{GlobalStore, GlobalStores};
use crate::metrics::TaskMetrics;
use crate::processor::{BuildContext, ErasedInput, NodeLifecycle, NodeMeta, PunctuationType, RawInput};
use crate::record::{Origin, OutputRecord, RawRecord};
use crate::store::{changelog_topic, BuiltStore, StoreContext, TaskResources};
use crate::topology::Topology;
use crate::watermark::{EventTimeConfig, WatermarkInputs, WatermarkOutputs, WATERMARK_HEADER};

/// A task's identity: `<sub-topology>_<partition>`, as in Kafka Streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    /// The sub-topology the task runs.
    pub subtopology: u32,
    /// The input partition it owns.
    pub partition: i32,
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.subtopology, self.partition)
    }
}

/// A user decision on a record that failed deserialization: `true` continues, `false` fails.
pub type CustomHandler = Arc<dyn Fn(&RawRecord, &SerdeError) -> bool + Send + Sync>;

/// What a record that cannot be deserialized becomes.
#[derive(Clone, Default)]
pub enum DeserializationHandler {
    /// Log a warning, count it, skip the record (the default, as a bad reading must not stop
    /// the pipeline; the metric shows it).
    #[default]
    LogAndContinue,
    /// Stop processing with an error naming the topic, partition and offset.
    Fail,
    /// Send the original bytes and headers to this topic, with headers naming the error and
    /// the record's origin, then continue.
    DeadLetter {
        /// The dead-letter topic.
        topic: String,
    },
    /// Ask a function: `true` continues, `false` fails.
    Custom(CustomHandler),
}

impl fmt::Debug for DeserializationHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LogAndContinue => f.write_str("LogAndContinue"),
            Self::Fail => f.write_str("Fail"),
            Self::DeadLetter { topic } => write!(f, "DeadLetter({topic})"),
            Self::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// A user decision on a record whose processing failed: `true` continues, `false` fails.
pub type CustomProcessingHandler = Arc<dyn Fn(&RawRecord, &StreamsError) -> bool + Send + Sync>;

/// What happens when processing a record fails: a processor returned an error, or user code
/// panicked (Kafka Streams' `processing.exception.handler`). Store, topology and
/// serialization failures always stop the task: skipping them would lose state silently.
///
/// Continuing keeps whatever the record changed before the failure (a store update, a record
/// already forwarded downstream), as in Kafka Streams.
#[derive(Clone, Default)]
pub enum ProcessingHandler {
    /// Stop processing with an error naming the processor, topic, partition and offset (the
    /// default).
    #[default]
    Fail,
    /// Log a warning, count it, skip the rest of the record's processing.
    LogAndContinue,
    /// Send the original bytes and headers to this topic, with headers naming the error and
    /// the record's origin, then continue.
    DeadLetter {
        /// The dead-letter topic.
        topic: String,
    },
    /// Ask a function: `true` continues, `false` fails.
    Custom(CustomProcessingHandler),
}

impl fmt::Debug for ProcessingHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fail => f.write_str("Fail"),
            Self::LogAndContinue => f.write_str("LogAndContinue"),
            Self::DeadLetter { topic } => write!(f, "DeadLetter({topic})"),
            Self::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// Header names put on dead-lettered records.
pub mod dead_letter_headers {
    /// The deserialization error message.
    pub const ERROR: &str = "kstreams.error";
    /// The source topic.
    pub const TOPIC: &str = "kstreams.source.topic";
    /// The source partition (decimal text).
    pub const PARTITION: &str = "kstreams.source.partition";
    /// The source offset (decimal text).
    pub const OFFSET: &str = "kstreams.source.offset";
}

/// Settings a task is built with.
#[derive(Debug, Clone)]
pub struct TaskConfig {
    /// The application id.
    pub application_id: String,
    /// Root of the state directories: a task keeps its stores in
    /// `<state_dir>/<application_id>/<task_id>`.
    pub state_dir: PathBuf,
    /// What to do with records that fail deserialization.
    pub deserialization: DeserializationHandler,
    /// What to do when processing a record fails.
    pub processing: ProcessingHandler,
    /// The instance's global stores, readable by every task (empty when the topology has
    /// none). Built once per instance with [`GlobalStores::build`].
    pub global_stores: GlobalStores,
    /// Memory settings handed to the store builders (defaults: each store's own).
    pub store_settings: crate::store_settings::StoreSettings,
    /// Watermark settings (see [`crate::watermark`]).
    pub event_time: EventTimeConfig,
    /// Partition counts of the topics the topology reads and writes, by resolved name. Tasks
    /// need those of repartition topics and of their writers' inputs to publish and follow
    /// watermarks; a topic missing here gets no watermarks.
    pub topic_partitions: HashMap<String, i32>,
}

impl TaskConfig {
    /// The directory of one task's stores.
    pub fn task_dir(&self, id: TaskId) -> PathBuf {
        self.state_dir.join(&self.application_id).join(id.to_string())
    }
}

/// The lifecycle of a task.
///
/// ```text
///   Created ──► Restoring ──► Running ──► Suspended ──► Closed
///      │            │  ▲         │            │
///      │            │  └─────────┼────────────┘ (re-assigned)
///      └────────────┴────────────┴──────────────────► Closed
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Built, stores opened, nothing restored yet.
    Created,
    /// Replaying changelogs into the stores.
    Restoring,
    /// Processing records.
    Running,
    /// Revoked but kept open, in case the partition comes back.
    Suspended,
    /// Closed; the task is not used again.
    Closed,
}

impl TaskState {
    /// Whether the lifecycle allows going from `self` to `next`.
    pub fn can_transition_to(self, next: TaskState) -> bool {
        use TaskState::*;
        matches!(
            (self, next),
            (Created, Restoring)
                | (Created, Running)
                | (Created, Closed)
                | (Restoring, Running)
                | (Restoring, Suspended)
                | (Restoring, Closed)
                | (Running, Suspended)
                | (Running, Closed)
                | (Suspended, Restoring)
                | (Suspended, Running)
                | (Suspended, Closed)
        )
    }
}

struct Schedule {
    node: usize,
    interval: i64,
    kind: PunctuationType,
    next: Option<i64>,
}

/// The part of a task that every node sees while it runs.
pub struct TaskShared {
    task_id: TaskId,
    application_id: Rc<str>,
    /// Highest timestamp seen.
    observed: i64,
    /// Minimum watermark of the active upstream tasks (`None`: unbounded).
    bound: Option<i64>,
    /// The stream time, `max(previous, min(observed, bound))`: what windows close on. Shared
    /// with the task's stores, which expire segments by it.
    clock: Arc<std::sync::atomic::AtomicI64>,
    wall_clock: i64,
    stores: HashMap<String, BuiltStore>,
    collector: SharedCollector,
    metrics: TaskMetrics,
    origin: Option<Origin>,
    schedules: Vec<Schedule>,
    deserialization: DeserializationHandler,
    task_name: Rc<str>,
    globals: GlobalStores,
}

impl TaskShared {
    /// The task's id.
    pub fn task_id(&self) -> TaskId {
        self.task_id
    }

    /// The application id.
    pub fn application_id(&self) -> &str {
        &self.application_id
    }

    /// The task's stream time: the highest record timestamp seen so far, held back (when
    /// the task reads repartition topics) to the slowest active upstream task's watermark
    /// (`i64::MIN` before the first record). Windows close and records are late by this time.
    pub fn stream_time(&self) -> i64 {
        self.clock.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The wall-clock time the task was last given.
    pub fn wall_clock_time(&self) -> i64 {
        self.wall_clock
    }

    /// Notes a record timestamp; stream time advances to it if it is later and no upstream
    /// watermark holds it back.
    pub fn observe_timestamp(&mut self, timestamp: i64) {
        if timestamp > self.observed {
            self.observed = timestamp;
            self.advance_stream_time();
        }
    }

    fn set_bound(&mut self, bound: Option<i64>) {
        self.bound = bound;
        self.advance_stream_time();
    }

    /// Moves stream time to `min(observed, bound)` if that is later.
    fn advance_stream_time(&mut self) {
        let t = self.bound.map_or(self.observed, |b| self.observed.min(b));
        if t > self.stream_time() {
            self.clock.store(t, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Where the current record came from.
    pub fn origin(&self) -> Option<&Origin> {
        self.origin.as_ref()
    }

    /// The task's collector.
    pub fn collector(&self) -> &SharedCollector {
        &self.collector
    }

    /// The task's counters.
    pub fn metrics(&self) -> &TaskMetrics {
        &self.metrics
    }

    /// The task's counters, mutable.
    pub fn metrics_mut(&mut self) -> &mut TaskMetrics {
        &mut self.metrics
    }

    /// The task id as text, for logs and metric labels.
    pub fn task_name(&self) -> &str {
        &self.task_name
    }

    /// A typed store handle.
    pub fn store<T: 'static>(&self, name: &str) -> Result<Rc<RefCell<T>>> {
        let built = self.stores.get(name).ok_or_else(|| {
            StreamsError::Topology(format!("store `{name}` is not part of task {}", self.task_id))
        })?;
        built.typed::<T>().ok_or_else(|| {
            StreamsError::Topology(format!("store `{name}` is not a {}", std::any::type_name::<T>()))
        })
    }

    /// A handle to a global store of the instance (read-only for tasks).
    pub fn global_store(&self, name: &str) -> Result<GlobalStore> {
        self.globals.get(name).cloned().ok_or_else(|| {
            StreamsError::Topology(format!(
                "global store `{name}` is not available to task {}: it is not registered on the topology, \
                 or the global stores were not built (TaskConfig::global_stores)",
                self.task_id
            ))
        })
    }

    /// Counts a late record dropped by `processor`.
    pub fn record_late(&mut self, processor: &str) {
        let task = self.task_name.clone();
        self.metrics.record_late(&task, processor);
    }

    pub(crate) fn schedule(&mut self, node: usize, interval: i64, kind: PunctuationType) {
        let next = match kind {
            PunctuationType::StreamTime => None,
            PunctuationType::WallClockTime => Some(self.wall_clock.saturating_add(interval)),
        };
        self.schedules.push(Schedule { node, interval, kind, next });
    }

    /// Sends `raw` (original key, value and headers) to the dead-letter `topic`, with headers
    /// naming `error` and the record's origin.
    fn dead_letter(&mut self, raw: &RawRecord, topic: &str, error: &str) {
        use dead_letter_headers as h;
        let mut headers = raw.headers.clone();
        headers.add(h::ERROR, error.as_bytes());
        headers.add(h::TOPIC, raw.topic.as_bytes());
        headers.add(h::PARTITION, raw.partition.to_string());
        headers.add(h::OFFSET, raw.offset.to_string());
        self.collector.borrow_mut().send(OutputRecord {
            topic: topic.to_string(),
            partition: None,
            key: raw.key.clone(),
            value: raw.value.clone(),
            timestamp: raw.timestamp,
            headers,
        });
        self.metrics.dead_lettered += 1;
    }

    /// Applies the deserialization handler to a record that failed to decode.
    pub fn on_deserialization_error(
        &mut self,
        raw: &RawRecord,
        part: &str,
        error: &SerdeError,
    ) -> Result<()> {
        let task = self.task_name.clone();
        self.metrics.record_deserialization_error(&task, &raw.topic);
        let detail = format!("{part}: {error}");
        match &self.deserialization {
            DeserializationHandler::LogAndContinue => {
                tracing::warn!(
                    task = %self.task_id, topic = %raw.topic, partition = raw.partition, offset = raw.offset,
                    "skipping record that failed deserialization: {detail}"
                );
                Ok(())
            }
            DeserializationHandler::Fail => Err(StreamsError::Deserialize {
                topic: raw.topic.clone(),
                partition: raw.partition,
                offset: raw.offset,
                detail,
            }),
            DeserializationHandler::DeadLetter { topic } => {
                tracing::warn!(
                    task = %self.task_id, topic = %raw.topic, partition = raw.partition, offset = raw.offset,
                    dead_letter_topic = %topic, "record failed deserialization, sent to dead-letter topic: {detail}"
                );
                let topic = topic.clone();
                self.dead_letter(raw, &topic, &detail);
                Ok(())
            }
            DeserializationHandler::Custom(f) => {
                if f(raw, error) {
                    Ok(())
                } else {
                    Err(StreamsError::Deserialize {
                        topic: raw.topic.clone(),
                        partition: raw.partition,
                        offset: raw.offset,
                        detail,
                    })
                }
            }
        }
    }

    /// Counts and logs a record dropped for a negative timestamp.
    pub fn on_invalid_timestamp(&mut self, raw: &RawRecord, timestamp: i64) {
        self.metrics.invalid_timestamps += 1;
        tracing::warn!(
            task = %self.task_id, topic = %raw.topic, partition = raw.partition, offset = raw.offset,
            "skipping record with invalid (negative) timestamp {timestamp}"
        );
    }
}

/// A source topic's shared name, the source node reading it, and whether it carries
/// watermarks.
type SourceEntry = (Rc<str>, Rc<RefCell<dyn RawInput>>, bool);

/// One running instance of a sub-topology.
pub struct StreamTask {
    shared: TaskShared,
    sources: HashMap<String, SourceEntry>,
    lifecycles: HashMap<usize, Rc<RefCell<dyn NodeLifecycle>>>,
    state: TaskState,
    resources: TaskResources,
    changelogs: Vec<(String, String)>,
    changelog_headers: Rc<RefCell<crate::record::Headers>>,
    next_stream_punctuation: i64,
    watermarks_in: WatermarkInputs,
    watermarks_out: WatermarkOutputs,
    processing: ProcessingHandler,
}

impl StreamTask {
    /// Builds task `id` of `topology`: instantiates the sub-topology's nodes and stores, then
    /// initializes the nodes.
    pub fn new(topology: &Topology, id: TaskId, config: &TaskConfig) -> Result<Self> {
        let sub = topology
            .subtopologies()
            .into_iter()
            .find(|s| s.id == id.subtopology)
            .ok_or_else(|| StreamsError::Topology(format!("no sub-topology {}", id.subtopology)))?;
        let collector: SharedCollector = Rc::new(RefCell::new(RecordCollector::default()));
        let app: Rc<str> = Rc::from(config.application_id.as_str());
        let task_dir = config.task_dir(id);

        let mut resources = TaskResources::default();
        let mut stores = HashMap::new();
        let mut changelogs = Vec::new();
        let changelog_headers: Rc<RefCell<crate::record::Headers>> = Rc::default();
        let clock = Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN));
        for name in &sub.stores {
            let builder = topology
                .stores()
                .get(name)
                .ok_or_else(|| StreamsError::Topology(format!("unknown store `{name}`")))?;
            let topic = builder.logging_enabled().then(|| changelog_topic(&config.application_id, name));
            if let Some(t) = &topic {
                changelogs.push((name.clone(), t.clone()));
            }
            let ctx = StoreContext {
                task_id: id,
                application_id: &config.application_id,
                task_dir: &task_dir,
                changelog: ChangelogWriter::new(
                    collector.clone(),
                    topic,
                    id.partition,
                    changelog_headers.clone(),
                ),
                resources: &mut resources,
                settings: &config.store_settings,
                stream_time: clock.clone(),
            };
            stores.insert(name.clone(), builder.build(ctx)?);
        }

        let mut inputs: HashMap<usize, ErasedInput> = HashMap::new();
        let mut sources = HashMap::new();
        let mut lifecycles = HashMap::new();
        for &i in sub.nodes.iter().rev() {
            let def = &topology.nodes()[i];
            let children: Vec<ErasedInput> = topology
                .children(i)
                .into_iter()
                .map(|c| {
                    inputs.get(&c).cloned().ok_or_else(|| {
                        StreamsError::Topology(format!(
                            "child #{c} of `{}` is in another sub-topology",
                            def.name
                        ))
                    })
                })
                .collect::<Result<_>>()?;
            let built = def.factory.build(BuildContext {
                meta: NodeMeta { name: Rc::from(def.name.as_str()), index: i },
                children: &children,
                application_id: &config.application_id,
            })?;
            if let Some(input) = built.input {
                inputs.insert(i, input);
            }
            if let Some(raw) = built.raw {
                if let crate::topology::NodeKind::Source { topics } = &def.kind {
                    for t in topics {
                        let name = t.resolve(&config.application_id);
                        sources.insert(name.clone(), (Rc::from(name.as_str()), raw.clone(), false));
                    }
                }
            }
            if let Some(l) = built.lifecycle {
                lifecycles.insert(i, l);
            }
        }

        let (watermarks_in, watermarks_out) = watermark_topics(topology, &sub, config);
        tracing::debug!(task = %id, follows = ?watermarks_in.topic_names(), publishes = ?watermarks_out.topics,
            "watermarks");
        for (topic, (_, _, watermarked)) in sources.iter_mut() {
            *watermarked = watermarks_in.tracks(topic);
        }
        let shared = TaskShared {
            task_id: id,
            application_id: app,
            observed: i64::MIN,
            // Upstream tasks not heard from yet hold stream time back from the start.
            bound: watermarks_in.bound(),
            clock,
            wall_clock: 0,
            stores,
            collector,
            metrics: TaskMetrics::default(),
            origin: None,
            schedules: Vec::new(),
            deserialization: config.deserialization.clone(),
            task_name: Rc::from(id.to_string().as_str()),
            globals: config.global_stores.clone(),
        };
        let mut task = Self {
            shared,
            sources,
            lifecycles,
            state: TaskState::Created,
            resources,
            changelogs,
            changelog_headers,
            next_stream_punctuation: i64::MAX,
            watermarks_in,
            watermarks_out,
            processing: config.processing.clone(),
        };
        let mut order: Vec<usize> = task.lifecycles.keys().copied().collect();
        order.sort_unstable();
        for i in order {
            let node = task.lifecycles[&i].clone();
            node.borrow_mut().init(&mut task.shared)?;
        }
        Ok(task)
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.shared.task_id
    }

    /// The lifecycle state.
    pub fn state(&self) -> TaskState {
        self.state
    }

    /// Moves to `next`, failing if the lifecycle does not allow it.
    pub fn transition_to(&mut self, next: TaskState) -> Result<()> {
        if !self.state.can_transition_to(next) {
            return Err(StreamsError::Topology(format!(
                "task {}: illegal transition {:?} -> {next:?}",
                self.id(),
                self.state
            )));
        }
        self.state = next;
        Ok(())
    }

    /// The topics (resolved) this task reads.
    pub fn source_topics(&self) -> Vec<String> {
        let mut t: Vec<String> = self.sources.keys().cloned().collect();
        t.sort();
        t
    }

    /// `(store, changelog topic)` for each logged store of the task.
    pub fn changelogs(&self) -> &[(String, String)] {
        &self.changelogs
    }

    /// Processes one record read from `raw.topic`. A watermark control record (see
    /// [`crate::watermark`]) updates the task's view of its upstream tasks and reaches no node.
    pub fn process(&mut self, raw: &RawRecord) -> Result<()> {
        let (topic, source, watermarked) = self.sources.get(raw.topic.as_str()).ok_or_else(|| {
            StreamsError::Topology(format!("task {} does not read topic `{}`", self.id(), raw.topic))
        })?;
        if *watermarked {
            if let Some(writer) = raw.headers.last(WATERMARK_HEADER) {
                return self.on_watermark(raw, writer);
            }
        }
        let source = source.clone();
        self.shared.origin =
            Some(Origin { topic: topic.clone(), partition: raw.partition, offset: raw.offset });
        self.shared.metrics.records_processed += 1;
        self.watermarks_out.last_data_at = Some(self.shared.wall_clock);
        // User code runs in here: a panic is a processing failure like a returned error,
        // handed to the processing handler instead of unwinding through the stream thread.
        let processed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            source.borrow_mut().process_raw(raw, &mut self.shared)
        }))
        .unwrap_or_else(|panic| {
            let text = crate::error::panic_message(&*panic);
            Err(StreamsError::Process { node: "(user code)".into(), detail: format!("panicked: {text}") })
        });
        self.shared.origin = None;
        if let Err(e) = processed {
            self.on_processing_error(raw, e)?;
        }
        if self.shared.stream_time() >= self.next_stream_punctuation || self.has_unstarted_stream_schedules()
        {
            self.punctuate(PunctuationType::StreamTime, self.shared.stream_time())?;
        }
        Ok(())
    }

    /// Applies the processing handler to `error`, raised while processing `raw`.
    fn on_processing_error(&mut self, raw: &RawRecord, error: StreamsError) -> Result<()> {
        let StreamsError::Process { node, detail } = error else { return Err(error) };
        let at = format!("{}-{}@{}", raw.topic, raw.partition, raw.offset);
        let error = StreamsError::Process { node, detail: format!("{detail} (record {at})") };
        let pass = match &self.processing {
            ProcessingHandler::Fail => false,
            ProcessingHandler::LogAndContinue | ProcessingHandler::DeadLetter { .. } => true,
            ProcessingHandler::Custom(f) => f(raw, &error),
        };
        if !pass {
            return Err(error);
        }
        let task = self.shared.task_name.clone();
        self.shared.metrics.record_processing_error(&task, &raw.topic);
        match &self.processing {
            ProcessingHandler::DeadLetter { topic } => {
                tracing::warn!(task = %self.id(), record = %at, dead_letter_topic = %topic,
                    "processing failed, record sent to the dead-letter topic: {error}");
                self.shared.dead_letter(raw, topic, &error.to_string());
            }
            _ => {
                tracing::warn!(task = %self.id(), record = %at, "processing failed, skipping the record: {error}")
            }
        }
        Ok(())
    }

    fn on_watermark(&mut self, raw: &RawRecord, writer: &[u8]) -> Result<()> {
        let writer = std::str::from_utf8(writer).ok().and_then(|w| w.parse::<i32>().ok());
        let value = raw.value.as_deref().and_then(crate::watermark::decode);
        let (Some(writer), Some((watermark, idle))) = (writer, value) else {
            self.shared.metrics.dropped_records += 1;
            tracing::warn!(
                task = %self.id(), topic = %raw.topic, partition = raw.partition, offset = raw.offset,
                "skipping a malformed watermark record"
            );
            return Ok(());
        };
        self.watermarks_in.observe(&raw.topic, writer, watermark, idle);
        self.refresh_stream_time().map(|_| ())
    }

    /// Re-reads the upstream watermarks; runs stream-time punctuations if stream time moved.
    fn refresh_stream_time(&mut self) -> Result<bool> {
        let before = self.shared.stream_time();
        let bound = self.watermarks_in.bound();
        self.shared.set_bound(bound);
        if self.shared.stream_time() > before
            && (self.shared.stream_time() >= self.next_stream_punctuation
                || self.has_unstarted_stream_schedules())
        {
            return self.punctuate(PunctuationType::StreamTime, self.shared.stream_time());
        }
        Ok(false)
    }

    /// Writes this task's watermark to every partition of the repartition topics it writes,
    /// if it changed (or as a periodic heartbeat). The runtime calls this at each commit and
    /// every `watermark.interval.ms`; the test driver at each of its commits. Returns whether
    /// anything was written.
    pub fn publish_watermarks(&mut self) -> bool {
        let Some((watermark, idle)) =
            self.watermarks_out.due(self.shared.stream_time(), self.shared.wall_clock)
        else {
            return false;
        };
        let value = crate::watermark::encode(watermark, idle);
        let writer = self.shared.task_id.partition.to_string();
        let mut collector = self.shared.collector.borrow_mut();
        for (topic, partitions) in &self.watermarks_out.topics {
            for p in 0..*partitions {
                let mut headers = crate::record::Headers::new();
                headers.add(WATERMARK_HEADER, writer.as_bytes());
                collector.send(OutputRecord {
                    topic: topic.clone(),
                    partition: Some(p),
                    key: None,
                    value: Some(value.clone()),
                    timestamp: watermark.max(0),
                    headers,
                });
            }
        }
        true
    }

    /// Tells the task whether the runtime paused its input (a paused task does not call
    /// itself idle in its watermarks).
    pub fn set_paused(&mut self, paused: bool) {
        self.watermarks_out.paused = paused;
    }

    /// Whether the runtime paused the task's input.
    pub fn is_paused(&self) -> bool {
        self.watermarks_out.paused
    }

    fn has_unstarted_stream_schedules(&self) -> bool {
        self.shared.stream_time() != i64::MIN
            && self.shared.schedules.iter().any(|s| s.kind == PunctuationType::StreamTime && s.next.is_none())
    }

    /// Sets the wall clock and runs the wall-clock punctuations that are due. Returns whether
    /// any ran.
    pub fn advance_wall_clock(&mut self, now: i64) -> Result<bool> {
        self.shared.wall_clock = now;
        self.punctuate(PunctuationType::WallClockTime, now)
    }

    fn punctuate(&mut self, kind: PunctuationType, now: i64) -> Result<bool> {
        let mut ran = false;
        for idx in 0..self.shared.schedules.len() {
            let (node, due) = {
                let s = &mut self.shared.schedules[idx];
                if s.kind != kind {
                    continue;
                }
                match s.next {
                    None => {
                        // A stream-time schedule starts at the first stream time it sees.
                        s.next = Some(now.saturating_add(s.interval));
                        (s.node, Some(now))
                    }
                    Some(next) if next <= now => {
                        // The first scheduled time after `now`, on the schedule's grid.
                        let behind = now.saturating_sub(next) / s.interval;
                        s.next = Some(next.saturating_add((behind + 1).saturating_mul(s.interval)));
                        (s.node, Some(now))
                    }
                    Some(_) => (s.node, None),
                }
            };
            if let Some(ts) = due {
                if let Some(l) = self.lifecycles.get(&node).cloned() {
                    self.shared.metrics.punctuations += 1;
                    l.borrow_mut().punctuate(kind, ts, &mut self.shared)?;
                    ran = true;
                }
            }
        }
        self.next_stream_punctuation = self
            .shared
            .schedules
            .iter()
            .filter(|s| s.kind == PunctuationType::StreamTime)
            .filter_map(|s| s.next)
            .min()
            .unwrap_or(i64::MAX);
        Ok(ran)
    }

    /// Flushes every store (write caches into the stores and their changelogs).
    pub fn flush(&mut self) -> Result<()> {
        self.flush_with_meta(&[])
    }

    /// Whether the task's local state keeps flush metadata: some store registered a
    /// [`crate::store::FlushScope`] (a RocksDB-backed store does).
    pub fn keeps_flush_meta(&self) -> bool {
        !self.resources.flush_scopes().is_empty()
    }

    /// The flush metadata entry `key` that the local state holds, written by the last
    /// [`StreamTask::flush_with_meta`] on it (possibly by an earlier process).
    pub fn flush_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        for scope in self.resources.flush_scopes() {
            if let Some(v) = scope.read_meta(key)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// Flushes every store, and writes `meta` in the same atomic write as the flushed state
    /// wherever a [`crate::store::FlushScope`] allows it.
    pub fn flush_with_meta(&mut self, meta: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        let scopes = self.resources.flush_scopes().to_vec();
        for scope in &scopes {
            scope.begin()?;
        }
        let mut names: Vec<&String> = self.shared.stores.keys().collect();
        names.sort();
        let flushed =
            names.into_iter().try_for_each(|name| self.shared.stores[name].erased().borrow_mut().flush());
        if flushed.is_err() {
            for scope in &scopes {
                scope.abort();
            }
            return flushed;
        }
        for scope in &scopes {
            scope.commit(meta)?;
        }
        Ok(())
    }

    /// Replays changelog records into a store.
    pub fn restore(&mut self, store: &str, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        let built =
            self.shared.stores.get(store).ok_or_else(|| {
                StreamsError::Topology(format!("task {} has no store `{store}`", self.id()))
            })?;
        let mut s = built.erased().borrow_mut();
        s.restore_batch(records)
    }

    /// Takes the records produced since the last call (sinks, changelogs, dead letters).
    pub fn drain_output(&mut self) -> Vec<OutputRecord> {
        self.shared.collector.borrow_mut().drain()
    }

    /// Sets headers attached to every changelog record written from now on.
    pub fn set_changelog_headers(&mut self, headers: crate::record::Headers) {
        *self.changelog_headers.borrow_mut() = headers;
    }

    /// The task's stream time (see [`TaskShared::stream_time`]).
    pub fn stream_time(&self) -> i64 {
        self.shared.stream_time()
    }

    /// The highest record timestamp the task has seen.
    pub fn observed_time(&self) -> i64 {
        self.shared.observed
    }

    /// The task's counters.
    pub fn metrics(&self) -> &TaskMetrics {
        &self.shared.metrics
    }

    /// A typed handle to one of the task's stores (for interactive queries and tests).
    pub fn store<T: 'static>(&self, name: &str) -> Result<Rc<RefCell<T>>> {
        self.shared.store::<T>(name)
    }

    /// Names of the task's stores.
    pub fn store_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.shared.stores.keys().cloned().collect();
        v.sort();
        v
    }

    /// `(store, approximate number of entries)` for each store of the task, by name (stores
    /// that cannot tell report 0).
    pub fn store_sizes(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .shared
            .stores
            .iter()
            .map(|(name, s)| (name.clone(), s.erased().borrow().approximate_entries()))
            .collect();
        v.sort();
        v
    }

    /// Closes processors and stores. Flush first if the state must be kept.
    pub fn close(mut self) -> Result<()> {
        let mut order: Vec<usize> = self.lifecycles.keys().copied().collect();
        order.sort_unstable();
        for i in order {
            let node = self.lifecycles[&i].clone();
            node.borrow_mut().close(&mut self.shared)?;
        }
        for store in self.shared.stores.values() {
            store.erased().borrow_mut().close()?;
        }
        self.state = TaskState::Closed;
        self.shared.stores.clear();
        self.resources.clear();
        Ok(())
    }
}

/// The repartition topics `sub` follows watermarks of (with their number of upstream tasks)
/// and those it publishes to (with their partition counts).
fn watermark_topics(
    topology: &Topology,
    sub: &crate::topology::SubTopology,
    config: &TaskConfig,
) -> (WatermarkInputs, WatermarkOutputs) {
    let et = &config.event_time;
    if !et.watermarks {
        return (WatermarkInputs::default(), WatermarkOutputs::default());
    }
    let app = &config.application_id;
    let repartitions: Vec<String> =
        topology.repartition_topics().iter().map(|r| r.topic.resolve(app)).collect();
    let partitions = |t: &str| config.topic_partitions.get(t).copied();
    let subs = topology.subtopologies();
    let inputs =
        sub.source_topics.iter().map(|t| t.resolve(app)).filter(|t| repartitions.contains(t)).filter_map(
            |t| {
                // The upstream tasks: one per partition of the writing sub-topology's inputs.
                let writer = subs.iter().find(|s| s.sink_topics.iter().any(|w| w.resolve(app) == t))?;
                let n = writer.source_topics.iter().filter_map(|w| partitions(&w.resolve(app))).max()?;
                Some((t, n))
            },
        );
    let outputs = sub
        .sink_topics
        .iter()
        .map(|t| t.resolve(app))
        .filter(|t| repartitions.contains(t))
        .filter_map(|t| partitions(&t).map(|n| (t, n)))
        .collect();
    (WatermarkInputs::new(inputs), WatermarkOutputs::new(outputs, et.idle_ms))
}
