//! Dev-only test harness: gives integration tests and benchmarks a real Apache Kafka broker.
//!
//! [`TestBroker::start`] formats a fresh data directory and runs one Apache Kafka node (KRaft,
//! broker and controller in one JVM, the pinned [`KAFKA_VERSION`]) on two free ports of
//! 127.0.0.1, waits until it answers metadata requests, creates topics through rdkafka's
//! `AdminClient`, and kills the broker when dropped, also when the test panics.
//! [`TestBroker::shared`] gives every test of one test binary the same broker (tests use
//! [`unique_name`]s, so they never see each other's topics or groups); a test that restarts,
//! stops or pauses the broker starts its own.
//!
//! Kafka's jars come from Maven Central (`scripts/install-broker.sh`, run here when they are
//! missing) into `${KSTREAMS_CACHE_DIR:-~/.cache/kstreams}/kafka-<version>/libs`, or from
//! [`KAFKA_HOME_ENV`]. Every broker process is watched by a small shell loop that kills it
//! (and removes its data) if the test process dies without dropping it — a test binary that
//! is itself killed leaves no broker behind. Nothing in kstreams depends on the harness: the
//! tests talk to the broker through standard Kafka APIs only, so the same tests run on any
//! cluster named in [`BOOTSTRAP_ENV`] (then no broker is started, and restarting it is
//! unavailable).
//!
//! ```no_run
//! use kstreams_broker_harness::TestBroker;
//!
//! let broker = TestBroker::shared()?;
//! broker.create_topic("readings", 3)?;
//! let servers = broker.bootstrap(); // "127.0.0.1:PORT"
//! # let _ = servers;
//! # Ok::<(), kstreams_broker_harness::HarnessError>(())
//! ```
#![deny(missing_docs)]

mod broker;
mod cluster;
mod node;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

pub use broker::TestBroker;
pub use cluster::TestCluster;

/// The Apache Kafka version the project tests against (`scripts/kafka/pom.xml` pins the same).
pub const KAFKA_VERSION: &str = "4.2.2";
/// Environment variable naming an external cluster (`host:port,...`) to use instead.
pub const BOOTSTRAP_ENV: &str = "KSTREAMS_TEST_BOOTSTRAP";
/// Environment variable naming a Kafka home (a directory with `libs/*.jar`) to use instead of
/// the cache directory `scripts/install-broker.sh` fills.
pub const KAFKA_HOME_ENV: &str = "KSTREAMS_KAFKA_HOME";

/// What went wrong starting or using a test broker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// Kafka's jars are not installed and installing them failed.
    #[error("Apache Kafka {KAFKA_VERSION} is not installed at {home} and scripts/install-broker.sh failed: {detail}")]
    NotInstalled {
        /// Where the jars were looked for.
        home: String,
        /// What the installation said.
        detail: String,
    },
    /// A process could not be spawned, or a local file could not be prepared.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Formatting the broker's storage failed.
    #[error("formatting the broker's storage in {dir} failed ({status}):\n{output}")]
    Format {
        /// The data directory.
        dir: String,
        /// The tool's exit status.
        status: String,
        /// What it printed.
        output: String,
    },
    /// The broker did not become ready.
    #[error("broker at {bootstrap} not ready: {detail}\n--- last lines of {log} ---\n{log_tail}")]
    NotReady {
        /// The address it should listen on.
        bootstrap: String,
        /// What was observed.
        detail: String,
        /// The broker's log file.
        log: String,
        /// The end of the broker's log.
        log_tail: String,
    },
    /// A topic could not be created.
    #[error("creating topic `{topic}`: {detail}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// What failed.
        detail: String,
    },
    /// The operation needs a broker started by the harness, but an external cluster is used
    /// (or the broker is stopped).
    #[error("{operation} needs a running broker started by the harness ({why})")]
    NotOwned {
        /// The operation.
        operation: &'static str,
        /// Why it is not available.
        why: &'static str,
    },
}

/// Result of harness operations.
pub type Result<T> = std::result::Result<T, HarnessError>;

/// A name unique to this process and call, for topics and application ids, so that tests
/// sharing a broker (or a long-lived external cluster) never see each other's data.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    format!("{prefix}-{}-{millis}-{n}", std::process::id())
}

fn external_bootstrap() -> Option<String> {
    std::env::var(BOOTSTRAP_ENV).ok().filter(|s| !s.trim().is_empty())
}

/// The Kafka home holding the pinned version's jars: [`KAFKA_HOME_ENV`], else the cache
/// directory, installed there by `scripts/install-broker.sh` when its broker jar is missing.
pub fn kafka_home() -> Result<PathBuf> {
    if let Some(home) = std::env::var_os(KAFKA_HOME_ENV) {
        return Ok(PathBuf::from(home));
    }
    let cache = std::env::var_os("KSTREAMS_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("kstreams")))
        .unwrap_or_else(|| std::env::temp_dir().join("kstreams-cache"));
    let home = cache.join(format!("kafka-{KAFKA_VERSION}"));
    let jar = home.join("libs").join(format!("kafka_2.13-{KAFKA_VERSION}.jar"));
    if jar.is_file() {
        return Ok(home);
    }
    // Once per process; the script installs into a temporary directory and renames it, so
    // processes racing here do not see half an installation.
    static INSTALL: Mutex<()> = Mutex::new(());
    let _once = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if jar.is_file() {
        return Ok(home);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/install-broker.sh");
    let fail = |detail: String| HarnessError::NotInstalled { home: home.display().to_string(), detail };
    let output = Command::new(&script)
        .env("KSTREAMS_CACHE_DIR", &cache)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| fail(format!("running {}: {e}", script.display())))?;
    if !output.status.success() || !jar.is_file() {
        return Err(fail(format!("{}\n{}", output.status, String::from_utf8_lossy(&output.stderr))));
    }
    Ok(home)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_is_the_one_the_install_script_downloads() {
        let pom = include_str!("../../../scripts/kafka/pom.xml");
        assert!(
            pom.contains(&format!("<kafka.version>{}</kafka.version>", super::KAFKA_VERSION)),
            "scripts/kafka/pom.xml pins another Kafka version than KAFKA_VERSION"
        );
    }
}
