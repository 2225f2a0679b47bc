//! The harness against the real Nisshi binary: start, topic creation, restart with SQLite
//! storage, and the broker dying with its handle, also when the test panics.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::Duration;

use kstreams_broker_harness::{unique_name, TestBroker};
use rdkafka::consumer::{BaseConsumer, Consumer};

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn partitions(broker: &TestBroker, topic: &str) -> usize {
    let c: BaseConsumer = broker.client_config().create().unwrap();
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    md.topics().iter().find(|t| t.name() == topic && t.error().is_none()).map_or(0, |t| t.partitions().len())
}

#[test]
fn a_broker_creates_topics_and_dies_with_its_handle() {
    let broker = TestBroker::start().unwrap_or_else(|e| panic!("{e}"));
    let topic = unique_name("harness");
    broker.create_topic(&topic, 3).unwrap();
    broker.create_topic(&topic, 3).unwrap(); // an existing topic is fine
    assert_eq!(partitions(&broker, &topic), 3);
    let Some(pid) = broker.pid() else { return }; // external cluster
    assert!(broker.bootstrap().starts_with("127.0.0.1:"));
    assert!(alive(pid));
    drop(broker);
    assert!(!alive(pid), "the broker is killed on drop");
}

#[test]
fn the_broker_is_killed_when_the_test_panics() {
    let pid = std::sync::Mutex::new(None);
    let result = std::panic::catch_unwind(|| {
        let broker = TestBroker::start().unwrap_or_else(|e| panic!("{e}"));
        *pid.lock().unwrap() = broker.pid();
        panic!("a failing test");
    });
    assert!(result.is_err());
    let recorded = *pid.lock().unwrap();
    if let Some(pid) = recorded {
        assert!(!alive(pid), "the broker is killed while unwinding");
    }
}

#[test]
fn sqlite_storage_survives_a_restart_on_the_same_port() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_sqlite(dir.path().join("nisshi.db")).unwrap_or_else(|e| panic!("{e}"));
    if broker.is_external() {
        return;
    }
    let topic = unique_name("durable");
    broker.create_topic(&topic, 2).unwrap();
    let (before, old_pid) = (broker.bootstrap().to_string(), broker.pid());
    broker.restart().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(broker.bootstrap(), before);
    assert_ne!(broker.pid(), old_pid);
    assert_eq!(partitions(&broker, &topic), 2, "the topic survived the restart");
    assert!(dir.path().join("nisshi.db").exists());
}
