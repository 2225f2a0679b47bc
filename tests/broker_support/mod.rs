//! Support of the real-broker pipeline tests: the readings and the averages they must produce,
//! a keyed variant of the example topology, a producer and an output reader with deadlines, a
//! metrics recorder counting counters (restored changelog records, late records, pauses), and instances run as child processes.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use kstreams::prelude::*;
use kstreams::runtime::{ClientKind, KafkaStreams, ProcessingGuarantee, State, StreamsConfig};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::Message;

use kstreams_example::{temperature_averages, Reading, TemperatureSettings, WindowAverage};

pub use kstreams_example::expected::{readings, SENSORS, T0};

/// The broker a test runs on: the binary's shared one, or one of its own (to restart it).
pub enum Broker {
    Shared(&'static kstreams_broker_harness::TestBroker),
    Own(kstreams_broker_harness::TestBroker),
}

impl Broker {
    /// The broker every test of this binary shares.
    pub fn shared() -> Self {
        Broker::Shared(kstreams_broker_harness::TestBroker::shared().unwrap_or_else(|e| panic!("{e}")))
    }

    /// A broker of the test's own, to restart or pause.
    pub fn own(&mut self) -> &mut kstreams_broker_harness::TestBroker {
        match self {
            Broker::Own(b) => b,
            Broker::Shared(_) => panic!("this test needs a broker of its own"),
        }
    }
}

impl std::ops::Deref for Broker {
    type Target = kstreams_broker_harness::TestBroker;
    fn deref(&self) -> &Self::Target {
        match self {
            Broker::Shared(b) => b,
            Broker::Own(b) => b,
        }
    }
}
pub const PARTITIONS: i32 = 3;

/// Event time (ms) of the closing readings of [`readings`]`(minutes)`.
pub fn closing_time_ms(minutes: u32) -> i64 {
    (T0 as i64 + i64::from(minutes + 10) * 60) * 1000
}

pub fn expected(readings: &[Reading], closed_before_ms: i64) -> BTreeMap<(u32, i64), WindowAverage> {
    kstreams_example::expected::window_averages(readings, Some(closed_before_ms))
}

pub fn assert_same(got: &BTreeMap<(u32, i64), WindowAverage>, want: &BTreeMap<(u32, i64), WindowAverage>) {
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (k, w) in want {
        let g = &got[k];
        assert_eq!((g.count, g.window_end), (w.count, w.window_end), "{k:?}");
        assert!((g.avg - w.avg).abs() < 1e-9 && g.min == w.min && g.max == w.max, "{k:?}: {g:?} vs {w:?}");
    }
}

/// The example's topology for input already keyed by sensor id (`U32Serde`): no repartition
/// topic, one task per input partition.
pub fn keyed_topology(s: &TemperatureSettings) -> Topology {
    let mut b = StreamsBuilder::new();
    b.stream(
        &s.input_topic,
        Consumed::with(U32Serde, JsonSerde::<Reading>::new())
            .with_timestamp_extractor(|_, r: &Reading, _| r.event_time_ms()),
    )
    .filter(|_, r| r.temperatura.is_finite())
    .group_by_key(Grouped::with(U32Serde, JsonSerde::<Reading>::new()))
    .windowed_by(TumblingWindows::of(s.window).grace(s.grace))
    .aggregate(
        StatsOf::of(|r: &Reading| r.temperatura),
        Materialized::as_("temperature-stats").with_store_type(s.store),
    )
    .suppress(Suppressed::until_window_closes())
    .to_stream()
    .map(kstreams_example::window_average)
    .to(&s.output_topic, Produced::with(StringSerde, JsonSerde::new()));
    b.build().unwrap()
}

/// Which form of the topology runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// [`keyed_topology`]: input keyed by sensor, no repartition topic.
    Keyed,
    /// The example's topology: unkeyed input, `select_key` and a repartition topic.
    Unkeyed,
}

impl Variant {
    pub fn topology(self, s: &TemperatureSettings) -> Topology {
        match self {
            Variant::Keyed => keyed_topology(s),
            Variant::Unkeyed => {
                let mut b = StreamsBuilder::new();
                temperature_averages(&mut b, s);
                b.build().unwrap()
            }
        }
    }

