//! The fault suite: the promises of `docs/guarantees.md`, proven black-box on Apache Kafka.
//!
//! Every test runs the shipped program, `temperature_averages` (the example's `main`: flags,
//! SIGTERM/SIGINT handling, the application and its SQLite writer `--db`), as child processes
//! of this test binary, feeds it from an outside producer the way the seed tutorial's sensors
//! do (unkeyed JSON, spread over the partitions at random), attacks it the way operators and
//! crashes do, and then compares **both** the output topic and the SQLite table with window
//! averages computed here, independently, from what was sent: every closed window present,
//! mean, count, min and max exact, and a window seen twice only as an identical repetition.
//!
//! Each test names the promise it proves (`G…` in `docs/guarantees.md`). Knobs:
//! `KSTREAMS_FAULT_KILLS` (random SIGKILLs of the three-instance test, default 20; 100 for a
//! long run), `KSTREAMS_FAULT_SEED` (the random schedule; printed by each test),
//! `KSTREAMS_OUTAGE_SECS` (the broker outage, default 90).
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use kstreams::runtime::{listen_for_signals, KafkaStreams, ProcessingGuarantee, ShutdownHandle, State};
use kstreams::sink::{ResultKey, SqliteSink};
use kstreams_broker_harness::{unique_name, TestBroker};
use kstreams_example::app::{run, Args};
use kstreams_example::{Reading, TemperatureSettings, WindowAverage};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

mod broker_support;

use broker_support::{assert_same, wait_until, Broker, OutputReader, PARTITIONS};

/// Set in a child process: the program's flags, one per line.
const CHILD_ENV: &str = "KSTREAMS_FAULT_SUITE_CHILD";
/// Event time of the first reading (s): a minute boundary.
const T0: f64 = 1_764_115_200.0;
/// Session timeout of the instances: a SIGKILLed member's partitions move on after it.
const SESSION_MS: &str = "6000";

/// Serializes the tests of this binary: their deadlines must not compete for two cores.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Entry point of the child processes: what `examples/temperature_averages.rs`'s `main` does,
/// with the flags of [`CHILD_ENV`]. Does nothing in a normal run.
#[test]
fn program_entry_point() {
    let Ok(flags) = std::env::var(CHILD_ENV) else { return };
    kstreams_example::init_tracing();
    let args = Args::try_parse_from(std::iter::once("temperature_averages").chain(flags.lines())).unwrap();
    let shutdown = ShutdownHandle::new();
    listen_for_signals(&shutdown).unwrap();
    if let Err(e) = run(&args, &shutdown) {
        eprintln!("temperature_averages failed: {e:#}");
        std::process::exit(2);
    }
}

// --- a small random number generator (the schedule must be reproducible from its seed) -----

struct Rng(u64);

impl Rng {
    fn seeded(test: &str) -> Self {
        let seed = knob("KSTREAMS_FAULT_SEED", 0).max(1)
            ^ test.bytes().fold(0u64, |h, b| h.wrapping_mul(31) ^ u64::from(b));
        eprintln!("{test}: seed {seed} (KSTREAMS_FAULT_SEED)");
        Self(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from + 1))
    }
}

// --- readings and the answer they imply --------------------------------------------------

/// `minutes` of readings of `sensors` sensors, one per sensor every `every_s` seconds, in
/// event-time order starting at `from_minute`; temperatures in quarter degrees (exact in
/// binary, so that the JSON on the wire and the sums here agree to the last bit).
fn readings(sensors: u32, from_minute: u32, minutes: u32, every_s: u32) -> Vec<Reading> {
    let mut out = Vec::new();
    let steps = minutes * 60 / every_s;
    for step in 0..steps {
        let t = T0 + f64::from(from_minute * 60 + step * every_s) + 0.25;
        for sensor in 0..sensors {
            let quarters = (step.wrapping_mul(7919) ^ sensor.wrapping_mul(104_729)) % 60;
            out.push(Reading {
                sensor_id: sensor,
                temperatura: 10.0 + f64::from(sensor % 20) + f64::from(quarters) / 4.0,
                timestamp: t,
            });
        }
    }
    out
}

/// Readings 10 minutes after `minute` from enough sensors to reach every partition: they close
/// every window before `minute` in every task (stream time and watermarks pass them).
fn closing(sensors: u32, minute: u32) -> Vec<Reading> {
    (0..sensors.min(300))
        .map(|sensor| Reading {
            sensor_id: sensor,
            temperatura: 0.0,
            timestamp: T0 + f64::from(minute + 10) * 60.0,
        })
        .collect()
}

/// Event time (ms) of [`closing`]`(_, minute)`.
fn closing_ms(minute: u32) -> i64 {
    (T0 as i64 + i64::from(minute + 10) * 60) * 1000
}

/// The closed windows `readings` imply, computed here: count, mean, min and max per sensor
/// and minute, only windows whose end plus the 10 s grace stream time `closed_before` passed.
fn windows(readings: &[Reading], closed_before: i64) -> BTreeMap<(u32, i64), WindowAverage> {
    let mut acc: BTreeMap<(u32, i64), Vec<f64>> = BTreeMap::new();
    for r in readings {
        let ms = (r.timestamp * 1000.0).round() as i64;
        acc.entry((r.sensor_id, ms.div_euclid(60_000) * 60_000)).or_default().push(r.temperatura);
    }
    acc.into_iter()
        .filter(|((_, start), _)| start + 70_000 <= closed_before)
        .map(|((sensor, start), t)| {
            let w = WindowAverage {
                sensor_id: sensor,
                window_start: start,
                window_end: start + 60_000,
                avg: t.iter().sum::<f64>() / t.len() as f64,
                count: t.len() as u64,
                min: t.iter().copied().fold(f64::INFINITY, f64::min),
                max: t.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            };
            ((sensor, start), w)
        })
        .collect()
}

