//! Dev-only test harness: gives an integration-test binary its own Kafka-protocol broker.
//!
//! [`TestBroker::start`] runs Nisshi (the `nisshi` crate, the pinned
//! [`NISSHI_VERSION`], installed by `scripts/install-broker.sh`) on a free port of 127.0.0.1,
//! waits until it answers metadata requests, creates topics through rdkafka's `AdminClient`
//! and kills the broker when dropped, also when the test panics. Nothing in kstreams depends
//! on Nisshi: the tests talk to it only through standard Kafka APIs, so the same tests run on
//! Apache Kafka or Redpanda by naming a cluster in [`BOOTSTRAP_ENV`] (then no broker is
//! started and [`TestBroker::restart`] is unavailable).
//!
//! ```no_run
//! use kstreams_broker_harness::TestBroker;
//!
//! let broker = TestBroker::start()?;
//! broker.create_topic("readings", 3)?;
//! let servers = broker.bootstrap(); // "127.0.0.1:PORT"
//! # let _ = servers;
//! # Ok::<(), kstreams_broker_harness::HarnessError>(())
//! ```
#![deny(missing_docs)]

use std::fs::File;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

/// The Nisshi version the project tests against.
pub const NISSHI_VERSION: &str = "0.8.1";
/// Environment variable naming an external cluster (`host:port,...`) to use instead of Nisshi.
pub const BOOTSTRAP_ENV: &str = "KSTREAMS_TEST_BOOTSTRAP";
/// Environment variable naming the `nisshi` binary; otherwise `PATH`, then `~/.cargo/bin`.
pub const BIN_ENV: &str = "NISSHI_BIN";

/// How long a started broker may take to answer metadata requests.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts to start on a fresh port when the broker exits right away (port taken meanwhile).
const START_ATTEMPTS: usize = 3;

/// What went wrong starting or using a test broker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// No `nisshi` binary was found.
    #[error(
        "the nisshi binary was not found (set {BIN_ENV}, put it on PATH or run scripts/install-broker.sh)"
    )]
    BinaryNotFound,
    /// The broker process could not be spawned, or a local file could not be prepared.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
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
    /// The operation needs a broker started by the harness, but an external cluster is used.
    #[error(
        "{operation} needs a broker started by the harness, but {BOOTSTRAP_ENV} names an external cluster"
    )]
    External {
        /// The operation.
        operation: &'static str,
    },
}

/// Result of harness operations.
pub type Result<T> = std::result::Result<T, HarnessError>;

/// Where a started broker keeps its data.
#[derive(Debug, Clone)]
enum Storage {
    Memory,
    Sqlite(PathBuf),
}

impl Storage {
    fn url(&self) -> String {
        match self {
            Storage::Memory => "memory://nisshi/".to_string(),
            // Nisshi opens the file relative to its working directory (the URL's path without
            // its leading `/`), so the broker runs in the file's directory.
            Storage::Sqlite(file) => format!(
                "sqlite:///{}?maintenance_interval=2s",
                file.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
            ),
        }
    }

    fn working_dir(&self) -> Option<&Path> {
        match self {
            Storage::Memory => None,
            Storage::Sqlite(file) => file.parent(),
        }
    }
}

/// How to start the broker process; kept to start it again on the same port.
struct Launch {
    binary: PathBuf,
    port: u16,
    storage: Storage,
    log: PathBuf,
    /// Holds the log file; removed on drop.
    _dir: tempfile::TempDir,
}

/// A broker process started by the harness.
struct Process {
    launch: Launch,
    child: Child,
}

/// A Kafka-protocol broker for one test binary: a Nisshi process on 127.0.0.1 (killed on
/// drop), or the external cluster named by [`BOOTSTRAP_ENV`].
pub struct TestBroker {
    bootstrap: String,
    process: Option<Process>,
}

impl std::fmt::Debug for TestBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestBroker").field("bootstrap", &self.bootstrap).field("pid", &self.pid()).finish()
    }
}

impl TestBroker {
    /// A broker with in-memory storage (data is lost on [`Self::restart`]), or the external
    /// cluster named by [`BOOTSTRAP_ENV`].
    pub fn start() -> Result<Self> {
        Self::launch(Storage::Memory)
    }