    /// How its input is produced.
    pub fn placement(self) -> Placement {
        match self {
            Variant::Keyed => Placement::Keyed,
            // No key, as the seed's producer; each sensor on the partition its key is
            // repartitioned to, so every downstream task receives its sensors from one
            // upstream task, in order.
            Variant::Unkeyed => Placement::UnkeyedOnPartition(partition_of_sensor),
        }
    }
}

/// Config of one at-least-once instance, see [`config_with`].
pub fn config(servers: &str, app: &str, client: &str, state_dir: &Path) -> StreamsConfig {
    config_with(servers, app, client, state_dir, ProcessingGuarantee::AtLeastOnce)
}

/// Config of one instance: commits every 200 ms, and a 6 s session timeout so the group
/// notices a killed member quickly.
pub fn config_with(
    servers: &str,
    app: &str,
    client: &str,
    state_dir: &Path,
    guarantee: ProcessingGuarantee,
) -> StreamsConfig {
    config_committing_every(servers, app, client, state_dir, guarantee, Duration::from_millis(200))
}

/// [`config_with`], committing every `commit_interval`.
pub fn config_committing_every(
    servers: &str,
    app: &str,
    client: &str,
    state_dir: &Path,
    guarantee: ProcessingGuarantee,
    commit_interval: Duration,
) -> StreamsConfig {
    config_builder(servers, app, client, state_dir, guarantee, commit_interval).build().unwrap()
}

/// The builder of [`config_committing_every`], for more settings.
pub fn config_builder(
    servers: &str,
    app: &str,
    client: &str,
    state_dir: &Path,
    guarantee: ProcessingGuarantee,
    commit_interval: Duration,
) -> kstreams::runtime::StreamsConfigBuilder {
    StreamsConfig::builder(app, servers)
        .client_id(client)
        .state_dir(state_dir)
        .processing_guarantee(guarantee)
        .commit_interval(commit_interval)
        .client_setting(ClientKind::Consumer, "session.timeout.ms", "6000")
        .client_setting(ClientKind::Consumer, "heartbeat.interval.ms", "500")
}

pub fn start(topology: Topology, config: StreamsConfig) -> KafkaStreams {
    let mut streams = KafkaStreams::new(Arc::new(topology), config);
    streams.start().unwrap();
    let state = streams.wait_for_state(State::Running, Duration::from_secs(60));
    assert_eq!(state, State::Running, "{:?}", streams.error());
    streams
}

/// Where a record goes: keyed by sensor (`U32Serde` bytes, the producer's partitioner), or
/// unkeyed on an explicit partition.
#[derive(Debug, Clone, Copy)]
pub enum Placement {
    Keyed,
    UnkeyedOnPartition(fn(u32) -> i32),
    /// No key and no partition: the partitioner picks one at random, as for the seed's producer.
    Unkeyed,
}

/// Sends `readings` to `topic` (acks=all, idempotent), pausing `pace` between event-time
/// steps (every [`SENSORS`] readings), and waits until all are acknowledged.
pub fn produce(servers: &str, topic: &str, readings: &[Reading], placement: Placement, pace: Duration) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for (i, r) in readings.iter().enumerate() {
        let value = serde_json::to_vec(r).unwrap();
        let key = r.sensor_id.to_be_bytes();
        let mut rec: BaseRecord<'_, [u8], Vec<u8>> = BaseRecord::to(topic).payload(&value);
        rec = match placement {
            Placement::Keyed => rec.key(&key[..]),
            Placement::UnkeyedOnPartition(f) => rec.partition(f(r.sensor_id)),
            Placement::Unkeyed => rec,
        };
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((_, back)) => {
                    rec = back;
                    p.poll(Duration::from_millis(20));
                }
            }
        }
        if !pace.is_zero() && (i + 1) % SENSORS as usize == 0 {
            p.poll(Duration::ZERO);
            std::thread::sleep(pace);
        }
    }
    p.flush(Duration::from_secs(60)).unwrap();
}