// --- the outside producer ----------------------------------------------------------------

/// A producer like the seed's: JSON values, no key (the partitioner picks a partition).
struct Sensors {
    producer: BaseProducer,
    topic: String,
}

impl Sensors {
    fn new(servers: &str, topic: &str) -> Self {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", servers)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("message.max.bytes", "2000000")
            .create()
            .unwrap();
        Self { producer, topic: topic.to_string() }
    }

    fn send_raw(&self, value: Option<&[u8]>, headers: &[(&str, &[u8])]) {
        let mut hs = OwnedHeaders::new();
        for (k, v) in headers {
            hs = hs.insert(Header { key: k, value: Some(*v) });
        }
        let mut rec: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.topic).headers(hs);
        if let Some(v) = value {
            rec = rec.payload(v);
        }
        loop {
            match self.producer.send(rec) {
                Ok(()) => return,
                Err((_, back)) => {
                    rec = back;
                    self.producer.poll(Duration::from_millis(20));
                }
            }
        }
    }

    fn send(&self, r: &Reading) {
        self.send_raw(Some(&serde_json::to_vec(r).unwrap()), &[]);
    }

    /// Sends `readings` spread evenly over `over`, then waits for their acknowledgement.
    fn send_over(&self, readings: &[Reading], over: Duration) {
        let started = Instant::now();
        let chunks = (over.as_millis() / 50).max(1) as usize;
        let per_chunk = readings.len().div_ceil(chunks).max(1);
        for (i, chunk) in readings.chunks(per_chunk).enumerate() {
            for r in chunk {
                self.send(r);
            }
            self.producer.poll(Duration::ZERO);
            let due = started + over.mul_f64((i + 1) as f64 / chunks as f64);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        self.flush();
    }

    fn flush(&self) {
        self.producer.flush(Duration::from_secs(60)).unwrap();
    }
}

// --- the program as child processes ------------------------------------------------------

