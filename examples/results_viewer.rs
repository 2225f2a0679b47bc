//! The results viewer on its own: reads the output topic of `temperature_averages` and prints
//! a live table, one row per closed window (sensor, window, average, count, min, max).
//!
//! ```sh
//! cargo run --example results_viewer -- --bootstrap-servers 127.0.0.1:9092
//! ```
//!
//! It reads committed records only (`isolation.level=read_committed`, so under exactly-once it
//! never shows a result that is later aborted) from the earliest offset its consumer group has
//! not seen, and commits nothing: every run with a fresh `--group` shows the whole topic. It
//! stops on SIGINT (Ctrl-C) or SIGTERM through `kstreams::runtime::shutdown`, after showing
//! what arrives in the next few seconds.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use kstreams::runtime::listen_for_signals;
use kstreams::runtime::ShutdownHandle;
use kstreams_example::viewer;

/// Command-line flags.
#[derive(Parser, Debug)]
#[command(version, about = "Prints the per-sensor window averages of temperature_averages as a live table")]
struct Args {
    /// Kafka bootstrap servers (host:port, comma separated).
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap_servers: String,
    /// Topic the averages are written to.
    #[arg(long, default_value = "sensor-averages")]
    topic: String,
    /// Consumer group of the viewer (default: a new one per run, so the whole topic is shown).
    #[arg(long)]
    group: Option<String>,
    /// Print the header again every this many rows (0 = only once).
    #[arg(long, default_value_t = 25)]
    header_every: u64,
    /// Stop after this many seconds (0 = run until SIGINT or SIGTERM).
    #[arg(long, default_value_t = 0)]
    duration: u64,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,librdkafka=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let shutdown = ShutdownHandle::new();
    listen_for_signals(&shutdown)?;
    let group = match &args.group {
        Some(g) => g.clone(),
        None => format!("results-viewer-{}", SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis()),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let shown = Arc::new(AtomicU64::new(0));
    let viewer = {
        let (stop, shown) = (stop.clone(), shown.clone());
        let (servers, topic, every) = (args.bootstrap_servers.clone(), args.topic.clone(), args.header_every);
        std::thread::spawn(move || viewer::view(&servers, &topic, &group, every, &stop, &shown))
    };
    let started = Instant::now();
    let mut last = (Instant::now(), 0u64);
    while !viewer.is_finished() {
        let signalled = shutdown.reason().is_some();
        if signalled || (args.duration > 0 && started.elapsed() >= Duration::from_secs(args.duration)) {
            stop.store(true, Ordering::SeqCst);
        }
        if last.0.elapsed() >= Duration::from_secs(30) {
            let n = shown.load(Ordering::Relaxed);
            let rate = (n - last.1) as f64 / last.0.elapsed().as_secs_f64();
            tracing::info!(results = n, per_second = format!("{rate:.1}"), "progress");
            last = (Instant::now(), n);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    viewer.join().map_err(|_| anyhow::anyhow!("viewer thread panicked"))??;
    eprintln!("{} results shown", shown.load(Ordering::Relaxed));
    Ok(())
}
