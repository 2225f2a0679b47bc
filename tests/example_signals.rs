//! The `temperature_averages` program stops on SIGTERM and SIGINT with a clean close and exits
//! 0. Cargo builds no example binary for a test, so each test re-runs this test binary as a
//! child process whose [`child_entry_point`] does what the example's `main` does — tracing,
//! the flags, `listen_for_signals`, `kstreams_example::app::run` — and signals that child.
//!
//! - On a cluster (`--bootstrap-servers`, here a mock cluster of this process) with commits
//!   every ten minutes: nothing is committed while it runs, and after SIGTERM every input
//!   record's offset is, so the offsets come from the close's final commit.
//! - In embedded mode (the README's command): after SIGINT it stops the simulator, closes the
//!   instance, drains the viewer and prints its summary.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use kstreams::prelude::*;
use kstreams::runtime::listen_for_signals;
use kstreams::runtime::plan_internal_topics;
use kstreams::runtime::{ShutdownHandle, TopicCreator};
use kstreams_broker_harness::unique_name;
use kstreams_example::app::{run, Args};
use kstreams_example::simulator::{Compression, Publish, ReadingProducer, Simulation};
use kstreams_example::{temperature_averages, TemperatureSettings};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::{Offset, TopicPartitionList};

/// Set in a child process: the program's flags, one per line.
const CHILD_ENV: &str = "KSTREAMS_EXAMPLE_SIGNALS_CHILD";
const PARTITIONS: i32 = 3;
const T0: f64 = 1_764_115_200.0; // a minute boundary

/// Entry point of the child processes: what `examples/temperature_averages.rs`'s `main` does,
/// with the flags of [`CHILD_ENV`]. Does nothing in a normal run.
#[test]
fn child_entry_point() {
    let Ok(flags) = std::env::var(CHILD_ENV) else { return };
    kstreams_example::init_tracing();
    let args = Args::try_parse_from(std::iter::once("temperature_averages").chain(flags.lines())).unwrap();
    let shutdown = ShutdownHandle::new();
    listen_for_signals(&shutdown).unwrap();
    run(&args, &shutdown).unwrap();
}

/// The program in a child process; killed on drop.
struct Program {
    child: Child,
    /// Its stdout and stderr lines, as they come.
    lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Program {
    fn start(flags: &[&str]) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["child_entry_point", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, flags.join("\n"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out: Box<dyn Read + Send> = Box::new(child.stdout.take().unwrap());
        let err: Box<dyn Read + Send> = Box::new(child.stderr.take().unwrap());
        let readers = [out, err]
            .into_iter()
            .map(|stream| {
                let lines = lines.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(stream).lines().map_while(Result::ok) {
                        println!("child: {line}");
                        lines.lock().unwrap().push(line);
                    }
                })
            })
            .collect();
        Self { child, lines, readers }
    }

    fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    fn has_line(&self, want: impl Fn(&str) -> bool) -> bool {
        self.lines.lock().unwrap().iter().any(|l| want(l))
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill {signal}: {status}");
    }

    /// Waits for the child to exit, then for the rest of its output.
    fn wait(mut self, within: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "still running {within:?} after the signal:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        for reader in std::mem::take(&mut self.readers) {
            reader.join().unwrap();
        }
        (status, self.output())
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `ok()` holds, panicking with `what()` at the deadline.
fn wait_until(within: Duration, what: impl Fn() -> String, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "not within {within:?}: {}", what());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Committed offsets of `group` on `topic`, by partition.
fn committed(servers: &str, group: &str, topic: &str, partitions: i32) -> BTreeMap<i32, i64> {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", servers).set("group.id", group).create().unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let offsets = consumer.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    offsets
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect()
}

/// Records in `topic` (the sum of its partitions' high watermarks).
fn records_in(servers: &str, topic: &str, partitions: i32) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", unique_name("watermarks"))
        .create()
        .unwrap();
    (0..partitions).map(|p| consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).unwrap().1).sum()
}

