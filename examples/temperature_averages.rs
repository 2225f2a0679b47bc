//! The windowed temperature-average pipeline of the seed tutorial, end to end.
//!
//! Sensors publish unkeyed JSON readings to `eventos_sensores`; this program keys them by
//! `sensor_id` (through a repartition topic, so several instances can share the work), keeps
//! count/mean/min/max per sensor and minute in RocksDB (logged to a changelog topic, so a crash
//! loses nothing), and writes one result per closed window to `sensor-averages`.
//!
//! With no `--bootstrap-servers` it runs everything in one process on an embedded
//! Kafka-protocol cluster (librdkafka's mock cluster): a sensor simulator, the application and
//! a viewer printing the averages as windows close. Event time runs `--speedup` times faster
//! than the wall clock there, so one-minute windows close every few seconds. With
//! `--bootstrap-servers` it runs only the application against that cluster; start more
//! instances with the same `--application-id` to scale out, and feed it with
//! `sensor_simulator` and watch it with `results_viewer`.
//!
//! `--db FILE` also stores every result in a SQLite file through `kstreams::sink` (read from
//! the output topic, so the database gets exactly what Kafka got, upserted by sensor and
//! window); `--metrics-addr 127.0.0.1:PORT` serves the runtime's metrics for Prometheus at
//! `/metrics` and interactive queries of this instance's windows at
//! `/sensors/<id>/latest` and `/sensors/<id>/windows?from=<ms>&to=<ms>` (JSON). The address
//! is also the instance's `application.server`: asked for a sensor another instance hosts, it
//! redirects there.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use kstreams::http::{install_prometheus_recorder, metrics_handler, HttpServer};
use kstreams::prelude::*;
use kstreams::runtime::{KafkaStreams, ProcessingGuarantee, State, StreamsConfig};
use kstreams::sink::SqliteSink;
use metrics_exporter_prometheus::PrometheusHandle;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

#[path = "common/mod.rs"]
mod common;
use common::simulator::{Compression, Publish, Simulation};
use common::{temperature_averages, TemperatureSettings};

/// Command-line flags.
#[derive(Parser, Debug)]
#[command(
    version,
    about = "Per-sensor windowed temperature averages over Kafka (the seed tutorial's pipeline)"
)]
struct Args {
    /// Kafka bootstrap servers. Without it, an embedded cluster runs in this process together
    /// with a sensor simulator and a viewer.
    #[arg(long)]
    bootstrap_servers: Option<String>,
    /// Topic the sensors write to.
    #[arg(long, default_value = "eventos_sensores")]
    input_topic: String,
    /// Topic the window results go to.
    #[arg(long, default_value = "sensor-averages")]
    output_topic: String,
    /// Consumer group and prefix of internal topics; instances sharing it share the work.
    #[arg(long, default_value = "temperature-averages")]
    application_id: String,
    /// Where RocksDB state lives (default: a temporary directory in embedded mode,
    /// `./state` otherwise).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// `at_least_once` or `exactly_once_v2`.
    #[arg(long, default_value = "at_least_once")]
    processing_guarantee: String,
    /// Stream threads of this instance.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Window size in seconds.
    #[arg(long, default_value_t = 60)]
    window: u64,
    /// Grace period for late readings, in seconds.
    #[arg(long, default_value_t = 10)]
    grace: u64,
    /// Embedded mode: number of simulated sensors.
    #[arg(long, default_value_t = 8)]
    sensors: u32,
    /// Embedded mode: readings per second, all sensors together.
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// Embedded mode: how much faster than the wall clock event time runs.
    #[arg(long, default_value_t = 10)]
    speedup: u32,
    /// Partitions of the input topic (embedded mode).
    #[arg(long, default_value_t = 3)]
    partitions: i32,
    /// Stop after this many seconds (0 = run until Ctrl-C). Embedded mode defaults to 40.
    #[arg(long)]
    duration: Option<u64>,
    /// Also store every window result in this SQLite file (table `sensor_averages`, one row
    /// per sensor and window, upserted so replays never duplicate rows).
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics and interactive queries at
    /// http://ADDR/sensors/ID/latest and http://ADDR/sensors/ID/windows?from=MS&to=MS (JSON);
    /// ADDR must be 127.0.0.1:PORT (or another loopback address).
    #[arg(long, value_name = "ADDR", value_parser = loopback_addr)]
    metrics_addr: Option<SocketAddr>,
}

/// `--metrics-addr` accepts loopback addresses only.
fn loopback_addr(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s.parse().map_err(|e| format!("`{s}` is not IP:PORT ({e})"))?;
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(format!(
            "the metrics server binds only 127.0.0.1 (loopback); use --metrics-addr 127.0.0.1:{}",
            addr.port()
        ))
    }
}

