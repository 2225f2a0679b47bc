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
//! window); `--metrics-addr IP:PORT` serves the runtime's metrics for Prometheus at
//! `/metrics` and interactive queries of this instance's windows at
//! `/sensors/<id>/latest` and `/sensors/<id>/windows?from=<ms>&to=<ms>` (JSON). The address
//! (or `--application-server`) is also the instance's `application.server`: asked for a
//! sensor another instance hosts, it redirects there. Both need the facade's features:
//! `cargo run --features sink,http --example temperature_averages`.
//!
//! It stops on SIGINT (Ctrl-C) and SIGTERM (`kill`, systemd, container runtimes) alike,
//! through `kstreams::runtime::shutdown`: the signal only triggers a [`ShutdownHandle`], and
//! the run then closes the instance as after `--duration` — final commit, checkpoints, leaving
//! the group — and exits 0. The program itself lives in `kstreams_example::app`, so that
//! `tests/example_signals.rs` runs exactly this `main` in a child process and signals it.

use clap::Parser;
use kstreams::runtime::listen_for_signals;
use kstreams::runtime::ShutdownHandle;
use kstreams_example::app::{run, Args};

fn main() -> anyhow::Result<()> {
    kstreams_example::init_tracing();
    let args = Args::parse();
    // From here on SIGINT and SIGTERM trigger `shutdown` instead of killing the process.
    let shutdown = ShutdownHandle::new();
    listen_for_signals(&shutdown)?;
    run(&args, &shutdown)
}
