//! The temperature-average pipeline on Apache Kafka (one broker for the binary, started by
//! `kstreams-broker-harness`; or the cluster named by `KSTREAMS_TEST_BOOTSTRAP`), checked
//! against averages computed here independently: one instance, unkeyed input through the
//! repartition topic, restarts with and without local state, three instances in one group
//! with one killed by SIGKILL, and a broker restart in the middle of a run.
//!
//! Readings are produced in event-time order and each sensor's readings stay on one input
//! partition (`tests/event_time_backlog.rs` covers readings spread at random).
//! The crash test runs both variants of the topology: keyed (no repartition topic) and
//! unkeyed, where an upstream task that crashes re-sends its uncommitted records to the
//! repartition topic and the downstream task drops them as duplicates.
//!
//! Tests run one at a time so their deadlines do not compete for the CPU; they share the
//! broker (unique topic and application names keep them apart), except the broker-restart
//! test, which starts its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kstreams::runtime::{ProcessingGuarantee, State, StreamsConfig};
use kstreams_broker_harness::{unique_name, TestBroker};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers as _;
use rdkafka::Message;

mod broker_support;

use broker_support::*;
use kstreams_example::TemperatureSettings;

/// Serializes the tests of this binary.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A broker with fresh input and output topics (3 partitions each) and an application id.
struct Setup {
    broker: Broker,
    app: String,
    settings: TemperatureSettings,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(app: &str) -> Self {
        Self::on(Broker::shared(), app)
    }

    fn on(broker: Broker, app: &str) -> Self {
        let settings = TemperatureSettings {
            input_topic: unique_name("eventos_sensores"),
            output_topic: unique_name("sensor-averages"),
            ..TemperatureSettings::default()
        };
        broker.create_topic(&settings.input_topic, PARTITIONS).unwrap_or_else(|e| panic!("{e}"));
        broker.create_topic(&settings.output_topic, PARTITIONS).unwrap_or_else(|e| panic!("{e}"));
        Self { broker, app: unique_name(app), settings, dir: tempfile::tempdir().unwrap() }
    }

    fn servers(&self) -> &str {
        self.broker.bootstrap()
    }

    fn config(&self, client: &str, state_dir: &Path) -> StreamsConfig {
        config(self.servers(), &self.app, client, state_dir)
    }

    fn produce(&self, readings: &[kstreams_example::Reading], placement: Placement, pace: Duration) {
        produce(self.servers(), &self.settings.input_topic, readings, placement, pace);
    }

    fn reader(&self) -> OutputReader {
        OutputReader::new(self.servers(), &self.settings.output_topic)
    }
}

/// Whether the results hold window `minute` of every sensor.
fn has_window(minute: i64) -> impl Fn(&BTreeMap<(u32, i64), kstreams_example::WindowAverage>) -> bool {
    let start = (T0 as i64 + minute * 60) * 1000;
    move |got| (0..SENSORS).all(|s| got.contains_key(&(s, start)))
}

#[test]
fn one_instance_outputs_exactly_the_expected_averages() {
    let _serial = serial();
    let started = Instant::now();
    let s = Setup::new("one-instance");
    let input = readings(4);
    let want = expected(&input, closing_time_ms(4));
    assert_eq!(want.len(), SENSORS as usize * 4);

    let mut streams = start(keyed_topology(&s.settings), s.config("one", s.dir.path()));
    assert_eq!(streams.active_tasks().len(), PARTITIONS as usize);
    s.produce(&input, Placement::Keyed, Duration::ZERO);
    let mut out = s.reader();
    out.expect(&want, Duration::from_secs(60), Duration::from_millis(500));
    assert_eq!(out.records, want.len(), "without failures every window is emitted once");
    streams.close().unwrap();
    assert_eq!(streams.state(), State::NotRunning);
    eprintln!("one instance: {:?}", started.elapsed());
}

