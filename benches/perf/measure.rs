//! Runs one system on a fresh copy of a workload and measures it from its first record to its
//! last correct result, checking every result against the expected windows.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use kstreams_broker_harness::{unique_name, TestBroker};
use kstreams_example::WindowAverage;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::workload::{produce, Workload};

/// How long one system may take before it counts as failed.
const RUN_LIMIT: Duration = Duration::from_secs(600);
/// How long after the closing readings a run may go without a new result.
const STALL_LIMIT: Duration = Duration::from_secs(60);

/// The systems of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    /// (a) A raw rdkafka consumer that reads and decodes every reading.
    RawConsume,
    /// (b) The topology's work on the wire with raw rdkafka and a hash map.
    RawJob,
    /// (c) kstreams: guarantee, stream threads per instance, instances.
    Kstreams { exactly_once: bool, threads: usize, instances: usize },
    /// (d) Kafka Streams, one stream thread.
    KafkaStreams { exactly_once: bool },
}

impl System {
    /// The label printed in the results.
    pub fn label(self) -> String {
        let g = |eos: bool| if eos { "EOS" } else { "ALO" };
        match self {
            Self::RawConsume => "(a) rdkafka consume+decode".into(),
            Self::RawJob => "(b) rdkafka job floor".into(),
            Self::Kstreams { exactly_once, threads, instances } => {
                format!("(c) kstreams {} {threads}t x{instances}", g(exactly_once))
            }
            Self::KafkaStreams { exactly_once } => format!("(d) Kafka Streams {} 1t", g(exactly_once)),
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Seconds from the first `RUNNING` to the last expected result (or `DONE`).
    pub secs: f64,
    /// Readings per second over `secs`.
    pub rate: f64,
    /// Largest resident set of the system's processes, summed over instances (bytes).
    pub peak_rss: u64,
    /// CPU seconds (user + system) of the system's processes over `secs`.
    pub cpu_secs: f64,
    /// `None` when every expected window came, exact; otherwise what was wrong.
    pub wrong: Option<String>,
    /// Results that came more than once (identical each time).
    pub duplicates: u64,
}

/// The settings every run shares.
pub struct Bench<'a> {
    /// The broker.
    pub broker: &'a TestBroker,
    /// Partitions of the input and output topics.
    pub partitions: i32,
    /// `commit.interval.ms` of kstreams and Kafka Streams.
    pub commit_ms: u64,
    /// The Kafka Streams program's classpath, when it is built.
    pub java_classpath: Option<String>,
    /// Where child processes' standard error goes.
    pub log_dir: &'a Path,
}

struct Proc {
    child: Child,
    cpu_at_start: Option<f64>,
}

fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU seconds (user + system, all threads) that process `pid` has used.
fn cpu_secs(pid: u32, ticks: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks)
}

/// The peak resident set (`VmHWM`) of process `pid`, bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn offsets(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<(Vec<i64>, Vec<Option<i64>>)> {
    let mut ends = Vec::new();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        ends.push(consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?.1);
        tpl.add_partition(topic, p);
    }
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(10))?;
    let committed = (0..partitions)
        .map(|p| match committed.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => Some(o),
            _ => None,
        })
        .collect();
    Ok((ends, committed))
}

