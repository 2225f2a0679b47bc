//! [`StreamTask`]: one instance of a sub-topology for one input partition.
//!
//! The runtime and the test driver both run exactly this code: they build a task from the
//! [`Topology`], feed it [`RawRecord`]s, and drain the serialized records it produces. A
//! record travels through [`StreamTask::process`] once:
//!
//! 1. the task notes it as the input its changelog writes come from;
//! 2. a watermark control record updates the upstream watermarks and goes no further;
//! 3. the source node decodes it and extracts its event time — a failure goes to the
//!    deserialization handler, a negative time is dropped and counted;
//! 4. stream time moves, and the record is forwarded through the nodes; an error or a panic
//!    of user code goes to the processing handler;
//! 5. stream-time punctuations that became due run.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use crate::collector::{ChangelogWriter, InputStamp, RecordCollector, SharedCollector};
use crate::context::TaskContext;
use crate::error::{Result, StreamsError};
use crate::handler::{dead_letter_record, Verdict};
use crate::handler::{DeserializationHandler, ProcessingHandler};
use crate::id::TaskId;
use crate::metrics::TaskMetrics;
use crate::node::{BuildContext, DecodeError, ErasedInput, NodeLifecycle, NodeMeta, RawInput};
use crate::offsets::Offsets;
use crate::punctuation::PunctuationType;
use crate::record::{Origin, OutputRecord, RawRecord};
use crate::store::{changelog_topic, StoreContext, TaskResources};
use crate::task_config::TaskConfig;
use crate::topology::{NodeKind, Topology};
use crate::watermark::{task_watermarks, WatermarkInputs, WatermarkOutputs, WATERMARK_HEADER};

/// Flush-metadata key of the input position (see [`StreamTask::flush`]).
const INPUT_POSITION_KEY: &[u8] = b"input-position";

/// A source topic's shared name, the source node reading it, and whether it carries
/// watermarks.
/// (topic name, source node, whether the topic carries watermarks, whether it is external).
type SourceEntry = (Rc<str>, Rc<RefCell<dyn RawInput>>, bool, bool);

/// Headers the runtime gives a meaning to inside an application: a record from an outside
/// topic that carries one has it removed at the source, so that no producer can forge a
/// watermark or a deduplication stamp.
pub const RESERVED_HEADERS: [&str; 2] = [WATERMARK_HEADER, SOURCE_HEADER];

/// Header naming the input record a repartitioned record came from (see the DSL's
/// deduplication of replayed repartition records): `<topic>:<partition>:<offset>:<seq>`.
pub const SOURCE_HEADER: &str = "kstreams.src";

/// The input position a task's local state holds, as written by its last flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalPosition {
    /// The stores keep no position (in-memory, custom), or never flushed one.
    Unknown,
    /// The input offsets (next to process) the local state reflects.
    At(Offsets),
    /// A position was written but cannot be read back; the text says why.
    Unreadable(String),
    /// The stores found no local state to open (it was deleted), whatever a checkpoint says.
    Missing,
    /// The state was written after its last flush (a write cache evicted entries between two
    /// commits), so it may reflect records past the position of that flush.
    Unflushed,
}

/// One running instance of a sub-topology.
pub struct StreamTask {
    ctx: TaskContext,
    sources: HashMap<String, SourceEntry>,
    lifecycles: Vec<(usize, Rc<RefCell<dyn NodeLifecycle>>)>,
    resources: TaskResources,
    changelogs: Vec<(String, String)>,
    stamp: InputStamp,
    watermarks_in: WatermarkInputs,
    watermarks_out: WatermarkOutputs,
    deserialization: DeserializationHandler,
    processing: ProcessingHandler,
    /// See [`crate::EventTimeConfig::max_future_ms`].
    max_future_ms: Option<i64>,
}