#[test]
fn sigterm_on_a_cluster_commits_everything_processed_and_exits_0() {
    let mock = MockCluster::<DefaultProducerContext>::new(1).unwrap();
    let servers = mock.bootstrap_servers();
    let app = unique_name("signals");
    let settings = TemperatureSettings {
        input_topic: unique_name("eventos_sensores"),
        output_topic: unique_name("sensor-averages"),
        ..TemperatureSettings::default()
    };
    mock.create_topic(&settings.input_topic, PARTITIONS, 1).unwrap();
    mock.create_topic(&settings.output_topic, PARTITIONS, 1).unwrap();
    // The mock serves no CreateTopics: create the internal topics the program would.
    let mut b = StreamsBuilder::new();
    temperature_averages(&mut b, &settings);
    let existing: BTreeMap<String, i32> =
        [(settings.input_topic.clone(), PARTITIONS), (settings.output_topic.clone(), PARTITIONS)].into();
    let internal = plan_internal_topics(&b.build().unwrap(), &app, &existing, 1).unwrap();
    mock.create_topics(&internal).unwrap();
    let repartition = internal.iter().find(|t| t.name.ends_with("-repartition")).unwrap();

    // Two minutes of event time from 4 sensors, unkeyed like the seed's producer.
    let sim = Simulation { sensors: 4, rate: 24, speedup: 6, epoch: T0 };
    let readings = 480;
    let publish = Publish {
        servers: servers.clone(),
        topic: settings.input_topic.clone(),
        keyed: false,
        compression: Compression::None,
    };
    let producer = ReadingProducer::new(publish).unwrap();
    for i in 0..readings {
        producer.send(&sim.reading(i)).unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let program = Program::start(&[
        "--bootstrap-servers",
        &servers,
        "--application-id",
        &app,
        "--input-topic",
        &settings.input_topic,
        "--output-topic",
        &settings.output_topic,
        "--state-dir",
        state.to_str().unwrap(),
        "--commit-interval-ms",
        "600000",
    ]);
    // Every reading went through the first sub-topology (re-keyed into the repartition topic).
    wait_until(
        Duration::from_secs(60),
        || {
            format!(
                "{} readings re-keyed:\n{}",
                records_in(&servers, &repartition.name, repartition.partitions),
                program.output()
            )
        },
        || records_in(&servers, &repartition.name, repartition.partitions) >= readings as i64,
    );
    let input = &settings.input_topic;
    assert!(committed(&servers, &app, input, PARTITIONS).is_empty(), "nothing is committed before the close");

    program.signal("-TERM");
    let (status, output) = program.wait(Duration::from_secs(60));
    assert!(status.success(), "exited with {status}:\n{output}");
    assert!(output.contains("Signal(Terminate)"), "{output}");
    assert!(output.contains("instance closed cleanly"), "{output}");
    let offsets = committed(&servers, &app, input, PARTITIONS);
    assert_eq!(offsets.values().sum::<i64>(), readings as i64, "{offsets:?}");
}

/// A row of the viewer's table: sensor, from, to, avg, count, min, max.
fn is_row(line: &str) -> bool {
    let fields: Vec<&str> = line.split_whitespace().collect();
    fields.len() == 7 && fields[0].parse::<u32>().is_ok() && fields[1].contains(':')
}

#[test]
fn sigint_in_embedded_mode_closes_and_prints_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // Ten-second windows at ten times the clock: one closes every second.
    let program = Program::start(&[
        "--duration",
        "0",
        "--window",
        "10",
        "--grace",
        "1",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    wait_until(Duration::from_secs(60), || program.output(), || program.has_line(is_row));

    program.signal("-INT");
    let (status, output) = program.wait(Duration::from_secs(60));
    assert!(status.success(), "exited with {status}:\n{output}");
    assert!(output.contains("Signal(Interrupt)"), "{output}");
    assert!(output.contains("instance closed cleanly"), "{output}");
    let summary = output.lines().find_map(|l| l.strip_suffix(" window averages received")).expect("summary");
    let received: u64 = summary.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(received >= 1, "{output}");
}
