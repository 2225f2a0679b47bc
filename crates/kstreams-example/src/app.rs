//! The `temperature_averages` program: its flags ([`Args`]) and its run ([`run`]), here rather
//! than in the example so that a test can run exactly what the example's `main` runs (in a
//! child process, to send it signals).
//!
//! With no `--bootstrap-servers` it runs everything in one process on an embedded
//! Kafka-protocol cluster (librdkafka's mock cluster): the [simulator](crate::simulator), the
//! application and the [viewer](crate::viewer). With `--bootstrap-servers` it runs only the
//! application against that cluster. Either way it runs until `--duration` passes, the
//! [`ShutdownHandle`] it is given is triggered (the example's `main` triggers it on SIGINT and
//! SIGTERM, through [`kstreams::runtime::listen_for_signals`]) or something fails,
//! and it then closes the instance cleanly: the final commit, checkpoints, leaving the group.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use kstreams::http::{install_prometheus_recorder, metrics_router, not_found, HttpServer, PrometheusHandle};
use kstreams::prelude::*;
use kstreams::runtime::{KafkaStreams, ProcessingGuarantee, ShutdownHandle, State, StreamsConfig};
use kstreams::sink::SqliteSink;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use crate::progress::Progress;
use crate::simulator::{Compression, Publish, Simulation};
use crate::{temperature_averages, TemperatureSettings};

/// How often the run checks for its end while it waits.
const POLL: Duration = Duration::from_millis(100);
/// How long closing the instance may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Command-line flags of `temperature_averages`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "temperature_averages",
    version,
    about = "Per-sensor windowed temperature averages over Kafka (the seed tutorial's pipeline)"
)]
pub struct Args {
    /// Kafka bootstrap servers. Without it, an embedded cluster runs in this process together
    /// with a sensor simulator and a viewer.
    #[arg(long)]
    pub bootstrap_servers: Option<String>,
    /// Topic the sensors write to.
    #[arg(long, default_value = "eventos_sensores")]
    pub input_topic: String,
    /// Topic the window results go to.
    #[arg(long, default_value = "sensor-averages")]
    pub output_topic: String,
    /// Consumer group and prefix of internal topics; instances sharing it share the work.
    #[arg(long, default_value = "temperature-averages")]
    pub application_id: String,
    /// Where RocksDB state lives (default: a temporary directory in embedded mode,
    /// `./state` otherwise).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// `at_least_once` or `exactly_once_v2`.
    #[arg(long, default_value = "at_least_once")]
    pub processing_guarantee: String,
    /// Stream threads of this instance.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// How often progress is committed, in milliseconds (`commit.interval.ms`). Stopping
    /// commits too.
    #[arg(long, default_value_t = 1000)]
    pub commit_interval_ms: u64,
    /// Window size in seconds.
    #[arg(long, default_value_t = 60)]
    pub window: u64,
    /// Grace period for late readings, in seconds.
    #[arg(long, default_value_t = 10)]
    pub grace: u64,
    /// Embedded mode: number of simulated sensors.
    #[arg(long, default_value_t = 8)]
    pub sensors: u32,
    /// Embedded mode: readings per second, all sensors together.
    #[arg(long, default_value_t = 200)]
    pub rate: u32,
    /// Embedded mode: how much faster than the wall clock event time runs.
    #[arg(long, default_value_t = 10)]
    pub speedup: u32,
    /// Partitions of the input topic (embedded mode).
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
    /// Stop after this many seconds (0 = run until SIGINT or SIGTERM). Embedded mode
    /// defaults to 40.
    #[arg(long)]
    pub duration: Option<u64>,
    /// Also store every window result in this SQLite file (table `sensor_averages`, one row
    /// per sensor and window, upserted so replays never duplicate rows).
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics and interactive queries at
    /// http://ADDR/sensors/ID/latest and http://ADDR/sensors/ID/windows?from=MS&to=MS (JSON).
    /// Any IP:PORT; nothing is authenticated, so prefer a loopback or private address.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// HOST:PORT at which other instances reach this one's HTTP server, to redirect queries
    /// for its sensors (`application.server`). Default: `--metrics-addr`, unless that is a
    /// wildcard address (0.0.0.0, ::) or port 0, which cannot be announced.
    #[arg(long, value_name = "HOST:PORT")]
    pub application_server: Option<String>,
    /// Any Kafka Streams setting, as `KEY=VALUE` (repeatable), e.g.
    /// `--config default.deserialization.exception.handler=dead_letter:bad-readings` or
    /// `--config consumer.session.timeout.ms=10000`. Applied after the flags above, so it wins
    /// over them; an unknown or invalid setting fails at start-up, naming it.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
}

