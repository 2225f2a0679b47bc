//! A stream thread: one OS thread with its own group consumer, producer and restore consumer,
//! running the tasks of the partitions the group assigned to it. See `docs/threading.md`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kstreams_core::{RawRecord, TaskConfig, TaskId, TaskState, Topology};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers as _, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::assignment::TaskLayout;
use crate::commit::{commit_tasks, CommitReason};
use crate::config::{ClientKind, ProcessingGuarantee, StreamsConfig};
use crate::error::{Recovery, Result, RuntimeError};
use crate::partition_group::PartitionGroup;
use crate::producer::RecordProducer;
use crate::rebalance::{RebalanceEvent, StreamsConsumerContext, TopicPartition};
use crate::restore::Restorer;
use crate::state::{StateHolder, ThreadState};
use crate::task::ActiveTask;

/// Most records processed between two checks of rebalances, commits and shutdown.
const MAX_BATCH: usize = 1000;
/// How long one poll waits when nothing is buffered.
const POLL_TIMEOUT: Duration = Duration::from_millis(50);
/// How often wall-clock punctuations are checked.
const WALL_CLOCK_TICK: Duration = Duration::from_millis(100);
/// How long a task may go without records before alignment asks whether it has any left.
const WAITING_AFTER: Duration = Duration::from_millis(500);
/// How long the answer "records wait in this task's partitions" is trusted.
const WAITING_RECHECK: Duration = Duration::from_secs(1);
/// How long asking the broker for a partition's high watermark may take.
const WAITING_TIMEOUT: Duration = Duration::from_millis(500);
/// Records buffered for one partition of a multi-partition task before it is paused (Kafka
/// Streams' `buffered.records.per.partition`); resumed below half of it.
const BUFFERED_PER_PARTITION: usize = 1000;

/// What every thread of an instance shares (all `Send + Sync`).
#[derive(Clone)]
pub(crate) struct ThreadShared {
    pub(crate) topology: Arc<Topology>,
    pub(crate) config: Arc<StreamsConfig>,
    pub(crate) layout: Arc<TaskLayout>,
    pub(crate) state: Arc<StateHolder>,
    pub(crate) shutdown: Arc<AtomicBool>,
    /// The instance's global stores, read by every task.
    pub(crate) global_stores: kstreams_core::GlobalStores,
    /// The instance's persistent process id (see [`crate::state_dir`]).
    pub(crate) process_id: Arc<str>,
}

/// Starts stream thread number `index` (0-based).
pub(crate) fn spawn(
    index: usize,
    shared: ThreadShared,
    queries: std::sync::mpsc::Receiver<crate::query::QueryRequest>,
) -> Result<JoinHandle<()>> {
    let name = format!("{}-StreamThread-{}", shared.config.client_id(), index + 1);
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let state = shared.state.clone();
            let shutdown = shared.shutdown.clone();
            // A panic (in user code outside record processing, e.g. a punctuation) must still
            // mark the thread dead and fail the instance: `close` waits for every thread.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                StreamThread::new(index, name.clone(), shared, queries).and_then(StreamThread::run)
            }))
            .unwrap_or_else(|panic| {
                let detail = kstreams_core::panic_message(&*panic);
                Err(RuntimeError::ThreadPanicked { thread: name.clone(), detail })
            });
            if let Err(e) = result {
                tracing::error!(thread = %name, error = %e, "stream thread failed; shutting the instance down");
                state.fail(format!("stream thread `{name}` failed: {e}"));
                shutdown.store(true, Ordering::SeqCst);
            } else {
                tracing::info!(thread = %name, "stream thread stopped");
            }
            state.set_thread_state(index, ThreadState::Dead);
        })
        .map_err(|source| RuntimeError::SpawnThread { thread: format!("StreamThread-{}", index + 1), source })
}