/// A running `temperature_averages`; SIGKILLed on drop. Its output goes to a log file.
struct Program {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Program {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.pid().to_string()]).status().unwrap();
        assert!(status.success(), "kill {signal} {}: {status}", self.name);
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of the log, for failure messages.
    fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn wait(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} still running after {within:?}:\n{}",
                self.name,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, and wait for the process to be gone.
    fn kill(&mut self) {
        self.signal("-KILL");
        self.wait(Duration::from_secs(10));
    }

    /// SIGTERM: a clean close (final commit, the database writer drained); exit status 0.
    fn stop(&mut self) {
        self.signal("-TERM");
        let status = self.wait(Duration::from_secs(60));
        assert!(status.success(), "{} exited with {status} after SIGTERM:\n{}", self.name, self.log_tail());
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One application (topics, id, database) and the instances started for it.
struct Fleet {
    broker: Broker,
    app: String,
    input: String,
    output: String,
    dir: tempfile::TempDir,
    db: PathBuf,
    guarantee: &'static str,
    commit_ms: u64,
    config: Vec<String>,
}

impl Fleet {
    fn new(broker: Broker, name: &str, guarantee: &'static str) -> Self {
        let input = unique_name("eventos_sensores");
        let output = unique_name("sensor-averages");
        // The input accepts the 2 MB records of the bad-input corpus.
        broker.create_topic_with(&input, PARTITIONS, &[("max.message.bytes", "2100000")]).unwrap();
        broker.create_topic(&output, PARTITIONS).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("results.sqlite");
        Self {
            broker,
            app: unique_name(name),
            input,
            output,
            dir,
            db,
            guarantee,
            commit_ms: 1000,
            config: vec![
                format!("consumer.session.timeout.ms={SESSION_MS}"),
                "consumer.heartbeat.interval.ms=1000".into(),
            ],
        }
    }

    fn servers(&self) -> &str {
        self.broker.bootstrap()
    }

    fn state_dir(&self, instance: &str) -> PathBuf {
        self.dir.path().join(instance)
    }

    fn sensors(&self) -> Sensors {
        Sensors::new(self.servers(), &self.input)
    }

    /// Starts instance `name` on its state directory.
    fn spawn(&self, name: &str) -> Program {
        self.spawn_on(name, &self.state_dir(name))
    }

    fn spawn_on(&self, name: &str, state_dir: &Path) -> Program {
        let commit = self.commit_ms.to_string();
        let mut flags: Vec<String> = [
            "--bootstrap-servers",
            self.servers(),
            "--input-topic",
            &self.input,
            "--output-topic",
            &self.output,
            "--application-id",
            &self.app,
            "--processing-guarantee",
            self.guarantee,
            "--commit-interval-ms",
            &commit,
            "--duration",
            "0",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        flags.extend(["--state-dir".to_string(), state_dir.display().to_string()]);
        flags.extend(["--db".to_string(), self.db.display().to_string()]);
        for c in &self.config {
            flags.extend(["--config".to_string(), c.clone()]);
        }
        let log = self.dir.path().join(format!("{name}-{}.log", unique_name("run")));
        let out = File::create(&log).unwrap();
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["program_entry_point", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, flags.join("\n"))
            .env(
                "RUST_LOG",
                std::env::var("KSTREAMS_FAULT_LOG")
                    .unwrap_or_else(|_| "info,librdkafka=warn,rdkafka=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Program { name: name.to_string(), child, log }
    }

    /// Reads the output topic until every window of `want` is there, then `settle` longer for
    /// late repetitions, and compares: the same windows, exact values, repetitions identical.
    fn expect_output(&self, want: &BTreeMap<(u32, i64), WindowAverage>, within: Duration) -> OutputReader {
        let mut out = OutputReader::new(self.servers(), &self.output);
        out.expect(want, within, Duration::from_secs(3));
        // The database writers follow the output topic in their own consumer group; after a
        // kill that group waits out the dead member's session before it reads on.
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.database() != *want && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(250));
        }
        out
    }

    /// Compares the SQLite table (after the instances stopped) with `want`.
    fn expect_database(&self, want: &BTreeMap<(u32, i64), WindowAverage>) {
        assert_same(&self.database(), want);
    }

    /// The SQLite table's rows.
    fn database(&self) -> BTreeMap<(u32, i64), WindowAverage> {
        let sink = SqliteSink::open(&self.db, "sensor_averages", "sensor_id").unwrap();
        sink.read_all()
            .unwrap()
            .into_iter()
            .map(|r| {
                let ResultKey::Int(sensor) = r.key else { panic!("text key in the table: {:?}", r.key) };
                let sensor = u32::try_from(sensor).unwrap();
                let w = WindowAverage {
                    sensor_id: sensor,
                    window_start: r.window_start,
                    window_end: r.window_end,
                    avg: r.avg,
                    count: r.count,
                    min: r.min,
                    max: r.max,
                };
                ((sensor, r.window_start), w)
            })
            .collect()
    }
}

impl Drop for Fleet {
    /// A failed test shows the end of every instance's log.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let mut logs: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        logs.retain(|p| p.extension().is_some_and(|e| e == "log"));
        logs.sort();
        // Kept for a closer look: the temporary directory goes away with the fleet.
        let kept = std::env::temp_dir().join("kstreams-fault-logs").join(&self.app);
        if std::fs::create_dir_all(&kept).is_ok() {
            for log in &logs {
                if let Some(name) = log.file_name() {
                    let _ = std::fs::copy(log, kept.join(name));
                }
            }
            eprintln!("--- the instances' logs are kept in {}", kept.display());
        }
        for log in logs {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("--- {} (last 60 lines)", log.display());
            eprintln!("{}", lines[lines.len().saturating_sub(60)..].join("\n"));
        }
    }
}

/// Fails with the instances' logs if any exited on its own.
fn assert_alive(programs: &mut [Program]) {
    for p in programs.iter_mut() {
        assert!(p.running(), "{} exited by itself:\n{}", p.name, p.log_tail());
    }
}

// --- G1, G2: crashes at random moments, scaling ----------------------------------------------

/// Three instances, one SIGKILLed at a random moment and restarted (on its state directory,
/// or, with `wipes`, one time in four on an empty one) `kills` times while readings flow.
fn random_kills(
    name: &str,
    sensors: u32,
    minutes: u32,
    every_s: u32,
    kills: u64,
    wipes: bool,
    configure: impl FnOnce(&mut Fleet),
) {
    let mut rng = Rng::seeded(name);
    let mut fleet = Fleet::new(Broker::shared(), name, "at_least_once");
    configure(&mut fleet);
    let input = readings(sensors, 0, minutes, every_s);
    let mut all = input.clone();
    all.extend(closing(sensors, minutes));
    let want = windows(&all, closing_ms(minutes));
    let names = ["a", "b", "c"];
    let mut programs: Vec<Program> = names.iter().map(|n| fleet.spawn(n)).collect();
    let started = Instant::now();

    // Readings flow during the whole kill schedule (about 3.5 s per kill).
    let flow = Duration::from_millis(kills * 3500).max(Duration::from_secs(10));
    let producer = {
        let (servers, topic) = (fleet.servers().to_string(), fleet.input.clone());
        let input = input.clone();
        std::thread::spawn(move || Sensors::new(&servers, &topic).send_over(&input, flow))
    };
    for k in 0..kills {
        std::thread::sleep(rng.millis(1000, 6000));
        let i = rng.below(3) as usize;
        let wipe = rng.below(4) == 0 && wipes;
        programs[i].kill();
        if wipe {
            std::fs::remove_dir_all(fleet.state_dir(names[i])).ok();
        }
        eprintln!(
            "{name}: kill {} of {kills}: instance {}{}",
            k + 1,
            names[i],
            if wipe { ", state wiped" } else { "" }
        );
        programs[i] = fleet.spawn(names[i]);
        assert_alive(&mut programs);
    }
    producer.join().unwrap();
    fleet.sensors().send_over(&closing(sensors, minutes), Duration::ZERO);
    let out = fleet.expect_output(&want, Duration::from_secs(240));
    assert_alive(&mut programs);
    for p in &mut programs {
        p.stop();
    }
    fleet.expect_database(&want);
    eprintln!(
        "{name}: {} readings, {kills} SIGKILLs, {} windows exact ({} output records, {} identical repetitions); {:?}",
        all.len(),
        want.len(),
        out.records,
        out.records - want.len(),
        started.elapsed()
    );
}

/// G1 (at-least-once: nothing lost, nothing counted twice, a repeated result is identical):
/// random SIGKILLs of three instances while readings flow.
#[test]
fn three_instances_killed_at_random_lose_nothing_and_count_nothing_twice() {
    let _serial = serial();
    random_kills("random-kills", 12, 8, 5, knob("KSTREAMS_FAULT_KILLS", 20), true, |_| {});
}

/// G1 with state larger than every cache: 100,000 sensors and a 256 KiB record cache, so
/// windows are evicted into RocksDB and the changelog between commits, and commits are rare
/// (5 s) so that kills land between them. Every instance restarts on its state directory,
/// which then holds evictions newer than its last flush: without the unflushed marker
/// (`LocalPosition::Unflushed`) this test counts readings twice.
#[test]
fn a_hundred_thousand_sensors_with_evicting_caches_survive_random_kills() {
    let _serial = serial();
    random_kills("evicting-kills", 100_000, 2, 30, knob("KSTREAMS_FAULT_KILLS_LARGE", 4), false, |f| {
        f.commit_ms = 5000;
        f.config.push("statestore.cache.max.bytes=262144".into());
    });
}

/// G1 under rebalances: one instance, then three, then one again (the two others stopped with
/// SIGTERM), with readings flowing throughout.
#[test]
fn scaling_from_one_to_three_instances_and_back_keeps_every_window_exact() {
    let _serial = serial();
    let fleet = Fleet::new(Broker::shared(), "scale", "at_least_once");
    let input = readings(12, 0, 9, 5);
    let third = input.len() / 3;
    let (one, rest) = input.split_at(third);
    let (two, three) = rest.split_at(third);
    let mut all = input.clone();
    all.extend(closing(12, 9));
    let want = windows(&all, closing_ms(9));
    let sensors = fleet.sensors();
    let mut a = fleet.spawn("a");
    sensors.send_over(one, Duration::from_secs(8));
    let mut more = vec![fleet.spawn("b"), fleet.spawn("c")];
    sensors.send_over(two, Duration::from_secs(10));
    for p in &mut more {
        p.stop();
    }
    sensors.send_over(three, Duration::from_secs(8));
    sensors.send_over(&closing(12, 9), Duration::ZERO);
    fleet.expect_output(&want, Duration::from_secs(120));
    assert!(a.running(), "{}", a.log_tail());
    a.stop();
    fleet.expect_database(&want);
}

// --- G3: restarts while windows are open ------------------------------------------------------

/// G3 (a restart loses no open window): 5 minutes of readings, the instance stopped (SIGTERM)
/// or SIGKILLed while the last minutes are still open, restarted on the same state directory
/// or on an empty one, then 5 more minutes. Every window of the 10 minutes is emitted, exact.
/// (Before the suppression buffer was restored from its whole changelog, the windows open at
/// the restart were never emitted.)
#[test]
fn windows_open_at_a_stop_or_a_kill_are_emitted_after_the_restart() {
    let _serial = serial();
    for (how, same_dir) in [("-KILL", true), ("-TERM", true), ("-TERM", false), ("-KILL", false)] {
        let fleet = Fleet::new(Broker::shared(), "open-windows", "at_least_once");
        let sensors = fleet.sensors();
        let first = readings(12, 0, 5, 5);
        let second = readings(12, 5, 5, 5);
        let mut all = first.clone();
        all.extend(second.iter().cloned());
        all.extend(closing(12, 10));
        let want = windows(&all, closing_ms(10));
        let mut p = fleet.spawn("a");
        sensors.send_over(&first, Duration::from_secs(3));
        // Minutes 0-3 close within the first part (stream time 4:55 closes up to 3:00 + grace).
        let closed_early = windows(&first, (T0 as i64 + 295) * 1000);
        assert!(!closed_early.is_empty());
        let mut early = OutputReader::new(fleet.servers(), &fleet.output);
        early.read_until(Duration::from_secs(60), "the windows closed before the stop", |got| {
            closed_early.keys().all(|k| got.contains_key(k))
        });
        std::thread::sleep(Duration::from_millis(1500)); // a commit after the last record
        p.signal(how);
        let status = p.wait(Duration::from_secs(60));
        assert_eq!(status.success(), how == "-TERM", "{how}: {status}\n{}", p.log_tail());
        if !same_dir {
            std::fs::remove_dir_all(fleet.state_dir("a")).unwrap();
        }
        let mut p = fleet.spawn("a");
        sensors.send_over(&second, Duration::from_secs(3));
        sensors.send_over(&closing(12, 10), Duration::ZERO);
        fleet.expect_output(&want, Duration::from_secs(90));
        p.stop();
        fleet.expect_database(&want);
        eprintln!("open windows after {how}, same state directory: {same_dir}: {} windows exact", want.len());
    }
}

/// G4 (stream time survives restarts): a reading that arrives after its window closed is
/// dropped, and after a restart (on the same or on an empty state directory) it is dropped
/// again instead of reopening the window and emitting it a second time with another value.
#[test]
fn late_readings_stay_late_after_a_restart() {
    let _serial = serial();
    for same_dir in [true, false] {
        let fleet = Fleet::new(Broker::shared(), "late", "at_least_once");
        let sensors = fleet.sensors();
        let on_time = readings(6, 0, 3, 5);
        let late = |t: f64| Reading { sensor_id: 1, temperatura: 99.0, timestamp: T0 + t };
        let want_before = windows(&on_time, (T0 as i64 + 175) * 1000);
        let mut p = fleet.spawn("a");
        sensors.send_over(&on_time, Duration::from_secs(2));
        let mut out = OutputReader::new(fleet.servers(), &fleet.output);
        out.read_until(Duration::from_secs(60), "minutes 0 and 1", |got| {
            want_before.keys().all(|k| got.contains_key(k))
        });
        // Minute 0 closed at 1:10 of stream time, which is past 2:55 now that its results
        // are out (watermarks no longer hold it back).
        sensors.send(&late(10.0));
        sensors.flush();
        std::thread::sleep(Duration::from_millis(2500)); // processed and committed
        p.stop();
        if !same_dir {
            std::fs::remove_dir_all(fleet.state_dir("a")).unwrap();
        }
        let mut p = fleet.spawn("a");
        // Late for minutes 0 and 1 again, now that the instance restarted.
        sensors.send(&late(20.0));
        sensors.send(&late(70.0));
        sensors.flush();
        let mut all = on_time.clone();
        all.extend(closing(6, 3));
        sensors.send_over(&closing(6, 3), Duration::ZERO);
        let want = windows(&all, closing_ms(3));
        // The reader panics if a window comes again with another value.
        out.expect(&want, Duration::from_secs(60), Duration::from_secs(3));
        p.stop();
        fleet.expect_database(&want);
    }
}

// --- G5: zombies --------------------------------------------------------------------------

/// G5 (a zombie changes no result): an instance frozen with SIGSTOP past its session timeout
/// while the other takes its partitions over, then resumed, while readings flow. The output
/// is exact; afterwards a fresh instance restores every store from the changelogs and holds
/// exactly the state the input implies (no stale write of the zombie applied).
#[test]
fn a_frozen_instance_resumed_after_its_session_timeout_changes_no_result() {
    let _serial = serial();
    let fleet = Fleet::new(Broker::shared(), "zombie-alo", "at_least_once");
    let input = readings(12, 0, 6, 5);
    let mut all = input.clone();
    all.extend(closing(12, 6));
    let want = windows(&all, closing_ms(6));
    let a = fleet.spawn("a");
    let b = fleet.spawn("b");
    let producer = {
        let (servers, topic, input) = (fleet.servers().to_string(), fleet.input.clone(), input.clone());
        std::thread::spawn(move || Sensors::new(&servers, &topic).send_over(&input, Duration::from_secs(30)))
    };
    std::thread::sleep(Duration::from_secs(8));
    a.signal("-STOP");
    std::thread::sleep(Duration::from_millis(3 * SESSION_MS.parse::<u64>().unwrap()));
    a.signal("-CONT");
    producer.join().unwrap();
    fleet.sensors().send_over(&closing(12, 6), Duration::ZERO);
    fleet.expect_output(&want, Duration::from_secs(120));
    let mut programs = vec![a, b];
    assert_alive(&mut programs);
    for p in &mut programs {
        p.stop();
    }
    fleet.expect_database(&want);
    restored_state_matches(&fleet, &want);
}

/// Starts an instance of the application in this process on an empty state directory, waits
/// until it restored every task, and compares its window store with `want` (the windows the
/// input closed; the store also holds the windows still open, which are left out).
fn restored_state_matches(fleet: &Fleet, want: &BTreeMap<(u32, i64), WindowAverage>) {
    let settings = TemperatureSettings {
        input_topic: fleet.input.clone(),
        output_topic: unique_name("unused-output"),
        ..TemperatureSettings::default()
    };
    fleet.broker.create_topic(&settings.output_topic, PARTITIONS).unwrap();
    let mut b = kstreams::dsl::StreamsBuilder::new();
    kstreams_example::temperature_averages(&mut b, &settings);
    let dir = fleet.dir.path().join("fresh-restore");
    let config = kstreams::runtime::StreamsConfig::builder(fleet.app.clone(), fleet.servers())
        .state_dir(&dir)
        .processing_guarantee(if fleet.guarantee == "exactly_once_v2" {
            ProcessingGuarantee::ExactlyOnceV2
        } else {
            ProcessingGuarantee::AtLeastOnce
        })
        .build()
        .unwrap();
    let mut streams = KafkaStreams::new(Arc::new(b.build().unwrap()), config);
    streams.start().unwrap();
    wait_until(
        Duration::from_secs(120),
        || format!("{:?}", streams.state()),
        || streams.state() == State::Running && streams.active_tasks().len() == 2 * PARTITIONS as usize,
    );
    let stored = broker_support::stored_windows(&streams);
    let closed: BTreeMap<(u32, i64), WindowAverage> =
        stored.into_iter().filter(|(k, _)| want.contains_key(k)).collect();
    assert_same(&closed, want);
    streams.close().unwrap();
}

// --- G6: broker outages ---------------------------------------------------------------------

/// G6 (a broker outage needs no operator): the only broker SIGKILLed under load and started
/// again on its data after `KSTREAMS_OUTAGE_SECS` (default 90 s, longer than the session, the
/// transaction and the request timeouts), under both guarantees. The instances stay up, and
/// every window is exact: under exactly-once not one repetition.
#[test]
fn a_ninety_second_broker_outage_under_load_heals_without_an_operator() {
    let _serial = serial();
    if TestBroker::shared().is_ok_and(TestBroker::is_external) {
        eprintln!("skipped: KSTREAMS_TEST_BOOTSTRAP names a cluster this test cannot stop");
        return;
    }
    let outage = Duration::from_secs(knob("KSTREAMS_OUTAGE_SECS", 90));
    for guarantee in ["at_least_once", "exactly_once_v2"] {
        let mut fleet = Fleet::new(Broker::Own(TestBroker::start().unwrap()), "outage", guarantee);
        let input = readings(12, 0, 6, 5);
        let half = input.len() / 2;
        let mut all = input.clone();
        all.extend(closing(12, 6));
        let want = windows(&all, closing_ms(6));
        let mut programs = vec![fleet.spawn("a"), fleet.spawn("b")];
        let sensors = fleet.sensors();
        sensors.send_over(&input[..half], Duration::from_secs(6));
        // Records are still flowing through the instances when the broker dies.
        fleet.broker.own().kill().unwrap();
        let down = Instant::now();
        while down.elapsed() < outage {
            assert_alive(&mut programs);
            std::thread::sleep(Duration::from_secs(1));
        }
        fleet.broker.own().start_again().unwrap();
        let sensors = fleet.sensors();
        sensors.send_over(&input[half..], Duration::from_secs(6));
        sensors.send_over(&closing(12, 6), Duration::ZERO);
        let out = fleet.expect_output(&want, Duration::from_secs(240));
        if guarantee == "exactly_once_v2" {
            assert_eq!(out.records, want.len(), "exactly-once: each window once");
        }
        assert_alive(&mut programs);
        for p in &mut programs {
            p.stop();
        }
        fleet.expect_database(&want);
        eprintln!(
            "{guarantee}: {outage:?} outage, {} windows exact, {} output records",
            want.len(),
            out.records
        );
    }
}

// --- G7: bad input -------------------------------------------------------------------------------

/// One bad record and the handler's verdict on it: a deserialization error, or an implausible
/// event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bad {
    Undecodable,
    Timestamp,
}

