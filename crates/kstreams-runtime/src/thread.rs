//! A stream thread: one OS thread with its own group consumer, producer and restore consumer,
//! running the tasks of the partitions the group assigned to it (see `docs/threading.md`).
//!
//! Its loop, once per round: act on rebalances; poll a batch of records and hand them to the
//! [`TaskManager`]; align event time; answer interactive queries; run wall-clock punctuations,
//! publish watermarks and, when due, commit (see [`crate::commit`]). A transaction that fails
//! sends the thread back to the committed offsets ([`StreamThread::recover`]); any other error
//! stops it, and the instance goes to ERROR.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kstreams_core::{now_ms, Offsets, RawRecord, TaskConfig, TaskId, TopicPartition, Topology};
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers as _, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::assignment::TaskLayout;
use crate::commit::{commit_tasks, CommitReason};
use crate::config::{ClientKind, ProcessingGuarantee, StreamsConfig};
use crate::error::{Recovery, Result, RuntimeError};
use crate::producer::RecordProducer;
use crate::rebalance::{GroupConsumer, RebalanceEvent, StreamsConsumerContext};
use crate::restore::Restorer;
use crate::state::{StateHolder, ThreadState};
use crate::task::ActiveTask;
use crate::task_manager::TaskManager;

/// Most records processed between two checks of rebalances, commits and shutdown.
const MAX_BATCH: usize = 1000;
/// How long one poll waits when nothing is buffered.
const POLL_TIMEOUT: Duration = Duration::from_millis(50);
/// How often wall-clock punctuations are checked.
const WALL_CLOCK_TICK: Duration = Duration::from_millis(100);

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
    consumer: GroupConsumer,
    producer: RecordProducer,
    restorer: Restorer,
    tasks: TaskManager,
    last_commit: Instant,
    last_tick: Instant,
    last_watermark: Instant,
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
        let consumer: GroupConsumer = config
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
        let tasks = TaskManager::new(&name, shared.layout.clone());
        Ok(Self {
            index,
            name,
            shared,
            task_config,
            consumer,
            producer,
            restorer,
            tasks,
            last_commit: Instant::now(),
            last_tick: Instant::now(),
            last_watermark: Instant::now(),
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
        let config = &self.shared.config;
        let idle = Duration::from_millis(u64::try_from(config.event_time().idle_ms).unwrap_or(0));
        self.tasks.align(config.max_skew_ms(), idle, &self.consumer, &self.restorer);
        crate::query::serve_pending(&self.queries, self.tasks.tasks().map(ActiveTask::stream_task));
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
        let ids = self.tasks.ids();
        for id in &ids {
            self.tasks.remove(*id, false, &self.consumer)?;
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
            let still_assigned =
                partitions.iter().all(|tp| assigned.find_partition(tp.topic(), tp.partition()).is_some());
            if self.tasks.contains(id) || !still_assigned {
                continue;
            }
            let (committed, stream_time) = self.committed_offsets(id)?;
            // The consumer went on past the committed offsets: read those records again.
            for tp in partitions {
                let offset = committed.of(tp).map_or(Offset::Beginning, Offset::Offset);
                self.consumer.seek(tp.topic(), tp.partition(), offset, Duration::from_secs(10)).map_err(
                    |source| RuntimeError::Metadata { what: format!("seeking {tp} to {offset:?}"), source },
                )?;
            }
            self.add_task(id, &committed, stream_time)?;
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
        for id in self.tasks.ids() {
            if let Err(e) = self.tasks.remove(id, clean, &self.consumer) {
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
        let ok = commit_tasks(&mut self.tasks, &mut self.producer, &self.consumer, &self.name, reason)?;
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
        for task in self.tasks.tasks_mut() {
            if task.publish_watermarks() {
                self.producer.begin()?;
                for record in task.drain_output() {
                    self.producer.send(&record)?;
                }
            }
        }
        Ok(())
    }

    fn punctuate(&mut self) -> Result<()> {
        self.last_tick = Instant::now();
        let now = now_ms();
        for task in self.tasks.tasks_mut() {
            if task.punctuate(now)? {
                self.producer.begin()?;
                for record in task.drain_output() {
                    self.producer.send(&record)?;
                }
            }
        }
        Ok(())
    }

    /// Polls up to [`MAX_BATCH`] records and hands each to the task manager.
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
            self.tasks.dispatch(raw, &self.consumer, &mut self.producer)?;
        }
        self.tasks.process_queued(self.shared.config.max_task_idle(), &self.consumer, &mut self.producer)
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
            .tasks_for(partitions)
            .into_iter()
            .filter(|id| self.tasks.contains(*id))
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
            self.tasks.remove(id, clean, &self.consumer)?;
        }
        self.publish_tasks();
        committed
    }

    fn on_assigned(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.shared.state.set_thread_state(self.index, ThreadState::Rebalancing);
        let new: Vec<TaskId> = self
            .shared
            .layout
            .tasks_for(partitions)
            .into_iter()
            .filter(|id| !self.tasks.contains(*id))
            .collect();
        tracing::info!(thread = %self.name, tasks = ?new, "partitions assigned");
        for id in new {
            let (committed, stream_time) = self.committed_offsets(id)?;
            self.add_task(id, &committed, stream_time)?;
        }
        self.publish_tasks();
        self.shared.state.set_thread_state(self.index, ThreadState::Running);
        Ok(())
    }

    /// Creates task `id` on its local state, restores it from its changelogs, and starts
    /// running it.
    fn add_task(&mut self, id: TaskId, committed: &Offsets, stream_time: Option<i64>) -> Result<()> {
        let partitions = self.shared.layout.partitions_of(id);
        let (mut task, start) =
            ActiveTask::create(&self.shared.topology, id, &self.task_config, partitions, committed)?;
        let mut member = KeepMember::new(&self.consumer, &self.name);
        let floor = task.owner_floor();
        let restored =
            self.restorer.restore(task.begin_restore()?, &start, committed, floor, &mut || member.tick());
        member.finish(|tp| self.tasks.is_fetch_paused(tp));
        let (ends, summary) = restored?;
        task.finish_restore(ends, stream_time, summary.max_owner_epoch, now_ms())?;
        tracing::info!(thread = %self.name, task = %id, restored = summary.restored,
            skipped_uncommitted = summary.skipped_uncommitted, skipped_stale_owner = summary.skipped_stale_owner,
            ?stream_time, "task running");
        self.tasks.add(task);
        Ok(())
    }

    fn publish_tasks(&self) {
        metrics::gauge!("kstreams_active_tasks", "thread" => self.name.clone()).set(self.tasks.len() as f64);
        self.shared.state.set_thread_tasks(self.index, self.tasks.ids());
    }

    /// The group's committed offsets of the task's input partitions. A timed-out request is
    /// retried until `task.timeout.ms` has passed (a coordinator busy with a rebalance can be
    /// slow to answer); other errors fail at once. Also returns the stream time committed with
    /// them (the latest of its partitions').
    fn committed_offsets(&self, id: TaskId) -> Result<(Offsets, Option<i64>)> {
        let mut tpl = TopicPartitionList::new();
        for tp in self.shared.layout.partitions_of(id) {
            tpl.add_partition(tp.topic(), tp.partition());
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
        let elements = committed.elements();
        let stream_time =
            elements.iter().filter_map(|e| crate::commit::parse_stream_time(e.metadata())).max();
        let offsets = elements
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((TopicPartition::new(e.topic(), e.partition()), o)),
                _ => None,
            })
            .collect();
        Ok((offsets, stream_time))
    }
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
                .map(|h| kstreams_core::Header { key: h.key.to_string(), value: h.value.map(<[u8]>::to_vec) })
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

