//! Which instance hosts which tasks, across the instances of one application, for interactive
//! queries ([`crate::StoreQueries::metadata_for_key`], [`crate::StoreQueries::all_metadata`]).
//!
//! Kafka Streams carries each member's `application.server` in the consumer group's
//! subscription userdata, through its own partition assignor. librdkafka exposes neither
//! custom assignors nor userdata, so kstreams instances tell each other with standard Kafka
//! APIs only: every instance with `application.server` set runs a small **hosts thread** that
//!
//! - announces `{host, tasks}` (its active tasks) to the compacted, single-partition topic
//!   `<application.id>-hosts`, keyed by its `application.server`, whenever its tasks change
//!   and every [`ANNOUNCE_INTERVAL`] otherwise, and a tombstone when it closes;
//! - reads that topic from the beginning, keeping the latest announcement of every host.
//!
//! An announcement counts for [`EXPIRY`] after it was made (by the record timestamp, so the
//! instances' clocks must agree within that), which drops a crashed instance's claims; when
//! two live announcements claim a task (during a hand-over), the newest wins. The answers are
//! as fresh as the last announcements: during a rebalance a key may be unknown or still point
//! at its previous host for a moment, as in Kafka Streams.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kstreams_core::TaskId;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::config::{ClientKind, StreamsConfig};
use crate::error::{Result, RuntimeError};
use crate::state::StateHolder;
use crate::topics::TopicSpec;

/// How often an instance repeats its announcement when nothing changed.
pub(crate) const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(10);
/// How long an announcement counts: three missed announcements and a host is gone.
pub(crate) const EXPIRY: Duration = Duration::from_secs(30);

/// The hosts topic of `application_id`.
pub(crate) fn hosts_topic(application_id: &str) -> String {
    format!("{application_id}-hosts")
}

/// The hosts topic to create: one partition (every instance reads all of it), compacted (one
/// record per host).
pub(crate) fn topic_spec(application_id: &str, replication_factor: i32) -> TopicSpec {
    TopicSpec {
        name: hosts_topic(application_id),
        partitions: 1,
        replication_factor,
        configs: BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]),
    }
}

/// One host's latest announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Announced {
    tasks: BTreeSet<TaskId>,
    at_ms: i64,
}

/// The latest announcement of every host, as read from the hosts topic.
#[derive(Debug, Default)]
pub(crate) struct HostDirectory {
    hosts: Mutex<HashMap<String, Announced>>,
}

impl HostDirectory {
    /// Applies one record of the hosts topic: an announcement made at `at_ms`, or (`None`) a
    /// host leaving. Malformed values are ignored with a warning.
    pub fn apply(&self, host: &str, value: Option<&[u8]>, at_ms: i64) {
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(value) = value else {
            hosts.remove(host);
            return;
        };
        match decode(value) {
            Ok(tasks) => {
                // Records of one host arrive in order; never let an older one win.
                if hosts.get(host).is_none_or(|a| a.at_ms <= at_ms) {
                    hosts.insert(host.to_string(), Announced { tasks, at_ms });
                }
            }
            Err(e) => tracing::warn!(host, error = %e, "ignoring a malformed record of the hosts topic"),
        }
    }

    /// The host whose live announcement (made after `now_ms - EXPIRY`) claims `task`, the
    /// newest if several do; `except` (this instance, which knows its own tasks) is skipped.
    pub fn host_of(&self, task: TaskId, now_ms: i64, except: &str) -> Option<String> {
        let hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        hosts
            .iter()
            .filter(|(h, a)| h.as_str() != except && is_live(a, now_ms) && a.tasks.contains(&task))
            .max_by_key(|(h, a)| (a.at_ms, h.as_str()))
            .map(|(h, _)| h.clone())
    }

