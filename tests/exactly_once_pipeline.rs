//! Exactly-once (`processing.guarantee=exactly_once_v2`) on Apache Kafka, black-box: the
//! temperature pipeline (unkeyed input, repartition topic, RocksDB windows with changelogs,
//! suppression) run as child processes and attacked the way production attacks it, while a
//! `read_committed` reader of the output must see every window exactly once with the exact
//! mean and count — not one duplicate — and the changelogs, restored by a fresh instance,
//! must hold exactly the state the input implies.
//!
//! - an instance SIGKILLed mid-stream, then restarted on its state directory;
//! - a zombie: an instance frozen (SIGSTOP) past its session and transaction timeouts while the
//!   other takes over, then resumed (SIGCONT);
//! - an instance killed with a transaction open and restarted: its stable `transactional.id`
//!   fences the old transaction at once, instead of after `transaction.timeout.ms`;
//! - a processing error: the open transaction is aborted, nothing of it is visible, and a
//!   restart processes the records again exactly once;
//! - the broker frozen under load, so that produce requests and commits time out: the thread
//!   aborts or recreates its producer and goes back to the committed offsets.
//!
//! Each test names the promise of `docs/guarantees.md` it proves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kstreams::prelude::*;
use kstreams::runtime::{ProcessingGuarantee, State, StreamsConfig};
use kstreams_broker_harness::{unique_name, TestBroker};

mod broker_support;

use broker_support::*;
use kstreams_example::expected;
use kstreams_example::TemperatureSettings;

const EOS: ProcessingGuarantee = ProcessingGuarantee::ExactlyOnceV2;

/// Serializes the tests of this binary (their deadlines must not compete for the CPU).
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Fresh input and output topics (3 partitions each) and an application id on `broker`.
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

    /// A child instance `client` with its own state directory under this setup's.
    fn spawn(&self, client: &str, commit: Duration, extra: &[(&str, &str)]) -> ChildInstance {
        let dir = self.dir.path().join(client);
        let spec = ChildSpec {
            servers: self.servers(),
            app: &self.app,
            client,
            dir: &dir,
            settings: &self.settings,
            variant: Variant::Unkeyed,
            guarantee: EOS,
            commit_interval: commit,
            extra,
        }
        .encode();
        ChildInstance::spawn("child_instance_entry_point", spec)
    }

    /// Produces `readings` (the unkeyed placement) from a thread, pausing `pace` per step.
    fn produce_in_background(
        &self,
        readings: &[kstreams_example::Reading],
        pace: Duration,
    ) -> std::thread::JoinHandle<()> {
        let (servers, topic, readings) =
            (self.servers().to_string(), self.settings.input_topic.clone(), readings.to_vec());
        std::thread::spawn(move || produce(&servers, &topic, &readings, Variant::Unkeyed.placement(), pace))
    }

    fn reader(&self) -> OutputReader {
        OutputReader::new(self.servers(), &self.settings.output_topic)
    }

    /// A fresh instance (empty state directory, same application id) restores every store
    /// from its changelog, read committed; its window stores must hold exactly `want`: the
    /// changelogs carry the committed state, no more and no less.
    fn assert_changelogs_restore_to(&self, want: &BTreeMap<(u32, i64), kstreams_example::WindowAverage>) {
        let dir = self.dir.path().join("verifier");
        let config = config_with(self.servers(), &self.app, "verifier", &dir, EOS);
        let mut streams = start(Variant::Unkeyed.topology(&self.settings), config);
        wait_until(
            Duration::from_secs(60),
            || format!("verifier tasks: {:?}", streams.active_tasks()),
            || streams.active_tasks().len() == 2 * PARTITIONS as usize,
        );
        let stored = stored_windows(&streams);
        assert_same(&stored, want);
        streams.close().unwrap();
    }
}

/// Whether the results hold window `minute` of every sensor.
fn has_window(minute: i64) -> impl Fn(&BTreeMap<(u32, i64), kstreams_example::WindowAverage>) -> bool {
    let start = (T0 as i64 + minute * 60) * 1000;
    move |got| (0..SENSORS).all(|s| got.contains_key(&(s, start)))
}

fn statuses(children: &[&ChildInstance]) -> Vec<ChildStatus> {
    children.iter().map(|c| c.status()).collect()
}

/// Waits until every child is RUNNING and they run `tasks` tasks between them (failing at
/// once if one is in ERROR).
fn wait_for_tasks(children: &[&ChildInstance], tasks: usize, within: Duration) {
    wait_until(
        within,
        || format!("{tasks} tasks in all: {:?}", statuses(children)),
        || {
            let now = statuses(children);
            assert!(now.iter().all(|c| c.state != "ERROR"), "an instance failed: {now:?}");
            now.iter().all(|c| c.state == "RUNNING") && now.iter().map(|c| c.tasks).sum::<usize>() == tasks
        },
    );
}