impl Args {
    /// The consumer's liveness settings given with `--config` (`consumer.session.timeout.ms`,
    /// `consumer.heartbeat.interval.ms`), as librdkafka names: the database writer's consumer
    /// follows them too, so after a crash its group hands the partitions on as fast as the
    /// application's does.
    fn liveness_settings(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut settings = Vec::new();
        for setting in &self.config {
            let Some((key, value)) = setting.split_once('=') else {
                anyhow::bail!("--config: expected KEY=VALUE, got `{setting}`");
            };
            let key = key.trim();
            let name = key.strip_prefix("consumer.").unwrap_or(key);
            if matches!(name, "session.timeout.ms" | "heartbeat.interval.ms") {
                settings.push((name.to_string(), value.trim().to_string()));
            }
        }
        Ok(settings)
    }

    /// The `--processing-guarantee`.
    fn guarantee(&self) -> anyhow::Result<ProcessingGuarantee> {
        match self.processing_guarantee.as_str() {
            "at_least_once" => Ok(ProcessingGuarantee::AtLeastOnce),
            "exactly_once_v2" => Ok(ProcessingGuarantee::ExactlyOnceV2),
            other => {
                anyhow::bail!(
                    "--processing-guarantee: expected at_least_once or exactly_once_v2, got `{other}`"
                )
            }
        }
    }

    /// The `application.server` to announce, if any.
    fn application_server(&self) -> Option<String> {
        if let Some(server) = &self.application_server {
            return Some(server.clone());
        }
        let addr = self.metrics_addr?;
        if addr.ip().is_unspecified() || addr.port() == 0 {
            tracing::warn!(
                %addr,
                "--metrics-addr cannot be announced to other instances; set --application-server \
                 for redirects of queries between instances"
            );
            return None;
        }
        Some(addr.to_string())
    }
}

/// Runs the program with `args` until `--duration` passes, `shutdown` is triggered or
/// something fails; then closes the instance (final commit) and its helpers.
pub fn run(args: &Args, shutdown: &ShutdownHandle) -> anyhow::Result<()> {
    let guarantee = args.guarantee()?;
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
    // Also without `--metrics-addr`: the progress line reads the same figures.
    let metrics = match install_prometheus_recorder() {
        Ok(handle) => Some(handle),
        Err(e) if args.metrics_addr.is_none() => {
            tracing::warn!(error = %e, "no metrics recorder; the progress line shows tasks only");
            None
        }
        Err(e) => return Err(e.into()),
    };
    let run = Run { args, guarantee, metrics, shutdown };
    match &args.bootstrap_servers {
        Some(servers) => run.on_cluster(servers, topology),
        None => run.embedded(topology),
    }
}

/// One run's settings.
struct Run<'a> {
    args: &'a Args,
    guarantee: ProcessingGuarantee,
    metrics: Option<PrometheusHandle>,
    shutdown: &'a ShutdownHandle,
}

