//! Log output of the programs.

/// Logs through `tracing` at `info` (librdkafka at `warn`) unless `RUST_LOG` says otherwise.
/// Does nothing when a global subscriber is already installed.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,librdkafka=warn")),
        )
        .try_init();
}
