//! [`TestBroker`]: an Apache Kafka node for tests, or the external cluster.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

use crate::node::{free_ports, java_binary, tail, Node, READY_TIMEOUT, START_ATTEMPTS};
use crate::{external_bootstrap, kafka_home, HarnessError, Result};

/// A Kafka broker for tests: an Apache Kafka node on 127.0.0.1 started by the harness (killed
/// on drop), or the external cluster named by [`BOOTSTRAP_ENV`](crate::BOOTSTRAP_ENV).
pub struct TestBroker {
    bootstrap: String,
    node: Option<Node>,
    /// The running broker process; `None` while stopped (or for an external cluster).
    child: Mutex<Option<Child>>,
}

impl std::fmt::Debug for TestBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestBroker").field("bootstrap", &self.bootstrap).field("pid", &self.pid()).finish()
    }
}

impl TestBroker {
    /// A broker of its own (fresh storage, fresh ports), or the external cluster named by
    /// [`BOOTSTRAP_ENV`](crate::BOOTSTRAP_ENV). For a test that restarts, stops or pauses it; other tests should
    /// use [`Self::shared`].
    pub fn start() -> Result<Self> {
        if let Some(servers) = external_bootstrap() {
            let broker = Self { bootstrap: servers, node: None, child: Mutex::new(None) };
            broker.wait_for_metadata(Instant::now() + READY_TIMEOUT, None)?;
            return Ok(broker);
        }
        let home = kafka_home()?;
        let classpath = format!("{}/libs/*", home.display());
        let java = java_binary();
        let mut attempt = 1;
        loop {
            let dir = tempfile::Builder::new().prefix("kstreams-kafka-").tempdir().map_err(|source| {
                HarnessError::Io { what: "creating the broker's data directory".into(), source }
            })?;
            let (port, controller_port) = free_ports()?;
            let node = Node { java: java.clone(), classpath: classpath.clone(), port, controller_port, dir };
            node.configure()?;
            let broker = Self { bootstrap: node.bootstrap(), node: Some(node), child: Mutex::new(None) };
            match broker.run() {
                Ok(()) => return Ok(broker),
                Err(e) if attempt >= START_ATTEMPTS => return Err(e),
                Err(_) => attempt += 1,
            }
        }
    }

    /// The broker every test of this process shares, started at the first call (or the
    /// external cluster). It runs until the process exits; its watchdog then kills it.
    pub fn shared() -> Result<&'static TestBroker> {
        static SHARED: OnceLock<std::result::Result<TestBroker, String>> = OnceLock::new();
        SHARED.get_or_init(|| Self::start().map_err(|e| e.to_string())).as_ref().map_err(|e| {
            HarnessError::NotReady {
                bootstrap: String::new(),
                detail: format!("the shared broker failed to start: {e}"),
                log: String::new(),
                log_tail: String::new(),
            }
        })
    }

    /// Starts the broker process and waits until it is ready; kills it on failure.
    fn run(&self) -> Result<()> {
        let node = self
            .node
            .as_ref()
            .ok_or(HarnessError::NotOwned { operation: "starting", why: "an external cluster is used" })?;
        let child = node.spawn()?;
        *self.lock_child() = Some(child);
        let ready = self.wait_ready();
        if ready.is_err() {
            self.kill_process();
        }
        ready
    }

    fn lock_child(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `127.0.0.1:PORT` (or the value of [`BOOTSTRAP_ENV`](crate::BOOTSTRAP_ENV)), for `bootstrap.servers`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Whether this is an external cluster named by [`BOOTSTRAP_ENV`](crate::BOOTSTRAP_ENV).
    pub fn is_external(&self) -> bool {
        self.node.is_none()
    }

    /// The broker's process id, while the harness runs it.
    pub fn pid(&self) -> Option<u32> {
        self.lock_child().as_ref().map(Child::id)
    }

    /// The broker's log file, when the harness started it.
    pub fn log_path(&self) -> Option<PathBuf> {
        self.node.as_ref().map(Node::log)
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
        self.create_topic_with(name, partitions, &[])
    }

    /// [`Self::create_topic`] with topic configs, e.g. `("cleanup.policy", "compact")`.
    pub fn create_topic_with(&self, name: &str, partitions: i32, configs: &[(&str, &str)]) -> Result<()> {
        let fail = |detail: String| HarnessError::CreateTopic { topic: name.to_string(), detail };
        let admin: AdminClient<DefaultClientContext> =
            self.client_config().create().map_err(|e| fail(format!("creating the admin client: {e}")))?;
        let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        for (k, v) in configs {
            topic = topic.set(k, v);
        }
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

    /// Kills the broker (SIGKILL) and starts it again on the same ports with the same data
    /// (topics, offsets and transactions survive, as after a crash); waits until it answers.
    pub fn restart(&mut self) -> Result<()> {
        self.kill()?;
        self.start_again()
    }

    /// Kills the broker (SIGKILL): clients see it down until [`Self::start_again`].
    pub fn kill(&mut self) -> Result<()> {
        if self.node.is_none() {
            return Err(HarnessError::NotOwned { operation: "kill", why: "an external cluster is used" });
        }
        self.kill_process();
        Ok(())
    }

    /// Starts a killed broker again on its ports and data; waits until it answers.
    pub fn start_again(&mut self) -> Result<()> {
        if self.pid().is_some() {
            return Err(HarnessError::NotOwned { operation: "start_again", why: "the broker is running" });
        }
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.run() {
                Ok(()) => return Ok(()),
                // The ports may need a moment to be released.
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(500)),
            }
        }
    }

    /// Freezes the broker process (SIGSTOP): connections stay open but nothing is answered,
    /// as with a stalled broker or a network partition. [`Self::resume`] continues it.
    pub fn pause(&self) -> Result<()> {
        self.signal("-STOP", "pause")
    }

    /// Continues a paused broker (SIGCONT).
    pub fn resume(&self) -> Result<()> {
        self.signal("-CONT", "resume")
    }

    fn signal(&self, signal: &str, operation: &'static str) -> Result<()> {
        let pid = self.pid().ok_or(HarnessError::NotOwned { operation, why: "no broker process runs" })?;
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .map_err(|source| HarnessError::Io { what: format!("kill {signal} {pid}"), source })?;
        if status.success() {
            Ok(())
        } else {
            Err(HarnessError::Io {
                what: format!("kill {signal} {pid}"),
                source: std::io::Error::other(status.to_string()),
            })
        }
    }

    fn kill_process(&self) {
        if let Some(mut child) = self.lock_child().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let addr: SocketAddr =
            self.bootstrap.parse().map_err(|e| self.not_ready(format!("bad address: {e}")))?;
        loop {
            if let Some(child) = self.lock_child().as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
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
        let (log, log_tail) = match &self.node {
            Some(n) => {
                let stdout = n.dir.path().join("stdout.log");
                (n.log().display().to_string(), format!("{}\n{}", tail(&n.log(), 30), tail(&stdout, 10)))
            }
            None => ("(external cluster)".into(), String::new()),
        };
        HarnessError::NotReady { bootstrap: self.bootstrap.clone(), detail, log, log_tail }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.kill_process();
    }
}