/// Entry point of the child processes; does nothing in a normal run.
#[test]
fn child_instance_entry_point() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        run_child(&spec);
    }
}

/// guarantees.md, exactly-once: "a crashed instance's uncommitted work is invisible, and its
/// restart on the same state directory neither loses nor repeats anything".
#[test]
fn three_instances_one_killed_mid_stream_and_restarted_give_every_window_exactly_once() {
    let _serial = serial();
    let started = Instant::now();
    let s = Setup::new("eos-kill");
    let input = readings(4);
    let want = expected(&input, closing_time_ms(4));
    let commit = Duration::from_millis(200);
    let mut children: Vec<ChildInstance> =
        (1..=3).map(|i| s.spawn(&format!("instance-{i}"), commit, &[])).collect();
    wait_for_tasks(&children.iter().collect::<Vec<_>>(), 6, Duration::from_secs(90));

    let producer = s.produce_in_background(&input, Duration::from_millis(100));
    let mut out = s.reader();
    out.read_until(Duration::from_secs(60), "minute 0", has_window(0));
    // The victim owns a window task (sub-topology 1): its state must come back.
    let victim =
        children.iter().position(|c| c.status().task_ids.iter().any(|t| t.starts_with("1_"))).unwrap();
    children[victim].kill();
    let survivors: Vec<&ChildInstance> =
        children.iter().enumerate().filter(|(i, _)| *i != victim).map(|(_, c)| c).collect();
    wait_for_tasks(&survivors, 6, Duration::from_secs(60));
    let restored: u64 = survivors.iter().map(|c| c.status().restored).sum();
    assert!(restored > 0, "the survivors restored the killed instance's windows from its changelog");
    // The killed instance comes back on its state directory and gets tasks again.
    children[victim] = s.spawn(&format!("instance-{}", victim + 1), commit, &[]);
    wait_until(
        Duration::from_secs(90),
        || format!("the restarted instance: {:?}", children[victim].status()),
        || children[victim].status().state == "RUNNING" && children[victim].status().tasks > 0,
    );
    producer.join().unwrap();
    out.expect(&want, Duration::from_secs(90), Duration::from_secs(2));
    assert_eq!(out.records, want.len(), "read committed, every window exactly once: no duplicate at all");
    for c in &mut children {
        c.stop(Duration::from_secs(30));
    }
    s.assert_changelogs_restore_to(&expected::window_averages(&input, None));
    eprintln!("eos kill + restart: {restored} records restored by the survivors; {:?}", started.elapsed());
}

/// guarantees.md, exactly-once: "a zombie — an instance that stalled past its session and
/// transaction timeouts — is fenced: nothing it writes afterwards becomes visible, and it
/// rejoins as an ordinary member".
#[test]
fn a_zombie_frozen_past_its_timeouts_is_fenced_writes_nothing_visible_and_rejoins() {
    let _serial = serial();
    let started = Instant::now();
    let s = Setup::new("eos-zombie");
    let input = readings(4);
    let want = expected(&input, closing_time_ms(4));
    // Commits every 2 s, so a transaction with output is open almost all the time, and the
    // coordinator aborts one that stays open for 10 s.
    let commit = Duration::from_secs(2);
    let extra = [("producer.transaction.timeout.ms", "10000")];
    let mut a = s.spawn("zombie", commit, &extra);
    let mut b = s.spawn("survivor", commit, &extra);
    wait_for_tasks(&[&a, &b], 6, Duration::from_secs(90));
    wait_until(
        Duration::from_secs(60),
        || format!("3 tasks each: {:?}", statuses(&[&a, &b])),
        || a.status().tasks == 3 && b.status().tasks == 3,
    );

    let producer = s.produce_in_background(&input, Duration::from_millis(150));
    let mut out = s.reader();
    out.read_until(Duration::from_secs(60), "minute 0", has_window(0));
    a.pause();
    let frozen_at = Instant::now();
    // The group notices after the 6 s session timeout and gives the survivor every task.
    wait_until(
        Duration::from_secs(60),
        || format!("the survivor takes over: {:?}", b.status()),
        || b.status().tasks == 6,
    );
    // Past the transaction timeout too: the coordinator has aborted the zombie's transaction.
    while frozen_at.elapsed() < Duration::from_secs(14) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let zombie_recoveries = a.status().recoveries;
    a.resume();
    wait_until(
        Duration::from_secs(60),
        || format!("the zombie recovers: {:?}", a.status()),
        || {
            let st = a.status();
            assert_ne!(st.state, "ERROR", "the zombie must not fail: {st:?}");
            st.recoveries > zombie_recoveries && st.state == "RUNNING" && st.tasks > 0
        },
    );
    producer.join().unwrap();
    out.expect(&want, Duration::from_secs(90), Duration::from_secs(2));
    assert_eq!(out.records, want.len(), "read committed, every window exactly once");
    a.stop(Duration::from_secs(30));
    b.stop(Duration::from_secs(30));
    let uncommitted = count_records(s.servers(), &s.settings.output_topic, "read_uncommitted");
    assert!(uncommitted >= out.records);
    s.assert_changelogs_restore_to(&expected::window_averages(&input, None));
    eprintln!(
        "eos zombie: {} committed output records, {uncommitted} written in all; {:?}",
        out.records,
        started.elapsed()
    );
}