impl Run<'_> {
    fn config(&self, servers: &str, state_dir: PathBuf) -> anyhow::Result<StreamsConfig> {
        let args = self.args;
        let mut builder = StreamsConfig::builder(args.application_id.clone(), servers)
            .state_dir(state_dir)
            .num_stream_threads(args.threads)
            .processing_guarantee(self.guarantee)
            .commit_interval(Duration::from_millis(args.commit_interval_ms))
            // A reading that is not JSON is logged, counted and skipped: one broken sensor must
            // not stop the pipeline (kstreams' default, as Kafka's, is to fail).
            .deserialization_handler("log_and_continue");
        // How other instances redirect queries for this one's sensors.
        if let Some(server) = args.application_server() {
            builder = builder.application_server(server);
        }
        for setting in &args.config {
            let Some((key, value)) = setting.split_once('=') else {
                anyhow::bail!("--config: expected KEY=VALUE, got `{setting}`");
            };
            builder = builder.set(key.trim(), value.trim());
        }
        Ok(builder.build()?)
    }

    /// With `--metrics-addr`, serves `/metrics` and the interactive queries of `streams`.
    fn start_http(&self, streams: &KafkaStreams) -> anyhow::Result<Option<HttpServer>> {
        let (Some(addr), Some(handle)) = (self.args.metrics_addr, self.metrics.clone()) else {
            return Ok(None);
        };
        let window_ms = i64::try_from(self.args.window.saturating_mul(1000)).unwrap_or(i64::MAX);
        let routes = crate::queries::queries_router(streams.queries(), window_ms)
            .merge(metrics_router(handle))
            .fallback(not_found);
        let server = HttpServer::start(addr, routes).context("--metrics-addr")?;
        let at = server.local_addr();
        println!(
            "metrics at http://{at}/metrics, queries at http://{at}/sensors/<id>/latest and /sensors/<id>/windows"
        );
        Ok(Some(server))
    }

    /// Waits until the run ends: `shutdown` triggered, `deadline` passed or a helper thread
    /// finished (`helper_done`; its error is reported when it is joined); an error when the
    /// instance failed. Calls `progress` now and then.
    fn wait_for_end(
        &self,
        streams: &KafkaStreams,
        deadline: Option<Instant>,
        helper_done: impl Fn() -> bool,
        every: Duration,
        mut progress: impl FnMut(),
    ) -> anyhow::Result<()> {
        let mut last_report = Instant::now();
        loop {
            if let Some(reason) = self.shutdown.wait_timeout(POLL) {
                tracing::info!(?reason, "stopping");
                return Ok(());
            }
            if streams.state() == State::Error {
                anyhow::bail!("stream processing failed: {}", streams.error().unwrap_or_default());
            }
            if helper_done() {
                tracing::warn!("a helper thread stopped; stopping");
                return Ok(());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                tracing::info!("--duration passed; stopping");
                return Ok(());
            }
            if last_report.elapsed() >= every {
                progress();
                last_report = Instant::now();
            }
        }
    }

    /// Closes the instance: commit, close tasks (checkpoints), leave the group.
    fn close(streams: &mut KafkaStreams) -> anyhow::Result<()> {
        streams.close_timeout(CLOSE_TIMEOUT)?;
        tracing::info!("instance closed cleanly");
        Ok(())
    }

    fn on_cluster(&self, servers: &str, topology: Arc<Topology>) -> anyhow::Result<()> {
        let args = self.args;
        let dir = args.state_dir.clone().unwrap_or_else(|| PathBuf::from("state"));
        let mut streams = KafkaStreams::new(topology, self.config(servers, dir)?);
        let _http = self.start_http(&streams)?;
        streams.set_state_listener(|new, old| tracing::info!("state {old:?} -> {new:?}"));
        streams.start()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stored = Arc::new(AtomicU64::new(0));
        let db = start_db_writer(args, servers, &stop, &stored)?;
        let deadline = args.duration.filter(|d| *d > 0).map(|d| Instant::now() + Duration::from_secs(d));
        let mut progress = self.metrics.clone().map(Progress::new);
        let ended = self.wait_for_end(
            &streams,
            deadline,
            || db.as_ref().is_some_and(JoinHandle::is_finished),
            Duration::from_secs(10),
            || {
                let tasks = streams.active_tasks().len();
                let line =
                    progress.as_mut().map_or_else(|| format!("progress tasks={tasks}"), |p| p.line(tasks));
                match &db {
                    Some(_) => tracing::info!("{line} rows_stored={}", stored.load(Ordering::Relaxed)),
                    None => tracing::info!("{line}"),
                }
            },
        );
        stop.store(true, Ordering::SeqCst);
        ended?;
        Self::close(&mut streams)?;
        join_db_writer(db, &stored)
    }

    fn embedded(&self, topology: Arc<Topology>) -> anyhow::Result<()> {
        let args = self.args;
        let cluster =
            MockCluster::<DefaultProducerContext>::new(1).context("starting the embedded cluster")?;
        let servers = cluster.bootstrap_servers();
        cluster.create_topic(&args.input_topic, args.partitions, 1).context("creating the input topic")?;
        cluster.create_topic(&args.output_topic, args.partitions, 1).context("creating the output topic")?;
        println!("embedded Kafka-protocol cluster at {servers}");

        let tmp = tempfile::tempdir()?;
        let dir = args.state_dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
        let mut streams = KafkaStreams::new(topology, self.config(&servers, dir)?);
        let _http = self.start_http(&streams)?;
        streams.start_with_topic_creator(&cluster)?;

        let stop = Arc::new(AtomicBool::new(false));
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
            std::thread::spawn(move || crate::simulator::run(sim, publish, None, &stop, &sent))
        };
        let shown = Arc::new(AtomicU64::new(0));
        let viewer = {
            let (stop, shown) = (stop.clone(), shown.clone());
            let (servers, topic) = (servers.clone(), args.output_topic.clone());
            std::thread::spawn(move || {
                crate::viewer::view(&servers, &topic, "temperature-viewer", 0, &stop, &shown)
            })
        };
        let stored = Arc::new(AtomicU64::new(0));
        let db = start_db_writer(args, &servers, &stop, &stored)?;

        let started = Instant::now();
        let duration = Duration::from_secs(args.duration.unwrap_or(40));
        let deadline = (!duration.is_zero()).then(|| started + duration);
        let ended = self.wait_for_end(
            &streams,
            deadline,
            || simulator.is_finished() || db.as_ref().is_some_and(JoinHandle::is_finished),
            Duration::from_secs(5),
            || {
                let n = sent.load(Ordering::Relaxed);
                tracing::info!(
                    readings_sent = n,
                    rate = n as f64 / started.elapsed().as_secs_f64(),
                    "progress"
                );
            },
        );
        stop.store(true, Ordering::SeqCst);
        ended?;
        simulator.join().map_err(|_| anyhow::anyhow!("simulator thread panicked"))??;
        Self::close(&mut streams)?;
        viewer.join().map_err(|_| anyhow::anyhow!("viewer thread panicked"))??;
        join_db_writer(db, &stored)?;
        println!(
            "{} readings sent, {} window averages received",
            sent.load(Ordering::Relaxed),
            shown.load(Ordering::Relaxed)
        );
        Ok(())
    }
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
    let client = args.liveness_settings()?;
    let (stop, stored) = (stop.clone(), stored.clone());
    Ok(Some(std::thread::spawn(move || {
        crate::store::store_results(&servers, &topic, &group, &client, &mut sink, &stop, &stored)
    })))
}

