//! [`TaskManager`]: the tasks of one stream thread, their partition queues and the pauses of
//! their partitions at the consumer.
//!
//! A polled record goes to its task at once, unless the task reads several partitions
//! (timestamp-ordered choice, see [`PartitionGroup`]), is held back by event-time alignment
//! (see [`crate::alignment`]), or still has queued records: then it waits in the task's
//! partition queue. A queue that fills up pauses its partition's fetching at the consumer until
//! it drains below half; a held task keeps being fetched until then, so a short hold costs no
//! refetch (pausing a partition in librdkafka drops what it had prefetched).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kstreams_core::{RawRecord, TaskId, TopicPartition};
use rdkafka::consumer::Consumer;

use crate::alignment::{plan, SkewLimits, TaskView};
use crate::assignment::TaskLayout;
use crate::error::Result;
use crate::partition_group::PartitionGroup;
use crate::producer::RecordProducer;
use crate::rebalance::{to_tpl, GroupConsumer};
use crate::task::ActiveTask;

/// Records queued for one partition of a task before its fetching is paused (Kafka Streams'
/// `buffered.records.per.partition`); resumed below half of it.
const QUEUED_PER_PARTITION: usize = 1000;
/// How long a task may go without records before alignment asks whether it has any left.
const SILENT_AFTER: Duration = Duration::from_millis(500);
/// How long the answer "records wait in this task's partitions" is trusted.
const WAITING_RECHECK: Duration = Duration::from_secs(1);

/// The tasks of one stream thread.
pub(crate) struct TaskManager {
    thread: String,
    layout: Arc<TaskLayout>,
    tasks: BTreeMap<TaskId, ActiveTask>,
    /// Partition queues: of the tasks that read more than one partition, and of tasks held
    /// back (or with records still queued) until they drain.
    queues: BTreeMap<TaskId, PartitionGroup>,
    /// Partitions whose fetching is paused at the consumer because their queue is full.
    fetch_paused: BTreeSet<TopicPartition>,
    /// The alignment limits of the last plan, checked after every record.
    limits: SkewLimits,
    /// Per task: when the broker was last asked whether records wait for it, and the answer.
    waiting: HashMap<TaskId, (Instant, bool)>,
    /// `kstreams_records_consumed_total` of this thread (registered once, not per record).
    records_consumed: metrics::Counter,
}

impl TaskManager {
    pub(crate) fn new(thread: &str, layout: Arc<TaskLayout>) -> Self {
        let records_consumed =
            metrics::counter!("kstreams_records_consumed_total", "thread" => thread.to_string());
        Self {
            thread: thread.to_string(),
            layout,
            tasks: BTreeMap::new(),
            queues: BTreeMap::new(),
            fetch_paused: BTreeSet::new(),
            limits: SkewLimits::default(),
            waiting: HashMap::new(),
            records_consumed,
        }
    }

    /// The thread's task ids, sorted.
    pub(crate) fn ids(&self) -> Vec<TaskId> {
        self.tasks.keys().copied().collect()
    }

    /// Whether task `id` runs here.
    pub(crate) fn contains(&self, id: TaskId) -> bool {
        self.tasks.contains_key(&id)
    }

    /// Number of tasks.
    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Every task.
    pub(crate) fn tasks(&self) -> impl Iterator<Item = &ActiveTask> + Clone {
        self.tasks.values()
    }

    /// Every task, mutable.
    pub(crate) fn tasks_mut(&mut self) -> impl Iterator<Item = &mut ActiveTask> {
        self.tasks.values_mut()
    }

    /// Starts running `task`.
    pub(crate) fn add(&mut self, task: ActiveTask) {
        let id = task.id();
        let partitions = self.layout.partitions_of(id);
        if partitions.len() > 1 {
            self.queues.insert(id, PartitionGroup::new(partitions));
        }
        self.tasks.insert(id, task);
    }

    /// Whether the thread paused `partition` (it holds enough queued records).
    pub(crate) fn is_fetch_paused(&self, partition: &TopicPartition) -> bool {
        self.fetch_paused.contains(partition)
    }

