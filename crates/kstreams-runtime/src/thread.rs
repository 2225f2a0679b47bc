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
use crate::error::{Result, RuntimeError};
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
            let result = StreamThread::new(index, name.clone(), shared, queries).and_then(StreamThread::run);
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
    /// Interactive queries waiting to run against this thread's tasks.
    queries: std::sync::mpsc::Receiver<crate::query::QueryRequest>,
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
        ];
        let consumer: BaseConsumer<StreamsConsumerContext> = config
            .client_config(ClientKind::Consumer, &base)
            .create_with_context(StreamsConsumerContext::new(name.clone()))
            .map_err(|source| RuntimeError::CreateClient { client: "consumer", source })?;
        let transactional_id = eos.then(|| name.clone());
        let producer = RecordProducer::new(config, &name, transactional_id)?;
        let restorer = Restorer::new(config, &name)?;
        let task_config = TaskConfig {
            application_id: config.application_id().to_string(),
            state_dir: config.state_dir().to_path_buf(),
            deserialization: config.deserialization_handler().clone(),
            global_stores: shared.global_stores.clone(),
            store_settings: crate::store_settings::store_settings(config, &shared.topology, &shared.layout),
        };
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
            queries,
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
            self.handle_rebalances()?;
            self.process_batch()?;
            crate::query::serve_pending(&self.queries, self.tasks.values().map(|t| &t.task));
            self.producer.poll();
            if self.last_tick.elapsed() >= WALL_CLOCK_TICK {
                self.punctuate()?;
            }
            if self.last_commit.elapsed() >= self.shared.config.commit_interval() {
                self.commit(CommitReason::Interval)?;
            }
        }
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
        let mut tasks: Vec<&mut ActiveTask> = self.tasks.values_mut().collect();
        let ok = commit_tasks(&mut tasks, &mut self.producer, &self.consumer, &self.name, reason)?;
        self.last_commit = Instant::now();
        Ok(ok)
    }

    fn punctuate(&mut self) -> Result<()> {
        self.last_tick = Instant::now();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
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
            if !self.consumer.context().has_events() {
                self.process_one(&raw)?;
            } else {
                // A rebalance arrived during this poll: act on it before the record.
                self.handle_rebalances()?;
                self.process_one(&raw)?;
            }
        }
        Ok(())
    }

    fn process_one(&mut self, raw: &RawRecord) -> Result<()> {
        let Some(id) = self.shared.layout.task_for(&raw.topic, raw.partition) else {
            tracing::warn!(thread = %self.name, topic = %raw.topic, partition = raw.partition, "record of a partition no task reads");
            return Ok(());
        };
        let Some(task) = self.tasks.get_mut(&id) else {
            // Revoked since it was fetched: its offset is not committed, the new owner reads it.
            tracing::debug!(thread = %self.name, task = %id, offset = raw.offset, "dropping record of a task this thread no longer owns");
            return Ok(());
        };
        self.producer.begin()?;
        task.process(raw)?;
        metrics::counter!("kstreams_records_consumed_total", "thread" => self.name.clone()).increment(1);
        for record in task.drain_output() {
            self.producer.send(&record)?;
        }
        Ok(())
    }

    fn handle_rebalances(&mut self) -> Result<()> {
        for event in self.consumer.context().take_events() {
            match &event {
                RebalanceEvent::Revoked { partitions, lost } => self.on_revoked(partitions, *lost)?,
                RebalanceEvent::Assigned(_) => {}
            }
            StreamsConsumerContext::acknowledge(&self.consumer, &event).map_err(|source| {
                RuntimeError::Subscribe { topics: self.shared.layout.source_topics(), source }
            })?;
            if let RebalanceEvent::Assigned(partitions) = &event {
                self.on_assigned(partitions)?;
            }
        }
        Ok(())
    }

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
        if lost {
            self.producer.abort_transaction()?;
        } else {
            // Under exactly-once the transaction spans every task, so commit them all.
            self.commit(CommitReason::Revocation)?;
        }
        for id in revoked {
            if let Some(task) = self.tasks.remove(&id) {
                task.close(!lost)?;
            }
        }
        self.publish_tasks();
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
            let task = self.create_and_restore(id)?;
            self.tasks.insert(id, task);
        }
        self.publish_tasks();
        self.shared.state.set_thread_state(self.index, ThreadState::Running);
        Ok(())
    }

    fn create_and_restore(&mut self, id: TaskId) -> Result<ActiveTask> {
        let (mut task, start) = ActiveTask::create(&self.shared.topology, id, &self.task_config)?;
        task.transition(TaskState::Restoring)?;
        let committed = self.committed_offsets(id)?;
        let (ends, summary) = self.restorer.restore(&mut task.task, &start, &committed)?;
        task.changelog_offsets = ends;
        // The stores now hold the changelog up to `ends`: checkpoint that before processing.
        task.write_checkpoint()?;
        task.transition(TaskState::Running)?;
        tracing::info!(thread = %self.name, task = %id, restored = summary.restored,
            skipped_uncommitted = summary.skipped_uncommitted, "task running");
        Ok(task)
    }

    /// The group's committed offsets of the task's input partitions.
    fn committed_offsets(&self, id: TaskId) -> Result<HashMap<(String, i32), i64>> {
        let mut tpl = TopicPartitionList::new();
        for (t, p) in self.shared.layout.partitions_of(id) {
            tpl.add_partition(t, *p);
        }
        let committed = self.consumer.committed_offsets(tpl, Duration::from_secs(30)).map_err(|source| {
            RuntimeError::Metadata { what: format!("committed offsets of task {id}"), source }
        })?;
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