#[test]
fn unkeyed_input_through_the_repartition_topic_gives_the_same_averages() {
    let _serial = serial();
    let started = Instant::now();
    let s = Setup::new("unkeyed");
    let input = readings(4);
    let want = expected(&input, closing_time_ms(4));

    let mut streams = start(Variant::Unkeyed.topology(&s.settings), s.config("unkeyed", s.dir.path()));
    assert_eq!(streams.active_tasks().len(), 2 * PARTITIONS as usize, "3 upstream + 3 downstream tasks");
    s.produce(&input, Variant::Unkeyed.placement(), Duration::ZERO);
    let mut out = s.reader();
    out.expect(&want, Duration::from_secs(60), Duration::from_millis(500));
    assert_eq!(out.records, want.len());
    streams.close().unwrap();

    // The repartition topic holds every reading keyed by sensor, partitioned like the Java
    // client does it (murmur2), and the upstream tasks' watermarks in every partition.
    let topic = format!("{}-readings-by-sensor-repartition", s.app);
    let c: BaseConsumer = s
        .broker
        .client_config()
        .set("group.id", unique_name("repartition-reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    c.subscribe(&[topic.as_str()]).unwrap();
    let (mut n, deadline) = (0, Instant::now() + Duration::from_secs(30));
    let mut watermarked = std::collections::BTreeSet::new();
    while n < input.len() || watermarked.len() < PARTITIONS as usize {
        assert!(Instant::now() < deadline, "{n} of {} records in {topic}", input.len());
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            let is_watermark =
                m.headers().is_some_and(|hs| hs.iter().any(|h| h.key == kstreams::core::WATERMARK_HEADER));
            if is_watermark {
                assert_eq!(m.key(), None, "watermarks have no key");
                watermarked.insert(m.partition());
                continue;
            }
            let sensor = u32::from_be_bytes(m.key().unwrap().try_into().unwrap());
            assert_eq!(m.partition(), partition_of_sensor(sensor), "sensor {sensor}");
            n += 1;
        }
    }
    eprintln!("unkeyed: {:?}", started.elapsed());
}

#[test]
fn restart_honours_the_checkpoint_and_restores_fully_without_local_state() {
    let _serial = serial();
    let started = Instant::now();
    record_counters();
    let s = Setup::new("restart");
    let input = readings(4);
    let want = expected(&input, closing_time_ms(4));
    let step = SENSORS as usize;
    let (first, rest) = input.split_at(18 * step); // 1.5 minutes: closes minute 0
    let (second, third) = rest.split_at(18 * step); // to 3 minutes: closes minute 1
    let dir = s.dir.path().join("state");
    let mut out = s.reader();

    let mut run1 = start(keyed_topology(&s.settings), s.config("run-1", &dir));
    s.produce(first, Placement::Keyed, Duration::ZERO);
    out.read_until(Duration::from_secs(60), "minute 0", has_window(0));
    run1.close().unwrap();
    assert_eq!(restored_by("run-1"), 0, "a fresh start has nothing to restore");

    // Same state directory: the checkpoints written at close cover the changelogs of the
    // RocksDB store. The suppression buffer lives in memory: it is restored from its changelog
    // every time (the windows still open at the close come back with it).
    let mut run2 = start(keyed_topology(&s.settings), s.config("run-2", &dir));
    assert_eq!(
        restored_into("run-2", kstreams_example::STATS_STORE),
        0,
        "checkpoint honoured: nothing restored"
    );
    s.produce(second, Placement::Keyed, Duration::ZERO);
    out.read_until(Duration::from_secs(60), "minute 1", has_window(1));
    run2.close().unwrap();

    // Without the state directory: everything comes back from the changelogs.
    std::fs::remove_dir_all(&dir).unwrap();
    let mut run3 = start(keyed_topology(&s.settings), s.config("run-3", &dir));
    let restored = restored_by("run-3");
    assert!(restored > 0, "full restore from the changelogs");
    s.produce(third, Placement::Keyed, Duration::ZERO);
    out.expect(&want, Duration::from_secs(60), Duration::from_millis(500));
    assert_eq!(out.records, want.len(), "graceful restarts re-emit nothing");
    run3.close().unwrap();
    eprintln!("restart: {restored} changelog records restored; {:?}", started.elapsed());
}

/// SIGKILL while records are processed, then a restart on the same state directory. The
/// local RocksDB state is kept, because the input position flushed with it is not ahead of the
/// committed offsets, and only the changelog after the checkpoint is restored instead of all
/// of it. The records processed before the kill were never committed: they are processed
/// again, and every window is still exact and emitted once.
#[test]
fn a_sigkilled_instance_restarts_on_its_local_state_without_a_full_restore() {
    let _serial = serial();
    let started = Instant::now();
    let s = Setup::new("crash-local");
    let input = readings(4);
    let want = expected(&input, closing_time_ms(4));
    let step = SENSORS as usize;
    let (first, rest) = input.split_at(18 * step); // 1.5 minutes: closes minute 0
    let (second, third) = rest.split_at(6 * step); // to 2 minutes: closes nothing more
    let dir = s.dir.path().join("state");
    // Commits every 10 minutes, that is only at a graceful stop here: the kill below lands
    // after records were processed and before any commit, every time.
    let rare = Duration::from_secs(600);
    let spawn = |client: &str| {
        let spec = ChildSpec {
            servers: s.servers(),
            app: &s.app,
            client,
            dir: &dir,
            settings: &s.settings,
            variant: Variant::Keyed,
            guarantee: ProcessingGuarantee::AtLeastOnce,
            commit_interval: rare,
            extra: &[],
        }
        .encode();
        ChildInstance::spawn("child_instance_entry_point", spec)
    };
    let running = State::Running.to_string();
    let wait_for = |child: &ChildInstance, what: &str, ok: &dyn Fn(&ChildStatus) -> bool| {
        wait_until(
            Duration::from_secs(60),
            || format!("{what}: {:?}", child.status()),
            || ok(&child.status()),
        )
    };
    let mut out = s.reader();

    // Run 1 processes the first part and commits it when it stops (offsets, checkpoint, and
    // the input position with the state).
    let mut one = spawn("run-1");
    wait_for(&one, "run-1 running", &|c| c.state == running && c.tasks == PARTITIONS as usize);
    s.produce(first, Placement::Keyed, Duration::ZERO);
    wait_for(&one, "run-1 consumed the first part", &|c| c.consumed == first.len() as u64);
    one.stop(Duration::from_secs(30));
    out.read_until(Duration::from_secs(60), "minute 0", has_window(0));

    // Run 2 starts on that state without restoring, processes the second part, and dies.
    let mut two = spawn("run-2");
    wait_for(&two, "run-2 running", &|c| c.state == running && c.tasks == PARTITIONS as usize);
    assert_eq!(two.status().restored, 0, "a graceful stop leaves nothing to restore");
    s.produce(second, Placement::Keyed, Duration::ZERO);
    wait_for(&two, "run-2 consumed the second part", &|c| c.consumed == second.len() as u64);
    two.kill();

    // Run 3: the state directory holds what run 2 found (run 2 flushed nothing), the checkpoint
    // stayed, and the input position equals the committed offsets, so nothing is restored.
    // Kafka Streams' rule (checkpoint dropped at the first processed record) would wipe the
    // state here and restore every changelog record.
    let mut three = spawn("run-3");
    wait_for(&three, "run-3 running", &|c| c.state == running && c.tasks == PARTITIONS as usize);
    assert_eq!(three.status().restored, 0, "the local state was kept: no restore after the crash");
    s.produce(third, Placement::Keyed, Duration::ZERO);
    let rest_len = (second.len() + third.len()) as u64;
    wait_for(&three, "run-3 consumed the second part again and the third", &|c| c.consumed == rest_len);
    three.stop(Duration::from_secs(30));
    out.expect(&want, Duration::from_secs(60), Duration::from_millis(500));
    assert_eq!(out.records, want.len(), "each window emitted once");
    eprintln!("crash on local state: {:?}", started.elapsed());
}

/// Entry point of the child processes of
/// `three_instances_share_the_partitions_and_survive_a_sigkill`; does nothing in a normal run.
#[test]
fn child_instance_entry_point() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        run_child(&spec);
    }
}