impl StreamTask {
    /// Builds task `id` of `topology`: instantiates the sub-topology's nodes and stores, then
    /// initializes the nodes.
    pub fn new(topology: &Topology, id: TaskId, config: &TaskConfig) -> Result<Self> {
        let sub = topology
            .subtopologies()
            .iter()
            .find(|s| s.id == id.subtopology)
            .ok_or_else(|| StreamsError::Topology(format!("no sub-topology {}", id.subtopology)))?;
        let collector: SharedCollector = Rc::new(RefCell::new(RecordCollector::default()));
        let task_dir = config.task_dir(id);
        let stamp = InputStamp::default();

        let mut resources = TaskResources::default();
        let mut stores = HashMap::new();
        let mut changelogs = Vec::new();
        let clock = Arc::new(AtomicI64::new(i64::MIN));
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
                changelog: ChangelogWriter::new(collector.clone(), topic, id.partition, stamp.clone()),
                resources: &mut resources,
                settings: &config.store_settings,
                stream_time: clock.clone(),
            };
            stores.insert(name.clone(), builder.build(ctx)?);
        }

        let mut inputs: HashMap<usize, ErasedInput> = HashMap::new();
        let mut sources = HashMap::new();
        let mut lifecycles = Vec::new();
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
            if let (Some(raw), NodeKind::Source { topics }) = (built.raw, &def.kind) {
                for t in topics {
                    let name = t.resolve(&config.application_id);
                    let external = matches!(t, crate::TopicRef::External(_));
                    sources.insert(name.clone(), (Rc::from(name.as_str()), raw.clone(), false, external));
                }
            }
            if let Some(l) = built.lifecycle {
                lifecycles.push((i, l));
            }
        }
        lifecycles.sort_by_key(|(i, _)| *i);

        let (watermarks_in, watermarks_out) = task_watermarks(topology, sub, config);
        tracing::debug!(task = %id, follows = ?watermarks_in.topic_names(), publishes = ?watermarks_out.topics,
            "watermarks");
        for (topic, (_, _, watermarked, _)) in sources.iter_mut() {
            *watermarked = watermarks_in.tracks(topic);
        }
        // Upstream tasks not heard from yet hold stream time back from the start.
        let bound = watermarks_in.bound();
        let ctx = TaskContext::new(
            id,
            &config.application_id,
            bound,
            clock,
            stores,
            collector,
            config.global_stores.clone(),
        );
        let mut task = Self {
            ctx,
            sources,
            lifecycles,
            resources,
            changelogs,
            stamp,
            watermarks_in,
            watermarks_out,
            deserialization: config.deserialization.clone(),
            processing: config.processing.clone(),
            max_future_ms: config.event_time.max_future_ms,
        };
        for (_, node) in task.lifecycles.clone() {
            node.borrow_mut().init(&mut task.ctx)?;
        }
        Ok(task)
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.ctx.task_id
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

    /// Processes one record read from `raw.topic` (see the module docs for its way).
    pub fn process(&mut self, raw: &RawRecord) -> Result<()> {
        let (topic, source, watermarked, external) =
            self.sources.get(raw.topic.as_str()).ok_or_else(|| {
                StreamsError::Topology(format!("task {} does not read topic `{}`", self.id(), raw.topic))
            })?;
        let stripped;
        let raw = if *external && raw.headers.iter().any(|h| RESERVED_HEADERS.contains(&h.key.as_str())) {
            let mut copy = raw.clone();
            for name in RESERVED_HEADERS {
                copy.headers.remove(name);
            }
            stripped = copy;
            &stripped
        } else {
            raw
        };
        let origin = Origin { topic: topic.clone(), partition: raw.partition, offset: raw.offset };
        self.stamp.set(&origin);
        if *watermarked {
            if let Some(writer) = raw.headers.last(WATERMARK_HEADER) {
                return self.on_watermark(raw, writer);
            }
        }
        let source = source.clone();
        self.ctx.metrics.records_processed += 1;
        self.watermarks_out.last_data_at = Some(self.ctx.wall_clock);
        let decoded = source.borrow_mut().decode(raw);
        match decoded {
            Err(e) => self.on_deserialization_error(raw, e)?,
            Ok(timestamp) if !self.plausible(timestamp) => self.on_invalid_timestamp(raw, timestamp),
            Ok(timestamp) => {
                self.ctx.observe_timestamp(timestamp);
                self.ctx.origin = Some(origin);
                // User code runs in here: a panic is a processing failure like a returned
                // error, handed to the processing handler instead of unwinding through the
                // stream thread.
                let ctx = &mut self.ctx;
                let forwarded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    source.borrow_mut().forward(ctx)
                }))
                .unwrap_or_else(|panic| {
                    let text = crate::error::panic_message(&*panic);
                    Err(StreamsError::Process {
                        node: "(user code)".into(),
                        detail: format!("panicked: {text}"),
                    })
                });
                self.ctx.origin = None;
                if let Err(e) = forwarded {
                    self.on_processing_error(raw, e)?;
                }
            }
        }
        if self.ctx.punctuations.stream_due(self.ctx.stream_time()) {
            self.punctuate(PunctuationType::StreamTime, self.ctx.stream_time())?;
        }
        Ok(())
    }

    /// Applies the deserialization handler to `raw`, whose key or value failed to decode.
    fn on_deserialization_error(&mut self, raw: &RawRecord, error: DecodeError) -> Result<()> {
        let (part, error) = match error {
            DecodeError::Key(e) => ("key", e),
            DecodeError::Value(e) => ("value", e),
        };
        let task = self.ctx.task_name.clone();
        self.ctx.metrics.record_deserialization_error(&task, &raw.topic);
        let detail = format!("{part}: {error}");
        match self.deserialization.verdict(raw, &error) {
            Verdict::Fail => Err(StreamsError::Deserialize {
                topic: raw.topic.clone(),
                partition: raw.partition,
                offset: raw.offset,
                detail,
            }),
            Verdict::Skip => {
                tracing::warn!(
                    task = %self.id(), topic = %raw.topic, partition = raw.partition, offset = raw.offset,
                    "skipping record that failed deserialization: {detail}"
                );
                Ok(())
            }
            Verdict::DeadLetter(topic) => {
                tracing::warn!(
                    task = %self.id(), topic = %raw.topic, partition = raw.partition, offset = raw.offset,
                    dead_letter_topic = %topic, "record failed deserialization, sent to dead-letter topic: {detail}"
                );
                self.dead_letter(raw, &topic, "deserialization", &detail);
                Ok(())
            }
        }
    }

    /// Whether an event time may go through the topology: not negative, and (with the guard
    /// on) not implausibly far ahead of the wall clock.
    fn plausible(&self, timestamp: i64) -> bool {
        timestamp >= 0
            && self.max_future_ms.is_none_or(|m| timestamp <= self.ctx.wall_clock.saturating_add(m))
    }

    /// Counts, logs and (with a dead-letter topic) dead-letters a record dropped for an
    /// implausible timestamp: negative, or too far in the future.
    fn on_invalid_timestamp(&mut self, raw: &RawRecord, timestamp: i64) {
        self.ctx.metrics.invalid_timestamps += 1;
        metrics::counter!("kstreams_invalid_timestamps_total", "task" => self.ctx.task_name.to_string(),
            "topic" => raw.topic.clone())
        .increment(1);
        let detail = if timestamp < 0 {
            format!("invalid (negative) event time {timestamp}")
        } else {
            format!("event time {timestamp} is more than event.time.max.future.ms ahead of the wall clock")
        };
        match &self.deserialization {
            DeserializationHandler::DeadLetter { topic } => {
                let topic = topic.clone();
                tracing::warn!(task = %self.id(), topic = %raw.topic, partition = raw.partition, offset = raw.offset,
                    dead_letter_topic = %topic, "skipping record: {detail}; sent to the dead-letter topic");
                self.dead_letter(raw, &topic, "timestamp", &detail);
            }
            _ => {
                tracing::warn!(task = %self.id(), topic = %raw.topic, partition = raw.partition, offset = raw.offset,
                "skipping record: {detail}")
            }
        }
    }

    /// Applies the processing handler to `error`, raised while processing `raw`.
    fn on_processing_error(&mut self, raw: &RawRecord, error: StreamsError) -> Result<()> {
        let StreamsError::Process { node, detail } = error else { return Err(error) };
        let at = format!("{}-{}@{}", raw.topic, raw.partition, raw.offset);
        let error = StreamsError::Process { node, detail: format!("{detail} (record {at})") };
        let verdict = self.processing.verdict(raw, &error);
        if verdict == Verdict::Fail {
            return Err(error);
        }
        let task = self.ctx.task_name.clone();
        self.ctx.metrics.record_processing_error(&task, &raw.topic);
        match verdict {
            Verdict::DeadLetter(topic) => {
                tracing::warn!(task = %self.id(), record = %at, dead_letter_topic = %topic,
                    "processing failed, record sent to the dead-letter topic: {error}");
                self.dead_letter(raw, &topic, "processing", &error.to_string());
            }
            _ => {
                tracing::warn!(task = %self.id(), record = %at, "processing failed, skipping the record: {error}")
            }
        }
        Ok(())
    }

    /// Sends `raw` to the dead-letter `topic`, with headers naming the `kind` of failure, the
    /// `error` and the record's origin.
    fn dead_letter(&mut self, raw: &RawRecord, topic: &str, kind: &str, error: &str) {
        self.ctx.collector.borrow_mut().send(dead_letter_record(raw, topic, kind, error));
        self.ctx.metrics.dead_lettered += 1;
    }

    fn on_watermark(&mut self, raw: &RawRecord, writer: &[u8]) -> Result<()> {
        let writer = std::str::from_utf8(writer).ok().and_then(|w| w.parse::<i32>().ok());
        let value = raw.value.as_deref().and_then(crate::watermark::decode);
        let (Some(writer), Some((watermark, idle))) = (writer, value) else {
            self.ctx.metrics.dropped_records += 1;
            tracing::warn!(
                task = %self.id(), topic = %raw.topic, partition = raw.partition, offset = raw.offset,
                "skipping a malformed watermark record"
            );
            return Ok(());
        };
        self.watermarks_in.observe(&raw.topic, writer, watermark, idle);
        let before = self.ctx.stream_time();
        self.ctx.set_bound(self.watermarks_in.bound());
        if self.ctx.stream_time() > before && self.ctx.punctuations.stream_due(self.ctx.stream_time()) {
            self.punctuate(PunctuationType::StreamTime, self.ctx.stream_time())?;
        }
        Ok(())
    }

    /// Writes this task's watermark to every partition of the repartition topics it writes,
    /// if it changed (or as a periodic heartbeat). The runtime calls this at each commit and
    /// every `watermark.interval.ms`; the test driver at each of its commits. Returns whether
    /// anything was written.
    pub fn publish_watermarks(&mut self) -> bool {
        let Some((watermark, idle)) = self.watermarks_out.due(self.ctx.stream_time(), self.ctx.wall_clock)
        else {
            return false;
        };
        let value = crate::watermark::encode(watermark, idle);
        let writer = self.ctx.task_id.partition.to_string();
        let mut collector = self.ctx.collector.borrow_mut();
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

    /// Tells the task whether the runtime holds it back (event-time alignment): a held task
    /// has records waiting, so its watermarks never call it idle.
    pub fn set_held(&mut self, held: bool) {
        self.watermarks_out.held = held;
    }

    /// Whether the runtime holds the task back.
    pub fn is_held(&self) -> bool {
        self.watermarks_out.held
    }

    /// Sets the wall clock and runs the wall-clock punctuations that are due. Returns whether
    /// any ran.
    pub fn advance_wall_clock(&mut self, now: i64) -> Result<bool> {
        self.ctx.wall_clock = now;
        self.punctuate(PunctuationType::WallClockTime, now)
    }

    fn punctuate(&mut self, kind: PunctuationType, now: i64) -> Result<bool> {
        let due = self.ctx.punctuations.take_due(kind, now);
        for node in &due {
            if let Some((_, l)) = self.lifecycles.iter().find(|(i, _)| i == node) {
                let l = l.clone();
                self.ctx.metrics.punctuations += 1;
                l.borrow_mut().punctuate(kind, now, &mut self.ctx)?;
            }
        }
        Ok(!due.is_empty())
    }

    /// Whether the task's local state keeps an input position: some store registered a
    /// [`crate::FlushScope`] (a RocksDB-backed store does).
    pub fn keeps_input_position(&self) -> bool {
        !self.resources.flush_scopes().is_empty()
    }

    /// The input position the local state holds, written by the last [`StreamTask::flush`]
    /// on it (possibly by an earlier process).
    pub fn local_position(&self) -> Result<LocalPosition> {
        if self.resources.flush_scopes().iter().any(|s| s.created_empty()) {
            return Ok(LocalPosition::Missing);
        }
        if self.resources.flush_scopes().iter().any(|s| s.written_since_flush()) {
            return Ok(LocalPosition::Unflushed);
        }
        for scope in self.resources.flush_scopes() {
            if let Some(bytes) = scope.read_meta(INPUT_POSITION_KEY)? {
                let parsed = std::str::from_utf8(&bytes).map_err(|e| e.to_string()).and_then(Offsets::parse);
                return Ok(match parsed {
                    Ok(offsets) => LocalPosition::At(offsets),
                    Err(e) => LocalPosition::Unreadable(e),
                });
            }
        }
        Ok(LocalPosition::Unknown)
    }

    /// Flushes every store (write caches into the stores and their changelogs). With a
    /// `position` (the input offsets the state now reflects), it is written in the same
    /// atomic write as the flushed state wherever a [`crate::FlushScope`] allows it.
    pub fn flush(&mut self, position: Option<&Offsets>) -> Result<()> {
        let meta: Vec<(Vec<u8>, Vec<u8>)> =
            position.map(|p| (INPUT_POSITION_KEY.to_vec(), p.to_text().into_bytes())).into_iter().collect();
        let scopes = self.resources.flush_scopes().to_vec();
        for scope in &scopes {
            scope.begin()?;
        }
        let mut names: Vec<&String> = self.ctx.stores.keys().collect();
        names.sort();
        let flushed =
            names.into_iter().try_for_each(|name| self.ctx.stores[name].erased().borrow_mut().flush());
        if flushed.is_err() {
            for scope in &scopes {
                scope.abort();
            }
            return flushed;
        }
        for scope in &scopes {
            scope.commit(&meta)?;
        }
        Ok(())
    }

    /// Replays changelog records into a store.
    pub fn restore(&mut self, store: &str, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        let built =
            self.ctx.stores.get(store).ok_or_else(|| {
                StreamsError::Topology(format!("task {} has no store `{store}`", self.id()))
            })?;
        let mut s = built.erased().borrow_mut();
        s.restore_batch(records)
    }

    /// Takes the records produced since the last call (sinks, changelogs, dead letters,
    /// watermarks).
    pub fn drain_output(&mut self) -> Vec<OutputRecord> {
        self.ctx.collector.borrow_mut().drain()
    }

    /// The task's stream time: the highest record timestamp it has seen, held back (when it
    /// reads repartition topics) to the slowest active upstream task's watermark
    /// (`i64::MIN` before the first record). Windows close and records are late by it.
    pub fn stream_time(&self) -> i64 {
        self.ctx.stream_time()
    }

    /// Stamps every changelog record written from now on with `epoch` (see
    /// [`crate::OWNER_EPOCH_HEADER`]); the runtime picks one above every earlier owner's.
    pub fn set_owner_epoch(&mut self, epoch: i64) {
        self.stamp.set_owner(epoch);
    }

    /// Resumes stream time where the previous owner of the task left it at its last commit
    /// (the runtime keeps it in the commit's offset metadata): windows it closed stay closed
    /// and records it dropped as late are dropped again when the input is replayed, instead
    /// of starting from the first replayed record. Never moves stream time back.
    pub fn resume_stream_time(&mut self, stream_time: i64) {
        self.ctx.resume_stream_time(stream_time);
    }

    /// The highest record timestamp the task has seen.
    pub fn observed_time(&self) -> i64 {
        self.ctx.observed
    }

    /// The task's counters.
    pub fn metrics(&self) -> &TaskMetrics {
        &self.ctx.metrics
    }

    /// A typed handle to one of the task's stores (for interactive queries and tests).
    pub fn store<T: 'static>(&self, name: &str) -> Result<Rc<RefCell<T>>> {
        self.ctx.store::<T>(name)
    }

    /// Names of the task's stores.
    pub fn store_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.ctx.stores.keys().cloned().collect();
        v.sort();
        v
    }

    /// `(store, approximate number of entries)` for each store of the task, by name (stores
    /// that cannot tell report 0).
    pub fn store_sizes(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .ctx
            .stores
            .iter()
            .map(|(name, s)| (name.clone(), s.erased().borrow().approximate_entries()))
            .collect();
        v.sort();
        v
    }

    /// Closes processors and stores. Flush first if the state must be kept.
    pub fn close(mut self) -> Result<()> {
        for (_, node) in self.lifecycles.clone() {
            node.borrow_mut().close(&mut self.ctx)?;
        }
        for store in self.ctx.stores.values() {
            store.erased().borrow_mut().close()?;
        }
        self.ctx.stores.clear();
        self.resources.clear();
        Ok(())
    }
}