    /// Closes task `id` (`clean`: after a commit) and forgets its queued records; resumes its
    /// partitions if they were paused. Queued records were not processed, so their offsets are
    /// not committed: whoever reads the partitions next reads them again.
    pub(crate) fn remove(&mut self, id: TaskId, clean: bool, consumer: &GroupConsumer) -> Result<()> {
        let layout = self.layout.clone();
        let of_task = |tp: &TopicPartition| layout.task_for(tp.topic(), tp.partition()) == Some(id);
        let paused: Vec<TopicPartition> =
            self.fetch_paused.iter().filter(|tp| of_task(tp)).cloned().collect();
        if !paused.is_empty() {
            // librdkafka keeps a partition's pause flag: clear it for the next owner.
            if let Err(e) = consumer.resume(&to_tpl(&paused)) {
                tracing::warn!(thread = %self.thread, task = %id, error = %e, "resuming a closed task's partitions failed");
            }
            self.fetch_paused.retain(|tp| !of_task(tp));
        }
        self.queues.remove(&id);
        self.waiting.remove(&id);
        if let Some(task) = self.tasks.remove(&id) {
            task.close(clean)?;
        }
        Ok(())
    }

    /// Processes `raw` in its task now, or queues it (see the module docs).
    pub(crate) fn dispatch(
        &mut self,
        raw: RawRecord,
        consumer: &GroupConsumer,
        producer: &mut RecordProducer,
    ) -> Result<()> {
        let Some(id) = self.layout.task_for(&raw.topic, raw.partition) else {
            tracing::warn!(thread = %self.thread, topic = %raw.topic, partition = raw.partition, "record of a partition no task reads");
            return Ok(());
        };
        if !self.queues.contains_key(&id) && !self.is_held(id) {
            return self.process_one(id, &raw, producer);
        }
        let layout = &self.layout;
        let queue = self.queues.entry(id).or_insert_with(|| PartitionGroup::new(layout.partitions_of(id)));
        let (topic, partition) = (raw.topic.clone(), raw.partition);
        if queue.push(raw) >= QUEUED_PER_PARTITION
            && !self.fetch_paused.iter().any(|tp| tp.is(&topic, partition))
        {
            let tp = TopicPartition::new(topic.as_str(), partition);
            match consumer.pause(&to_tpl([&tp])) {
                Ok(()) => {
                    tracing::debug!(thread = %self.thread, partition = %tp, "partition queue full: fetching paused");
                    self.fetch_paused.insert(tp);
                }
                Err(e) => {
                    tracing::warn!(thread = %self.thread, error = %e, "pausing a full partition queue failed")
                }
            }
        }
        Ok(())
    }

    /// Hands every task that is not held back its queued records, lowest timestamp first,
    /// and resumes partitions whose queue drained. A single-partition task whose queue is
    /// empty goes back to direct processing.
    pub(crate) fn process_queued(
        &mut self,
        max_idle: Duration,
        consumer: &GroupConsumer,
        producer: &mut RecordProducer,
    ) -> Result<()> {
        if self.queues.is_empty() {
            return Ok(());
        }
        for id in self.queues.keys().copied().collect::<Vec<_>>() {
            let Some(mut queue) = self.queues.remove(&id) else { continue };
            let now = Instant::now();
            let mut result: Result<()> = Ok(());
            // Processing can put the task ahead of the others: it stops there.
            while !self.is_held(id) {
                let Some(raw) = queue.next(max_idle, now) else { break };
                result = self.process_one(id, &raw, producer);
                if result.is_err() {
                    break;
                }
            }
            let single = self.layout.partitions_of(id).len() == 1;
            if self.tasks.contains_key(&id) && !(single && queue.is_empty()) {
                self.queues.insert(id, queue);
            }
            result?;
        }
        let drained: Vec<TopicPartition> = self
            .fetch_paused
            .iter()
            .filter(|tp| {
                let id = self.layout.task_for(tp.topic(), tp.partition());
                let queued = id.and_then(|id| self.queues.get(&id)).map_or(0, |q| q.buffered(tp));
                queued < QUEUED_PER_PARTITION / 2 && !id.is_some_and(|id| self.is_held(id))
            })
            .cloned()
            .collect();
        if !drained.is_empty() {
            if let Err(e) = consumer.resume(&to_tpl(&drained)) {
                tracing::warn!(thread = %self.thread, error = %e, "resuming drained partitions failed");
            }
            for tp in drained {
                tracing::debug!(thread = %self.thread, partition = %tp, "partition queue drained: fetching resumed");
                self.fetch_paused.remove(&tp);
            }
        }
        Ok(())
    }