#[test]
fn three_instances_share_the_partitions_and_survive_a_sigkill() {
    crash_scenario("three", Variant::Keyed, ProcessingGuarantee::AtLeastOnce);
}

/// The example's topology itself (repartition topic) under at-least-once: the upstream task's
/// uncommitted records are re-sent to the repartition topic after the crash, and the
/// downstream dedup step (header `kstreams.src`, changelogged positions) drops them, so the
/// averages stay exact.
#[test]
fn three_instances_with_a_repartition_topic_survive_a_sigkill_at_least_once() {
    crash_scenario("three-alo", Variant::Unkeyed, ProcessingGuarantee::AtLeastOnce);
}

/// Three instances (child processes) split the partitions; one is killed with SIGKILL while
/// readings arrive; the other two take over, restore its state from the changelogs, and the
/// output equals the expected averages (a window seen twice is an identical re-emission).
fn crash_scenario(app: &str, variant: Variant, guarantee: ProcessingGuarantee) {
    let _serial = serial();
    let started = Instant::now();
    let s = Setup::new(app);
    let input = readings(4);
    let want = expected(&input, closing_time_ms(4));
    let tasks_per_instance = if variant == Variant::Keyed { 1 } else { 2 };
    let mut children: Vec<ChildInstance> = (1..=3)
        .map(|i| {
            let dir = s.dir.path().join(format!("instance-{i}"));
            let client = format!("instance-{i}");
            let spec = ChildSpec {
                servers: s.servers(),
                app: &s.app,
                client: &client,
                dir: &dir,
                settings: &s.settings,
                variant,
                guarantee,
                commit_interval: Duration::from_millis(200),
                extra: &[],
            }
            .encode();
            ChildInstance::spawn("child_instance_entry_point", spec)
        })
        .collect();
    let running = State::Running.to_string();
    let statuses = |c: &[ChildInstance]| c.iter().map(ChildInstance::status).collect::<Vec<_>>();
    wait_until(
        Duration::from_secs(60),
        || format!("{tasks_per_instance} task(s) each: {:?}", statuses(&children)),
        || {
            let now = statuses(&children);
            assert!(now.iter().all(|c| c.state != "ERROR"), "an instance failed: {now:?}");
            now.iter().all(|c| c.state == running && c.tasks == tasks_per_instance)
        },
    );

    // Readings arrive over ~5 s; an instance is killed once the first windows are out.
    let producer = {
        let (servers, topic, input) =
            (s.servers().to_string(), s.settings.input_topic.clone(), input.clone());
        let placement = variant.placement();
        std::thread::spawn(move || produce(&servers, &topic, &input, placement, Duration::from_millis(100)))
    };
    let mut out = s.reader();
    out.read_until(Duration::from_secs(60), "minute 0", has_window(0));
    // Kill an instance that owns a stateful task (the windows: the last sub-topology), so
    // its state must be restored by the survivors.
    let stateful = if variant == Variant::Keyed { "0_" } else { "1_" };
    let victim = children
        .iter()
        .position(|c| c.status().task_ids.iter().any(|t| t.starts_with(stateful)))
        .unwrap_or(0);
    children.swap(0, victim);
    children[0].kill();
    let killed_at = Instant::now();
    let all_tasks = tasks_per_instance * 3;
    wait_until(
        Duration::from_secs(60),
        || format!("the survivors take over: {:?}", statuses(&children[1..])),
        || children[1..].iter().map(|c| c.status().tasks).sum::<usize>() == all_tasks,
    );
    let takeover = killed_at.elapsed();
    let restored: u64 = children[1..].iter().map(|c| c.status().restored).sum();
    assert!(restored > 0, "the survivors restored the killed instance's state from its changelog");
    producer.join().unwrap();
    out.expect(&want, Duration::from_secs(90), Duration::from_secs(1));
    assert!(out.records >= want.len());
    for c in &mut children[1..] {
        c.stop(Duration::from_secs(30));
    }
    eprintln!(
        "{app}: takeover after {takeover:?} ({restored} changelog records restored), {} records for {} windows; {:?}",
        out.records,
        want.len(),
        started.elapsed()
    );
}

