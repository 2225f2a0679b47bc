//! Restoring under exactly-once on Apache Kafka: a changelog whose tail holds an open
//! transaction (a zombie's, or one a crashed producer left) is restored up to its last stable
//! offset — the committed records only, without waiting for the transaction — and the
//! checkpoint records the position the restore reached, not the high watermark.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kstreams_broker_harness::{unique_name, TestBroker};
use kstreams_core::{I64Serde, Serde};
use kstreams_runtime::{KafkaStreams, ProcessingGuarantee, State, StreamsConfig};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::Message;
use support::count_topology;

fn client(broker: &TestBroker, isolation: &str) -> BaseConsumer {
    broker
        .client_config()
        .set("group.id", unique_name("reader"))
        .set("isolation.level", isolation)
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap()
}

/// The counts read committed from `topic`, waiting until there are `n`.
fn committed_counts(broker: &TestBroker, topic: &str, n: usize) -> Vec<i64> {
    let c = client(broker, "read_committed");
    c.subscribe(&[topic]).unwrap();
    let (mut got, deadline) = (Vec::new(), Instant::now() + Duration::from_secs(30));
    while got.len() < n && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            got.push(I64Serde.deserialize(m.payload().unwrap()).unwrap());
        }
    }
    got
}

fn start(
    broker: &TestBroker,
    app: &str,
    dir: &std::path::Path,
    input: &str,
    output: &str,
    restored: Arc<AtomicU64>,
) -> KafkaStreams {
    let config = StreamsConfig::builder(app, broker.bootstrap())
        .state_dir(dir)
        .processing_guarantee(ProcessingGuarantee::ExactlyOnceV2)
        .build()
        .unwrap();
    let mut streams = KafkaStreams::new(count_topology(input, output, restored), config);
    streams.start().unwrap();
    let state = streams.wait_for_state(State::Running, Duration::from_secs(30));
    assert_eq!(state, State::Running, "{:?}", streams.error());
    streams
}

#[test]
fn a_changelog_with_an_open_transaction_restores_its_committed_records_up_to_the_lso() {
    let broker = TestBroker::shared().unwrap_or_else(|e| panic!("{e}"));
    let (input, output, app) = (unique_name("in"), unique_name("out"), unique_name("lso"));
    broker.create_topic(&input, 1).unwrap();
    broker.create_topic(&output, 1).unwrap();
    let changelog = format!("{app}-counts-changelog");
    let dir = tempfile::tempdir().unwrap();
    let send = |n: usize| {
        let p: BaseProducer = broker.client_config().create().unwrap();
        for i in 0..n {
            p.send(BaseRecord::to(&input).key("k").payload(&format!("v{i}"))).unwrap();
        }
        p.flush(Duration::from_secs(30)).unwrap();
    };

    let mut first = start(broker, &app, dir.path(), &input, &output, Arc::default());
    send(4);
    assert_eq!(committed_counts(broker, &output, 4), vec![1, 2, 3, 4]);
    first.close().unwrap();

    // Another producer leaves a transaction open on the changelog: three bogus counts.
    let intruder: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("transactional.id", unique_name("intruder"))
        .create()
        .unwrap();
    intruder.init_transactions(Duration::from_secs(30)).unwrap();
    intruder.begin_transaction().unwrap();
    for _ in 0..3 {
        intruder
            .send(BaseRecord::to(&changelog).partition(0).key("k").payload(&999i64.to_be_bytes()[..]))
            .unwrap();
    }
    intruder.flush(Duration::from_secs(30)).unwrap();
    let (_, high) =
        client(broker, "read_uncommitted").fetch_watermarks(&changelog, 0, Duration::from_secs(10)).unwrap();
    let (_, stable) =
        client(broker, "read_committed").fetch_watermarks(&changelog, 0, Duration::from_secs(10)).unwrap();
    assert_eq!(high, stable + 3, "the open transaction sits between the LSO and the high watermark");

    // Without local state: a full restore, which must neither wait for the open transaction
    // nor apply it.
    std::fs::remove_dir_all(dir.path()).unwrap();
    let restored = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut second = start(broker, &app, dir.path(), &input, &output, restored.clone());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "the restore waited for the open transaction: {took:?}");
    assert_eq!(restored.load(Ordering::SeqCst), 4, "the four committed counts, not the open ones");
    let checkpoint = std::fs::read_to_string(dir.path().join(&app).join("0_0").join(".checkpoint")).unwrap();
    assert!(
        checkpoint.contains(&format!("{changelog} 0 {stable}\n")),
        "the checkpoint holds the LSO {stable} the restore reached, not the high watermark {high}: {checkpoint}"
    );
    // The restored state is the committed one: the next record counts 5.
    send(1);
    assert_eq!(committed_counts(broker, &output, 5).last(), Some(&5));
    second.close().unwrap();
    intruder.abort_transaction(Duration::from_secs(30)).unwrap();
}
