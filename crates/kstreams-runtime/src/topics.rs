//! Internal topics: which ones a topology needs ([`plan_internal_topics`], pure), and how they
//! are created ([`TopicCreator`]: the Kafka AdminClient by default; rdkafka's mock cluster,
//! which does not implement CreateTopics, through its own API).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kstreams_core::{StreamsError, Topology};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::types::RDKafkaErrorCode;

use crate::config::{ClientKind, StreamsConfig};
use crate::error::{Result, RuntimeError};

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// The topic name.
    pub name: String,
    /// Number of partitions.
    pub partitions: i32,
    /// Replication factor; -1 for the broker's default.
    pub replication_factor: i32,
    /// Topic configs, e.g. `cleanup.policy=compact` for changelogs.
    pub configs: BTreeMap<String, String>,
}

/// Creates topics. Topics that already exist are not passed to it.
pub trait TopicCreator {
    /// Creates every topic in `topics`.
    fn create_topics(&self, topics: &[TopicSpec]) -> Result<()>;
}

/// Creates topics with the Kafka AdminClient (CreateTopics), as on any real broker.
pub struct AdminTopicCreator {
    config: ClientConfig,
    timeout: Duration,
}

impl AdminTopicCreator {
    /// An admin client configured from the `admin.` settings of `config`.
    pub fn new(config: &StreamsConfig) -> Self {
        Self { config: config.client_config(ClientKind::Admin, &[]), timeout: Duration::from_secs(30) }
    }
}

impl TopicCreator for AdminTopicCreator {
    fn create_topics(&self, topics: &[TopicSpec]) -> Result<()> {
        if topics.is_empty() {
            return Ok(());
        }
        let admin: AdminClient<DefaultClientContext> =
            self.config.create().map_err(|source| RuntimeError::CreateClient { client: "admin", source })?;
        let configs: Vec<Vec<(&str, &str)>> = topics
            .iter()
            .map(|t| t.configs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
            .collect();
        let new_topics: Vec<NewTopic<'_>> = topics
            .iter()
            .zip(&configs)
            .map(|(t, cfg)| {
                let mut n =
                    NewTopic::new(&t.name, t.partitions, TopicReplication::Fixed(t.replication_factor));
                for (k, v) in cfg {
                    n = n.set(k, v);
                }
                n
            })
            .collect();
        let options =
            AdminOptions::new().operation_timeout(Some(self.timeout)).request_timeout(Some(self.timeout));
        let results =
            futures::executor::block_on(admin.create_topics(&new_topics, &options)).map_err(|e| {
                RuntimeError::CreateTopic {
                    topic: topics.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "),
                    detail: format!("CreateTopics request failed: {e}"),
                }
            })?;
        for result in results {
            match result {
                Ok(name) => tracing::info!(topic = %name, "created internal topic"),
                Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    tracing::debug!(topic = %name, "internal topic already exists")
                }
                Err((name, code)) => {
                    return Err(RuntimeError::CreateTopic { topic: name, detail: code.to_string() })
                }
            }
        }
        Ok(())
    }
}

/// rdkafka's in-process mock cluster does not implement CreateTopics; it creates topics
/// through its own API instead (topic configs such as compaction are ignored by the mock).
impl<C: ClientContext> TopicCreator for MockCluster<'_, C> {
    fn create_topics(&self, topics: &[TopicSpec]) -> Result<()> {
        for t in topics {
            self.create_topic(&t.name, t.partitions, 1).map_err(|e| RuntimeError::CreateTopic {
                topic: t.name.clone(),
                detail: format!("mock cluster: {e}"),
            })?;
        }
        Ok(())
    }
}