/// The partition Kafka's default partitioner (murmur2, as the Java client and the runtime's
/// producer) gives a `U32Serde` key.
pub fn partition_of_sensor(sensor: u32) -> i32 {
    ((murmur2(&sensor.to_be_bytes()) & 0x7fff_ffff) % PARTITIONS as u32) as i32
}

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`).
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    if tail.len() == 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// Reads the output topic from the beginning, remembering one result per window and checking
/// that a window seen twice was re-emitted with identical values.
pub struct OutputReader {
    consumer: BaseConsumer,
    pub got: BTreeMap<(u32, i64), WindowAverage>,
    pub records: usize,
}

impl OutputReader {
    pub fn new(servers: &str, topic: &str) -> Self {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", servers)
            .set("group.id", kstreams_broker_harness::unique_name("pipeline-test-reader"))
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        consumer.subscribe(&[topic]).unwrap();
        Self { consumer, got: BTreeMap::new(), records: 0 }
    }

    /// Reads until `done(results)` holds; panics at the deadline.
    pub fn read_until(
        &mut self,
        within: Duration,
        what: &str,
        done: impl Fn(&BTreeMap<(u32, i64), WindowAverage>) -> bool,
    ) {
        let deadline = Instant::now() + within;
        while !done(&self.got) {
            assert!(
                Instant::now() < deadline,
                "{what}: not within {within:?}; got {} windows",
                self.got.len()
            );
            if let Some(Ok(m)) = self.consumer.poll(Duration::from_millis(200)) {
                let avg: WindowAverage = serde_json::from_slice(m.payload().unwrap()).unwrap();
                self.records += 1;
                let key = (avg.sensor_id, avg.window_start);
                if let Some(prev) = self.got.get(&key) {
                    assert_eq!(prev, &avg, "a repeated window must be an identical re-emission");
                }
                self.got.insert(key, avg);
            }
        }
    }

    /// Reads until every window of `want` arrived, then keeps reading `settle` longer for
    /// late duplicates, and compares.
    pub fn expect(&mut self, want: &BTreeMap<(u32, i64), WindowAverage>, within: Duration, settle: Duration) {
        self.read_until(within, "every expected window", |got| want.keys().all(|k| got.contains_key(k)));
        let until = Instant::now() + settle;
        self.read_until(settle + Duration::from_secs(1), "settling", |_| Instant::now() >= until);
        assert_same(&self.got, want);
    }
}

// --- counters ---------------------------------------------------------------------------

/// Counters by `(name, thread label)`.
static COUNTERS: Mutex<BTreeMap<(String, String, String), Arc<AtomicU64>>> = Mutex::new(BTreeMap::new());

/// Records every counter by name, `thread` and `store` label (other labels are summed); ignores
/// gauges and histograms.
struct CounterRecorder;

impl metrics::Recorder for CounterRecorder {
    fn describe_counter(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_gauge(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_histogram(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        let thread =
            key.labels().find(|l| l.key() == "thread").map(|l| l.value().to_string()).unwrap_or_default();
        let store =
            key.labels().find(|l| l.key() == "store").map(|l| l.value().to_string()).unwrap_or_default();
        let counter =
            COUNTERS.lock().unwrap().entry((key.name().to_string(), thread, store)).or_default().clone();
        metrics::Counter::from_arc(counter)
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

/// Installs the recorder (once per process).
pub fn record_counters() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| metrics::set_global_recorder(CounterRecorder).unwrap());
}

/// The counter `name` summed over every label.
pub fn counter_total(name: &str) -> u64 {
    COUNTERS
        .lock()
        .unwrap()
        .iter()
        .filter(|((n, _, _), _)| n == name)
        .map(|(_, c)| c.load(Ordering::SeqCst))
        .sum()
}

/// Changelog records restored by the stream threads of the instance with `client_id`.
pub fn restored_by(client_id: &str) -> u64 {
    thread_counter("kstreams_restored_records_total", client_id)
}

/// Changelog records restored into `store` by the stream threads of the instance with
/// `client_id`.
pub fn restored_into(client_id: &str, store: &str) -> u64 {
    let prefix = format!("{client_id}-StreamThread-");
    COUNTERS
        .lock()
        .unwrap()
        .iter()
        .filter(|((n, thread, s), _)| {
            n == "kstreams_restored_records_total" && thread.starts_with(&prefix) && s == store
        })
        .map(|(_, n)| n.load(Ordering::SeqCst))
        .sum()
}

/// Counter `name` summed over the stream threads of the instance with `client_id`.
pub fn thread_counter(name: &str, client_id: &str) -> u64 {
    let prefix = format!("{client_id}-StreamThread-");
    COUNTERS
        .lock()
        .unwrap()
        .iter()
        .filter(|((n, thread, _), _)| n == name && thread.starts_with(&prefix))
        .map(|(_, n)| n.load(Ordering::SeqCst))
        .sum()
}

// --- instances as child processes -------------------------------------------------------

/// Set in a child process: `bootstrap|application id|client id|state dir|input|output|keyed
/// or unkeyed|guarantee|commit interval ms|extra settings` (`key=value` pairs joined by `;`).
pub const CHILD_ENV: &str = "KSTREAMS_BROKER_TEST_CHILD";
/// Prefix of the status lines a child prints.
const STATUS: &str = "KSTREAMS_CHILD_STATUS";