/// The corpus of the issue that found the pipeline stopping: malformed JSON, wrong types,
/// nulls, NaN spelled out, an empty and a missing value, a 1 MB payload, negative and
/// far-future timestamps (an hour is the broker's and the guard's limit).
fn bad_corpus(now_s: f64) -> Vec<(Option<Vec<u8>>, Bad)> {
    let text = |s: &str| Some(s.as_bytes().to_vec());
    let mut out = vec![
        (text("{\"sensor_id\": 1, \"temperatura\": 20.5"), Bad::Undecodable),
        (text("not json at all"), Bad::Undecodable),
        (
            text("{\"sensor_id\": \"one\", \"temperatura\": 20.5, \"timestamp\": 1764115200}"),
            Bad::Undecodable,
        ),
        (text("{\"sensor_id\": 1, \"temperatura\": \"20.5\", \"timestamp\": 1764115200}"), Bad::Undecodable),
        (text("{\"sensor_id\": 1, \"temperatura\": null, \"timestamp\": 1764115200}"), Bad::Undecodable),
        (text("{\"sensor_id\": 1, \"temperatura\": NaN, \"timestamp\": 1764115200}"), Bad::Undecodable),
        (text("{\"sensor_id\": 1, \"temperatura\": 1e999, \"timestamp\": 1764115200}"), Bad::Undecodable),
        (text("{\"sensor_id\": -3, \"temperatura\": 20.5, \"timestamp\": 1764115200}"), Bad::Undecodable),
        (
            text("{\"sensor_id\": 4294967296, \"temperatura\": 20.5, \"timestamp\": 1764115200}"),
            Bad::Undecodable,
        ),
        (text("{\"temperatura\": 20.5, \"timestamp\": 1764115200}"), Bad::Undecodable),
        (text("null"), Bad::Undecodable),
        (text("[]"), Bad::Undecodable),
        (text(""), Bad::Undecodable),
        (None, Bad::Undecodable),
        (Some([b"{\"sensor_id\": 1, \"x\": \"".to_vec(), vec![b'x'; 1_000_000]].concat()), Bad::Undecodable),
        (Some(vec![0xff, 0xfe, 0x00, 0x7b]), Bad::Undecodable),
        (text(&"[".repeat(100_000)), Bad::Undecodable),
        (text("{\"sensor_id\": 1, \"temperatura\": 20.5, \"timestamp\": -1.5}"), Bad::Timestamp),
        (text("{\"sensor_id\": 1, \"temperatura\": 20.5, \"timestamp\": 1e16}"), Bad::Timestamp),
        (text("{\"sensor_id\": 1, \"temperatura\": 20.5, \"timestamp\": 1e300}"), Bad::Timestamp),
        (
            text(&format!("{{\"sensor_id\": 2, \"temperatura\": 20.5, \"timestamp\": {}}}", now_s + 7200.0)),
            Bad::Timestamp,
        ),
    ];
    out.push((text("{\"sensor_id\": 1, \"temperatura\": 20.5, \"timestamp\": -1e300}"), Bad::Timestamp));
    out
}

