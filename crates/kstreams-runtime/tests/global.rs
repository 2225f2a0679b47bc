//! Global stores on rdkafka's mock cluster: bootstrapped from the whole global topic before the
//! stream threads run, kept up to date while running, stopped by `close()`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kstreams_core::StringSerde;
use kstreams_core::{GlobalKeyValueView, GlobalStateStore, GlobalStoreBuilder, GlobalStoreContext};
use kstreams_core::{GlobalStore, Processor, ProcessorContext, Record, TopicRef, Topology};
use kstreams_runtime::{KafkaStreams, RuntimeError, State};
use rdkafka::producer::{BaseRecord, Producer};
use support::*;

const GLOBAL: &str = "product-names";

/// A global store in a `BTreeMap`.
struct MapStore(BTreeMap<Vec<u8>, Vec<u8>>);

impl GlobalStateStore for MapStore {
    fn name(&self) -> &str {
        GLOBAL
    }
    fn get(&self, key: &[u8]) -> kstreams_core::Result<Option<Vec<u8>>> {
        Ok(self.0.get(key).cloned())
    }
    fn all(&self) -> kstreams_core::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        Ok(self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }
    fn apply(&mut self, key: &[u8], value: Option<&[u8]>) -> kstreams_core::Result<()> {
        match value {
            Some(v) => self.0.insert(key.to_vec(), v.to_vec()),
            None => self.0.remove(key),
        };
        Ok(())
    }
}

struct MapStoreBuilder;

impl GlobalStoreBuilder for MapStoreBuilder {
    fn name(&self) -> &str {
        GLOBAL
    }
    fn build(&self, _ctx: GlobalStoreContext<'_>) -> kstreams_core::Result<Box<dyn GlobalStateStore>> {
        Ok(Box::new(MapStore(BTreeMap::new())))
    }
}

/// Order id → product id, joined with the global product names: `<product>=<name or ->`.
struct Enrich {
    names: Option<GlobalKeyValueView<String, String>>,
}

impl Processor<String, String, String, String> for Enrich {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, String>) -> kstreams_core::Result<()> {
        let store = ctx.global_store(GLOBAL)?;
        self.names = Some(GlobalKeyValueView::new(store, Arc::new(StringSerde), Arc::new(StringSerde)));
        Ok(())
    }
    fn process(
        &mut self,
        r: Record<String, String>,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> kstreams_core::Result<()> {
        let name = self.names.as_ref().expect("init ran").get(&r.value)?;
        let out = format!("{}={}", r.value, name.as_deref().unwrap_or("-"));
        ctx.forward(Record::new(r.key, out, r.timestamp))
    }
}

fn topology() -> Arc<Topology> {
    let mut t = Topology::new();
    t.add_global_store("global-source", GLOBAL, "global-processor", Arc::new(MapStoreBuilder)).unwrap();
    let src = t
        .add_source(
            "orders",
            vec![TopicRef::External("orders".into())],
            Arc::new(StringSerde),
            Arc::new(StringSerde),
            None,
        )
        .unwrap();
    let enrich = t.add_processor("enrich", &[src], || Enrich { names: None }).unwrap();
    t.add_sink(
        "lines",
        TopicRef::External("lines".into()),
        &[enrich],
        Arc::new(StringSerde),
        Arc::new(StringSerde),
    )
    .unwrap();
    Arc::new(t)
}

fn tombstone(cluster: &Mock, topic: &str, key: &str) {
    let p = producer(cluster);
    p.send(BaseRecord::<str, [u8]>::to(topic).key(key)).map_err(|(e, _)| e).unwrap();
    p.flush(Duration::from_secs(10)).unwrap();
}

