//! Throughput of the temperature topology on Apache Kafka, side by side with its floors and
//! with Kafka Streams, each measured in the same run on the same broker and each with its
//! output checked window by window against means and counts computed from the readings.
//!
//! Run it with `benches/perf.sh` (which builds the Kafka Streams program first) or
//! `cargo bench --bench perf -- [flags]`; `docs/performance.md` describes the workloads, the
//! systems and how they are measured, and holds the figures.
//!
//! Flags: `--quick` (small workloads), `--workloads W1-unkeyed,W1-keyed,W2`,
//! `--systems a,b,c,d` (or single kstreams variants such as `c-eos-2t-x1`), `--w1-readings N`, `--w2-sensors N`, `--w2-readings N`,
//! `--partitions N` (4), `--commit-ms N` (100), `--runs N` (1; the median is printed).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod children;
mod measure;
mod workload;

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;
use kstreams_broker_harness::TestBroker;

use measure::{Bench, Outcome, System};
use workload::Workload;

struct Options {
    workloads: Vec<String>,
    systems: String,
    w1_readings: u64,
    w2_sensors: u32,
    w2_readings: u64,
    partitions: i32,
    commit_ms: u64,
    runs: usize,
}

fn options(args: &[String]) -> anyhow::Result<Options> {
    let mut o = Options {
        workloads: vec!["W1-unkeyed".into(), "W1-keyed".into(), "W2".into()],
        systems: "a,b,c,d".into(),
        w1_readings: 2_000_000,
        w2_sensors: 1_000_000,
        w2_readings: 3_000_000,
        partitions: 4,
        commit_ms: 100,
        runs: 1,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--quick" {
            o.w1_readings = 200_000;
            o.w2_sensors = 100_000;
            o.w2_readings = 300_000;
            continue;
        }
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        let number = || value.parse::<u64>().map_err(|_| anyhow::anyhow!("{flag}: not a number: {value}"));
        match flag.as_str() {
            "--workloads" => o.workloads = value.split(',').map(str::to_string).collect(),
            "--systems" => o.systems = value.clone(),
            "--w1-readings" => o.w1_readings = number()?,
            "--w2-sensors" => o.w2_sensors = u32::try_from(number()?)?,
            "--w2-readings" => o.w2_readings = number()?,
            "--partitions" => o.partitions = i32::try_from(number()?)?,
            "--commit-ms" => o.commit_ms = number()?,
            "--runs" => o.runs = usize::try_from(number()?)?.max(1),
            other => anyhow::bail!("unknown flag {other} (see benches/perf/main.rs)"),
        }
    }
    Ok(o)
}

fn systems(which: &str) -> Vec<System> {
    let mut out = Vec::new();
    for part in which.split(',') {
        match part.trim() {
            "a" => out.push(System::RawConsume),
            "b" => out.push(System::RawJob),
            "c" => {
                for exactly_once in [false, true] {
                    for (threads, instances) in [(1, 1), (2, 1), (1, 2)] {
                        out.push(System::Kstreams { exactly_once, threads, instances });
                    }
                }
            }
            "d" => {
                out.push(System::KafkaStreams { exactly_once: false });
                out.push(System::KafkaStreams { exactly_once: true });
            }
            // One kstreams variant: `c-eos-2t-x1`, `c-alo-1t-x2`, ...
            other => {
                let parts: Vec<&str> = other.split('-').collect();
                if let ["c", g, t, x] = parts[..] {
                    let threads = t.trim_end_matches('t').parse().unwrap_or(1);
                    let instances = x.trim_start_matches('x').parse().unwrap_or(1);
                    out.push(System::Kstreams {
                        exactly_once: g.eq_ignore_ascii_case("eos"),
                        threads,
                        instances,
                    });
                }
            }
        }
    }
    out
}

/// The Kafka Streams program's classpath if it is built and `java` runs.
fn java_classpath() -> Option<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/kafka-streams/target");
    let built = root.join("classes/dev/kstreams/bench/TemperatureAverages.class").is_file()
        && root.join("dependency").is_dir();
    let java = Command::new("java").arg("-version").output().is_ok_and(|o| o.status.success());
    (built && java)
        .then(|| format!("{}:{}/*", root.join("classes").display(), root.join("dependency").display()))
}

fn median(mut outcomes: Vec<Outcome>) -> Outcome {
    outcomes.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    outcomes.swap_remove(outcomes.len() / 2)
}