/// Keeps a stream thread in its consumer group while it restores a task: the group evicts a
/// member that does not poll within `max.poll.interval.ms`, and a restore can take longer.
/// So the whole assignment is paused and the consumer polled every half second; a record it
/// still returns (fetched before the pause) is not lost: its partition is sought back to it
/// when the restore ends. Rebalances seen meanwhile are recorded by the consumer's context and
/// handled after the restore, as usual.
struct KeepMember<'a> {
    consumer: &'a GroupConsumer,
    thread: &'a str,
    paused: Option<TopicPartitionList>,
    rewind: std::collections::BTreeMap<(String, i32), i64>,
    last_poll: Instant,
}

impl<'a> KeepMember<'a> {
    const EVERY: Duration = Duration::from_millis(500);

    fn new(consumer: &'a GroupConsumer, thread: &'a str) -> Self {
        Self { consumer, thread, paused: None, rewind: Default::default(), last_poll: Instant::now() }
    }

    fn tick(&mut self) {
        if self.last_poll.elapsed() < Self::EVERY {
            return;
        }
        if self.paused.is_none() {
            match self.consumer.assignment() {
                Ok(assignment) => {
                    if let Err(e) = self.consumer.pause(&assignment) {
                        tracing::warn!(thread = %self.thread, error = %e, "pausing the assignment for a restore failed");
                        return;
                    }
                    self.paused = Some(assignment);
                }
                Err(e) => {
                    tracing::warn!(thread = %self.thread, error = %e, "reading the assignment failed");
                    return;
                }
            }
        }
        // Fetched records of paused partitions may still be queued: at most that many polls.
        for _ in 0..10_000 {
            match self.consumer.poll(Duration::ZERO) {
                Some(Ok(m)) => {
                    let slot =
                        self.rewind.entry((m.topic().to_string(), m.partition())).or_insert(m.offset());
                    *slot = (*slot).min(m.offset());
                }
                Some(Err(e)) => {
                    tracing::debug!(thread = %self.thread, error = %e, "consumer error during a restore")
                }
                None => break,
            }
        }
        self.last_poll = Instant::now();
    }

    /// Seeks back the partitions whose records were polled, and resumes what was paused for
    /// the restore (not what the thread itself paused, `paused_by_thread`).
    fn finish(self, paused_by_thread: impl Fn(&TopicPartition) -> bool) {
        let Some(paused) = self.paused else { return };
        for ((topic, partition), offset) in &self.rewind {
            if let Err(e) =
                self.consumer.seek(topic, *partition, Offset::Offset(*offset), Duration::from_secs(10))
            {
                tracing::warn!(thread = %self.thread, topic, partition, offset, error = %e,
                    "seeking back after a restore failed");
            }
        }
        let mut resume = TopicPartitionList::new();
        for e in paused.elements() {
            if !paused_by_thread(&TopicPartition::new(e.topic(), e.partition())) {
                resume.add_partition(e.topic(), e.partition());
            }
        }
        if let Err(e) = self.consumer.resume(&resume) {
            tracing::warn!(thread = %self.thread, error = %e, "resuming the assignment after a restore failed");
        }
    }
}