struct StreamThread {
    index: usize,
    name: String,
    shared: ThreadShared,
    task_config: TaskConfig,
    consumer: BaseConsumer<StreamsConsumerContext>,
    producer: RecordProducer,
    restorer: Restorer,
    tasks: BTreeMap<TaskId, ActiveTask>,
    last_commit: Instant,
    last_tick: Instant,
    last_watermark: Instant,
    /// Per sub-topology, its slowest task and the event time the others may run ahead to
    /// before they are held back (recomputed after every batch; see [`StreamThread::align`]).
    skew_limits: BTreeMap<u32, (TaskId, i64)>,
    /// Record buffers (partition queues): of the tasks that read more than one partition
    /// (timestamp-ordered choice), and of tasks held back by alignment until they drain.
    groups: BTreeMap<TaskId, PartitionGroup>,
    /// Partitions paused because their task's buffer is full.
    buffer_paused: std::collections::BTreeSet<TopicPartition>,
    /// `kstreams_records_consumed_total` of this thread (registered once, not per record).
    records_consumed: metrics::Counter,
    /// Interactive queries waiting to run against this thread's tasks.
    queries: std::sync::mpsc::Receiver<crate::query::QueryRequest>,
    /// Whether the producer was fenced since the last successful commit: fenced again before
    /// one, another live producer uses the transactional id, and the thread stops.
    fenced_since_commit: bool,
    /// Since when the thread has been recovering from failed transactions without a
    /// successful commit; past `task.timeout.ms` it stops (a failure that does not go away).
    failing_since: Option<Instant>,
}

impl StreamThread {
    fn new(
        index: usize,
        name: String,
        shared: ThreadShared,
        queries: std::sync::mpsc::Receiver<crate::query::QueryRequest>,
    ) -> Result<Self> {
        let config = &shared.config;
        let eos = config.processing_guarantee() == ProcessingGuarantee::ExactlyOnceV2;
        let base = [
            ("group.id", config.application_id().to_string()),
            ("client.id", format!("{name}-consumer")),
            ("partition.assignment.strategy", "cooperative-sticky".to_string()),
            ("enable.auto.commit", "false".to_string()),
            ("enable.auto.offset.store", "false".to_string()),
            ("auto.offset.reset", "earliest".to_string()),
            ("isolation.level", if eos { "read_committed" } else { "read_uncommitted" }.to_string()),
            ("statistics.interval.ms", "10000".to_string()),
            // librdkafka prefetches up to `queued.min.messages` per partition and, when its
            // queue is full, waits `fetch.queue.backoff.ms` (default 1 s) before fetching
            // again. A stream thread drains its queue in bursts between commits, so that
            // second left it idle: the broker bench ran 3 times faster with these.
            ("queued.min.messages", "10000".to_string()),
            ("fetch.queue.backoff.ms", "10".to_string()),
        ];
        let consumer: BaseConsumer<StreamsConsumerContext> = config
            .client_config(ClientKind::Consumer, &base)
            .create_with_context(StreamsConsumerContext::new(name.clone()))
            .map_err(|source| RuntimeError::CreateClient { client: "consumer", source })?;
        let transactional_id = eos
            .then(|| crate::state_dir::transactional_id(config.application_id(), &shared.process_id, index));
        let producer = RecordProducer::new(config, &name, transactional_id)?;
        let restorer = Restorer::new(config, &name)?;
        let task_config = TaskConfig {
            application_id: config.application_id().to_string(),
            state_dir: config.state_dir().to_path_buf(),
            deserialization: config.deserialization_handler().clone(),
            processing: config.processing_handler().clone(),
            global_stores: shared.global_stores.clone(),
            store_settings: crate::store_settings::store_settings(config, &shared.topology, &shared.layout),
            event_time: config.event_time().clone(),
            topic_partitions: shared.layout.partition_counts(),
        };
        let records_consumed = metrics::counter!("kstreams_records_consumed_total", "thread" => name.clone());
        Ok(Self {
            index,
            name,
            shared,
            task_config,
            consumer,
            producer,
            restorer,
            tasks: BTreeMap::new(),
            last_commit: Instant::now(),
            last_tick: Instant::now(),
            last_watermark: Instant::now(),
            skew_limits: BTreeMap::new(),
            groups: BTreeMap::new(),
            buffer_paused: std::collections::BTreeSet::new(),
            records_consumed,
            queries,
            fenced_since_commit: false,
            failing_since: None,
        })
    }