/// guarantees.md, exactly-once: "an instance restarted on its state directory keeps its
/// transactional ids and fences its previous incarnation at once".
#[test]
fn a_restarted_instance_fences_its_previous_incarnation_at_once() {
    let _serial = serial();
    let started = Instant::now();
    let s = Setup::new("eos-fence-self");
    let input = readings(4);
    let want = expected(&input, closing_time_ms(4));
    let (first, rest) = input.split_at(18 * SENSORS as usize); // 1.5 minutes: closes minute 0
                                                               // Run 1 keeps its transaction open (a 10-minute commit interval) and the coordinator
                                                               // would wait 2 minutes before aborting it.
    let txn_timeout = Duration::from_secs(120);
    let extra = [("producer.transaction.timeout.ms", "120000")];
    let mut one = s.spawn("instance", Duration::from_secs(600), &extra);
    wait_for_tasks(&[&one], 6, Duration::from_secs(90));
    produce(s.servers(), &s.settings.input_topic, first, Variant::Unkeyed.placement(), Duration::ZERO);
    wait_until(
        Duration::from_secs(60),
        || format!("run 1 consumed its part: {:?}", one.status()),
        || one.status().consumed >= first.len() as u64,
    );
    let process_id = one.status().process_id;
    one.kill();

    // Run 2 on the same state directory: the same process id, so the same transactional ids.
    let restarted = Instant::now();
    let mut two = s.spawn("instance", Duration::from_millis(200), &extra);
    wait_for_tasks(&[&two], 6, Duration::from_secs(90));
    assert_eq!(two.status().process_id, process_id, "the process id is read back from the state directory");
    let mut out = s.reader();
    // The readings of run 1 were never committed: run 2 processes them again. Its output
    // arrives as soon as run 1's transaction is aborted — at run 2's init_transactions, not
    // after the 2-minute transaction timeout (with another transactional id, the repartition
    // topic's last stable offset would stay behind run 1's open transaction until then).
    out.read_until(txn_timeout / 3, "minute 0, long before the old transaction times out", has_window(0));
    let first_output_after = restarted.elapsed();
    produce(s.servers(), &s.settings.input_topic, rest, Variant::Unkeyed.placement(), Duration::ZERO);
    out.expect(&want, Duration::from_secs(90), Duration::from_secs(2));
    assert_eq!(out.records, want.len(), "read committed, every window exactly once");
    two.stop(Duration::from_secs(30));
    eprintln!("eos self-fencing: output {first_output_after:?} after the restart; {:?}", started.elapsed());
}