/// `n` more bad records, generated: each is of a kind that cannot decode into a reading
/// (truncated, corrupted bytes, a field of the wrong type or missing, deep nesting) or carries
/// an event time before the epoch or more than an hour ahead.
fn generated_bad(rng: &mut Rng, n: usize, now_s: f64) -> Vec<(Option<Vec<u8>>, Bad)> {
    let valid =
        |sensor: u64, t: f64| format!("{{\"sensor_id\":{sensor},\"temperatura\":21.5,\"timestamp\":{t}}}");
    let wrong_values = ["\"x\"", "null", "true", "[1]", "{}", "-1", "1.5", "99999999999"];
    (0..n)
        .map(|_| {
            let sensor = rng.below(12);
            let base = valid(sensor, T0 + rng.below(600) as f64);
            match rng.below(7) {
                0 => {
                    // Cut before the closing brace: never a whole object.
                    let cut = 1 + rng.below(base.len() as u64 - 2) as usize;
                    (Some(base.as_bytes()[..cut].to_vec()), Bad::Undecodable)
                }
                1 => {
                    // A byte that is not valid UTF-8 inside the object.
                    let mut b = base.into_bytes();
                    let at = 1 + rng.below(b.len() as u64 - 2) as usize;
                    b[at] = 0xc0 | (rng.below(2) as u8);
                    (Some(b), Bad::Undecodable)
                }
                2 => {
                    let field = ["sensor_id", "temperatura", "timestamp"][rng.below(3) as usize];
                    let mut value = wrong_values[rng.below(wrong_values.len() as u64) as usize];
                    // Numbers are fine for the float fields; only the text and structured
                    // wrong values are wrong there.
                    if field != "sensor_id" && matches!(value, "-1" | "1.5" | "99999999999") {
                        value = "\"1.5\"";
                    }
                    let mut fields = vec![
                        ("sensor_id", sensor.to_string()),
                        ("temperatura", "21.5".to_string()),
                        ("timestamp", T0.to_string()),
                    ];
                    for f in &mut fields {
                        if f.0 == field {
                            f.1 = value.to_string();
                        }
                    }
                    let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    (Some(format!("{{{}}}", body.join(",")).into_bytes()), Bad::Undecodable)
                }
                3 => {
                    let keep = ["sensor_id", "temperatura", "timestamp"][rng.below(3) as usize];
                    (Some(format!("{{\"{keep}\":1}}").into_bytes()), Bad::Undecodable)
                }
                4 => {
                    let depth = 129 + rng.below(5000) as usize;
                    (
                        Some(format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()),
                        Bad::Undecodable,
                    )
                }
                5 => {
                    let t = -(1.0 + rng.below(1_000_000_000) as f64);
                    (Some(valid(sensor, t).into_bytes()), Bad::Timestamp)
                }
                _ => {
                    let t = now_s + 3700.0 + rng.below(1 << 40) as f64;
                    (Some(valid(sensor, t).into_bytes()), Bad::Timestamp)
                }
            }
        })
        .collect()
}

