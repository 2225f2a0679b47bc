//! Shared test support: a persistent, changelogged key-value store (a JSON file per task), a
//! counting topology on the Processor API, and helpers to produce to and read from rdkafka's
//! mock cluster with deadlines.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kstreams_core::ChangelogWriter;
use kstreams_core::{BuiltStore, StateStore, StoreBuilder, StoreContext};
use kstreams_core::{I64Serde, Serde, StringSerde};
use kstreams_core::{Processor, ProcessorContext, Record, StreamsError, TopicRef, Topology};
use kstreams_runtime::{KafkaStreams, State, StreamsConfig};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

pub const STORE: &str = "counts";

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

pub type Mock = MockCluster<'static, DefaultProducerContext>;

pub fn mock_cluster(topics: &[(&str, i32)]) -> Mock {
    let cluster = MockCluster::new(1).unwrap();
    for (t, n) in topics {
        cluster.create_topic(t, *n, 1).unwrap();
    }
    cluster
}

/// A key-value store of i64 counts, persisted as a JSON file in its task directory on every
/// flush, logging every put to its changelog.
pub struct FileCountStore {
    name: String,
    file: PathBuf,
    data: BTreeMap<String, i64>,
    changelog: ChangelogWriter,
    restored: Arc<AtomicU64>,
}

impl FileCountStore {
    pub fn get(&self, key: &str) -> Option<i64> {
        self.data.get(key).copied()
    }

    pub fn put(&mut self, key: &str, value: i64, timestamp: i64) {
        self.data.insert(key.to_string(), value);
        self.changelog.log(key.as_bytes(), Some(&value.to_be_bytes()), timestamp);
    }
}

impl StateStore for FileCountStore {
    fn name(&self) -> &str {
        &self.name
    }
    fn flush(&mut self) -> kstreams_core::Result<()> {
        let text = serde_json::to_string(&self.data).unwrap();
        std::fs::write(&self.file, text).map_err(|e| StreamsError::store(&self.name, "flush", e))
    }
    fn restore_batch(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> kstreams_core::Result<()> {
        for (k, v) in records {
            let key =
                String::from_utf8(k.clone()).map_err(|e| StreamsError::store(&self.name, "restore", e))?;
            match v {
                Some(v) => {
                    let n =
                        I64Serde.deserialize(v).map_err(|e| StreamsError::store(&self.name, "restore", e))?;
                    self.data.insert(key, n);
                }
                None => {
                    self.data.remove(&key);
                }
            }
        }
        self.restored.fetch_add(records.len() as u64, Ordering::SeqCst);
        Ok(())
    }
    fn close(&mut self) -> kstreams_core::Result<()> {
        self.flush()
    }
}

pub struct FileCountStoreBuilder {
    pub restored: Arc<AtomicU64>,
}

impl StoreBuilder for FileCountStoreBuilder {
    fn name(&self) -> &str {
        STORE
    }
    fn logging_enabled(&self) -> bool {
        true
    }
    fn persistent(&self) -> bool {
        true
    }
    fn build(&self, ctx: StoreContext<'_>) -> kstreams_core::Result<BuiltStore> {
        std::fs::create_dir_all(ctx.task_dir).map_err(|e| StreamsError::store(STORE, "open", e))?;
        let file = ctx.task_dir.join(format!("{STORE}.json"));
        let data = match std::fs::read_to_string(&file) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| StreamsError::store(STORE, "open", e))?,
            Err(_) => BTreeMap::new(),
        };
        Ok(BuiltStore::new(FileCountStore {
            name: STORE.into(),
            file,
            data,
            changelog: ctx.changelog,
            restored: self.restored.clone(),
        }))
    }
}

/// Counts records per key; a value of `boom` makes it fail.
pub struct Count {
    store: Option<Rc<RefCell<FileCountStore>>>,
}

impl Processor<String, String, String, i64> for Count {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, i64>) -> kstreams_core::Result<()> {
        self.store = Some(ctx.store::<FileCountStore>(STORE)?);
        Ok(())
    }
    fn process(
        &mut self,
        r: Record<String, String>,
        ctx: &mut ProcessorContext<'_, String, i64>,
    ) -> kstreams_core::Result<()> {
        if r.value == "boom" {
            return Err(StreamsError::process(ctx.node_name().to_string(), "the value was `boom`"));
        }
        let store = self.store.clone().expect("init ran");
        let n = store.borrow().get(&r.key).unwrap_or(0) + 1;
        store.borrow_mut().put(&r.key, n, r.timestamp);
        ctx.forward(Record::new(r.key, n, r.timestamp))
    }
}

/// input (String, String) → count per key (logged store) → output (String, i64).
pub fn count_topology(input: &str, output: &str, restored: Arc<AtomicU64>) -> Arc<Topology> {
    let mut t = Topology::new();
    let src = t
        .add_source(
            "source",
            vec![TopicRef::External(input.into())],
            Arc::new(StringSerde),
            Arc::new(StringSerde),
            None,
        )
        .unwrap();
    let count = t.add_processor("count", &[src], || Count { store: None }).unwrap();
    t.add_store(Arc::new(FileCountStoreBuilder { restored }), &[count]).unwrap();
    t.add_sink(
        "sink",
        TopicRef::External(output.into()),
        &[count],
        Arc::new(StringSerde),
        Arc::new(I64Serde),
    )
    .unwrap();
    Arc::new(t)
}