/// guarantees.md, exactly-once: "a processing error aborts the open transaction: nothing of it
/// becomes visible, and after a restart its records are processed exactly once".
#[test]
fn a_processing_error_aborts_the_transaction_and_a_restart_processes_its_records_exactly_once() {
    let _serial = serial();
    record_counters();
    let broker = Broker::shared();
    let (input, output) = (unique_name("eos-in"), unique_name("eos-counts"));
    broker.create_topic(&input, 1).unwrap();
    broker.create_topic(&output, 1).unwrap();
    let app = unique_name("eos-poison");
    let dir = tempfile::tempdir().unwrap();
    static POISONED: AtomicBool = AtomicBool::new(true);
    let topology = || {
        let mut b = StreamsBuilder::new();
        b.stream(&input, Consumed::with(StringSerde, StringSerde))
            .map_values(|v: String| {
                assert!(!(v == "boom" && POISONED.load(Ordering::SeqCst)), "poisoned record {v}");
                v
            })
            .group_by_key(Grouped::with(StringSerde, StringSerde))
            .count(Materialized::as_("counts"))
            .to_stream()
            .to(&output, Produced::with(StringSerde, U64Serde));
        b.build().unwrap()
    };
    // No record cache: every count update goes out at once, into the open transaction.
    let config = || {
        StreamsConfig::builder(app.as_str(), broker.bootstrap())
            .state_dir(dir.path())
            .processing_guarantee(EOS)
            .commit_interval(Duration::from_millis(1500))
            .cache_max_bytes(0)
            .build()
            .unwrap()
    };
    let send = |values: &[&str]| {
        let p: rdkafka::producer::BaseProducer = broker.client_config().create().unwrap();
        for v in values {
            p.send(rdkafka::producer::BaseRecord::to(&input).key("k").payload(*v)).unwrap();
        }
        rdkafka::producer::Producer::flush(&p, Duration::from_secs(30)).unwrap();
    };
    let counts = |isolation: &str| -> Vec<u64> {
        let c: rdkafka::consumer::BaseConsumer = broker
            .client_config()
            .set("group.id", unique_name("counts-reader"))
            .set("isolation.level", isolation)
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "true")
            .create()
            .unwrap();
        rdkafka::consumer::Consumer::subscribe(&c, &[output.as_str()]).unwrap();
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            match c.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    got.push(u64::from_be_bytes(rdkafka::Message::payload(&m).unwrap().try_into().unwrap()))
                }
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
                _ => {}
            }
        }
        got
    };

    let mut streams = start(topology(), config());
    send(&["a", "b", "c", "d", "e"]);
    wait_until(
        Duration::from_secs(30),
        || format!("{:?}", counts("read_committed")),
        || counts("read_committed").len() == 5,
    );
    // Three good records, the poisoned one, three more: one transaction, aborted.
    send(&["f", "g", "h", "boom", "i", "j", "k"]);
    assert_eq!(streams.wait_for_state(State::Error, Duration::from_secs(30)), State::Error);
    let error = streams.error().unwrap();
    assert!(error.contains("poisoned record boom"), "{error}");
    streams.close().unwrap();
    assert_eq!(
        counts("read_committed"),
        vec![1, 2, 3, 4, 5],
        "nothing of the aborted transaction is visible"
    );
    let written = counts("read_uncommitted");
    assert!(written.len() >= 8, "the aborted transaction did write 6, 7, 8: {written:?}");

    POISONED.store(false, Ordering::SeqCst);
    let mut streams = start(topology(), config());
    wait_until(
        Duration::from_secs(30),
        || format!("{:?}", counts("read_committed")),
        || counts("read_committed").len() >= 12,
    );
    streams.close().unwrap();
    assert_eq!(counts("read_committed"), (1..=12).collect::<Vec<u64>>(), "each record counted exactly once");
}

/// guarantees.md, exactly-once: "a commit whose outcome is unknown (a broker stall) is
/// settled by recreating the producer; nothing is lost or repeated around it".
#[test]
fn a_stalled_broker_makes_the_thread_start_over_from_the_committed_offsets_without_loss_or_repeat() {
    let _serial = serial();
    let started = Instant::now();
    let broker = TestBroker::start().unwrap_or_else(|e| panic!("{e}"));
    if broker.is_external() {
        eprintln!("skipped: freezing the broker needs one started by the harness");
        return;
    }
    let s = Setup::on(Broker::Own(broker), "eos-stall");
    let input = readings(4);
    let want = expected(&input, closing_time_ms(4));
    // Transactional calls and produce requests give up after 5 s.
    let extra = [("producer.transaction.timeout.ms", "5000")];
    let mut one = s.spawn("instance", Duration::from_millis(100), &extra);
    wait_for_tasks(&[&one], 6, Duration::from_secs(90));
    let producer = s.produce_in_background(&input, Duration::from_millis(200));
    let mut out = s.reader();
    out.read_until(Duration::from_secs(60), "minute 0", has_window(0));
    // Freeze the broker twice for 8 s, at different moments of the commit cycle: produce
    // requests, the commit or the group's heartbeats time out (the member may be dropped
    // from the group too, and rejoin).
    for pause_at in [Duration::ZERO, Duration::from_millis(1234)] {
        std::thread::sleep(pause_at);
        let before = one.status().consumed;
        s.broker.pause().unwrap();
        std::thread::sleep(Duration::from_secs(8));
        s.broker.resume().unwrap();
        wait_until(
            Duration::from_secs(90),
            || format!("going on after the stall: {:?}", one.status()),
            || {
                let st = one.status();
                assert_ne!(st.state, "ERROR", "{st:?}");
                st.state == "RUNNING" && st.tasks == 6 && st.consumed > before
            },
        );
    }
    producer.join().unwrap();
    out.expect(&want, Duration::from_secs(120), Duration::from_secs(2));
    assert_eq!(out.records, want.len(), "read committed, every window exactly once");
    let recoveries = one.status().recoveries;
    assert!(recoveries >= 1, "a stall made a transaction fail at least once");
    one.stop(Duration::from_secs(30));
    s.assert_changelogs_restore_to(&expected::window_averages(&input, None));
    eprintln!("eos broker stall: {recoveries} recoveries; {:?}", started.elapsed());
}
