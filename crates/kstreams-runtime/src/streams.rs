//! [`KafkaStreams`]: the handle that starts and stops one instance of an application.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use kstreams_core::{GlobalStores, Topology};

use crate::assignment::TaskLayout;
use crate::config::StreamsConfig;
use crate::error::{Result, RuntimeError};
use crate::state::{State, StateHolder, StateListener, ThreadState};
use crate::thread::{spawn, ThreadShared};
use crate::topics::{ensure_internal_topics, AdminTopicCreator, TopicCreator};

/// How long `Drop` waits for the threads of an instance that was not closed.
const DROP_CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// One instance of a stream processing application: `num.stream.threads` threads in the
/// consumer group `application.id`, sharing the input partitions with the other instances.
///
/// ```no_run
/// use std::sync::Arc;
/// use kstreams_core::Topology;
/// use kstreams_runtime::{KafkaStreams, StreamsConfig};
///
/// # fn topology() -> Topology { Topology::new() }
/// let config = StreamsConfig::builder("my-app", "127.0.0.1:9092").build()?;
/// let mut streams = KafkaStreams::new(Arc::new(topology()), config);
/// streams.set_state_listener(|new, old| println!("{old} -> {new}"));
/// streams.start()?;
/// // ... until asked to stop:
/// streams.close()?;
/// # Ok::<(), kstreams_runtime::RuntimeError>(())
/// ```
pub struct KafkaStreams {
    topology: Arc<Topology>,
    config: Arc<StreamsConfig>,
    state: Arc<StateHolder>,
    shutdown: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    layout: Option<Arc<TaskLayout>>,
    global_stores: GlobalStores,
    global_thread: Option<JoinHandle<()>>,
    /// Announces this instance's tasks and reads the others' (with `application.server`).
    hosts_thread: Option<JoinHandle<()>>,
    hosts: Arc<crate::hosts::HostDirectory>,
    queries: crate::query::StoreQueries,
    /// The locked state directory, from start to close.
    state_directory: Option<crate::state_dir::StateDirectory>,
}

impl KafkaStreams {
    /// An instance in state CREATED; nothing connects until [`Self::start`].
    pub fn new(topology: Arc<Topology>, config: StreamsConfig) -> Self {
        let state = StateHolder::new();
        let server = config.application_server().map(str::to_string);
        let hosts = Arc::new(crate::hosts::HostDirectory::default());
        let queries = crate::query::StoreQueries::new(topology.clone(), state.clone(), server, hosts.clone());
        Self {
            topology,
            config: Arc::new(config),
            state,
            queries,
            shutdown: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
            layout: None,
            global_stores: GlobalStores::default(),
            global_thread: None,
            hosts_thread: None,
            hosts,
            state_directory: None,
        }
    }

    /// The instance's process id, once started: a UUID kept in its state directory, so it
    /// stays the same across restarts on that directory. Exactly-once producers use it in
    /// their `transactional.id`: `<application.id>-<process id>-<thread number>`.
    pub fn process_id(&self) -> Option<&str> {
        self.state_directory.as_ref().map(|d| d.process_id())
    }

    /// The configuration.
    pub fn config(&self) -> &StreamsConfig {
        &self.config
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state.state()
    }

    /// The error that put the instance in [`State::Error`], if any.
    pub fn error(&self) -> Option<String> {
        self.state.error()
    }

    /// Calls `listener(new, old)` on every state change. Set it before [`Self::start`].
    pub fn set_state_listener(&mut self, listener: impl Fn(State, State) + Send + Sync + 'static) {
        let l: StateListener = Arc::new(listener);
        self.state.set_listener(l);
    }

    /// The tasks this instance's threads run now, sorted.
    pub fn active_tasks(&self) -> Vec<kstreams_core::TaskId> {
        self.state.active_tasks()
    }

    /// A handle to query this instance's local stores from any thread (see [`StoreQueries`](crate::StoreQueries)).
    pub fn queries(&self) -> crate::query::StoreQueries {
        self.queries.clone()
    }

    /// The mapping of input partitions to tasks, once started.
    pub fn task_layout(&self) -> Option<&TaskLayout> {
        self.layout.as_deref()
    }

    /// A global store of this instance, once started: it holds the whole of its topic and
    /// follows it while the instance runs. Read it typed with
    /// [`kstreams_core::GlobalKeyValueView`].
    pub fn global_store(&self, name: &str) -> Option<kstreams_core::GlobalStore> {
        self.global_stores.get(name).cloned()
    }

    /// Creates the internal topics with the Kafka AdminClient, then starts the stream threads.
    pub fn start(&mut self) -> Result<()> {
        let creator = AdminTopicCreator::new(&self.config);
        self.start_with_topic_creator(&creator)
    }

    /// Like [`Self::start`], creating missing internal topics with `creator` (e.g. rdkafka's
    /// `MockCluster`, which does not implement CreateTopics).
    ///
    /// Fails, leaving the instance in CREATED, when the cluster cannot be reached for 60 s,
    /// a source topic is missing, co-partitioned topics differ in partition count, or an
    /// internal topic cannot be created.
    pub fn start_with_topic_creator(&mut self, creator: &dyn TopicCreator) -> Result<()> {
        let state = self.state.state();
        if state != State::Created {
            return Err(RuntimeError::IllegalState { operation: "start", state });
        }
        let started = self.start_threads(creator);
        if started.is_err() && self.threads.is_empty() {
            // Nothing runs: another instance may use the directory.
            self.state_directory = None;
        }
        started
    }