pub fn config(
    cluster: &Mock,
    app: &str,
    state_dir: &std::path::Path,
) -> kstreams_runtime::StreamsConfigBuilder {
    StreamsConfig::builder(app, cluster.bootstrap_servers())
        .state_dir(state_dir)
        .commit_interval(Duration::from_millis(200))
        .set("consumer.session.timeout.ms", "6000")
        .set("consumer.heartbeat.interval.ms", "500")
        .set("consumer.fetch.wait.max.ms", "50")
}

pub fn start(cluster: &Mock, topology: Arc<Topology>, config: StreamsConfig) -> KafkaStreams {
    let mut streams = KafkaStreams::new(topology, config);
    streams.start_with_topic_creator(cluster).unwrap();
    streams
}

pub fn wait_running(streams: &KafkaStreams) {
    let state = streams.wait_for_state(State::Running, Duration::from_secs(30));
    assert_eq!(state, State::Running, "instance did not reach RUNNING: {:?}", streams.error());
}

pub fn producer(cluster: &Mock) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "0")
        .create()
        .unwrap()
}

pub fn produce(cluster: &Mock, topic: &str, records: &[(Option<&str>, &[u8])]) {
    produce_with_headers(cluster, topic, records, &[]);
}

pub fn produce_with_headers(
    cluster: &Mock,
    topic: &str,
    records: &[(Option<&str>, &[u8])],
    headers: &[(&str, &str)],
) {
    let p = producer(cluster);
    for (k, v) in records {
        let mut hs = OwnedHeaders::new();
        for (hk, hv) in headers {
            hs = hs.insert(Header { key: hk, value: Some(hv.as_bytes()) });
        }
        let mut rec: BaseRecord<'_, str, [u8]> = BaseRecord::to(topic).payload(*v).headers(hs);
        if let Some(k) = k {
            rec = rec.key(k);
        }
        p.send(rec).map_err(|(e, _)| e).unwrap();
    }
    p.flush(Duration::from_secs(10)).unwrap();
}

/// A record read back from a topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: HashMap<String, Vec<u8>>,
}

/// Reads every partition of `topic` from the beginning until `done(records)` or the deadline.
pub fn read_until(
    cluster: &Mock,
    topic: &str,
    timeout: Duration,
    done: impl Fn(&[Read]) -> bool,
) -> Vec<Read> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("group.id", "kstreams-test-reader")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "50")
        .create()
        .unwrap();
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)).unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in md.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while Instant::now() < deadline && !done(&out) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let headers = m
                .headers()
                .map(|hs| {
                    hs.iter().map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec())).collect()
                })
                .unwrap_or_default();
            out.push(Read {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                headers,
            });
        }
    }
    out
}

/// Counts read from the output topic, per key, in the order read (per partition order).
pub fn counts_by_key(records: &[Read]) -> BTreeMap<String, Vec<i64>> {
    let mut by_key: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in records {
        let key = String::from_utf8(r.key.clone().unwrap()).unwrap();
        let n = I64Serde.deserialize(r.value.as_deref().unwrap()).unwrap();
        by_key.entry(key).or_default().push(n);
    }
    by_key
}

/// `n` records for each key, values `v0`, `v1`, ...
pub fn keyed_records(keys: &[&'static str], n: usize) -> Vec<(Option<&'static str>, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..n {
        for k in keys {
            out.push((Some(*k), format!("v{i}").into_bytes()));
        }
    }
    out
}

pub fn produce_keyed(cluster: &Mock, topic: &str, records: &[(Option<&'static str>, Vec<u8>)]) {
    let refs: Vec<(Option<&str>, &[u8])> = records.iter().map(|(k, v)| (*k, v.as_slice())).collect();
    produce(cluster, topic, &refs);
}

/// The group's committed offset of each partition of `topic`.
pub fn committed(cluster: &Mock, group: &str, topic: &str, partitions: i32) -> BTreeMap<i32, i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let c = consumer.committed_offsets(tpl, Duration::from_secs(5)).unwrap();
    c.elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect()
}

/// A `metrics` recorder that keeps counters, so tests can assert what the runtime counted.
/// Installed once per test binary; label sets make each test's counters distinct.
pub struct TestRecorder {
    counters: std::sync::Mutex<BTreeMap<String, Arc<AtomicU64>>>,
}

fn key_text(key: &metrics::Key) -> String {
    let mut labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl metrics::Recorder for TestRecorder {
    fn describe_counter(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_gauge(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_histogram(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        let mut map = self.counters.lock().unwrap();
        metrics::Counter::from_arc(map.entry(key_text(key)).or_default().clone())
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

static RECORDER: std::sync::OnceLock<&'static TestRecorder> = std::sync::OnceLock::new();

/// The value of counter `name` with exactly `labels` (e.g. `thread=x`), 0 if never counted.
pub fn counter(name: &str, labels: &[(&str, &str)]) -> u64 {
    let recorder = RECORDER.get_or_init(|| {
        let r: &'static TestRecorder = Box::leak(Box::new(TestRecorder { counters: Default::default() }));
        metrics::set_global_recorder(r).expect("no other recorder");
        r
    });
    let mut l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    l.sort();
    let text = format!("{name}{{{}}}", l.join(","));
    recorder.counters.lock().unwrap().get(&text).map_or(0, |c| c.load(Ordering::SeqCst))
}

/// Installs the counting recorder (call before starting anything).
pub fn install_recorder() {
    counter("", &[]);
}