fn get(store: &GlobalStore, key: &str) -> Option<String> {
    store.get(key.as_bytes()).unwrap().map(|v| String::from_utf8(v).unwrap())
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn lines(records: &[Read]) -> BTreeMap<String, String> {
    records
        .iter()
        .map(|r| {
            (
                String::from_utf8(r.key.clone().unwrap()).unwrap(),
                String::from_utf8(r.value.clone().unwrap()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn stream_joins_a_global_store_bootstrapped_before_start_and_updated_while_running() {
    init_tracing();
    // The global topic has 3 partitions, the stream 2: no co-partitioning needed.
    let cluster = mock_cluster(&[(GLOBAL, 3), ("orders", 2), ("lines", 2)]);
    let names: Vec<(String, Vec<u8>)> =
        (1..=6).map(|i| (format!("p{i}"), format!("name {i}").into_bytes())).collect();
    let refs: Vec<(Option<&str>, &[u8])> =
        names.iter().map(|(k, v)| (Some(k.as_str()), v.as_slice())).collect();
    produce(&cluster, GLOBAL, &refs);

    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&cluster, "global-app", dir.path()).num_stream_threads(2).build().unwrap();
    let mut streams = start(&cluster, topology(), cfg);
    // `start` returns once the global store holds the whole topic.
    let store = streams.global_store(GLOBAL).expect("global store built at start");
    assert_eq!(store.all().unwrap().len(), 6);
    assert_eq!(get(&store, "p4"), Some("name 4".into()));
    wait_running(&streams);
    assert_eq!(streams.active_tasks().len(), 2, "the global topic generates no tasks");

    let orders: Vec<(String, String)> = (1..=6).map(|i| (format!("o{i}"), format!("p{i}"))).collect();
    let refs: Vec<(Option<&str>, &[u8])> =
        orders.iter().map(|(k, v)| (Some(k.as_str()), v.as_bytes())).collect();
    produce(&cluster, "orders", &refs);
    let out = read_until(&cluster, "lines", Duration::from_secs(30), |r| r.len() >= 6);
    let expected: BTreeMap<String, String> =
        (1..=6).map(|i| (format!("o{i}"), format!("p{i}=name {i}"))).collect();
    assert_eq!(lines(&out), expected);

    // Updates while running: a new name, a tombstone and a new product.
    produce(&cluster, GLOBAL, &[(Some("p1"), b"renamed 1"), (Some("p7"), b"name 7")]);
    tombstone(&cluster, GLOBAL, "p2");
    wait_for("the global updates", || {
        get(&store, "p1").as_deref() == Some("renamed 1")
            && get(&store, "p2").is_none()
            && get(&store, "p7").is_some()
    });
    assert!(
        read_until(&cluster, "lines", Duration::from_millis(300), |_| false).len() == 6,
        "updates emit nothing"
    );
    produce(&cluster, "orders", &[(Some("o7"), b"p1"), (Some("o8"), b"p2"), (Some("o9"), b"p7")]);
    let out = read_until(&cluster, "lines", Duration::from_secs(30), |r| r.len() >= 9);
    let got = lines(&out);
    assert_eq!(got["o7"], "p1=renamed 1");
    assert_eq!(got["o8"], "p2=-");
    assert_eq!(got["o9"], "p7=name 7");

    streams.close().unwrap();
    assert_eq!(streams.state(), State::NotRunning);
    // Stopped: later updates no longer reach the store.
    produce(&cluster, GLOBAL, &[(Some("p3"), b"after close")]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get(&store, "p3"), Some("name 3".into()));
}

#[test]
fn a_missing_global_topic_fails_start() {
    init_tracing();
    let cluster = mock_cluster(&[("orders", 1), ("lines", 1)]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&cluster, "global-missing", dir.path()).build().unwrap();
    let mut streams = KafkaStreams::new(topology(), cfg);
    match streams.start_with_topic_creator(&cluster) {
        Err(RuntimeError::MissingSourceTopic { topic }) => assert_eq!(topic, GLOBAL),
        other => panic!("expected a missing global topic, got {other:?}"),
    }
    assert_eq!(streams.state(), State::Created);
}