/// What a child instance runs.
pub struct ChildSpec<'a> {
    pub servers: &'a str,
    pub app: &'a str,
    pub client: &'a str,
    pub dir: &'a Path,
    pub settings: &'a TemperatureSettings,
    pub variant: Variant,
    pub guarantee: ProcessingGuarantee,
    pub commit_interval: Duration,
    /// More settings of the instance (Kafka Streams names, `consumer.`/`producer.` prefixed).
    pub extra: &'a [(&'a str, &'a str)],
}

impl ChildSpec<'_> {
    /// The [`CHILD_ENV`] value.
    pub fn encode(&self) -> String {
        let variant = if self.variant == Variant::Keyed { "keyed" } else { "unkeyed" };
        let (input, output) = (&self.settings.input_topic, &self.settings.output_topic);
        let extra: Vec<String> = self.extra.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!(
            "{}|{}|{}|{}|{input}|{output}|{variant}|{}|{}|{}",
            self.servers,
            self.app,
            self.client,
            self.dir.display(),
            self.guarantee,
            self.commit_interval.as_millis(),
            extra.join(";")
        )
    }
}

/// The body of a child process: runs the topology until its stdin closes, printing
/// `KSTREAMS_CHILD_STATUS <state> <tasks> <records restored into the RocksDB store>
/// <consumed records> <recoveries>
/// <process id> <task ids>` whenever one changes.
pub fn run_child(spec: &str) {
    let parts: Vec<&str> = spec.split('|').collect();
    let [servers, app, client, dir, input, output, variant, guarantee, commit, extra] = parts[..] else {
        panic!("bad {CHILD_ENV}: {spec}")
    };
    let commit = Duration::from_millis(commit.parse().unwrap());
    let variant = if variant == "keyed" { Variant::Keyed } else { Variant::Unkeyed };
    let guarantee = match guarantee {
        "exactly_once_v2" => ProcessingGuarantee::ExactlyOnceV2,
        _ => ProcessingGuarantee::AtLeastOnce,
    };
    record_counters();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let settings = TemperatureSettings {
        input_topic: input.to_string(),
        output_topic: output.to_string(),
        ..TemperatureSettings::default()
    };
    let mut config = config_builder(servers, app, client, Path::new(dir), guarantee, commit);
    for pair in extra.split(';').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap();
        config = config.set(k, v);
    }
    let mut streams = KafkaStreams::new(Arc::new(variant.topology(&settings)), config.build().unwrap());
    streams.start().unwrap();
    let eof = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let e = eof.clone();
    std::thread::spawn(move || {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {}
        e.store(true, Ordering::SeqCst);
    });
    let mut last = None;
    while !eof.load(Ordering::SeqCst) {
        let ids = streams.active_tasks();
        let consumed = thread_counter("kstreams_records_consumed_total", client);
        let recoveries = thread_counter("kstreams_task_recoveries_total", client);
        let restored = restored_into(client, kstreams_example::STATS_STORE);
        let now = (streams.state(), ids.len(), restored, consumed, recoveries);
        if last != Some(now) {
            let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
            let process = streams.process_id().unwrap_or("-");
            println!(
                "{STATUS} {} {} {} {} {} {process} {}",
                now.0,
                now.1,
                now.2,
                now.3,
                now.4,
                ids.join(",")
            );
            last = Some(now);
        }
        assert_ne!(now.0, State::Error, "{:?}", streams.error());
        std::thread::sleep(Duration::from_millis(50));
    }
    streams.close_timeout(Duration::from_secs(30)).unwrap();
}

/// An instance running in a child process (this test binary re-executed in child mode);
/// killed on drop.
pub struct ChildInstance {
    child: Child,
    status: Arc<Mutex<ChildStatus>>,
}

