//! Which task reads which partition: a pure function of the topology and the partition counts,
//! computed once at start and shared by every stream thread.
//!
//! Task `s_p` reads partition `p` of every source topic of sub-topology `s`
//! ([`kstreams_core::group_partitions`], which also checks co-partitioning). When
//! the group assigns a thread a partition, the thread looks its task up here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kstreams_core::{group_partitions, TaskId, TopicPartition, Topology};

use crate::error::Result;

/// The mapping between input partitions and tasks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskLayout {
    /// Topic → the task of each of its partitions (indexed by partition), so a lookup per
    /// record needs no allocation.
    by_partition: HashMap<String, Vec<Option<TaskId>>>,
    tasks: BTreeMap<TaskId, Vec<TopicPartition>>,
}

impl TaskLayout {
    /// Groups the partitions of `topology`'s source topics (resolved for `application_id`)
    /// into tasks. `partition_counts` must hold every source topic, internal ones included.
    /// Fails when a topic is missing or when co-partitioned topics differ in partition count.
    pub fn new(
        topology: &Topology,
        application_id: &str,
        partition_counts: &BTreeMap<String, i32>,
    ) -> Result<Self> {
        let subs: BTreeMap<u32, Vec<String>> = topology
            .subtopologies()
            .iter()
            .filter(|s| !s.source_topics.is_empty())
            .map(|s| (s.id, s.source_topics.iter().map(|t| t.resolve(application_id)).collect()))
            .collect();
        let mut layout = Self::default();
        for assignment in group_partitions(&subs, partition_counts)? {
            for tp in &assignment.partitions {
                let Ok(i) = usize::try_from(tp.partition()) else { continue };
                let slots = layout.by_partition.entry(tp.topic().to_string()).or_default();
                if slots.len() <= i {
                    slots.resize(i + 1, None);
                }
                slots[i] = Some(assignment.task);
            }
            layout.tasks.insert(assignment.task, assignment.partitions);
        }
        Ok(layout)
    }

    /// The task that reads `topic`-`partition`.
    pub fn task_for(&self, topic: &str, partition: i32) -> Option<TaskId> {
        let slots = self.by_partition.get(topic)?;
        slots.get(usize::try_from(partition).ok()?).copied().flatten()
    }

    /// The partitions task `task` reads.
    pub fn partitions_of(&self, task: TaskId) -> &[TopicPartition] {
        self.tasks.get(&task).map_or(&[], Vec::as_slice)
    }

    /// The tasks reading any of `partitions`; partitions of unknown topics are ignored.
    pub fn tasks_for<'a>(
        &self,
        partitions: impl IntoIterator<Item = &'a TopicPartition>,
    ) -> BTreeSet<TaskId> {
        partitions.into_iter().filter_map(|tp| self.task_for(tp.topic(), tp.partition())).collect()
    }

    /// Every task.
    pub fn tasks(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.tasks.keys().copied()
    }

    /// The partition count of each source topic (internal ones included).
    pub fn partition_counts(&self) -> HashMap<String, i32> {
        self.by_partition
            .iter()
            .map(|(t, slots)| (t.clone(), i32::try_from(slots.len()).unwrap_or(i32::MAX)))
            .collect()
    }

    /// The topics the consumers subscribe to, sorted.
    pub fn source_topics(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self.by_partition.keys().collect();
        set.into_iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kstreams_core::RepartitionTopic;
    use kstreams_core::StringSerde;
    use kstreams_core::TopicRef;

    use super::*;

    /// input → sink(repartition) | repartition source → sink(output); and a join of a and b.
    fn topology() -> Topology {
        let mut t = Topology::new();
        let s = Arc::new(StringSerde);
        let src = t
            .add_source("src", vec![TopicRef::External("input".into())], s.clone(), s.clone(), None)
            .unwrap();
        t.add_sink("to-rep", TopicRef::Internal("by-key-repartition".into()), &[src], s.clone(), s.clone())
            .unwrap();
        t.add_repartition_topic(RepartitionTopic {
            topic: TopicRef::Internal("by-key-repartition".into()),
            partitions: None,
        });
        let rep = t
            .add_source(
                "rep",
                vec![TopicRef::Internal("by-key-repartition".into())],
                s.clone(),
                s.clone(),
                None,
            )
            .unwrap();
        t.add_sink("out", TopicRef::External("output".into()), &[rep], s.clone(), s.clone()).unwrap();
        let ab = t
            .add_source(
                "ab",
                vec![TopicRef::External("a".into()), TopicRef::External("b".into())],
                s.clone(),
                s.clone(),
                None,
            )
            .unwrap();
        t.add_sink("ab-out", TopicRef::External("output".into()), &[ab], s.clone(), s).unwrap();
        t
    }

    fn counts(pairs: &[(&str, i32)]) -> BTreeMap<String, i32> {
        pairs.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    #[test]
    fn maps_partitions_to_tasks_and_back() {
        let layout = TaskLayout::new(
            &topology(),
            "app",
            &counts(&[("input", 3), ("app-by-key-repartition", 2), ("a", 2), ("b", 2)]),
        )
        .unwrap();
        assert_eq!(layout.tasks().count(), 3 + 2 + 2);
        assert_eq!(layout.task_for("input", 2), Some(TaskId { subtopology: 0, partition: 2 }));
        assert_eq!(
            layout.task_for("app-by-key-repartition", 1),
            Some(TaskId { subtopology: 1, partition: 1 })
        );
        let join = TaskId { subtopology: 2, partition: 1 };
        assert_eq!(layout.task_for("a", 1), Some(join));
        assert_eq!(layout.task_for("b", 1), Some(join));
        assert_eq!(layout.partitions_of(join), &[TopicPartition::new("a", 1), TopicPartition::new("b", 1)]);
        assert_eq!(layout.task_for("input", 3), None);
        assert_eq!(layout.task_for("unknown", 0), None);
        let tps = [("a", 0), ("b", 0), ("input", 0), ("zzz", 0)].map(|(t, p)| TopicPartition::new(t, p));
        assert_eq!(layout.tasks_for(&tps).len(), 2);
        assert_eq!(layout.source_topics(), vec!["a", "app-by-key-repartition", "b", "input"]);
    }

    #[test]
    fn co_partitioning_is_validated() {
        let err = TaskLayout::new(
            &topology(),
            "app",
            &counts(&[("input", 3), ("app-by-key-repartition", 2), ("a", 2), ("b", 4)]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("co-partitioned") && err.contains("`a`") && err.contains("`b`"), "{err}");
    }
}