    fn start_threads(&mut self, creator: &dyn TopicCreator) -> Result<()> {
        // Locked until close: a second instance on the same directory fails here.
        let state_directory =
            crate::state_dir::StateDirectory::open(self.config.state_dir(), self.config.application_id())?;
        let process_id: Arc<str> = Arc::from(state_directory.process_id());
        tracing::debug!(dir = %state_directory.path().display(), %process_id, "state directory locked");
        self.state_directory = Some(state_directory);
        let hosts_topic = self.config.application_server().map(|_| {
            crate::hosts::topic_spec(self.config.application_id(), self.config.replication_factor())
        });
        let counts =
            ensure_internal_topics(&self.topology, &self.config, hosts_topic.into_iter().collect(), creator)?;
        let app = self.config.application_id();
        let layout = Arc::new(TaskLayout::new(&self.topology, app, &counts)?);
        // Global stores are filled before any stream thread runs (see `crate::global`).
        let global_stores = GlobalStores::build(self.topology.global_stores(), app, self.config.state_dir())?;
        self.global_thread = crate::global::start(
            &global_stores,
            &self.config,
            &counts,
            self.state.clone(),
            self.shutdown.clone(),
        )?;
        self.global_stores = global_stores.clone();
        if let Some(host) = self.config.application_server() {
            let started = crate::hosts::start(
                &self.config,
                host.to_string(),
                self.state.clone(),
                self.shutdown.clone(),
                self.hosts.clone(),
            );
            match started {
                Ok(handle) => self.hosts_thread = Some(handle),
                Err(e) => {
                    // Stops the global thread; the instance stays CREATED.
                    self.shutdown.store(true, Ordering::SeqCst);
                    return Err(e);
                }
            }
        }
        tracing::info!(application_id = app, tasks = layout.tasks().count(), threads = self.config.num_stream_threads(),
            guarantee = %self.config.processing_guarantee(), "starting");
        self.layout = Some(layout.clone());
        let n = self.config.num_stream_threads();
        self.state.set_thread_count(n);
        self.state.transition(State::Rebalancing);
        let shared = ThreadShared {
            topology: self.topology.clone(),
            config: self.config.clone(),
            layout,
            state: self.state.clone(),
            shutdown: self.shutdown.clone(),
            global_stores,
            process_id,
        };
        let receivers = self.queries.attach(shared.layout.clone(), n);
        for (i, queries) in receivers.into_iter().enumerate() {
            match spawn(i, shared.clone(), queries) {
                Ok(handle) => self.threads.push(handle),
                Err(e) => {
                    for j in i..n {
                        self.state.set_thread_state(j, ThreadState::Dead);
                    }
                    self.state.fail(e.to_string());
                    self.shutdown.store(true, Ordering::SeqCst);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Waits until the instance is in `target` (or `timeout` passes). Returns the state
    /// reached; handy in tests and readiness probes.
    pub fn wait_for_state(&self, target: State, timeout: Duration) -> State {
        self.state.wait_for(timeout, |s, _| s == target || matches!(s, State::Error | State::NotRunning)).0
    }

    /// Stops the threads: each commits, closes its tasks (writing checkpoints) and leaves the
    /// group. Waits without limit.
    pub fn close(&mut self) -> Result<()> {
        self.close_timeout(Duration::MAX)
    }

    /// Like [`Self::close`], waiting at most `timeout` for the threads; on timeout they keep
    /// shutting down in the background and [`RuntimeError::CloseTimeout`] is returned.
    pub fn close_timeout(&mut self, timeout: Duration) -> Result<()> {
        let state = self.state.state();
        if state == State::Created {
            self.state.transition(State::PendingShutdown);
            self.state.transition(State::NotRunning);
            return Ok(());
        }
        self.state.transition(State::PendingShutdown);
        self.shutdown.store(true, Ordering::SeqCst);
        let timeout = timeout.min(Duration::from_secs(365 * 24 * 3600));
        let (_, done) =
            self.state.wait_for(timeout, |_, threads| threads.iter().all(|t| *t == ThreadState::Dead));
        if !done {
            return Err(RuntimeError::CloseTimeout(timeout));
        }
        for handle in self.threads.drain(..) {
            if handle.join().is_err() {
                tracing::error!("a stream thread panicked");
            }
        }
        debug_assert!(self.state.all_threads_dead());
        if let Some(handle) = self.hosts_thread.take() {
            if handle.join().is_err() {
                tracing::error!("the hosts thread panicked");
            }
        }
        if let Some(handle) = self.global_thread.take() {
            if handle.join().is_err() {
                tracing::error!("the global thread panicked");
            }
            self.global_stores.close()?;
        }
        // Every thread stopped: the directory may be used by the next instance.
        self.state_directory = None;
        Ok(())
    }
}

impl Drop for KafkaStreams {
    fn drop(&mut self) {
        if self.state.state().is_running_or_rebalancing()
            || !self.threads.is_empty()
            || self.global_thread.is_some()
            || self.hosts_thread.is_some()
        {
            if let Err(e) = self.close_timeout(DROP_CLOSE_TIMEOUT) {
                tracing::warn!(error = %e, "closing on drop");
            }
        }
    }
}
