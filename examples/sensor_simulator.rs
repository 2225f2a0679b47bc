//! The sensor simulator on its own, for running the pipeline on a real cluster:
//!
//! ```sh
//! cargo run --example sensor_simulator -- --bootstrap-servers 127.0.0.1:9092 --sensors 10 --rate 100
//! ```
//!
//! It publishes JSON exactly as the seed tutorial's Python producer does,
//! `{"sensor_id": 7, "temperatura": 21.4, "timestamp": 1764115200.53}` (seconds, float), with
//! `acks=all` and idempotence on. Records are unkeyed like the seed's (the application
//! re-keys them through a repartition topic); `--keyed` keys them by sensor id instead. The
//! readings are a pure function of the flags and the start time (see
//! `kstreams_example::simulator`), which is what lets the tests recompute every average
//! independently.
//!
//! It stops on SIGINT (Ctrl-C) or SIGTERM through `kstreams::runtime::shutdown`, after
//! flushing what it queued.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use kstreams::runtime::listen_for_signals;
use kstreams::runtime::ShutdownHandle;
use kstreams_example::simulator::{self, Compression, Publish, Simulation};

/// Command-line flags.
#[derive(Parser, Debug)]
#[command(
    version,
    about = "Publishes simulated temperature readings to Kafka, as the seed tutorial's sensors do"
)]
struct Args {
    /// Kafka bootstrap servers (host:port, comma separated).
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap_servers: String,
    /// Topic to publish to.
    #[arg(long, default_value = "eventos_sensores")]
    topic: String,
    /// Number of sensors (ids 0..N).
    #[arg(long, default_value_t = 8)]
    sensors: u32,
    /// Readings per second, all sensors together.
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// How much faster than the wall clock event time runs (1 = real time; 10 closes a
    /// one-minute window every 6 s).
    #[arg(long, default_value_t = 1)]
    speedup: u32,
    /// Key each record by its sensor id (as text). Without it records have no key, like the
    /// seed's producer.
    #[arg(long)]
    keyed: bool,
    /// Compression codec of the producer.
    #[arg(long, value_enum, default_value_t = Compression::None)]
    compression: Compression,
    /// Stop after this many readings (default: no limit).
    #[arg(long)]
    count: Option<u64>,
    /// Stop after this many seconds (0 = run until SIGINT, SIGTERM or --count).
    #[arg(long, default_value_t = 0)]
    duration: u64,
}

fn main() -> anyhow::Result<()> {
    kstreams_example::init_tracing();
    let args = Args::parse();
    let shutdown = ShutdownHandle::new();
    listen_for_signals(&shutdown)?;
    let sim = Simulation {
        sensors: args.sensors.max(1),
        rate: args.rate.max(1),
        speedup: args.speedup.max(1),
        epoch: SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64(),
    };
    let publish = Publish {
        servers: args.bootstrap_servers.clone(),
        topic: args.topic.clone(),
        keyed: args.keyed,
        compression: args.compression,
    };
    tracing::info!(?sim, topic = %args.topic, keyed = args.keyed, compression = args.compression.as_str(), "simulating");
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let worker = {
        let (stop, sent, limit) = (stop.clone(), sent.clone(), args.count);
        std::thread::spawn(move || simulator::run(sim, publish, limit, &stop, &sent))
    };
    let started = Instant::now();
    let mut last = (Instant::now(), 0u64);
    while !worker.is_finished() {
        let signalled = shutdown.reason().is_some();
        if signalled || (args.duration > 0 && started.elapsed() >= Duration::from_secs(args.duration)) {
            stop.store(true, Ordering::SeqCst);
        }
        if last.0.elapsed() >= Duration::from_secs(5) {
            let n = sent.load(Ordering::Relaxed);
            let rate = (n - last.1) as f64 / last.0.elapsed().as_secs_f64();
            tracing::info!(readings_sent = n, per_second = format!("{rate:.0}"), "progress");
            last = (Instant::now(), n);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    worker.join().map_err(|_| anyhow::anyhow!("simulator thread panicked"))??;
    let n = sent.load(Ordering::Relaxed);
    println!("{n} readings sent in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