/// G7 (bad input never stops the pipeline and never disappears silently): the corpus and 10,000
/// generated bad records among 7,200 good readings, some of those carrying forged internal
/// headers (`kstreams.watermark`, `kstreams.src`) that must be ignored. With a dead-letter
/// handler the instance keeps running, the good readings are counted exactly, and every bad
/// record is in the dead-letter topic exactly once, with the kind of failure in a header.
#[test]
fn bad_readings_are_dead_lettered_and_good_ones_counted_exactly() {
    let _serial = serial();
    let mut rng = Rng::seeded("bad-input");
    let mut fleet = Fleet::new(Broker::shared(), "bad-input", "at_least_once");
    let dlq = unique_name("bad-readings");
    fleet.broker.create_topic_with(&dlq, 1, &[("max.message.bytes", "2100000")]).unwrap();
    fleet.config.push(format!("default.deserialization.exception.handler=dead_letter:{dlq}"));
    let now_s = kstreams::core::now_ms() as f64 / 1000.0;
    let mut bad = bad_corpus(now_s);
    bad.extend(generated_bad(&mut rng, 10_000, now_s));
    let good = readings(12, 0, 10, 1);
    let mut p = fleet.spawn("a");
    let sensors = fleet.sensors();
    let mut pending = bad.clone();
    let per_good = pending.len().div_ceil(good.len()) + 1;
    for (i, r) in good.iter().enumerate() {
        match i % 97 {
            // Forged headers on good readings: a watermark that would be taken for a control
            // record, and a deduplication stamp far ahead that would drop what follows.
            0 => {
                sensors.send_raw(Some(&serde_json::to_vec(r).unwrap()), &[("kstreams.watermark", b"forged")])
            }
            1 => sensors.send_raw(
                Some(&serde_json::to_vec(r).unwrap()),
                &[("kstreams.src", format!("{}:0:999999999:0", fleet.input).as_bytes())],
            ),
            _ => sensors.send(r),
        }
        for _ in 0..rng.below(per_good as u64 + 1) {
            if let Some((value, _)) = pending.pop() {
                sensors.send_raw(value.as_deref(), &[]);
            }
        }
    }
    for (value, _) in pending.drain(..) {
        sensors.send_raw(value.as_deref(), &[]);
    }
    let mut all = good.clone();
    all.extend(closing(12, 10));
    sensors.send_over(&closing(12, 10), Duration::ZERO);
    let want = windows(&all, closing_ms(10));
    fleet.expect_output(&want, Duration::from_secs(180));
    assert!(p.running(), "{}", p.log_tail());
    // Every bad record in the dead-letter topic, once, with its kind.
    let want_kinds = |kind: Bad| bad.iter().filter(|(_, k)| *k == kind).count();
    let got = dead_letters(fleet.servers(), &dlq, bad.len());
    assert_eq!(got.len(), bad.len(), "one dead letter per bad record");
    let count = |kind: &str| got.iter().filter(|k| k.as_str() == kind).count();
    assert_eq!(count("deserialization"), want_kinds(Bad::Undecodable));
    assert_eq!(count("timestamp"), want_kinds(Bad::Timestamp));
    p.stop();
    fleet.expect_database(&want);
}