/// Internal topics `topology` needs, in creation order: repartition topics (with the
/// partition count they declare, else that of the sub-topology writing them), then changelogs
/// (compacted, as many partitions as the sub-topology owning the store has tasks).
/// `existing` gives the partition counts of topics that exist (source topics at least).
pub fn plan_internal_topics(
    topology: &Topology,
    application_id: &str,
    existing: &BTreeMap<String, i32>,
    replication_factor: i32,
) -> Result<Vec<TopicSpec>> {
    let subs = topology.subtopologies();
    let mut counts = existing.clone();
    let mut specs = Vec::new();
    let sub_count = |counts: &BTreeMap<String, i32>, sub: &kstreams_core::SubTopology| {
        sub.task_count(application_id, |t| counts.get(t).copied())
    };
    // Repartition topics may feed each other: resolve until nothing changes. A cycle (the two
    // topics of a foreign-key join) is resolved from the counts known so far.
    let mut pending: Vec<_> = topology.repartition_topics().to_vec();
    let mut partial = false;
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|r| {
            let name = r.topic.resolve(application_id);
            let n = r.partitions.or_else(|| {
                subs.iter()
                    .filter(|s| s.sink_topics.contains(&r.topic))
                    .filter_map(|s| match partial {
                        false => sub_count(&counts, s),
                        true => s.known_task_count(application_id, |t| counts.get(t).copied()),
                    })
                    .max()
            });
            match n {
                Some(n) => {
                    counts.entry(name.clone()).or_insert(n);
                    specs.push(TopicSpec {
                        name,
                        partitions: n,
                        replication_factor,
                        configs: repartition_configs(),
                    });
                    false
                }
                None => true,
            }
        });
        if pending.len() == before && !partial {
            partial = true;
            continue;
        }
        partial = false;
        if pending.len() == before {
            let names: Vec<String> = pending.iter().map(|r| r.topic.resolve(application_id)).collect();
            return Err(StreamsError::Topology(format!(
                "cannot derive the partition count of repartition topic(s) {names:?}: no sub-topology with known \
                 input writes them; give them an explicit partition count"
            ))
            .into());
        }
    }
    for sub in subs {
        let logged: Vec<_> = topology
            .changelog_topics(application_id)
            .into_iter()
            .filter(|(s, _)| sub.stores.contains(s))
            .collect();
        if logged.is_empty() {
            continue;
        }
        let n = sub_count(&counts, sub).ok_or_else(|| {
            StreamsError::Topology(format!(
                "sub-topology {} has stores but its source topics are unknown",
                sub.id
            ))
        })?;
        for (_, topic) in logged {
            let configs = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]);
            specs.push(TopicSpec { name: topic, partitions: n, replication_factor, configs });
        }
    }
    Ok(specs)
}

/// Topic configs of a repartition topic, as Kafka Streams sets them: records are not deleted by
/// age (they carry event-time timestamps, which may be days old when a backlog or a replay is
/// processed, and the broker would delete them before the downstream task read them); segments
/// of 50 MiB.
fn repartition_configs() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("cleanup.policy".to_string(), "delete".to_string()),
        ("retention.ms".to_string(), "-1".to_string()),
        ("segment.bytes".to_string(), (50 * 1024 * 1024).to_string()),
    ])
}

