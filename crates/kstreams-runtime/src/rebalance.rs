//! The consumer context of a stream thread: it records rebalances instead of acting on them.
//!
//! Tasks are `!Send` and live on their thread, while rdkafka calls the rebalance callback with
//! only `&self` (which must be `Send + Sync`). So the callback records what was assigned or
//! revoked, and the thread — right after `poll` returns — commits and closes revoked tasks,
//! *then* tells librdkafka to drop those partitions (`incremental_unassign`, which librdkafka
//! allows outside the callback), and creates and restores assigned ones. Until the thread
//! acknowledges a revocation the group waits, so no other member reads those partitions
//! before this thread committed them.
//!
//! When the consumer closes, rdkafka's drop serves one last revocation; by then the thread has
//! committed everything, so the context acknowledges it at once ([`StreamsConsumerContext::set_closing`]).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use kstreams_core::TopicPartition;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::types::RDKafkaRespErr;

/// A stream thread's consumer.
pub(crate) type GroupConsumer = BaseConsumer<StreamsConsumerContext>;

/// A rebalance the thread has to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RebalanceEvent {
    /// These partitions were added to the assignment.
    Assigned(Vec<TopicPartition>),
    /// These partitions are being taken away; `lost` when the member was kicked out of the
    /// group (its commits would be rejected, so the tasks close without committing).
    Revoked { partitions: Vec<TopicPartition>, lost: bool },
}

/// The context of a stream thread's consumer.
pub(crate) struct StreamsConsumerContext {
    thread: String,
    events: Mutex<Vec<RebalanceEvent>>,
    closing: AtomicBool,
    lag_reported: Mutex<HashSet<(String, i32)>>,
}

impl StreamsConsumerContext {
    pub(crate) fn new(thread: String) -> Self {
        Self {
            thread,
            events: Mutex::new(Vec::new()),
            closing: AtomicBool::new(false),
            lag_reported: Mutex::default(),
        }
    }

    /// Takes the rebalances recorded since the last call, oldest first.
    pub(crate) fn take_events(&self) -> Vec<RebalanceEvent> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether rebalances are waiting to be handled.
    pub(crate) fn has_events(&self) -> bool {
        !self.events.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    /// From now on, rebalances are acknowledged inside the callback.
    pub(crate) fn set_closing(&self) {
        self.closing.store(true, Ordering::SeqCst);
    }

    /// Tells librdkafka the thread is done with `event` (adds or drops the partitions).
    pub(crate) fn acknowledge(
        consumer: &BaseConsumer<Self>,
        event: &RebalanceEvent,
    ) -> rdkafka::error::KafkaResult<()> {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        match event {
            RebalanceEvent::Assigned(parts) => {
                let tpl = to_tpl(parts);
                if cooperative {
                    consumer.incremental_assign(&tpl)
                } else {
                    consumer.assign(&tpl)
                }
            }
            RebalanceEvent::Revoked { partitions, .. } => {
                if cooperative {
                    consumer.incremental_unassign(&to_tpl(partitions))
                } else {
                    consumer.unassign()
                }
            }
        }
    }
}

/// The partitions `parts` as rdkafka's list.
pub(crate) fn to_tpl<'a>(parts: impl IntoIterator<Item = &'a TopicPartition>) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for tp in parts {
        tpl.add_partition(tp.topic(), tp.partition());
    }
    tpl
}

fn from_tpl(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements().iter().map(|e| TopicPartition::new(e.topic(), e.partition())).collect()
}

impl ClientContext for StreamsConsumerContext {
    fn stats(&self, statistics: Statistics) {
        // Consumer lag per assigned partition, from librdkafka's statistics (no extra requests).
        let mut reported = self.lag_reported.lock().unwrap_or_else(|e| e.into_inner());
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition < 0 || p.consumer_lag < 0 {
                    continue;
                }
                reported.insert((topic.clone(), *partition));
                metrics::gauge!("kstreams_consumer_lag", "thread" => self.thread.clone(), "topic" => topic.clone(),
                    "partition" => partition.to_string())
                .set(p.consumer_lag as f64);
            }
        }
    }
}

impl ConsumerContext for StreamsConsumerContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let event = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => RebalanceEvent::Assigned(from_tpl(tpl)),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                RebalanceEvent::Revoked { partitions: from_tpl(tpl), lost: consumer.assignment_lost() }
            }
            other => {
                tracing::error!(thread = %self.thread, error = ?other, "rebalance failed; rejoining the group");
                metrics::counter!("kstreams_rebalance_errors_total", "thread" => self.thread.clone())
                    .increment(1);
                return;
            }
        };
        metrics::counter!("kstreams_rebalances_total", "thread" => self.thread.clone()).increment(1);
        tracing::info!(thread = %self.thread, ?event, "rebalance");
        if self.closing.load(Ordering::SeqCst) {
            if let Err(e) = Self::acknowledge(consumer, &event) {
                tracing::warn!(thread = %self.thread, error = %e, "acknowledging a rebalance while closing failed");
            }
            return;
        }
        self.events.lock().unwrap_or_else(|e| e.into_inner()).push(event);
    }
}