/// The `kstreams.error.kind` header of each record of the dead-letter topic `topic`, read
/// until `expected` arrived and 3 s more passed.
fn dead_letters(servers: &str, topic: &str, expected: usize) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", unique_name("dlq-reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut kinds = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut settle: Option<Instant> = None;
    while settle.is_none_or(|s| s.elapsed() < Duration::from_secs(3)) {
        assert!(Instant::now() < deadline, "{} of {expected} dead letters", kinds.len());
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let kind = m
                .headers()
                .and_then(|hs| hs.iter().find(|h| h.key == kstreams::core::dead_letter_headers::KIND))
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            kinds.push(kind);
        }
        if kinds.len() >= expected {
            settle.get_or_insert_with(Instant::now);
        }
    }
    kinds
}

/// G8 (a record the broker refuses goes to the production handler): with the event-time guard
/// off (`event.time.max.future.ms=0`), a reading three hours ahead reaches the repartition
/// topic, whose broker refuses it (`message.timestamp.after.max.ms`, one hour). With
/// `production.exception.handler=dead_letter:…` it lands there under both guarantees and the
/// rest is counted exactly; with the default (`log_and_fail`) the program stops with an error
/// that names the topic and the handler setting.
///
/// Ignored: with the guard off, a far-future reading also pushes its source task's stream
/// time into the future, and two good readings of another sensor go missing from a window
/// (seen on Apache Kafka 4.2, not yet explained; issue 11's note). The default guard keeps
/// such readings out (`bad_readings_are_dead_lettered_and_good_ones_counted_exactly`).
#[test]
#[ignore = "open: readings lost after a far-future stream time with the guard off (issue 11)"]
fn a_record_the_broker_refuses_goes_to_the_production_handler() {
    let _serial = serial();
    for guarantee in ["at_least_once", "exactly_once_v2"] {
        let mut fleet = Fleet::new(Broker::shared(), "refused", guarantee);
        let dlq = unique_name("refused");
        fleet.broker.create_topic(&dlq, 1).unwrap();
        fleet.config.push("event.time.max.future.ms=0".into());
        fleet.config.push(format!("production.exception.handler=dead_letter:{dlq}"));
        let good = readings(6, 0, 3, 5);
        let (before, after) = good.split_at(good.len() / 2);
        let mut p = fleet.spawn("a");
        let sensors = fleet.sensors();
        sensors.send_over(before, Duration::from_secs(2));
        // Alone in its produce batch: the broker refuses a batch whole, and where it does not
        // name the record at fault, every record of the batch goes to the handler (see
        // docs/guarantees.md). So the application first catches up with `before` (its first
        // minute closed and out), and the far-future reading comes alone.
        let last = before.last().map_or(0, |r| (r.timestamp * 1000.0) as i64);
        let closed = windows(before, last);
        assert!(!closed.is_empty());
        OutputReader::new(fleet.servers(), &fleet.output).read_until(
            Duration::from_secs(60),
            "the windows `before` closes",
            |got| closed.keys().all(|k| got.contains_key(k)),
        );
        std::thread::sleep(Duration::from_secs(2));
        let ahead = Reading {
            sensor_id: 3,
            temperatura: 20.0,
            timestamp: kstreams::core::now_ms() as f64 / 1000.0 + 3.0 * 3600.0,
        };
        sensors.send(&ahead);
        sensors.flush();
        std::thread::sleep(Duration::from_secs(2));
        sensors.send_over(after, Duration::from_secs(2));
        let mut all = good.clone();
        all.extend(closing(6, 3));
        sensors.send_over(&closing(6, 3), Duration::ZERO);
        let want = windows(&all, closing_ms(3));
        fleet.expect_output(&want, Duration::from_secs(90));
        let got = dead_letters(fleet.servers(), &dlq, 1);
        assert_eq!(got, vec!["production".to_string()], "{guarantee}");
        assert!(p.running(), "{}", p.log_tail());
        p.stop();
        fleet.expect_database(&want);
    }
}

