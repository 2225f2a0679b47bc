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
//! instances with the same `--application-id` to scale out.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use kstreams::prelude::*;
use kstreams::runtime::{KafkaStreams, ProcessingGuarantee, State, StreamsConfig};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::Message;

#[path = "common/mod.rs"]
mod common;
use common::{temperature_averages, Reading, TemperatureSettings, WindowAverage};

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
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,librdkafka=warn")),
        )
        .init();
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

    match args.bootstrap_servers.clone() {
        Some(servers) => run_on_cluster(&args, &servers, topology, guarantee),
        None => run_embedded(&args, topology, guarantee),
    }
}

fn config(
    args: &Args,
    servers: &str,
    state_dir: PathBuf,
    guarantee: ProcessingGuarantee,
) -> anyhow::Result<StreamsConfig> {
    Ok(StreamsConfig::builder(args.application_id.clone(), servers)
        .state_dir(state_dir)
        .num_stream_threads(args.threads)
        .processing_guarantee(guarantee)
        .commit_interval(Duration::from_secs(1))
        .build()?)
}

fn run_on_cluster(
    args: &Args,
    servers: &str,
    topology: Arc<Topology>,
    guarantee: ProcessingGuarantee,
) -> anyhow::Result<()> {
    let dir = args.state_dir.clone().unwrap_or_else(|| PathBuf::from("state"));
    let mut streams = KafkaStreams::new(topology, config(args, servers, dir, guarantee)?);
    streams.set_state_listener(|new, old| tracing::info!("state {old:?} -> {new:?}"));
    streams.start()?;
    let stop = ctrl_c_flag()?;
    let deadline = args.duration.filter(|d| *d > 0).map(|d| Instant::now() + Duration::from_secs(d));
    while !stop.load(Ordering::SeqCst) && deadline.is_none_or(|d| Instant::now() < d) {
        if streams.state() == State::Error {
            anyhow::bail!("stream processing failed: {}", streams.error().unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    streams.close_timeout(Duration::from_secs(30))?;
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

fn run_embedded(args: &Args, topology: Arc<Topology>, guarantee: ProcessingGuarantee) -> anyhow::Result<()> {
    let cluster = MockCluster::<DefaultProducerContext>::new(1).context("starting the embedded cluster")?;
    let servers = cluster.bootstrap_servers();
    cluster.create_topic(&args.input_topic, args.partitions, 1).context("creating the input topic")?;
    cluster.create_topic(&args.output_topic, args.partitions, 1).context("creating the output topic")?;
    println!("embedded Kafka-protocol cluster at {servers}");

    let tmp = tempfile::tempdir()?;
    let dir = args.state_dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let mut streams = KafkaStreams::new(topology, config(args, &servers, dir, guarantee)?);
    streams.start_with_topic_creator(&cluster)?;

    let stop = ctrl_c_flag()?;
    let sent = Arc::new(AtomicU64::new(0));
    let simulator = {
        let (stop, sent) = (stop.clone(), sent.clone());
        let (servers, topic) = (servers.clone(), args.input_topic.clone());
        let (sensors, rate, speedup) = (args.sensors.max(1), args.rate.max(1), args.speedup.max(1));
        std::thread::spawn(move || simulate(&servers, &topic, sensors, rate, speedup, &stop, &sent))
    };
    let viewer = {
        let stop = stop.clone();
        let (servers, topic) = (servers.clone(), args.output_topic.clone());
        std::thread::spawn(move || view(&servers, &topic, &stop))
    };

    let duration = Duration::from_secs(args.duration.unwrap_or(40));
    let started = Instant::now();
    let mut last_report = Instant::now();
    while !stop.load(Ordering::SeqCst) && (duration.is_zero() || started.elapsed() < duration) {
        if streams.state() == State::Error {
            stop.store(true, Ordering::SeqCst);
            anyhow::bail!("stream processing failed: {}", streams.error().unwrap_or_default());
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
    let shown = viewer.join().map_err(|_| anyhow::anyhow!("viewer thread panicked"))??;
    println!("{} readings sent, {} window averages received", sent.load(Ordering::Relaxed), shown);
    Ok(())
}

/// Publishes seed-shaped readings with no key (like the seed's producer), acks=all and
/// idempotence on.
fn simulate(
    servers: &str,
    topic: &str,
    sensors: u32,
    rate: u32,
    speedup: u32,
    stop: &AtomicBool,
    sent: &AtomicU64,
) -> anyhow::Result<()> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()?;
    let start_wall = Instant::now();
    let epoch = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
    let mut i: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        let elapsed = start_wall.elapsed().as_secs_f64();
        let due = (elapsed * f64::from(rate)) as u64;
        while i < due {
            let sensor = (i % u64::from(sensors)) as u32;
            let event_time = epoch + elapsed * f64::from(speedup);
            let wobble = ((i / u64::from(sensors)) % 20) as f64 / 10.0;
            let reading = Reading {
                sensor_id: sensor,
                temperatura: ((20.0 + f64::from(sensor) + wobble) * 10.0).round() / 10.0,
                timestamp: (event_time * 100.0).round() / 100.0,
            };
            let payload = serde_json::to_vec(&reading)?;
            let record: BaseRecord<'_, (), Vec<u8>> = BaseRecord::to(topic).payload(&payload);
            if let Err((e, _)) = producer.send(record) {
                tracing::warn!("simulator: send failed, retrying: {e}");
                producer.poll(Duration::from_millis(50));
                continue;
            }
            i += 1;
            sent.store(i, Ordering::Relaxed);
        }
        producer.poll(Duration::from_millis(10));
    }
    producer.flush(Duration::from_secs(10))?;
    Ok(())
}

/// Prints each window result as it arrives; returns how many were shown.
fn view(servers: &str, topic: &str, stop: &AtomicBool) -> anyhow::Result<u64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", "temperature-viewer")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[topic])?;
    println!(
        "{:>6}  {:>8}  {:>8}  {:>7}  {:>5}  {:>6}  {:>6}",
        "sensor", "from", "to", "avg", "count", "min", "max"
    );
    let mut shown = 0;
    let mut stopping_since: Option<Instant> = None;
    loop {
        if stop.load(Ordering::SeqCst) {
            // Keep reading briefly after stop, for results committed during shutdown.
            if stopping_since.get_or_insert_with(Instant::now).elapsed() > Duration::from_secs(3) {
                break;
            }
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => match m.payload().map(serde_json::from_slice::<WindowAverage>) {
                Some(Ok(w)) => {
                    shown += 1;
                    println!(
                        "{:>6}  {:>8}  {:>8}  {:>7.2}  {:>5}  {:>6.1}  {:>6.1}",
                        w.sensor_id,
                        clock(w.window_start),
                        clock(w.window_end),
                        w.avg,
                        w.count,
                        w.min,
                        w.max
                    );
                }
                Some(Err(e)) => tracing::warn!("viewer: undecodable result at offset {}: {e}", m.offset()),
                None => {}
            },
            Some(Err(e)) => tracing::warn!("viewer: {e}"),
            None => {}
        }
    }
    Ok(shown)
}

/// `HH:MM:SS` (UTC) of an epoch-millisecond timestamp.
fn clock(ms: i64) -> String {
    let s = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}
