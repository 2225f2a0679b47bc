//! Partitioning: Kafka's default key hash, and the grouping of input partitions into tasks.
//!
//! Both are pure functions, tested without a broker.

use std::collections::BTreeMap;

use crate::error::{Result, StreamsError};
use crate::id::TaskId;
use crate::topic::TopicPartition;

/// Kafka's murmur2 hash, as used by the Java client's default partitioner.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for chunk in chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    match tail.len() {
        3 => {
            h ^= u32::from(tail[2]) << 16;
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        2 => {
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        1 => {
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for a non-null key.
pub fn default_partition(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// One task's share of the input: its id and the topic partitions it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskAssignment {
    /// The task.
    pub task: TaskId,
    /// The topic partitions it reads.
    pub partitions: Vec<TopicPartition>,
}

/// Groups input partitions into tasks: task `s_p` reads partition `p` of every source topic of
/// sub-topology `s`. Source topics of one sub-topology must have the same partition count
/// (they are co-partitioned), else the grouping fails naming the topics.
///
/// `subtopologies` maps each sub-topology id to its source topics; `partition_counts` gives
/// each topic's partition count.
pub fn group_partitions(
    subtopologies: &BTreeMap<u32, Vec<String>>,
    partition_counts: &BTreeMap<String, i32>,
) -> Result<Vec<TaskAssignment>> {
    let mut tasks = Vec::new();
    for (sub, topics) in subtopologies {
        let mut count: Option<(i32, &str)> = None;
        for topic in topics {
            let n = *partition_counts.get(topic).ok_or_else(|| {
                StreamsError::Topology(format!("source topic `{topic}` of sub-topology {sub} does not exist"))
            })?;
            match count {
                None => count = Some((n, topic)),
                Some((m, other)) if m != n => {
                    return Err(StreamsError::Topology(format!(
                    "topics `{other}` ({m} partitions) and `{topic}` ({n} partitions) are joined or merged \
                         in sub-topology {sub} and must be co-partitioned (same partition count)"
                )))
                }
                Some(_) => {}
            }
        }
        let n = count.map_or(0, |(n, _)| n);
        for p in 0..n {
            tasks.push(TaskAssignment {
                task: TaskId { subtopology: *sub, partition: p },
                partitions: topics.iter().map(|t| TopicPartition::new(t.as_str(), p)).collect(),
            });
        }
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client() {
        // Values from Kafka's UtilsTest.testMurmur2.
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
        assert_eq!(murmur2(b"abc"), 479470107);
    }

    #[test]
    fn default_partition_is_in_range() {
        for i in 0..1000 {
            let p = default_partition(format!("sensor-{i}").as_bytes(), 3);
            assert!((0..3).contains(&p));
        }
    }

    #[test]
    fn grouping_makes_one_task_per_partition_and_subtopology() {
        let subs = BTreeMap::from([
            (0, vec!["a".to_string(), "b".to_string()]),
            (1, vec!["app-x-repartition".to_string()]),
        ]);
        let counts = BTreeMap::from([("a".into(), 2), ("b".into(), 2), ("app-x-repartition".into(), 3)]);
        let tasks = group_partitions(&subs, &counts).unwrap();
        assert_eq!(tasks.len(), 5);
        assert_eq!(tasks[1].task, TaskId { subtopology: 0, partition: 1 });
        assert_eq!(tasks[1].partitions, vec![TopicPartition::new("a", 1), TopicPartition::new("b", 1)]);
        assert_eq!(tasks[4].task, TaskId { subtopology: 1, partition: 2 });
    }

    #[test]
    fn grouping_rejects_copartitioning_violations() {
        let subs = BTreeMap::from([(0, vec!["a".to_string(), "b".to_string()])]);
        let counts = BTreeMap::from([("a".into(), 2), ("b".into(), 3)]);
        let err = group_partitions(&subs, &counts).unwrap_err().to_string();
        assert!(err.contains("co-partitioned") && err.contains("`a`") && err.contains("`b`"), "{err}");
        let missing = BTreeMap::from([("a".into(), 2)]);
        assert!(group_partitions(&subs, &missing).unwrap_err().to_string().contains("`b`"));
    }
}