impl Bench<'_> {
    /// Runs `system` on a fresh copy of `workload` and measures it.
    pub fn run(
        &self,
        system: System,
        workload: &Workload,
        expected: &HashMap<(u32, i64), WindowAverage>,
    ) -> anyhow::Result<Outcome> {
        let servers = self.broker.bootstrap().to_string();
        let run = unique_name("perf");
        let (input, output, repartition) = (format!("{run}-in"), format!("{run}-out"), format!("{run}-rep"));
        for topic in [&input, &output] {
            self.broker.create_topic_with(topic, self.partitions, &[("retention.ms", "-1")])?;
        }
        if system == System::RawJob {
            self.broker.create_topic_with(&repartition, self.partitions, &[("retention.ms", "-1")])?;
        }
        produce(&servers, &input, workload.keyed, (0..workload.readings).map(|i| workload.reading(i)))?;

        let state = tempfile::tempdir()?;
        let group = format!("{run}-app");
        let exe = std::env::current_exe()?;
        let p = self.partitions.to_string();
        let mut commands = Vec::new();
        let child = |role: &str| {
            let mut c = Command::new(&exe);
            c.args(["child", role, "--bootstrap", &servers, "--topic", &input, "--partitions", &p]);
            c
        };
        match system {
            System::RawConsume => {
                let mut c = child("raw-consume");
                c.args(["--group", &group, "--records", &workload.readings.to_string()]);
                commands.push(c);
            }
            System::RawJob => {
                let mut c = child("raw-job");
                c.args(["--group", &group, "--repartition", &repartition, "--output", &output]);
                commands.push(c);
            }
            System::Kstreams { exactly_once, threads, instances } => {
                for i in 0..instances {
                    let mut c = child("kstreams");
                    let dir = state.path().join(format!("instance-{i}"));
                    c.args(["--output", &output, "--application-id", &group])
                        .args(["--guarantee", if exactly_once { "exactly_once_v2" } else { "at_least_once" }])
                        .args(["--threads", &threads.to_string(), "--commit-ms", &self.commit_ms.to_string()])
                        .arg("--state-dir")
                        .arg(&dir);
                    commands.push(c);
                }
            }
            System::KafkaStreams { exactly_once } => {
                let cp = self.java_classpath.as_deref().context("the Kafka Streams program is not built")?;
                let mut c = Command::new("java");
                c.args(["-Xms1g", "-Xmx1g", "-cp", cp, "dev.kstreams.bench.TemperatureAverages"])
                    .args([
                        "--bootstrap",
                        &servers,
                        "--application-id",
                        &group,
                        "--input",
                        &input,
                        "--output",
                        &output,
                    ])
                    .args(["--guarantee", if exactly_once { "exactly_once_v2" } else { "at_least_once" }])
                    .args(["--threads", "1", "--commit-ms", &self.commit_ms.to_string()])
                    .args(["--exit-on-stdin-eof", "false", "--state-dir"])
                    .arg(state.path());
                commands.push(c);
            }
        }

        let verifier: Option<BaseConsumer> = match system {
            System::RawConsume => None,
            _ => {
                let c: BaseConsumer = ClientConfig::new()
                    .set("bootstrap.servers", &servers)
                    .set("group.id", format!("{run}-verifier"))
                    .set("enable.auto.commit", "false")
                    .set("isolation.level", "read_committed")
                    .create()?;
                let mut tpl = TopicPartitionList::new();
                for p in 0..self.partitions {
                    tpl.add_partition_offset(&output, p, Offset::Beginning)?;
                }
                c.assign(&tpl)?;
                Some(c)
            }
        };
        let probe: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &servers)
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .create()?;

        let ticks = ticks_per_second();
        let (tx, rx) = mpsc::channel::<(usize, String, Instant)>();
        let mut procs = Vec::new();
        for (i, mut c) in commands.into_iter().enumerate() {
            let log = std::fs::File::create(self.log_dir.join(format!("{run}-{i}.log")))?;
            let mut child = c
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(log)
                .spawn()
                .context("starting a child")?;
            let stdout = child.stdout.take().context("child stdout")?;
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if tx.send((i, line, Instant::now())).is_err() {
                        break;
                    }
                }
            });
            procs.push(Proc { child, cpu_at_start: None });
        }
        let result =
            self.watch(&mut procs, &rx, verifier.as_ref(), &probe, workload, expected, &input, ticks);
        let peak = procs.iter().filter_map(|p| peak_rss(p.child.id())).sum();
        let cpu_end: Vec<Option<f64>> = procs.iter().map(|p| cpu_secs(p.child.id(), ticks)).collect();
        for p in &mut procs {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        let failed = result.as_ref().map_or(true, |(_, wrong, _)| wrong.is_some());
        if failed && matches!(system, System::Kstreams { .. }) {
            // Where a reading was counted twice: in the repartition topic, or after it.
            let topic = format!("{group}-readings-by-sensor-repartition");
            match repeated_readings(&servers, &topic, self.partitions) {
                Ok(found) => println!(
                    "  {topic}: {} readings repeated{}",
                    found.len(),
                    found.first().map(|f| format!(", first: {f}")).unwrap_or_default()
                ),
                Err(e) => println!("  reading {topic} failed: {e:#}"),
            }
        }
        let (secs, wrong, duplicates) = result?;
        let cpu = procs
            .iter()
            .zip(cpu_end)
            .map(|(p, end)| end.unwrap_or(0.0) - p.cpu_at_start.unwrap_or(0.0))
            .sum();
        Ok(Outcome {
            secs,
            rate: workload.readings as f64 / secs,
            peak_rss: peak,
            cpu_secs: cpu,
            wrong,
            duplicates,
        })
    }

    /// Follows the children until the work is done; seconds from the first `RUNNING`, what was
    /// wrong, duplicates.
    #[allow(clippy::too_many_arguments)]
    fn watch(
        &self,
        procs: &mut [Proc],
        rx: &mpsc::Receiver<(usize, String, Instant)>,
        verifier: Option<&BaseConsumer>,
        probe: &BaseConsumer,
        workload: &Workload,
        expected: &HashMap<(u32, i64), WindowAverage>,
        input: &str,
        ticks: f64,
    ) -> anyhow::Result<(f64, Option<String>, u64)> {
        let began = Instant::now();
        let mut started: Option<Instant> = None;
        let mut closing_sent = false;
        let mut last_probe = Instant::now();
        let mut seen: HashSet<(u32, i64)> = HashSet::new();
        let mut progress = Instant::now();
        let (mut wrong, mut duplicates): (Vec<String>, u64) = (Vec::new(), 0);
        loop {
            anyhow::ensure!(
                began.elapsed() < RUN_LIMIT,
                "no complete answer within {RUN_LIMIT:?}: {} of {} windows",
                seen.len(),
                expected.len()
            );
            while let Ok((i, line, at)) = rx.try_recv() {
                if line == "RUNNING" || line.starts_with("STATE RUNNING") {
                    if procs[i].cpu_at_start.is_none() {
                        procs[i].cpu_at_start = cpu_secs(procs[i].child.id(), ticks);
                    }
                    started.get_or_insert(at);
                } else if line.starts_with("DONE") {
                    let t0 = started.context("DONE before RUNNING")?;
                    return Ok((at.duration_since(t0).as_secs_f64(), None, 0));
                } else if line.starts_with("ERROR") {
                    anyhow::bail!("the system failed: {line}");
                }
            }
            for p in procs.iter_mut() {
                if let Some(status) = p.child.try_wait()? {
                    anyhow::bail!(
                        "a process of the system exited ({status}); see {}",
                        self.log_dir.display()
                    );
                }
            }
            let Some(verifier) = verifier else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            if started.is_some() && !closing_sent && last_probe.elapsed() >= Duration::from_millis(50) {
                last_probe = Instant::now();
                let (ends, committed) = offsets(probe, input, self.partitions)?;
                anyhow::ensure!(
                    started.is_some_and(|t| t.elapsed() < RUN_LIMIT / 2),
                    "the input was not consumed within {:?}: end offsets {ends:?}, committed {committed:?}",
                    RUN_LIMIT / 2
                );
                if ends.iter().zip(&committed).all(|(end, c)| c.unwrap_or(0) == *end) {
                    produce(
                        self.broker.bootstrap(),
                        input,
                        workload.keyed,
                        workload.closing_readings().into_iter(),
                    )?;
                    closing_sent = true;
                    progress = Instant::now();
                }
            }
            let deadline = Instant::now() + Duration::from_millis(20);
            while Instant::now() < deadline {
                let Some(m) = verifier.poll(Duration::from_millis(10)) else { break };
                let m = m?;
                let w: WindowAverage = match m.payload().map(serde_json::from_slice) {
                    Some(Ok(w)) => w,
                    _ => {
                        wrong.push(format!(
                            "an output record is not a window result: {:?}",
                            m.payload().map(String::from_utf8_lossy)
                        ));
                        continue;
                    }
                };
                let key = (w.sensor_id, w.window_start);
                match expected.get(&key) {
                    Some(want) if *want == w => {
                        if seen.insert(key) {
                            progress = Instant::now();
                        } else {
                            duplicates += 1;
                        }
                    }
                    Some(want) => wrong.push(format!("got {w:?}, want {want:?}")),
                    None => wrong.push(format!("unexpected window {w:?}")),
                }
            }
            anyhow::ensure!(
                !closing_sent || progress.elapsed() < STALL_LIMIT,
                "no new result for {STALL_LIMIT:?} after the closing readings: {} of {} windows ({} wrong results{})",
                seen.len(),
                expected.len(),
                wrong.len(),
                wrong.first().map(|w| format!(", first: {w}")).unwrap_or_default()
            );
            if seen.len() == expected.len() {
                let t0 = started.context("results before RUNNING")?;
                let secs = t0.elapsed().as_secs_f64();
                let wrong = (!wrong.is_empty())
                    .then(|| format!("{} wrong results, first: {}", wrong.len(), wrong[0]));
                return Ok((secs, wrong, duplicates));
            }
        }
    }
}

/// The readings that occur more than once (same sensor and timestamp) among the committed
/// records of `topic`, with where.
fn repeated_readings(servers: &str, topic: &str, partitions: i32) -> anyhow::Result<Vec<String>> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", unique_name("perf-diagnosis"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    c.assign(&tpl)?;
    let mut seen: HashMap<(u32, u64), (i32, i64)> = HashMap::new();
    let mut found = Vec::new();
    let mut ended = HashSet::new();
    let began = Instant::now();
    while ended.len() < partitions as usize && began.elapsed() < Duration::from_secs(120) {
        match c.poll(Duration::from_millis(200)) {
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                ended.insert(p);
            }
            Some(Ok(m)) => {
                let Some(Ok(r)) = m.payload().map(serde_json::from_slice::<kstreams_example::Reading>) else {
                    continue;
                };
                let key = (r.sensor_id, r.timestamp.to_bits());
                if let Some((p, o)) = seen.insert(key, (m.partition(), m.offset())) {
                    found.push(format!("{r:?} at {p}@{o} and {}@{}", m.partition(), m.offset()));
                }
            }
            _ => {}
        }
    }
    Ok(found)
}