fn join_db_writer(db: Option<JoinHandle<anyhow::Result<()>>>, stored: &AtomicU64) -> anyhow::Result<()> {
    if let Some(t) = db {
        t.join().map_err(|_| anyhow::anyhow!("database writer panicked"))?.context("--db")?;
        println!("{} results stored in the database", stored.load(Ordering::Relaxed));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap
    use super::*;

    fn args(flags: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("temperature_averages").chain(flags.iter().copied())).unwrap()
    }

    #[test]
    fn the_announced_server_is_the_metrics_address_unless_it_is_a_wildcard() {
        assert_eq!(args(&[]).application_server(), None);
        assert_eq!(
            args(&["--metrics-addr", "10.0.0.5:9464"]).application_server().as_deref(),
            Some("10.0.0.5:9464")
        );
        assert_eq!(args(&["--metrics-addr", "0.0.0.0:9464"]).application_server(), None);
        assert_eq!(args(&["--metrics-addr", "127.0.0.1:0"]).application_server(), None);
        let both = args(&["--metrics-addr", "0.0.0.0:9464", "--application-server", "host-1:9464"]);
        assert_eq!(both.application_server().as_deref(), Some("host-1:9464"));
    }

    #[test]
    fn guarantees_are_named_as_in_kafka_streams() {
        assert_eq!(args(&[]).guarantee().unwrap(), ProcessingGuarantee::AtLeastOnce);
        let set = args(&["--config", "commit.interval.ms=5", "--config", "consumer.session.timeout.ms=6000"]);
        assert_eq!(set.config, vec!["commit.interval.ms=5", "consumer.session.timeout.ms=6000"]);
        let liveness = set.liveness_settings().unwrap();
        assert_eq!(liveness, vec![("session.timeout.ms".to_string(), "6000".to_string())]);
        let eos = args(&["--processing-guarantee", "exactly_once_v2"]);
        assert_eq!(eos.guarantee().unwrap(), ProcessingGuarantee::ExactlyOnceV2);
        assert!(args(&["--processing-guarantee", "twice"]).guarantee().is_err());
    }
}
