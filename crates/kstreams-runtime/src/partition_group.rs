//! Timestamp-ordered choice across the partitions of one task (Kafka Streams' `PartitionGroup`).
//!
//! A task that reads several partitions (a join of two topics, merged topics) gets their
//! records in fetch order, which can be far apart in time. The stream thread buffers such a
//! task's records per partition and hands it, each time, the buffered record with the lowest
//! timestamp (the Kafka record timestamp; for repartition topics that is the event time).
//! While one of the task's partitions has nothing buffered the task waits, up to
//! `max.task.idle.ms`, for it to receive data; then it goes on with what it has. With the
//! default of 0 it never waits, and the choice orders what each poll batch brought.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use kstreams_core::{RawRecord, TopicPartition};

/// The buffered records of one task, per input partition.
#[derive(Debug)]
pub(crate) struct PartitionGroup {
    queues: Vec<(TopicPartition, VecDeque<RawRecord>)>,
    /// Since when some partition has been empty while others had records.
    blocked_since: Option<Instant>,
}

impl PartitionGroup {
    /// A group over `partitions` (the task's input partitions).
    pub(crate) fn new(partitions: &[TopicPartition]) -> Self {
        Self {
            queues: partitions.iter().map(|tp| (tp.clone(), VecDeque::new())).collect(),
            blocked_since: None,
        }
    }

    /// Buffers a record; returns how many records its partition now holds. A record of a
    /// partition the task does not read is kept in a queue of its own.
    pub(crate) fn push(&mut self, raw: RawRecord) -> usize {
        let i = match self.queues.iter().position(|(tp, _)| tp.is(&raw.topic, raw.partition)) {
            Some(i) => i,
            None => {
                self.queues.push((TopicPartition::new(raw.topic.as_str(), raw.partition), VecDeque::new()));
                self.queues.len() - 1
            }
        };
        let q = &mut self.queues[i].1;
        q.push_back(raw);
        q.len()
    }

    /// Whether nothing is buffered.
    pub(crate) fn is_empty(&self) -> bool {
        self.queues.iter().all(|(_, q)| q.is_empty())
    }

    /// Records buffered for `topic`-`partition`.
    pub(crate) fn buffered(&self, partition: &TopicPartition) -> usize {
        self.queues.iter().find(|(tp, _)| tp == partition).map_or(0, |(_, q)| q.len())
    }

    /// The next record to process: the lowest head timestamp over the partitions (the first
    /// partition on ties), or `None` when nothing is buffered or the task waits for an empty
    /// partition (for at most `max_idle` from when it started waiting).
    pub(crate) fn next(&mut self, max_idle: Duration, now: Instant) -> Option<RawRecord> {
        let non_empty = self.queues.iter().filter(|(_, q)| !q.is_empty()).count();
        if non_empty == 0 {
            self.blocked_since = None;
            return None;
        }
        if non_empty < self.queues.len() {
            if !max_idle.is_zero() {
                let since = *self.blocked_since.get_or_insert(now);
                if now.saturating_duration_since(since) < max_idle {
                    return None;
                }
            }
        } else {
            self.blocked_since = None;
        }
        let (_, q) = self
            .queues
            .iter_mut()
            .filter(|(_, q)| !q.is_empty())
            .min_by_key(|(_, q)| q.front().map_or(i64::MAX, |r| r.timestamp))?;
        q.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(topic: &str, partition: i32, offset: i64, timestamp: i64) -> RawRecord {
        RawRecord {
            topic: topic.into(),
            partition,
            offset,
            timestamp,
            key: None,
            value: None,
            headers: Default::default(),
        }
    }

    fn drain(g: &mut PartitionGroup, idle: Duration, now: Instant) -> Vec<(String, i64)> {
        std::iter::from_fn(|| g.next(idle, now)).map(|r| (r.topic, r.timestamp)).collect()
    }

    #[test]
    fn the_lowest_timestamp_goes_first_and_each_partition_stays_in_offset_order() {
        let mut g = PartitionGroup::new(&[TopicPartition::new("a", 0), TopicPartition::new("b", 0)]);
        for (i, ts) in [1, 5, 3].into_iter().enumerate() {
            g.push(rec("a", 0, i as i64, ts));
        }
        for (i, ts) in [2, 4].into_iter().enumerate() {
            g.push(rec("b", 0, i as i64, ts));
        }
        let out = drain(&mut g, Duration::ZERO, Instant::now());
        // b is empty once 2 and 4 are gone; with no idle time a's 5 and 3 follow in order.
        let want: Vec<(String, i64)> = [("a", 1), ("b", 2), ("b", 4), ("a", 5), ("a", 3)]
            .iter()
            .map(|(t, ts)| (t.to_string(), *ts))
            .collect();
        assert_eq!(out, want);
        assert_eq!(g.buffered(&TopicPartition::new("a", 0)), 0);
    }

    #[test]
    fn an_empty_partition_is_waited_for_up_to_the_idle_time() {
        let t0 = Instant::now();
        let idle = Duration::from_millis(100);
        let mut g = PartitionGroup::new(&[TopicPartition::new("a", 0), TopicPartition::new("b", 0)]);
        assert_eq!(g.push(rec("a", 0, 0, 10)), 1);
        g.push(rec("a", 0, 1, 30));
        assert!(g.next(idle, t0).is_none(), "b has nothing yet: wait");
        assert!(g.next(idle, t0 + Duration::from_millis(99)).is_none());
        // b's record arrives within the idle time: the order is by timestamp.
        g.push(rec("b", 0, 0, 20));
        assert_eq!(
            drain(&mut g, idle, t0 + Duration::from_millis(99)),
            vec![("a".into(), 10), ("b".into(), 20)]
        );
        // b is empty again: a waits afresh, then goes on alone.
        assert!(g.next(idle, t0 + Duration::from_millis(150)).is_none());
        assert_eq!(g.next(idle, t0 + Duration::from_millis(250)).map(|r| r.timestamp), Some(30));
        assert!(g.next(idle, t0 + Duration::from_millis(250)).is_none(), "nothing left");
    }
}
