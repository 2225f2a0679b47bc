//! One Apache Kafka node process: its configuration, storage, JVM command line and watchdog.

use std::fs::File;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{HarnessError, Result};

/// The node's settings shared with `scripts/broker.sh`; node-specific lines are appended.
pub(crate) const SERVER_PROPERTIES: &str = include_str!("../../../scripts/kafka/server.properties");
/// The broker's logging configuration (to `<data dir>/server.log`).
pub(crate) const LOG4J2_PROPERTIES: &str = include_str!("../../../scripts/kafka/log4j2.properties");
/// Every node started here is a cluster of its own; they can share one id.
pub(crate) const CLUSTER_ID: &str = "a3N0cmVhbXMtdGVzdC0wMQ";
/// How long a started broker may take to answer metadata requests.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts to start on fresh ports when the broker exits right away (a port taken meanwhile).
pub(crate) const START_ATTEMPTS: usize = 3;
/// The JVM heap of a test broker.
pub(crate) const HEAP: &str = "512m";

/// Where the node runs: kept across restarts so clients find it again.
pub(crate) struct Node {
    pub(crate) java: PathBuf,
    pub(crate) classpath: String,
    pub(crate) port: u16,
    pub(crate) controller_port: u16,
    /// Holds `server.properties`, the logs and the data; removed on drop.
    pub(crate) dir: tempfile::TempDir,
}

impl Node {
    pub(crate) fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub(crate) fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn properties(&self) -> PathBuf {
        self.dir.path().join("server.properties")
    }

    fn log4j(&self) -> PathBuf {
        self.dir.path().join("log4j2.properties")
    }

    /// Writes the configuration for the current ports.
    pub(crate) fn configure(&self) -> Result<()> {
        let (port, cport) = (self.port, self.controller_port);
        let data = self.dir.path().join("data");
        let text = format!(
            "{SERVER_PROPERTIES}\nlisteners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{port}\ncontroller.quorum.voters=1@127.0.0.1:{cport}\n\
             log.dirs={}\n",
            data.display()
        );
        let write = |path: PathBuf, text: &str| {
            std::fs::write(&path, text)
                .map_err(|source| HarnessError::Io { what: format!("writing {}", path.display()), source })
        };
        write(self.properties(), &text)?;
        write(self.log4j(), LOG4J2_PROPERTIES)?;
        // A new configuration means new ports: the storage is formatted anew.
        let _ = std::fs::remove_dir_all(&data);
        let output = self
            .java_command()
            .args(["-XX:TieredStopAtLevel=1", "kafka.tools.StorageTool", "format", "-t", CLUSTER_ID, "-c"])
            .arg(self.properties())
            .stdin(Stdio::null())
            .output()
            .map_err(|source| HarnessError::Io {
                what: format!("starting {}", self.java.display()),
                source,
            })?;
        if !output.status.success() {
            return Err(HarnessError::Format {
                dir: self.dir.path().display().to_string(),
                status: output.status.to_string(),
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ),
            });
        }
        Ok(())
    }

    /// `java` with the classpath and logging settings; the main class follows.
    fn java_command(&self) -> Command {
        let mut c = Command::new(&self.java);
        c.arg("-Xshare:auto")
            .arg(format!("-Dlog4j2.configurationFile={}", self.log4j().display()))
            .arg(format!("-Dkafka.logs.dir={}", self.dir.path().display()))
            .args(["-cp", &self.classpath]);
        c
    }

    /// Starts the broker process (on the configured ports and data) and its watchdog.
    pub(crate) fn spawn(&self) -> Result<Child> {
        let out_path = self.dir.path().join("stdout.log");
        let io =
            |what: &str, source| HarnessError::Io { what: format!("{what} {}", out_path.display()), source };
        let out = File::options().create(true).append(true).open(&out_path).map_err(|e| io("opening", e))?;
        let err = out.try_clone().map_err(|e| io("opening", e))?;
        let mut command = Command::new(&self.java);
        command
            .args([&format!("-Xms{HEAP}"), &format!("-Xmx{HEAP}"), "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"])
            .args(["-Djava.awt.headless=true", "-Xshare:auto"])
            .arg(format!("-Dlog4j2.configurationFile={}", self.log4j().display()))
            .arg(format!("-Dkafka.logs.dir={}", self.dir.path().display()))
            .args(["-cp", &self.classpath, "kafka.Kafka"])
            .arg(self.properties())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = command.spawn().map_err(|source| HarnessError::Io {
            what: format!("starting {}", self.java.display()),
            source,
        })?;
        watch(child.id(), self.dir.path())?;
        Ok(child)
    }
}

/// A shell loop that kills broker `pid` and removes `dir` once this process is gone without
/// having stopped it (killed, or exited with the broker in a static).
fn watch(pid: u32, dir: &Path) -> Result<()> {
    const SCRIPT: &str = r#"parent=$1; broker=$2; dir=$3
while kill -0 "$broker" 2>/dev/null; do
    if ! kill -0 "$parent" 2>/dev/null; then
        kill -9 "$broker" 2>/dev/null; sleep 1; rm -rf "$dir"; exit 0
    fi
    sleep 1
done"#;
    Command::new("sh")
        .args(["-c", SCRIPT, "kstreams-broker-watchdog"])
        .arg(std::process::id().to_string())
        .arg(pid.to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|source| HarnessError::Io { what: "starting the broker's watchdog".into(), source })
}

/// `$JAVA_HOME/bin/java`, else `java` on `PATH`.
pub(crate) fn java_binary() -> PathBuf {
    std::env::var_os("JAVA_HOME")
        .map(|h| PathBuf::from(h).join("bin").join("java"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("java"))
}

/// Two distinct ports of 127.0.0.1 that were free a moment ago (broker and controller).
pub(crate) fn free_ports() -> Result<(u16, u16)> {
    let bind = || {
        TcpListener::bind("127.0.0.1:0")
            .map_err(|source| HarnessError::Io { what: "finding a free port".into(), source })
    };
    let (a, b) = (bind()?, bind()?);
    let port = |l: &TcpListener| {
        l.local_addr()
            .map(|a| a.port())
            .map_err(|source| HarnessError::Io { what: "finding a free port".into(), source })
    };
    Ok((port(&a)?, port(&b)?))
}

/// The last `lines` lines of `file`.
pub(crate) fn tail(file: &Path, lines: usize) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(file) {
        let _ = f.read_to_string(&mut text);
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