/// Reads the partition count of every topic in the cluster, retrying with backoff (logging
/// each failure) until `deadline`, so a broker that is still starting is not an error.
pub(crate) fn partition_counts(config: &StreamsConfig, deadline: Duration) -> Result<BTreeMap<String, i32>> {
    let consumer: BaseConsumer = config
        .client_config(ClientKind::Consumer, &[])
        .create()
        .map_err(|source| RuntimeError::CreateClient { client: "metadata consumer", source })?;
    let start = Instant::now();
    let mut backoff = Duration::from_millis(100);
    loop {
        match consumer.fetch_metadata(None, Duration::from_secs(10)) {
            Ok(md) => {
                return Ok(md
                    .topics()
                    .iter()
                    .filter(|t| t.error().is_none())
                    .map(|t| (t.name().to_string(), t.partitions().len() as i32))
                    .collect())
            }
            Err(source) if start.elapsed() + backoff >= deadline => {
                return Err(RuntimeError::Metadata { what: "all topics".into(), source })
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "fetching cluster metadata failed; retrying");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Creates the missing internal topics (the topology's, and `extra` ones such as the hosts
/// topic) and checks the partition count of existing ones. Returns the partition counts of all
/// topics, internal ones included.
pub(crate) fn ensure_internal_topics(
    topology: &Topology,
    config: &StreamsConfig,
    extra: Vec<TopicSpec>,
    creator: &dyn TopicCreator,
) -> Result<BTreeMap<String, i32>> {
    let app = config.application_id();
    let mut counts = partition_counts(config, Duration::from_secs(60))?;
    for topic in topology.source_topics() {
        if let kstreams_core::TopicRef::External(name) = &topic {
            if !counts.contains_key(name) {
                return Err(RuntimeError::MissingSourceTopic { topic: name.clone() });
            }
        }
    }
    let mut plan = plan_internal_topics(topology, app, &counts, config.replication_factor())?;
    plan.extend(extra);
    let mut missing = Vec::new();
    for spec in &plan {
        match counts.get(&spec.name) {
            Some(&n) if n == spec.partitions => {}
            Some(&n) => {
                return Err(RuntimeError::CreateTopic {
                    topic: spec.name.clone(),
                    detail: format!("exists with {n} partitions but the topology needs {}", spec.partitions),
                })
            }
            None => missing.push(spec.clone()),
        }
    }
    if !missing.is_empty() {
        creator.create_topics(&missing)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            counts = partition_counts(config, Duration::from_secs(30))?;
            match missing.iter().find(|s| counts.get(&s.name) != Some(&s.partitions)) {
                None => break,
                Some(s) if Instant::now() >= deadline => {
                    return Err(RuntimeError::CreateTopic {
                        topic: s.name.clone(),
                        detail: format!("not visible with {} partitions 30 s after creation", s.partitions),
                    })
                }
                Some(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kstreams_core::RepartitionTopic;
    use kstreams_core::StringSerde;
    use kstreams_core::TopicRef;

    use super::*;

    fn chain(explicit: Option<i32>) -> Topology {
        let mut t = Topology::new();
        let s = Arc::new(StringSerde);
        let src = t
            .add_source("src", vec![TopicRef::External("input".into())], s.clone(), s.clone(), None)
            .unwrap();
        let rep = TopicRef::Internal("k-repartition".into());
        t.add_sink("to-rep", rep.clone(), &[src], s.clone(), s.clone()).unwrap();
        t.add_repartition_topic(RepartitionTopic { topic: rep.clone(), partitions: explicit });
        let rsrc = t.add_source("rsrc", vec![rep], s.clone(), s.clone(), None).unwrap();
        t.add_sink("out", TopicRef::External("output".into()), &[rsrc], s.clone(), s).unwrap();
        t
    }

    #[test]
    fn repartition_topics_take_the_upstream_or_explicit_count() {
        let existing = BTreeMap::from([("input".to_string(), 3)]);
        let plan = plan_internal_topics(&chain(None), "app", &existing, -1).unwrap();
        assert_eq!(
            plan,
            vec![TopicSpec {
                name: "app-k-repartition".into(),
                partitions: 3,
                replication_factor: -1,
                configs: BTreeMap::from([
                    ("cleanup.policy".to_string(), "delete".to_string()),
                    ("retention.ms".to_string(), "-1".to_string()),
                    ("segment.bytes".to_string(), "52428800".to_string()),
                ])
            }]
        );
        let plan = plan_internal_topics(&chain(Some(5)), "app", &existing, 1).unwrap();
        assert_eq!(plan[0].partitions, 5);
        assert_eq!(plan[0].replication_factor, 1);
    }

    #[test]
    fn unknown_upstream_is_an_error() {
        let err = plan_internal_topics(&chain(None), "app", &BTreeMap::new(), -1).unwrap_err().to_string();
        assert!(err.contains("app-k-repartition"), "{err}");
    }
}