    fn run(mut self) -> Result<()> {
        let topics = self.shared.layout.source_topics();
        let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        self.consumer
            .subscribe(&refs)
            .map_err(|source| RuntimeError::Subscribe { topics: topics.clone(), source })?;
        tracing::info!(thread = %self.name, ?topics, "stream thread subscribed");
        let result = self.run_loop();
        let clean = result.is_ok();
        if let Err(e) = &result {
            // Report at once: cleaning up (aborting, closing) can take a while.
            self.shared.state.fail(format!("stream thread `{}` failed: {e}", self.name));
            self.shared.shutdown.store(true, Ordering::SeqCst);
            if let Err(abort) = self.producer.abort_transaction() {
                tracing::warn!(thread = %self.name, error = %abort, "aborting the transaction after a failure also failed");
            }
            tracing::error!(thread = %self.name, error = %e, "closing tasks without committing");
        }
        let shutdown = self.shutdown(clean);
        result.and(shutdown)
    }

    fn run_loop(&mut self) -> Result<()> {
        while !self.shared.shutdown.load(Ordering::SeqCst) {
            if let Err(e) = self.run_once() {
                match e.recovery() {
                    Some(recovery) => self.recover(e, recovery)?,
                    None => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// One round of the loop: rebalances, a batch of records, alignment, queries,
    /// punctuations, watermarks and, when due, a commit.
    fn run_once(&mut self) -> Result<()> {
        self.handle_rebalances()?;
        self.process_batch()?;
        self.align()?;
        crate::query::serve_pending(&self.queries, self.tasks.values().map(|t| &t.task));
        self.producer.poll();
        if self.last_tick.elapsed() >= WALL_CLOCK_TICK {
            self.punctuate()?;
        }
        if self.last_watermark.elapsed() >= self.shared.config.watermark_interval() {
            self.publish_watermarks()?;
        }
        if self.last_commit.elapsed() >= self.shared.config.commit_interval() {
            self.commit(CommitReason::Interval)?;
        }
        Ok(())
    }

    /// Goes back to the committed offsets after a transaction failed (aborted, fenced, or a
    /// commit with an unknown outcome): aborts the transaction or recreates the producer,
    /// closes every task without committing (their state since the last commit is discarded:
    /// the next restore reads only committed changelog records), handles the rebalances that
    /// arrived meanwhile, and builds the tasks of the partitions still assigned again from the
    /// committed offsets and their changelogs. Whatever the failed transaction wrote is
    /// invisible to read-committed readers, so nothing is lost or counted twice.
    fn recover(&mut self, error: RuntimeError, recovery: Recovery) -> Result<()> {
        if matches!(error, RuntimeError::Fenced { .. }) {
            if self.fenced_since_commit {
                tracing::error!(thread = %self.name, error = %error,
                    "fenced again before any commit: another live instance uses this transactional.id");
                return Err(error);
            }
            self.fenced_since_commit = true;
        }
        let since = *self.failing_since.get_or_insert_with(Instant::now);
        if since.elapsed() > self.shared.config.task_timeout() {
            tracing::error!(thread = %self.name, error = %error, failing_for = ?since.elapsed(),
                "no commit succeeded within task.timeout.ms; stopping");
            return Err(error);
        }
        tracing::warn!(thread = %self.name, error = %error, ?recovery,
            "transaction failed; going back to the committed offsets");
        metrics::counter!("kstreams_task_recoveries_total", "thread" => self.name.clone()).increment(1);
        let reset = match recovery {
            Recovery::ResetProducer => true,
            Recovery::Abort => match self.producer.abort_transaction() {
                Ok(()) => false,
                Err(e) if e.recovery().is_some() => {
                    tracing::warn!(thread = %self.name, error = %e, "aborting failed; recreating the producer");
                    true
                }
                Err(e) => return Err(e),
            },
        };
        if reset {
            self.producer.reset()?;
        }
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        for id in &ids {
            self.drop_task(*id, false)?;
        }
        self.publish_tasks();
        // Partitions revoked (or lost) meanwhile are let go first; their tasks stay closed.
        self.handle_rebalances()?;
        if self.consumer.assignment_lost() {
            // The revocation of every partition is on its way: nothing to rebuild.
            return Ok(());
        }
        let assigned = self
            .consumer
            .assignment()
            .map_err(|source| RuntimeError::Metadata { what: "the consumer's assignment".into(), source })?;
        for id in ids {
            let partitions = self.shared.layout.partitions_of(id);
            let still_assigned = partitions.iter().all(|(t, p)| assigned.find_partition(t, *p).is_some());
            if self.tasks.contains_key(&id) || !still_assigned {
                continue;
            }
            let committed = self.committed_offsets(id)?;
            // The consumer went on past the committed offsets: read those records again.
            for (topic, partition) in partitions {
                let offset = committed
                    .get(&(topic.clone(), *partition))
                    .map_or(Offset::Beginning, |o| Offset::Offset(*o));
                self.consumer.seek(topic, *partition, offset, Duration::from_secs(10)).map_err(|source| {
                    RuntimeError::Metadata {
                        what: format!("seeking {topic}-{partition} to {offset:?}"),
                        source,
                    }
                })?;
            }
            self.add_task(id, &committed)?;
        }
        self.publish_tasks();
        Ok(())
    }

    /// Commits (if clean), closes every task and leaves the group.
    fn shutdown(&mut self, clean: bool) -> Result<()> {
        let mut result = Ok(());
        if clean {
            result = self.commit(CommitReason::Shutdown).map(|_| ());
        }
        let clean = clean && result.is_ok();
        for (_, task) in std::mem::take(&mut self.tasks) {
            if let Err(e) = task.close(clean) {
                tracing::warn!(thread = %self.name, error = %e, "closing a task failed");
            }
        }
        self.publish_tasks();
        // Dropping the consumer leaves the group; its last revocation is acknowledged at once.
        self.consumer.context().set_closing();
        self.consumer.unsubscribe();
        result
    }

    fn commit(&mut self, reason: CommitReason) -> Result<bool> {
        self.publish_watermarks()?;
        let mut tasks: Vec<&mut ActiveTask> = self.tasks.values_mut().collect();
        let ok = commit_tasks(&mut tasks, &mut self.producer, &self.consumer, &self.name, reason)?;
        self.last_commit = Instant::now();
        if ok {
            self.fenced_since_commit = false;
            self.failing_since = None;
        }
        Ok(ok)
    }

    /// Sends the watermarks due from the tasks that write repartition topics.
    fn publish_watermarks(&mut self) -> Result<()> {
        self.last_watermark = Instant::now();
        for task in self.tasks.values_mut() {
            if task.publish_watermarks() {
                self.producer.begin()?;
                for record in task.drain_output() {
                    self.producer.send(&record)?;
                }
            }
        }
        Ok(())
    }

    /// Event-time alignment: a task whose highest timestamp runs more than
    /// `event.time.max.skew.ms` ahead of the slowest task of its sub-topology on this thread
    /// is held back (its records buffered, see [`Self::set_held`]) until that task is within
    /// half the skew. A task holds the others back only while it has records to read: one
    /// that has seen none, or has had none for a moment, is asked about at the broker (at
    /// most once a second) and skipped when its partitions are read to the end; one that
    /// processed nothing for `event.time.idle.ms` (and is not held) holds nobody.
    fn align(&mut self) -> Result<()> {
        let skew = self.shared.config.max_skew_ms();
        if skew == 0 || self.tasks.len() < 2 {
            return Ok(());
        }
        let idle = Duration::from_millis(u64::try_from(self.shared.config.event_time().idle_ms).unwrap_or(0));
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        let mut excluded: std::collections::BTreeSet<TaskId> = std::collections::BTreeSet::new();
        for id in &ids {
            let Some(t) = self.tasks.get(id) else { continue };
            if !t.task.is_paused() && t.last_record_at.elapsed() >= idle {
                excluded.insert(*id); // quiet: does not hold the others back
            } else if t.task.observed_time() == i64::MIN && !self.records_waiting(*id) {
                excluded.insert(*id); // nothing seen and nothing to read
            }
        }
        // A slowest task that has had no record for a moment while it holds others back may
        // have read its partitions to the end (the end of a backlog): then it must not hold
        // them until it turns quiet. Ask the broker (at most once a second per task), only
        // when it matters, and look for the next slowest.
        let slowest = loop {
            let mut slowest: BTreeMap<u32, (TaskId, i64)> = BTreeMap::new();
            for (id, t) in self.tasks.iter().filter(|(id, _)| !excluded.contains(*id)) {
                let seen = t.task.observed_time();
                let s = slowest.entry(id.subtopology).or_insert((*id, seen));
                if seen < s.1 {
                    *s = (*id, seen);
                }
            }
            let done = slowest.values().copied().find(|(id, seen)| {
                let holding = self.tasks.iter().any(|(other, t)| {
                    other.subtopology == id.subtopology
                        && other != id
                        && (t.task.is_paused() || t.task.observed_time() > seen.saturating_add(skew))
                });
                let quiet_now =
                    self.tasks.get(id).is_some_and(|t| t.last_record_at.elapsed() >= WAITING_AFTER);
                *seen != i64::MIN && holding && quiet_now && !self.records_waiting(*id)
            });
            match done {
                Some((id, _)) => {
                    excluded.insert(id);
                }
                None => break slowest,
            }
        };
        // The per-record check (`process_one`) only runs against a slowest task that has seen
        // records; one still waiting for its first record is handled here, once per batch.
        self.skew_limits = slowest
            .iter()
            .filter(|(_, (_, t))| *t != i64::MIN)
            .map(|(sub, (id, t))| (*sub, (*id, t.saturating_add(skew))))
            .collect();
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        for id in ids {
            let limit = slowest.get(&id.subtopology).map(|(_, t)| *t);
            let Some(task) = self.tasks.get(&id) else { continue };
            let seen = task.task.observed_time();
            let (pause, resume) = match limit {
                Some(min) => (
                    !task.task.is_paused() && seen > min.saturating_add(skew),
                    task.task.is_paused() && seen <= min.saturating_add(skew / 2),
                ),
                None => (false, task.task.is_paused()),
            };
            if pause || resume {
                self.set_held(id, pause);
            }
        }
        Ok(())
    }

    /// [`Self::has_records_waiting`], asked at most once per [`WAITING_RECHECK`] per task.
    fn records_waiting(&mut self, id: TaskId) -> bool {
        if let Some((at, w)) = self.tasks.get(&id).and_then(|t| t.waiting) {
            if at.elapsed() < WAITING_RECHECK {
                return w;
            }
        }
        let w = self.has_records_waiting(id);
        if let Some(t) = self.tasks.get_mut(&id) {
            t.waiting = Some((Instant::now(), w));
        }
        w
    }

    /// Whether records wait in the partitions of task `id` beyond what it has consumed (asks
    /// the broker for the high watermarks: a ListOffsets request per partition).
    fn has_records_waiting(&self, id: TaskId) -> bool {
        let Some(task) = self.tasks.get(&id) else { return false };
        let positions = self.consumer.position().unwrap_or_default();
        self.shared.layout.partitions_of(id).iter().any(|(topic, p)| {
            // Asked through the restore consumer: on the group consumer's connection the
            // request would wait behind a fetch long-poll (up to `fetch.wait.max.ms`, measured
            // 450 ms), blocking the thread.
            let Ok((low, high)) = self.restorer.fetch_watermarks(topic, *p, WAITING_TIMEOUT) else {
                return false;
            };
            let position = match positions.find_partition(topic, *p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => task.start_offsets.get(&(topic.clone(), *p)).copied().unwrap_or(low),
            };
            high > position
        })
    }

    /// Holds task `id` back (or lets it go on): a held task's records are buffered, not
    /// processed. Its partitions keep being fetched until a buffer is full (then that
    /// partition is paused at the consumer, see [`Self::dispatch`]), so a short hold costs no
    /// refetch: pausing a partition in librdkafka drops what it had prefetched.
    fn set_held(&mut self, id: TaskId, held: bool) {
        if let Some(task) = self.tasks.get_mut(&id) {
            task.task.set_paused(held);
            tracing::debug!(thread = %self.name, task = %id, held, event_time = task.task.observed_time(),
                "event-time alignment");
        }
        if held {
            metrics::counter!("kstreams_alignment_holds_total", "thread" => self.name.clone()).increment(1);
        }
    }

    fn is_held(&self, id: TaskId) -> bool {
        self.tasks.get(&id).is_some_and(|t| t.task.is_paused())
    }

    fn punctuate(&mut self) -> Result<()> {
        self.last_tick = Instant::now();
        let now = now_ms();
        for task in self.tasks.values_mut() {
            if task.punctuate(now)? {
                self.producer.begin()?;
                for record in task.drain_output() {
                    self.producer.send(&record)?;
                }
            }
        }
        Ok(())
    }

    /// Polls up to [`MAX_BATCH`] records and processes each in its task.
    fn process_batch(&mut self) -> Result<()> {
        let mut timeout = POLL_TIMEOUT;
        for _ in 0..MAX_BATCH {
            let raw = match self.consumer.poll(timeout) {
                None => break,
                Some(Ok(m)) => to_raw(&m),
                Some(Err(KafkaError::PartitionEOF(_))) => continue,
                Some(Err(e @ KafkaError::MessageConsumptionFatal(_))) => {
                    return Err(RuntimeError::Metadata { what: "consuming".into(), source: e })
                }
                Some(Err(e)) => {
                    tracing::warn!(thread = %self.name, error = %e, "consumer error; retrying");
                    break;
                }
            };
            timeout = Duration::ZERO;
            if self.consumer.context().has_events() {
                // A rebalance arrived during this poll: act on it before the record.
                self.handle_rebalances()?;
            }
            self.dispatch(raw)?;
        }
        self.process_buffered()
    }

    /// Processes `raw` now in its task, or buffers it if the task reads several partitions,
    /// is held back by event-time alignment, or still has buffered records.
    fn dispatch(&mut self, raw: RawRecord) -> Result<()> {
        let Some(id) = self.shared.layout.task_for(&raw.topic, raw.partition) else {
            tracing::warn!(thread = %self.name, topic = %raw.topic, partition = raw.partition, "record of a partition no task reads");
            return Ok(());
        };
        if !self.groups.contains_key(&id) && !self.is_held(id) {
            return self.process_one(id, &raw);
        }
        let layout = &self.shared.layout;
        let group = self.groups.entry(id).or_insert_with(|| PartitionGroup::new(layout.partitions_of(id)));
        let tp = (raw.topic.clone(), raw.partition);
        if group.push(raw) >= BUFFERED_PER_PARTITION && !self.buffer_paused.contains(&tp) {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&tp.0, tp.1);
            match self.consumer.pause(&tpl) {
                Ok(()) => {
                    tracing::debug!(thread = %self.name, topic = %tp.0, partition = tp.1, "partition queue full: fetching paused");
                    self.buffer_paused.insert(tp);
                }
                Err(e) => {
                    tracing::warn!(thread = %self.name, error = %e, "pausing a full partition buffer failed")
                }
            }
        }
        Ok(())
    }

    /// Hands every task that is not held back its buffered records, lowest timestamp first
    /// (see [`PartitionGroup`]), and resumes partitions whose buffer has drained. A
    /// single-partition task whose buffer is empty goes back to direct processing.
    fn process_buffered(&mut self) -> Result<()> {
        if self.groups.is_empty() {
            return Ok(());
        }
        let max_idle = self.shared.config.max_task_idle();
        let ids: Vec<TaskId> = self.groups.keys().copied().collect();
        for id in ids {
            let Some(mut group) = self.groups.remove(&id) else { continue };
            let now = Instant::now();
            let mut result: Result<()> = Ok(());
            // Processing can put the task ahead of the others: it stops there.
            while !self.is_held(id) {
                let Some(raw) = group.next(max_idle, now) else { break };
                result = self.process_one(id, &raw);
                if result.is_err() {
                    break;
                }
            }
            let single = self.shared.layout.partitions_of(id).len() == 1;
            if self.tasks.contains_key(&id) && !(single && group.is_empty()) {
                self.groups.insert(id, group);
            }
            result?;
        }
        let drained: Vec<TopicPartition> = self
            .buffer_paused
            .iter()
            .filter(|(t, p)| {
                let id = self.shared.layout.task_for(t, *p);
                let buffered = id.and_then(|id| self.groups.get(&id)).map_or(0, |g| g.buffered(t, *p));
                buffered < BUFFERED_PER_PARTITION / 2
                    && !id.is_some_and(|id| self.tasks.get(&id).is_some_and(|t| t.task.is_paused()))
            })
            .cloned()
            .collect();
        for tp in drained {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&tp.0, tp.1);
            if let Err(e) = self.consumer.resume(&tpl) {
                tracing::warn!(thread = %self.name, error = %e, "resuming a drained partition failed");
            }
            tracing::debug!(thread = %self.name, topic = %tp.0, partition = tp.1, "partition queue drained: fetching resumed");
            self.buffer_paused.remove(&tp);
        }
        Ok(())
    }

    /// Processes `raw` in task `id`.
    fn process_one(&mut self, id: TaskId, raw: &RawRecord) -> Result<()> {
        let Some(task) = self.tasks.get_mut(&id) else {
            // Revoked since it was fetched: its offset is not committed, the new owner reads it.
            tracing::debug!(thread = %self.name, task = %id, offset = raw.offset, "dropping record of a task this thread no longer owns");
            return Ok(());
        };
        self.producer.begin()?;
        task.process(raw)?;
        self.records_consumed.increment(1);
        for record in task.drain_output() {
            self.producer.send(&record)?;
        }
        let ahead = !task.task.is_paused()
            && self
                .skew_limits
                .get(&id.subtopology)
                .is_some_and(|(slowest, limit)| *slowest != id && task.task.observed_time() > *limit);
        if ahead {
            self.set_held(id, true);
        }
        Ok(())
    }

    /// Acts on the rebalances the consumer recorded, oldest first, and acknowledges each, also
    /// when acting on it failed (the group would otherwise wait for this member); the first
    /// failure is returned after all of them.
    fn handle_rebalances(&mut self) -> Result<()> {
        let mut first_error = None;
        for event in self.consumer.context().take_events() {
            let handled = match &event {
                RebalanceEvent::Revoked { partitions, lost } => self.on_revoked(partitions, *lost),
                RebalanceEvent::Assigned(_) => Ok(()),
            };
            StreamsConsumerContext::acknowledge(&self.consumer, &event).map_err(|source| {
                RuntimeError::Subscribe { topics: self.shared.layout.source_topics(), source }
            })?;
            let handled = match (&event, handled) {
                (RebalanceEvent::Assigned(partitions), Ok(())) => self.on_assigned(partitions),
                (_, handled) => handled,
            };
            if let Err(e) = handled {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Commits and closes the tasks of revoked partitions (without committing when the
    /// partitions were lost). When the commit fails, the revoked tasks are closed without it
    /// and the error is returned, for the thread to recover the others.
    fn on_revoked(&mut self, partitions: &[TopicPartition], lost: bool) -> Result<()> {
        self.shared.state.set_thread_state(self.index, ThreadState::Rebalancing);
        let revoked: Vec<TaskId> = self
            .shared
            .layout
            .tasks_for(partitions.iter().map(|(t, p)| (t.as_str(), *p)))
            .into_iter()
            .filter(|id| self.tasks.contains_key(id))
            .collect();
        tracing::info!(thread = %self.name, ?revoked, lost, "partitions revoked");
        let committed = if lost {
            self.producer.abort_transaction()
        } else {
            // Under exactly-once the transaction spans every task, so commit them all.
            self.commit(CommitReason::Revocation).map(|_| ())
        };
        let clean = !lost && committed.is_ok();
        for id in revoked {
            self.drop_task(id, clean)?;
        }
        self.publish_tasks();
        committed
    }

    /// Closes task `id` (`clean`: after a commit) and forgets its buffered records; resumes
    /// its partitions if they were paused. Buffered records were not processed, so their
    /// offsets are not committed: whoever reads the partitions next reads them again.
    fn drop_task(&mut self, id: TaskId, clean: bool) -> Result<()> {
        // librdkafka keeps a partition's pause flag: clear it for the next owner.
        let mut paused = TopicPartitionList::new();
        for (t, p) in
            self.buffer_paused.iter().filter(|(t, p)| self.shared.layout.task_for(t, *p) == Some(id))
        {
            paused.add_partition(t, *p);
        }
        if paused.count() > 0 {
            if let Err(e) = self.consumer.resume(&paused) {
                tracing::warn!(thread = %self.name, task = %id, error = %e, "resuming a closed task's partitions failed");
            }
        }
        self.groups.remove(&id);
        self.buffer_paused.retain(|tp| self.shared.layout.task_for(&tp.0, tp.1) != Some(id));
        if let Some(task) = self.tasks.remove(&id) {
            task.close(clean)?;
        }
        Ok(())
    }

    fn publish_tasks(&self) {
        metrics::gauge!("kstreams_active_tasks", "thread" => self.name.clone()).set(self.tasks.len() as f64);
        self.shared.state.set_thread_tasks(self.index, self.tasks.keys().copied().collect());
    }

    fn on_assigned(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.shared.state.set_thread_state(self.index, ThreadState::Rebalancing);
        let new: Vec<TaskId> = self
            .shared
            .layout
            .tasks_for(partitions.iter().map(|(t, p)| (t.as_str(), *p)))
            .into_iter()
            .filter(|id| !self.tasks.contains_key(id))
            .collect();
        tracing::info!(thread = %self.name, tasks = ?new, "partitions assigned");
        for id in new {
            let committed = self.committed_offsets(id)?;
            self.add_task(id, &committed)?;
        }
        self.publish_tasks();
        self.shared.state.set_thread_state(self.index, ThreadState::Running);
        Ok(())
    }

    /// Creates and restores task `id`, whose input partitions' committed offsets are
    /// `committed`, and starts running it.
    fn add_task(&mut self, id: TaskId, committed: &HashMap<(String, i32), i64>) -> Result<()> {
        let task = self.create_and_restore(id, committed)?;
        self.tasks.insert(id, task);
        let partitions = self.shared.layout.partitions_of(id);
        if partitions.len() > 1 {
            self.groups.insert(id, PartitionGroup::new(partitions));
        }
        Ok(())
    }

    fn create_and_restore(
        &mut self,
        id: TaskId,
        committed: &HashMap<(String, i32), i64>,
    ) -> Result<ActiveTask> {
        let (mut task, start) = ActiveTask::create(&self.shared.topology, id, &self.task_config, committed)?;
        task.transition(TaskState::Restoring)?;
        let (ends, summary) = self.restorer.restore(&mut task.task, &start, committed)?;
        task.changelog_offsets = ends;
        // The stores now hold the changelog up to `ends` and reflect the input up to the
        // committed offsets: record both before processing.
        task.flush()?;
        task.write_checkpoint()?;
        task.transition(TaskState::Running)?;
        // The task's wall clock starts now (watermark idleness counts from here).
        task.punctuate(now_ms())?;
        tracing::info!(thread = %self.name, task = %id, restored = summary.restored,
            skipped_uncommitted = summary.skipped_uncommitted, "task running");
        Ok(task)
    }

    /// The group's committed offsets of the task's input partitions. A timed-out request is
    /// retried until `task.timeout.ms` has passed (a coordinator busy with a rebalance can be
    /// slow to answer); other errors fail at once.
    fn committed_offsets(&self, id: TaskId) -> Result<HashMap<(String, i32), i64>> {
        let mut tpl = TopicPartitionList::new();
        for (t, p) in self.shared.layout.partitions_of(id) {
            tpl.add_partition(t, *p);
        }
        let deadline = Instant::now() + self.shared.config.task_timeout();
        let committed = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.consumer.committed_offsets(tpl.clone(), left.min(Duration::from_secs(10))) {
                Ok(c) => break c,
                Err(e)
                    if is_timeout(&e) && !left.is_zero() && !self.shared.shutdown.load(Ordering::SeqCst) =>
                {
                    tracing::warn!(thread = %self.name, task = %id, error = %e,
                        "fetching committed offsets timed out; retrying until task.timeout.ms");
                }
                Err(source) => {
                    return Err(RuntimeError::Metadata {
                        what: format!("committed offsets of task {id}"),
                        source,
                    })
                }
            }
        };
        Ok(committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
                _ => None,
            })
            .collect())
    }
}

/// Wall-clock time in ms since the epoch.
fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Whether a client error is a timeout worth retrying.
fn is_timeout(e: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(C::OperationTimedOut | C::RequestTimedOut | C::CoordinatorLoadInProgress | C::NotCoordinator)
    )
}

fn to_raw(m: &BorrowedMessage<'_>) -> RawRecord {
    let headers = m
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| kstreams_core::record::Header {
                    key: h.key.to_string(),
                    value: h.value.map(<[u8]>::to_vec),
                })
                .collect()
        })
        .unwrap_or_default();
    RawRecord {
        topic: m.topic().to_string(),
        partition: m.partition(),
        offset: m.offset(),
        timestamp: m.timestamp().to_millis().unwrap_or(-1),
        key: m.key().map(<[u8]>::to_vec),
        value: m.payload().map(<[u8]>::to_vec),
        headers,
    }
}