fn main() -> anyhow::Result<()> {
    // Cargo passes `--bench` to harness-less benches.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.first().map(String::as_str) == Some("child") {
        let role = args.get(1).context("child needs a role")?;
        let child_args = children::ChildArgs::parse(&args[2..])?;
        return match role.as_str() {
            "raw-consume" => children::raw_consume(&child_args),
            "raw-job" => children::raw_job(&child_args),
            "kstreams" => children::kstreams(&child_args),
            other => anyhow::bail!("unknown child role {other}"),
        };
    }
    let o = options(&args)?;
    let broker =
        TestBroker::start().context("starting Apache Kafka (scripts/install-broker.sh installs it)")?;
    let java = java_classpath();
    let mut chosen = systems(&o.systems);
    if java.is_none() && chosen.iter().any(|s| matches!(s, System::KafkaStreams { .. })) {
        println!("(d) skipped: build the Kafka Streams program first (benches/perf.sh does)");
        chosen.retain(|s| !matches!(s, System::KafkaStreams { .. }));
    }
    let log_dir = tempfile::Builder::new().prefix("kstreams-perf-").tempdir()?.keep();
    let bench = Bench {
        broker: &broker,
        partitions: o.partitions,
        commit_ms: o.commit_ms,
        java_classpath: java,
        log_dir: &log_dir,
    };
    println!(
        "broker {} (Apache Kafka {}), {} partitions, commit.interval.ms {}, {} run(s) each, logs in {}",
        broker.bootstrap(),
        kstreams_broker_harness::KAFKA_VERSION,
        o.partitions,
        o.commit_ms,
        o.runs,
        log_dir.display()
    );
    let mut failed = false;
    for name in &o.workloads {
        let workload = match name.as_str() {
            // 100 sensors, 100 readings per sensor and second of event time.
            "W1-unkeyed" => Workload::new(name, 100, o.w1_readings, 10_000, false),
            "W1-keyed" => Workload::new(name, 100, o.w1_readings, 10_000, true),
            // Every sensor reads every 10 s of event time; keyed, so Kafka Streams can be exact.
            "W2" => Workload::new(name, o.w2_sensors, o.w2_readings, u64::from(o.w2_sensors) / 10, true),
            other => anyhow::bail!("unknown workload {other}"),
        };
        let expected = workload.expected();
        println!(
            "\n{}: {} readings from {} sensors, {} per second of event time, {}; {} windows expected",
            workload.name,
            workload.readings,
            workload.sensors,
            workload.per_event_second,
            if workload.keyed { "keyed by sensor" } else { "unkeyed" },
            expected.len()
        );
        println!(
            "{:<30} {:>11} {:>8} {:>9} {:>9} {:>6}  output",
            "system", "records/s", "secs", "RSS MB", "CPU s/M", "dups"
        );
        let mut results: Vec<(System, Outcome)> = Vec::new();
        for &system in &chosen {
            let mut outcomes = Vec::new();
            for _ in 0..o.runs {
                match bench.run(system, &workload, &expected) {
                    Ok(outcome) => outcomes.push(outcome),
                    Err(e) => {
                        println!("{:<30} FAILED: {e:#}", system.label());
                        failed = true;
                        break;
                    }
                }
            }
            if outcomes.len() < o.runs {
                continue;
            }
            let m = median(outcomes);
            let verdict = match (&m.wrong, system) {
                (Some(w), _) => {
                    failed = true;
                    format!("WRONG: {w}")
                }
                (None, System::RawConsume) => "read all".to_string(),
                (None, _) => "exact".to_string(),
            };
            println!(
                "{:<30} {:>11.0} {:>8.2} {:>9.0} {:>9.2} {:>6}  {verdict}",
                system.label(),
                m.rate,
                m.secs,
                m.peak_rss as f64 / 1_048_576.0,
                m.cpu_secs / (workload.readings as f64 / 1e6),
                m.duplicates
            );
            results.push((system, m));
        }
        print_ratios(&results);
    }
    if failed {
        anyhow::bail!("at least one system failed or gave a wrong answer");
    }
    Ok(())
}

fn print_ratios(results: &[(System, Outcome)]) {
    let find = |want: &dyn Fn(System) -> bool| {
        results.iter().find(|(s, o)| want(*s) && o.wrong.is_none()).map(|(_, o)| o.rate)
    };
    let a = find(&|s| s == System::RawConsume);
    let b = find(&|s| s == System::RawJob);
    let ratio = |c: f64, base: Option<f64>| base.map_or("-".to_string(), |x| format!("{:.2}", c / x));
    println!("{:<30} {:>6} {:>6} {:>6}", "ratios", "c/a", "c/b", "c/d");
    for (system, outcome) in results {
        let System::Kstreams { exactly_once, .. } = *system else { continue };
        if outcome.wrong.is_some() {
            continue;
        }
        let d = find(&|s| s == System::KafkaStreams { exactly_once });
        println!(
            "{:<30} {:>6} {:>6} {:>6}",
            system.label(),
            ratio(outcome.rate, a),
            ratio(outcome.rate, b),
            ratio(outcome.rate, d)
        );
    }
}