    /// Processes `raw` in task `id`, sends what it produced, and holds the task back if it
    /// ran past its alignment limit.
    fn process_one(&mut self, id: TaskId, raw: &RawRecord, producer: &mut RecordProducer) -> Result<()> {
        let Some(task) = self.tasks.get_mut(&id) else {
            // Revoked since it was fetched: its offset is not committed, the new owner reads it.
            tracing::debug!(thread = %self.thread, task = %id, offset = raw.offset, "dropping record of a task this thread no longer owns");
            return Ok(());
        };
        producer.begin()?;
        task.process(raw)?;
        self.records_consumed.increment(1);
        for record in task.drain_output() {
            producer.send(&record)?;
        }
        if !task.is_held() && self.limits.is_ahead(id, task.observed_time()) {
            self.set_held(id, true);
        }
        Ok(())
    }

    /// Event-time alignment after a batch (see [`crate::alignment`]): holds the tasks that ran
    /// too far ahead and lets go those that are within half the skew again. Whether records
    /// wait in a task's partitions is asked at the broker through `restorer` (at most once per
    /// second per task, and only when it matters).
    pub(crate) fn align(
        &mut self,
        skew: i64,
        idle: Duration,
        consumer: &GroupConsumer,
        restorer: &crate::restore::Restorer,
    ) {
        if skew == 0 || self.tasks.len() < 2 {
            return;
        }
        let views: Vec<TaskView> = self
            .tasks
            .values()
            .map(|t| TaskView {
                id: t.id(),
                observed: t.observed_time(),
                held: t.is_held(),
                quiet: t.quiet_for() >= idle,
                silent: t.quiet_for() >= SILENT_AFTER,
            })
            .collect();
        let decided = plan(&views, skew, |id| self.records_waiting(id, consumer, restorer));
        self.limits = decided.limits;
        for id in decided.hold {
            self.set_held(id, true);
        }
        for id in decided.release {
            self.set_held(id, false);
        }
    }

    /// Whether records wait in the partitions of task `id` beyond what it consumed; the answer
    /// is cached for [`WAITING_RECHECK`].
    fn records_waiting(
        &mut self,
        id: TaskId,
        consumer: &GroupConsumer,
        restorer: &crate::restore::Restorer,
    ) -> bool {
        if let Some((at, w)) = self.waiting.get(&id) {
            if at.elapsed() < WAITING_RECHECK {
                return *w;
            }
        }
        let w = self.ask_broker_whether_records_wait(id, consumer, restorer);
        self.waiting.insert(id, (Instant::now(), w));
        w
    }

    /// Asks the broker for the high watermarks of the task's partitions (a ListOffsets request
    /// each) and compares them with the consumer's positions.
    fn ask_broker_whether_records_wait(
        &self,
        id: TaskId,
        consumer: &GroupConsumer,
        restorer: &crate::restore::Restorer,
    ) -> bool {
        /// How long asking the broker for a partition's high watermark may take.
        const TIMEOUT: Duration = Duration::from_millis(500);
        let Some(task) = self.tasks.get(&id) else { return false };
        let positions = consumer.position().unwrap_or_default();
        self.layout.partitions_of(id).iter().any(|tp| {
            // Asked through the restore consumer: on the group consumer's connection the
            // request would wait behind a fetch long-poll (up to `fetch.wait.max.ms`, measured
            // 450 ms), blocking the thread.
            let Ok((low, high)) = restorer.fetch_watermarks(tp.topic(), tp.partition(), TIMEOUT) else {
                return false;
            };
            let position = match positions
                .find_partition(tp.topic(), tp.partition())
                .and_then(|e| e.offset().to_raw())
            {
                Some(o) if o >= 0 => o,
                _ => task.committed_at_start(tp).unwrap_or(low),
            };
            high > position
        })
    }

    /// Holds task `id` back (or lets it go on): a held task's records are queued, not
    /// processed.
    fn set_held(&mut self, id: TaskId, held: bool) {
        if let Some(task) = self.tasks.get_mut(&id) {
            task.set_held(held);
            tracing::debug!(thread = %self.thread, task = %id, held, event_time = task.observed_time(), stream_time = task.stream_task().stream_time(), "event-time alignment");
        }
        if held {
            metrics::counter!("kstreams_alignment_holds_total", "thread" => self.thread.clone()).increment(1);
        }
    }

    fn is_held(&self, id: TaskId) -> bool {
        self.tasks.get(&id).is_some_and(ActiveTask::is_held)
    }
}