    /// Every host with a live announcement but `except`, with the tasks it is the newest
    /// claimant of, by host.
    pub fn hosts(&self, now_ms: i64, except: &str) -> BTreeMap<String, BTreeSet<TaskId>> {
        let hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        let live: Vec<(&String, &Announced)> =
            hosts.iter().filter(|(h, a)| h.as_str() != except && is_live(a, now_ms)).collect();
        let mut out: BTreeMap<String, BTreeSet<TaskId>> = BTreeMap::new();
        for (host, announced) in &live {
            let newest = |task: &TaskId| {
                live.iter()
                    .filter(|(_, a)| a.tasks.contains(task))
                    .max_by_key(|(h, a)| (a.at_ms, h.as_str()))
                    .is_some_and(|(h, _)| h == host)
            };
            let tasks: BTreeSet<TaskId> = announced.tasks.iter().copied().filter(newest).collect();
            if !tasks.is_empty() {
                out.insert(host.to_string(), tasks);
            }
        }
        out
    }
}

fn is_live(a: &Announced, now_ms: i64) -> bool {
    a.at_ms > now_ms.saturating_sub(EXPIRY.as_millis() as i64)
}

/// An announcement's value: `{"tasks":["0_1","1_1"]}`.
fn encode(tasks: &[TaskId]) -> Vec<u8> {
    let tasks: Vec<String> = tasks.iter().map(ToString::to_string).collect();
    serde_json::json!({ "tasks": tasks }).to_string().into_bytes()
}

fn decode(value: &[u8]) -> std::result::Result<BTreeSet<TaskId>, String> {
    let v: serde_json::Value = serde_json::from_slice(value).map_err(|e| e.to_string())?;
    let tasks = v.get("tasks").and_then(|t| t.as_array()).ok_or("no `tasks` array")?;
    tasks
        .iter()
        .map(|t| {
            let text = t.as_str().ok_or("a task id is not a string")?;
            parse_task(text).ok_or_else(|| format!("bad task id `{text}`"))
        })
        .collect()
}

fn parse_task(text: &str) -> Option<TaskId> {
    let (sub, partition) = text.split_once('_')?;
    Some(TaskId { subtopology: sub.parse().ok()?, partition: partition.parse().ok()? })
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Starts the hosts thread of an instance whose `application.server` is `host`: it reads the
/// hosts topic into `directory` and announces this instance's tasks until `shutdown`.
pub(crate) fn start(
    config: &StreamsConfig,
    host: String,
    state: Arc<StateHolder>,
    shutdown: Arc<AtomicBool>,
    directory: Arc<HostDirectory>,
) -> Result<JoinHandle<()>> {
    let app = config.application_id().to_string();
    let client = config.client_id().to_string();
    let producer: BaseProducer = config
        .client_config(ClientKind::Producer, &[("client.id", format!("{client}-hosts-producer"))])
        .create()
        .map_err(|source| RuntimeError::CreateClient { client: "hosts producer", source })?;
    let consumer: BaseConsumer = config
        .client_config(
            ClientKind::Consumer,
            &[
                ("client.id", format!("{client}-hosts-reader")),
                // `assign` needs a group id; this group is never joined or committed to.
                ("group.id", format!("{app}-hosts-reader")),
                ("enable.auto.commit", "false".to_string()),
                ("auto.offset.reset", "earliest".to_string()),
            ],
        )
        .create()
        .map_err(|source| RuntimeError::CreateClient { client: "hosts reader", source })?;
    let topic = hosts_topic(&app);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Beginning)
        .map_err(|source| RuntimeError::CreateClient { client: "hosts reader", source })?;
    consumer.assign(&tpl).map_err(|source| RuntimeError::CreateClient { client: "hosts reader", source })?;
    std::thread::Builder::new()
        .name(format!("{client}-hosts"))
        .spawn(move || run(&producer, &consumer, &topic, &host, &state, &shutdown, &directory))
        .map_err(|source| RuntimeError::SpawnThread { thread: "hosts".to_string(), source })
}