fn main() -> anyhow::Result<()> {
    common::init_tracing();
    let args = Args::parse();
    let guarantee = match args.processing_guarantee.as_str() {
        "at_least_once" => ProcessingGuarantee::AtLeastOnce,
        "exactly_once_v2" => ProcessingGuarantee::ExactlyOnceV2,
        other => {
            anyhow::bail!("--processing-guarantee: expected at_least_once or exactly_once_v2, got `{other}`")
        }
    };
    let settings = TemperatureSettings {
        input_topic: args.input_topic.clone(),
        output_topic: args.output_topic.clone(),
        window: Duration::from_secs(args.window),
        grace: Duration::from_secs(args.grace),
        ..TemperatureSettings::default()
    };
    let mut b = StreamsBuilder::new();
    temperature_averages(&mut b, &settings);
    let topology = Arc::new(b.build()?);
    println!("{}", topology.describe());
    // Installed before the runtime starts, so every metric it records is rendered.
    let metrics = args.metrics_addr.map(|_| install_prometheus_recorder()).transpose()?;

    match args.bootstrap_servers.clone() {
        Some(servers) => run_on_cluster(&args, &servers, topology, guarantee, metrics),
        None => run_embedded(&args, topology, guarantee, metrics),
    }
}

/// With `--metrics-addr`, serves `/metrics` and the interactive queries of `streams`.
fn start_http(
    args: &Args,
    metrics: Option<PrometheusHandle>,
    streams: &KafkaStreams,
) -> anyhow::Result<Option<HttpServer>> {
    let (Some(addr), Some(handle)) = (args.metrics_addr, metrics) else { return Ok(None) };
    let window_ms = i64::try_from(args.window.saturating_mul(1000)).unwrap_or(i64::MAX);
    let handler = common::queries::queries_handler(streams.queries(), window_ms, metrics_handler(handle));
    let server = HttpServer::start(addr, handler).context("--metrics-addr")?;
    let at = server.local_addr();
    println!("metrics at http://{at}/metrics, queries at http://{at}/sensors/<id>/latest and /sensors/<id>/windows");
    Ok(Some(server))
}

fn config(
    args: &Args,
    servers: &str,
    state_dir: PathBuf,
    guarantee: ProcessingGuarantee,
) -> anyhow::Result<StreamsConfig> {
    let mut builder = StreamsConfig::builder(args.application_id.clone(), servers)
        .state_dir(state_dir)
        .num_stream_threads(args.threads)
        .processing_guarantee(guarantee)
        .commit_interval(Duration::from_secs(1));
    // The HTTP address is how other instances redirect queries for this one's sensors (an
    // ephemeral port, 0, cannot be announced before it is bound).
    if let Some(addr) = args.metrics_addr.filter(|a| a.port() != 0) {
        builder = builder.application_server(addr.to_string());
    }
    Ok(builder.build()?)
}

fn run_on_cluster(
    args: &Args,
    servers: &str,
    topology: Arc<Topology>,
    guarantee: ProcessingGuarantee,
    metrics: Option<PrometheusHandle>,
) -> anyhow::Result<()> {
    let dir = args.state_dir.clone().unwrap_or_else(|| PathBuf::from("state"));
    let mut streams = KafkaStreams::new(topology, config(args, servers, dir, guarantee)?);
    let _http = start_http(args, metrics, &streams)?;
    streams.set_state_listener(|new, old| tracing::info!("state {old:?} -> {new:?}"));
    streams.start()?;
    let stop = ctrl_c_flag()?;
    let stored = Arc::new(AtomicU64::new(0));
    let db = start_db_writer(args, servers, &stop, &stored)?;
    let deadline = args.duration.filter(|d| *d > 0).map(|d| Instant::now() + Duration::from_secs(d));
    let mut last_report = Instant::now();
    while !stop.load(Ordering::SeqCst) && deadline.is_none_or(|d| Instant::now() < d) {
        if streams.state() == State::Error {
            stop.store(true, Ordering::SeqCst);
            anyhow::bail!("stream processing failed: {}", streams.error().unwrap_or_default());
        }
        if db.as_ref().is_some_and(|t| t.is_finished()) {
            break; // the writer failed: its error is reported below
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            tracing::info!(
                tasks = streams.active_tasks().len(),
                rows_stored = stored.load(Ordering::Relaxed),
                "progress"
            );
            last_report = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::SeqCst);
    streams.close_timeout(Duration::from_secs(30))?;
    join_db_writer(db, &stored)
}

/// With `--db`, starts the thread that stores the output topic's results in SQLite.
fn start_db_writer(
    args: &Args,
    servers: &str,
    stop: &Arc<AtomicBool>,
    stored: &Arc<AtomicU64>,
) -> anyhow::Result<Option<JoinHandle<anyhow::Result<()>>>> {
    let Some(path) = args.db.clone() else { return Ok(None) };
    let mut sink = SqliteSink::open(&path, "sensor_averages", "sensor_id").context("--db")?;
    tracing::info!(db = %path.display(), "storing results in table sensor_averages");
    let (servers, topic) = (servers.to_string(), args.output_topic.clone());
    let group = format!("{}-db-sink", args.application_id);
    let (stop, stored) = (stop.clone(), stored.clone());
    Ok(Some(std::thread::spawn(move || {
        common::store::store_results(&servers, &topic, &group, &mut sink, &stop, &stored)
    })))
}

fn join_db_writer(db: Option<JoinHandle<anyhow::Result<()>>>, stored: &AtomicU64) -> anyhow::Result<()> {
    if let Some(t) = db {
        t.join().map_err(|_| anyhow::anyhow!("database writer panicked"))?.context("--db")?;
        println!("{} results stored in the database", stored.load(Ordering::Relaxed));
    }
    Ok(())
}

fn ctrl_c_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::spawn(move || {
        rt.block_on(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                s.store(true, Ordering::SeqCst);
            }
        })
    });
    Ok(stop)
}

