//! [`TestCluster`]: one scenario, on the mock cluster or on Kafka.

use crate::{HarnessError, Result, TestBroker};

/// Where a test runs: librdkafka's in-process mock cluster (no install, no transactions
/// filtering, no CreateTopics) or the binary's shared Apache Kafka broker. Tests that hold on
/// either write their scenario once and run it on both.
pub enum TestCluster {
    /// A fresh mock cluster of one broker.
    Embedded(rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>),
    /// The shared broker ([`TestBroker::shared`]).
    Kafka(&'static TestBroker),
}

impl std::fmt::Debug for TestCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Embedded(m) => write!(f, "Embedded({})", m.bootstrap_servers()),
            Self::Kafka(b) => write!(f, "Kafka({})", b.bootstrap()),
        }
    }
}

impl TestCluster {
    /// A new mock cluster.
    pub fn embedded() -> Result<Self> {
        rdkafka::mocking::MockCluster::new(1).map(Self::Embedded).map_err(|e| HarnessError::NotReady {
            bootstrap: "(mock cluster)".into(),
            detail: e.to_string(),
            log: String::new(),
            log_tail: String::new(),
        })
    }

    /// The shared Apache Kafka broker (or the external cluster of [`BOOTSTRAP_ENV`](crate::BOOTSTRAP_ENV)).
    pub fn kafka() -> Result<Self> {
        TestBroker::shared().map(Self::Kafka)
    }

    /// `bootstrap.servers` of the cluster.
    pub fn bootstrap(&self) -> String {
        match self {
            Self::Embedded(m) => m.bootstrap_servers(),
            Self::Kafka(b) => b.bootstrap().to_string(),
        }
    }

    /// Creates a topic (an existing one is accepted on Kafka).
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        match self {
            Self::Embedded(m) => m
                .create_topic(name, partitions, 1)
                .map_err(|e| HarnessError::CreateTopic { topic: name.to_string(), detail: e.to_string() }),
            Self::Kafka(b) => b.create_topic(name, partitions),
        }
    }

    /// The mock cluster, to create a topology's internal topics through (it serves no
    /// CreateTopics); `None` on Kafka, where the runtime creates them itself.
    pub fn mock(
        &self,
    ) -> Option<&rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>> {
        match self {
            Self::Embedded(m) => Some(m),
            Self::Kafka(_) => None,
        }
    }
}
