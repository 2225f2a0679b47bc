//! The harness against the real Apache Kafka: start, topic creation, restart on the same ports
//! and data, pause and resume, and the broker dying with its handle — when the test panics,
//! and when the test process itself is killed (the watchdog).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kstreams_broker_harness::{unique_name, TestBroker};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

fn alive(pid: u32) -> bool {
    // A zombie (killed, not yet reaped) is not alive.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
}

fn partitions(broker: &TestBroker, topic: &str) -> usize {
    let c: BaseConsumer = broker.client_config().create().unwrap();
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    md.topics().iter().find(|t| t.name() == topic && t.error().is_none()).map_or(0, |t| t.partitions().len())
}

/// The high watermark of partition 0 once it reaches `want` (a restarted broker serves a
/// partition only after recovering its log), or what it is after 30 s.
fn high_watermark(broker: &TestBroker, topic: &str, want: i64) -> i64 {
    let c: BaseConsumer = broker.client_config().create().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let high = c.fetch_watermarks(topic, 0, Duration::from_secs(10)).map_or(-1, |w| w.1);
        if high == want || Instant::now() >= deadline {
            return high;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Writes one record to partition 0 of `topic`.
fn produce_one(broker: &TestBroker, topic: &str) {
    let p: BaseProducer = broker.client_config().create().unwrap();
    p.send(BaseRecord::<[u8], [u8]>::to(topic).partition(0).payload(b"x")).unwrap();
    p.flush(Duration::from_secs(30)).unwrap();
}

#[test]
fn a_broker_creates_topics_and_dies_with_its_handle() {
    let broker = TestBroker::start().unwrap_or_else(|e| panic!("{e}"));
    let topic = unique_name("harness");
    broker.create_topic(&topic, 3).unwrap();
    broker.create_topic(&topic, 3).unwrap(); // an existing topic is fine
    assert_eq!(partitions(&broker, &topic), 3);
    let compacted = unique_name("compacted");
    broker.create_topic_with(&compacted, 1, &[("cleanup.policy", "compact")]).unwrap();
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
fn a_restart_keeps_the_ports_and_the_data() {
    let mut broker = TestBroker::start().unwrap_or_else(|e| panic!("{e}"));
    if broker.is_external() {
        return;
    }
    let topic = unique_name("durable");
    broker.create_topic(&topic, 2).unwrap();
    produce_one(&broker, &topic);
    let (before, old_pid) = (broker.bootstrap().to_string(), broker.pid());
    broker.restart().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(broker.bootstrap(), before);
    assert_ne!(broker.pid(), old_pid);
    assert_eq!(partitions(&broker, &topic), 2, "the topic survived the restart");
    assert_eq!(high_watermark(&broker, &topic, 1), 1, "so did its record");

    broker.kill().unwrap();
    assert_eq!(broker.pid(), None);
    assert!(broker.start_again().is_ok());
    assert_eq!(high_watermark(&broker, &topic, 1), 1);
}

#[test]
fn a_paused_broker_answers_nothing_until_resumed() {
    let broker = TestBroker::start().unwrap_or_else(|e| panic!("{e}"));
    if broker.is_external() {
        return;
    }
    let topic = unique_name("paused");
    broker.create_topic(&topic, 1).unwrap();
    broker.pause().unwrap();
    let c: BaseConsumer = broker.client_config().create().unwrap();
    assert!(
        c.fetch_watermarks(&topic, 0, Duration::from_secs(2)).is_err(),
        "a frozen broker does not answer"
    );
    broker.resume().unwrap();
    assert!(c.fetch_watermarks(&topic, 0, Duration::from_secs(30)).is_ok());
}

/// Set in the child process of the watchdog test.
const CHILD_ENV: &str = "KSTREAMS_HARNESS_TEST_CHILD";

/// In the child: starts a shared broker, prints its pid, then waits to be killed.
#[test]
fn child_that_holds_a_broker() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let broker = TestBroker::shared().unwrap_or_else(|e| panic!("{e}"));
    println!("BROKER_PID={}", broker.pid().unwrap_or(0));
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn a_killed_test_process_leaves_no_broker_behind() {
    if std::env::var_os(CHILD_ENV).is_some()
        || std::env::var_os(kstreams_broker_harness::BOOTSTRAP_ENV).is_some()
    {
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child_that_holds_a_broker", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let pid: u32 = out
        .lines()
        .map_while(Result::ok)
        // libtest prints `test <name> ... ` on the same line first.
        .find_map(|l| l.split_once("BROKER_PID=").map(|(_, p)| p.trim().parse().unwrap()))
        .expect("the child reports its broker");
    assert!(alive(pid));
    child.kill().unwrap(); // SIGKILL: no destructor runs in the child
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive(pid) {
        assert!(Instant::now() < deadline, "the broker {pid} outlived its test process");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!Path::new(&format!("/proc/{pid}")).exists() || !alive(pid));
}