fn run(
    producer: &BaseProducer,
    consumer: &BaseConsumer,
    topic: &str,
    host: &str,
    state: &StateHolder,
    shutdown: &AtomicBool,
    directory: &HostDirectory,
) {
    let mut last: Option<(Vec<TaskId>, Instant)> = None;
    while !shutdown.load(Ordering::SeqCst) {
        // Read what arrived (at most 100 ms of waiting per round).
        let mut wait = Duration::from_millis(100);
        while let Some(received) = consumer.poll(wait) {
            wait = Duration::ZERO;
            match received {
                Ok(m) => {
                    let Some(key) = m.key().and_then(|k| std::str::from_utf8(k).ok()) else { continue };
                    let at = m.timestamp().to_millis().unwrap_or_else(now_ms);
                    directory.apply(key, m.payload(), at);
                }
                Err(e) => tracing::debug!(error = %e, "reading the hosts topic"),
            }
        }
        let mut tasks = state.active_tasks();
        tasks.sort();
        let due = last.as_ref().is_none_or(|(sent, at)| *sent != tasks || at.elapsed() >= ANNOUNCE_INTERVAL);
        if due {
            let value = encode(&tasks);
            match producer.send(BaseRecord::to(topic).key(host).payload(&value).timestamp(now_ms())) {
                Ok(()) => last = Some((tasks, Instant::now())),
                Err((e, _)) => {
                    tracing::warn!(host, error = %e, "announcing this instance's tasks failed; retrying")
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    // Leaving: a tombstone, so the others stop sending this host's keys here at once.
    let tombstone: BaseRecord<'_, str, [u8]> = BaseRecord::to(topic).key(host).timestamp(now_ms());
    if let Err((e, _)) = producer.send(tombstone) {
        tracing::warn!(host, error = %e, "announcing that this instance leaves failed");
    }
    if let Err(e) = producer.flush(Duration::from_secs(5)) {
        tracing::warn!(host, error = %e, "flushing the hosts topic at close failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(sub: u32, partition: i32) -> TaskId {
        TaskId { subtopology: sub, partition }
    }

    #[test]
    fn the_newest_live_claim_wins_and_tombstones_and_expiry_drop_hosts() {
        let d = HostDirectory::default();
        d.apply("a:1", Some(&encode(&[t(0, 0), t(0, 1)])), 1_000);
        d.apply("b:2", Some(&encode(&[t(0, 2)])), 2_000);
        assert_eq!(d.host_of(t(0, 1), 5_000, "me:0"), Some("a:1".into()));
        assert_eq!(d.host_of(t(0, 2), 5_000, "me:0"), Some("b:2".into()));
        assert_eq!(d.host_of(t(0, 2), 5_000, "b:2"), None, "this instance is never asked of itself");
        // b takes over 0_1 (a's announcement is older): b is the newest claimant.
        d.apply("b:2", Some(&encode(&[t(0, 1), t(0, 2)])), 3_000);
        assert_eq!(d.host_of(t(0, 1), 5_000, "me:0"), Some("b:2".into()));
        assert_eq!(
            d.hosts(5_000, "me:0"),
            BTreeMap::from([
                ("a:1".to_string(), BTreeSet::from([t(0, 0)])),
                ("b:2".to_string(), BTreeSet::from([t(0, 1), t(0, 2)])),
            ])
        );
        // An older record never replaces a newer one.
        d.apply("b:2", Some(&encode(&[])), 2_500);
        assert_eq!(d.host_of(t(0, 2), 5_000, "me:0"), Some("b:2".into()));
        // a stops announcing (crashed): after EXPIRY its claims are gone.
        let later = 1_000 + EXPIRY.as_millis() as i64 + 1;
        assert_eq!(d.host_of(t(0, 0), later, "me:0"), None);
        // b leaves: tombstone.
        d.apply("b:2", None, 4_000);
        assert_eq!(d.host_of(t(0, 2), 5_000, "me:0"), None);
        // Garbage is ignored.
        d.apply("c:3", Some(b"not json"), 4_000);
        d.apply("c:3", Some(br#"{"tasks":["x_1"]}"#), 4_000);
        assert!(d.hosts(5_000, "me:0").keys().all(|h| h != "c:3"));
    }

    #[test]
    fn announcements_round_trip() {
        assert_eq!(decode(&encode(&[t(1, 7), t(0, 3)])), Ok(BTreeSet::from([t(0, 3), t(1, 7)])));
        assert_eq!(parse_task("12_5"), Some(t(12, 5)));
        assert_eq!(parse_task("12-5"), None);
    }
}