/// G8 (the default production handler fails, naming what to change): with the event-time
/// guard off, a reading three hours ahead is refused by the broker on its way into the
/// repartition topic, and the program stops with an error naming the topic and
/// `default.production.exception.handler`.
#[test]
fn a_record_the_broker_refuses_stops_the_default_handler_naming_the_setting() {
    let _serial = serial();
    let mut fleet = Fleet::new(Broker::shared(), "refused-fail", "at_least_once");
    fleet.config.push("event.time.max.future.ms=0".into());
    let mut p = fleet.spawn("a");
    let sensors = fleet.sensors();
    sensors.send_over(&readings(6, 0, 1, 5), Duration::ZERO);
    sensors.send(&Reading {
        sensor_id: 3,
        temperatura: 20.0,
        timestamp: kstreams::core::now_ms() as f64 / 1000.0 + 3.0 * 3600.0,
    });
    sensors.flush();
    let status = p.wait(Duration::from_secs(90));
    assert!(!status.success());
    let log = p.log_text();
    assert!(
        log.contains("repartition") && log.contains("default.production.exception.handler"),
        "{}",
        p.log_tail()
    );
}

// --- G9: damaged and shared state directories -----------------------------------------------------

/// G9 (damaged local state is wiped and restored; a state directory is never shared): after a
/// clean stop the state directory is damaged — every task's `rocksdb/` deleted next to its
/// checkpoint, garbage written over RocksDB's files, checkpoints truncated — and the instance
/// restarted on it each time: it starts, restores from the changelogs, and every window is
/// exact. A second instance pointed at a directory in use refuses to start, naming
/// `state.dir`, and the first goes on unharmed.
#[test]
fn damaged_or_shared_state_directories_never_corrupt_results() {
    let _serial = serial();
    let fleet = Fleet::new(Broker::shared(), "damaged", "at_least_once");
    let sensors = fleet.sensors();
    let app_dir = fleet.state_dir("a").join(&fleet.app);
    let task_dirs = || -> Vec<PathBuf> {
        std::fs::read_dir(&app_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("rocksdb").is_dir())
            .collect()
    };
    /// A damage's name and what it does to a task directory.
    type Damage<'a> = (&'a str, &'a dyn Fn(&Path));
    let damages: [Damage; 3] = [
        ("rocksdb/ deleted", &|t: &Path| std::fs::remove_dir_all(t.join("rocksdb")).unwrap()),
        ("garbage over RocksDB's files", &|t: &Path| {
            for f in std::fs::read_dir(t.join("rocksdb")).unwrap() {
                let f = f.unwrap().path();
                if f.is_file() {
                    std::fs::write(&f, b"\x00garbage\xff not a rocksdb file").unwrap();
                }
            }
        }),
        ("checkpoint truncated", &|t: &Path| {
            let cp = t.join(".checkpoint");
            let text = std::fs::read(&cp).unwrap();
            std::fs::write(&cp, &text[..text.len() / 2]).unwrap();
        }),
    ];
    let minutes = 2 * (damages.len() as u32 + 1);
    let mut sent = Vec::new();
    let mut p = fleet.spawn("a");
    for (round, (what, damage)) in damages.iter().enumerate() {
        let part = readings(12, 2 * round as u32, 2, 5);
        sensors.send_over(&part, Duration::from_secs(2));
        sent.extend(part);
        if round == 0 {
            // The directory is in use: a second instance on it refuses to start.
            let mut second = fleet.spawn_on("a-again", &fleet.state_dir("a"));
            let status = second.wait(Duration::from_secs(60));
            let log = second.log_text();
            assert!(
                !status.success() && log.contains("state.dir") && log.contains("locked"),
                "{}",
                second.log_tail()
            );
            assert!(p.running(), "{}", p.log_tail());
        }
        std::thread::sleep(Duration::from_millis(2000));
        p.stop();
        let dirs = task_dirs();
        assert!(!dirs.is_empty(), "no task directories under {}", app_dir.display());
        for t in &dirs {
            damage(t);
        }
        eprintln!("damaged {} task directories: {what}", dirs.len());
        p = fleet.spawn("a");
    }
    let last = readings(12, minutes - 2, 2, 5);
    sensors.send_over(&last, Duration::from_secs(2));
    sent.extend(last);
    sent.extend(closing(12, minutes));
    sensors.send_over(&closing(12, minutes), Duration::ZERO);
    let want = windows(&sent, closing_ms(minutes));
    fleet.expect_output(&want, Duration::from_secs(120));
    assert!(p.running(), "{}", p.log_tail());
    p.stop();
    fleet.expect_database(&want);
}