#[test]
fn the_application_rides_through_a_broker_restart() {
    let _serial = serial();
    let started = Instant::now();
    let broker = TestBroker::start().unwrap_or_else(|e| panic!("{e}"));
    if broker.is_external() {
        eprintln!("skipped: restarting the broker needs one started by the harness");
        return;
    }
    let mut s = Setup::on(Broker::Own(broker), "broker-restart");
    let input = readings(4);
    let want = expected(&input, closing_time_ms(4));
    let (first, rest) = input.split_at(24 * SENSORS as usize);

    let mut streams = start(keyed_topology(&s.settings), s.config("survivor", s.dir.path()));
    s.produce(first, Placement::Keyed, Duration::ZERO);
    let mut out = s.reader();
    out.read_until(Duration::from_secs(60), "minute 0", has_window(0));
    // The rest arrives while the broker restarts: the producer and the application retry.
    let producer = {
        let (servers, topic, rest) = (s.servers().to_string(), s.settings.input_topic.clone(), rest.to_vec());
        std::thread::spawn(move || {
            produce(&servers, &topic, &rest, Placement::Keyed, Duration::from_millis(50))
        })
    };
    s.broker.own().restart().unwrap_or_else(|e| panic!("{e}"));
    producer.join().unwrap();
    out.expect(&want, Duration::from_secs(120), Duration::from_secs(1));
    assert_ne!(streams.state(), State::Error, "{:?}", streams.error());
    streams.close().unwrap();
    eprintln!("broker restart: {:?}", started.elapsed());
}