fn run_embedded(
    args: &Args,
    topology: Arc<Topology>,
    guarantee: ProcessingGuarantee,
    metrics: Option<PrometheusHandle>,
) -> anyhow::Result<()> {
    let cluster = MockCluster::<DefaultProducerContext>::new(1).context("starting the embedded cluster")?;
    let servers = cluster.bootstrap_servers();
    cluster.create_topic(&args.input_topic, args.partitions, 1).context("creating the input topic")?;
    cluster.create_topic(&args.output_topic, args.partitions, 1).context("creating the output topic")?;
    println!("embedded Kafka-protocol cluster at {servers}");

    let tmp = tempfile::tempdir()?;
    let dir = args.state_dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let mut streams = KafkaStreams::new(topology, config(args, &servers, dir, guarantee)?);
    let _http = start_http(args, metrics, &streams)?;
    streams.start_with_topic_creator(&cluster)?;

    let stop = ctrl_c_flag()?;
    let sent = Arc::new(AtomicU64::new(0));
    let simulator = {
        let (stop, sent) = (stop.clone(), sent.clone());
        let sim = Simulation {
            sensors: args.sensors.max(1),
            rate: args.rate.max(1),
            speedup: args.speedup.max(1),
            epoch: SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64(),
        };
        // Unkeyed, like the seed's producer.
        let publish = Publish {
            servers: servers.clone(),
            topic: args.input_topic.clone(),
            keyed: false,
            compression: Compression::None,
        };
        std::thread::spawn(move || common::simulator::run(sim, publish, None, &stop, &sent))
    };
    let shown = Arc::new(AtomicU64::new(0));
    let viewer = {
        let (stop, shown) = (stop.clone(), shown.clone());
        let (servers, topic) = (servers.clone(), args.output_topic.clone());
        std::thread::spawn(move || {
            common::viewer::view(&servers, &topic, "temperature-viewer", 0, &stop, &shown)
        })
    };
    let stored = Arc::new(AtomicU64::new(0));
    let db = start_db_writer(args, &servers, &stop, &stored)?;

    let duration = Duration::from_secs(args.duration.unwrap_or(40));
    let started = Instant::now();
    let mut last_report = Instant::now();
    while !stop.load(Ordering::SeqCst) && (duration.is_zero() || started.elapsed() < duration) {
        if streams.state() == State::Error {
            stop.store(true, Ordering::SeqCst);
            anyhow::bail!("stream processing failed: {}", streams.error().unwrap_or_default());
        }
        if simulator.is_finished() || db.as_ref().is_some_and(|t| t.is_finished()) {
            break; // a helper failed: its error is reported below
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            let n = sent.load(Ordering::Relaxed);
            tracing::info!(readings_sent = n, rate = n as f64 / started.elapsed().as_secs_f64(), "progress");
            last_report = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::SeqCst);
    let sim = simulator.join().map_err(|_| anyhow::anyhow!("simulator thread panicked"))?;
    sim?;
    streams.close_timeout(Duration::from_secs(30))?;
    viewer.join().map_err(|_| anyhow::anyhow!("viewer thread panicked"))??;
    join_db_writer(db, &stored)?;
    println!(
        "{} readings sent, {} window averages received",
        sent.load(Ordering::Relaxed),
        shown.load(Ordering::Relaxed)
    );
    Ok(())
}