    /// A broker keeping its data in the SQLite file `path`, so it survives [`Self::restart`]
    /// (and compacts topics); or the external cluster named by [`BOOTSTRAP_ENV`].
    pub fn start_sqlite(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|source| HarnessError::Io { what: "reading the current directory".into(), source })?
                .join(path)
        };
        Self::launch(Storage::Sqlite(path))
    }

    fn launch(storage: Storage) -> Result<Self> {
        if let Some(servers) = external_bootstrap() {
            let broker = Self { bootstrap: servers, process: None };
            broker.wait_for_metadata(Instant::now() + READY_TIMEOUT, None)?;
            return Ok(broker);
        }
        let binary = find_binary().ok_or(HarnessError::BinaryNotFound)?;
        let dir = tempfile::Builder::new().prefix("kstreams-broker-").tempdir().map_err(|source| {
            HarnessError::Io { what: "creating the broker's log directory".into(), source }
        })?;
        let log = dir.path().join("nisshi.log");
        let mut launch = Launch { binary, port: 0, storage, log, _dir: dir };
        let mut attempt = 1;
        loop {
            launch.port = free_port()?;
            match Self::spawn_and_wait(launch) {
                Ok(broker) => return Ok(broker),
                Err(failed) if attempt >= START_ATTEMPTS => return Err(failed.1),
                Err(failed) => launch = failed.0,
            }
            attempt += 1;
        }
    }

    /// Spawns the broker on `launch.port` and waits until it is ready; on failure kills it and
    /// hands `launch` back for another attempt.
    fn spawn_and_wait(launch: Launch) -> std::result::Result<Self, Box<(Launch, HarnessError)>> {
        let child = match spawn(&launch.binary, launch.port, &launch.storage, &launch.log) {
            Ok(child) => child,
            Err(e) => return Err(Box::new((launch, e))),
        };
        let mut broker = Self {
            bootstrap: format!("127.0.0.1:{}", launch.port),
            process: Some(Process { launch, child }),
        };
        match broker.wait_ready() {
            Ok(()) => Ok(broker),
            Err(e) => match broker.process.take() {
                Some(mut p) => {
                    let _ = p.child.kill();
                    let _ = p.child.wait();
                    Err(Box::new((p.launch, e)))
                }
                None => unreachable!("the process was just set"),
            },
        }
    }

    /// `127.0.0.1:PORT` (or the value of [`BOOTSTRAP_ENV`]), for `bootstrap.servers`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Whether this is an external cluster named by [`BOOTSTRAP_ENV`].
    pub fn is_external(&self) -> bool {
        self.process.is_none()
    }

    /// The broker's process id, when the harness started it.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.child.id())
    }

    /// The broker's log file, when the harness started it.
    pub fn log_path(&self) -> Option<&Path> {
        self.process.as_ref().map(|p| p.launch.log.as_path())
    }

    /// A client config with `bootstrap.servers` set.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap);
        c
    }

    /// Creates `name` with `partitions` partitions through the Kafka AdminClient (an existing
    /// topic is accepted) and waits until the metadata shows all its partitions.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        let fail = |detail: String| HarnessError::CreateTopic { topic: name.to_string(), detail };
        let admin: AdminClient<DefaultClientContext> =
            self.client_config().create().map_err(|e| fail(format!("creating the admin client: {e}")))?;
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let timeout = Some(Duration::from_secs(30));
        let options = AdminOptions::new().operation_timeout(timeout).request_timeout(timeout);
        let results = futures::executor::block_on(admin.create_topics([&topic], &options))
            .map_err(|e| fail(format!("CreateTopics failed: {e}")))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => return Err(fail(format!("the broker answered {code}"))),
            }
        }
        self.wait_for_metadata(Instant::now() + Duration::from_secs(30), Some((name, partitions)))
            .map_err(|e| fail(e.to_string()))
    }

    /// Kills the broker (SIGKILL) and starts it again on the same port with the same storage;
    /// waits until it answers. Data survives only with [`Self::start_sqlite`].
    pub fn restart(&mut self) -> Result<()> {
        let Some(Process { mut launch, mut child }) = self.process.take() else {
            return Err(HarnessError::External { operation: "restart" });
        };
        let _ = child.kill();
        let _ = child.wait();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match Self::spawn_and_wait(launch) {
                Ok(broker) => {
                    *self = broker;
                    return Ok(());
                }
                // The port may need a moment to be released.
                Err(failed) if Instant::now() >= deadline => return Err(failed.1),
                Err(failed) => {
                    launch = failed.0;
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let addr: SocketAddr =
            self.bootstrap.parse().map_err(|e| self.not_ready(format!("bad address: {e}")))?;
        loop {
            if let Some(p) = self.process.as_mut() {
                if let Ok(Some(status)) = p.child.try_wait() {
                    return Err(self.not_ready(format!("the broker exited with {status}")));
                }
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(self.not_ready(format!("the port did not accept within {READY_TIMEOUT:?}")));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.wait_for_metadata(deadline, None)
    }

    /// Waits until a metadata request succeeds (and, with `topic`, shows it with its
    /// partition count, each partition with a leader).
    fn wait_for_metadata(&self, deadline: Instant, topic: Option<(&str, i32)>) -> Result<()> {
        let consumer: BaseConsumer = self
            .client_config()
            .create()
            .map_err(|e| self.not_ready(format!("creating a metadata client: {e}")))?;
        let mut last;
        loop {
            match consumer.fetch_metadata(topic.map(|(t, _)| t), Duration::from_secs(2)) {
                Ok(md) => match topic {
                    None if !md.brokers().is_empty() => return Ok(()),
                    None => last = "no brokers in the metadata".into(),
                    Some((name, partitions)) => {
                        let t = md.topics().iter().find(|t| t.name() == name);
                        match t {
                            Some(t)
                                if t.error().is_none()
                                    && t.partitions().len() == partitions as usize
                                    && t.partitions().iter().all(|p| p.leader() >= 0) =>
                            {
                                return Ok(())
                            }
                            Some(t) => {
                                last = format!("{} partitions, error {:?}", t.partitions().len(), t.error())
                            }
                            None => last = "not in the metadata".into(),
                        }
                    }
                },
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                return Err(self.not_ready(format!("metadata: {last}")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn not_ready(&self, detail: String) -> HarnessError {
        let (log, log_tail) = match &self.process {
            Some(p) => (p.launch.log.display().to_string(), tail(&p.launch.log, 40)),
            None => ("(external cluster)".into(), String::new()),
        };
        HarnessError::NotReady { bootstrap: self.bootstrap.clone(), detail, log, log_tail }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(p) = self.process.as_mut() {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}

/// A name unique to this process and call, for topics and application ids, so that tests
/// against a long-lived external cluster never see a previous run's data.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    format!("{prefix}-{}-{millis}-{n}", std::process::id())
}

fn external_bootstrap() -> Option<String> {
    std::env::var(BOOTSTRAP_ENV).ok().filter(|s| !s.trim().is_empty())
}

/// `NISSHI_BIN`, then `nisshi` on `PATH`, then `$CARGO_HOME/bin` or `~/.cargo/bin`.
pub fn find_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os(BIN_ENV) {
        return Some(PathBuf::from(bin));
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|d| d.join("nisshi")).collect::<Vec<_>>())
        .unwrap_or_default();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    on_path.into_iter().chain(cargo_home.map(|c| c.join("bin").join("nisshi"))).find(|p| p.is_file())
}

/// A port of 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|source| HarnessError::Io { what: "finding a free port".into(), source })?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| HarnessError::Io { what: "finding a free port".into(), source })
}

fn spawn(binary: &Path, port: u16, storage: &Storage, log: &Path) -> Result<Child> {
    let io = |what: &str, source| HarnessError::Io { what: format!("{what} {}", log.display()), source };
    let out = File::options().create(true).append(true).open(log).map_err(|e| io("opening", e))?;
    let err = out.try_clone().map_err(|e| io("opening", e))?;
    let url = format!("tcp://127.0.0.1:{port}");
    let mut command = Command::new(binary);
    if let Some(dir) = storage.working_dir() {
        command.current_dir(dir);
    }
    command
        .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
        .args(["--storage-engine", &storage.url(), "--group-initial-rebalance-delay", "0s"])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|source| HarnessError::Io { what: format!("starting {}", binary.display()), source })
}

/// The last `lines` lines of `file`.
fn tail(file: &Path, lines: usize) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(file) {
        let _ = f.read_to_string(&mut text);
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
