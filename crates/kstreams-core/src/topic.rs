//! Topics as the topology names them ([`TopicRef`], [`RepartitionTopic`]) and as Kafka
//! addresses them ([`TopicPartition`]).

use std::fmt;
use std::sync::Arc;

/// A topic named by the user, or an internal topic named after the application id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TopicRef {
    /// A topic with a fixed name.
    External(String),
    /// An internal topic `<application.id>-<suffix>` (e.g. `<app>-<name>-repartition`).
    Internal(String),
}

impl TopicRef {
    /// The topic's real name for an application.
    pub fn resolve(&self, application_id: &str) -> String {
        match self {
            TopicRef::External(t) => t.clone(),
            TopicRef::Internal(suffix) => format!("{application_id}-{suffix}"),
        }
    }
}

impl fmt::Display for TopicRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicRef::External(t) => f.write_str(t),
            TopicRef::Internal(s) => write!(f, "<application.id>-{s}"),
        }
    }
}

/// A repartition topic declared by the topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepartitionTopic {
    /// The topic (always internal).
    pub topic: TopicRef,
    /// Partition count, or `None` for "same as the upstream source topics".
    pub partitions: Option<i32>,
}

/// One partition of one topic. The name is shared, so copies are cheap.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    topic: Arc<str>,
    partition: i32,
}

impl TopicPartition {
    /// Partition `partition` of `topic`.
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        Self { topic: topic.into(), partition }
    }

    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The topic's name, shared.
    pub fn topic_arc(&self) -> &Arc<str> {
        &self.topic
    }

    /// The partition number.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Whether this is `partition` of `topic` (compares without allocating).
    pub fn is(&self, topic: &str, partition: i32) -> bool {
        self.partition == partition && &*self.topic == topic
    }
}

/// `topic-partition`, as Kafka's tools print it.
impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}