/// What a child reported last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildStatus {
    pub state: String,
    pub tasks: usize,
    /// Changelog records restored into the windows' RocksDB store (the suppression buffer,
    /// in memory, is restored from its changelog at every start).
    pub restored: u64,
    /// Input records its stream threads consumed.
    pub consumed: u64,
    /// Times its threads went back to the committed offsets after a failed transaction.
    pub recoveries: u64,
    /// Its process id (the stem of its transactional ids).
    pub process_id: String,
    /// The active tasks, as `<sub-topology>_<partition>`.
    pub task_ids: Vec<String>,
}

impl ChildInstance {
    /// Starts `entry_test` of this binary with [`CHILD_ENV`] set to `spec`.
    pub fn spawn(entry_test: &str, spec: String) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([entry_test, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, spec)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let status = Arc::new(Mutex::new(ChildStatus::default()));
        let out = child.stdout.take().unwrap();
        let s = status.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix(STATUS) {
                    let mut it = rest.split_whitespace();
                    let fields = (
                        it.next(),
                        it.next().map(str::parse),
                        it.next().map(str::parse),
                        it.next().map(str::parse),
                        it.next().map(str::parse),
                        it.next(),
                    );
                    if let (
                        Some(state),
                        Some(Ok(tasks)),
                        Some(Ok(restored)),
                        Some(Ok(consumed)),
                        Some(Ok(recoveries)),
                        Some(process),
                    ) = fields
                    {
                        let task_ids = it.next().map(|ids| ids.split(',').map(str::to_string).collect());
                        *s.lock().unwrap() = ChildStatus {
                            state: state.to_string(),
                            tasks,
                            restored,
                            consumed,
                            recoveries,
                            process_id: process.to_string(),
                            task_ids: task_ids.unwrap_or_default(),
                        };
                    }
                }
            }
        });
        Self { child, status }
    }

    /// The last reported state, number of active tasks and restored records.
    pub fn status(&self) -> ChildStatus {
        self.status.lock().unwrap().clone()
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Freezes the process (SIGSTOP), as a long GC pause or a stalled VM would.
    pub fn pause(&self) {
        signal(self.child.id(), "-STOP");
    }

    /// Continues a frozen process (SIGCONT).
    pub fn resume(&self) {
        signal(self.child.id(), "-CONT");
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Closes its stdin (it closes its instance and exits) and waits for it.
    pub fn stop(&mut self, within: Duration) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "child exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "child did not stop within {within:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ChildInstance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `ok()` holds, panicking with `what` at the deadline.
pub fn wait_until(within: Duration, what: impl Fn() -> String, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "not within {within:?}: {}", what());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `signal` (`-STOP`, `-CONT`, ...) to process `pid`.
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill").args([signal, &pid.to_string()]).status().unwrap();
    assert!(status.success(), "kill {signal} {pid}: {status}");
}

/// The window statistics held by the window stores of `streams` (every task it runs), by
/// `(sensor, window start)`, as the output would report them.
pub fn stored_windows(streams: &KafkaStreams) -> BTreeMap<(u32, i64), WindowAverage> {
    use kstreams::state::WindowStore;
    let by_task = streams
        .query_store::<WindowStore<u32, kstreams::dsl::Stats>, _>("temperature-stats", |_, store| {
            store.fetch_all(0, i64::MAX).unwrap()
        })
        .unwrap();
    by_task
        .into_values()
        .flatten()
        .map(|(sensor, start, stats)| {
            let window = Window { start, end: start + 60_000 };
            let w = kstreams_example::window_average(Windowed { key: sensor, window }, stats).1;
            ((sensor, start), w)
        })
        .collect()
}

/// Records in `topic` (every partition, from the beginning to its end), read with
/// `isolation` (`read_committed` or `read_uncommitted`): under exactly-once the difference is
/// what aborted transactions wrote.
pub fn count_records(servers: &str, topic: &str, isolation: &str) -> usize {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", kstreams_broker_harness::unique_name("record-counter"))
        .set("isolation.level", isolation)
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    let partitions = md.topics()[0].partitions().len();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p as i32, rdkafka::Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let (mut n, mut at_end) = (0, std::collections::BTreeSet::new());
    let deadline = Instant::now() + Duration::from_secs(30);
    while at_end.len() < partitions {
        assert!(Instant::now() < deadline, "reading {topic} to its end");
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(_)) => n += 1,
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            _ => {}
        }
    }
    n
}
