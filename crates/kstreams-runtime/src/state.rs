//! The instance's state, as in Kafka Streams, and the listener that observes it.
//!
//! ```text
//!              start()
//!   CREATED ───────────► REBALANCING ◄──────► RUNNING
//!      │                  │      │               │
//!      │                  │      └──► ERROR ◄────┘   (a stream thread failed)
//!      │ close()          │ close()      │ close(): threads stop, stays ERROR
//!      ▼                  ▼              │
//!   PENDING_SHUTDOWN ◄────┴──────────────┘ (from RUNNING too)
//!      │ every thread stopped
//!      ▼
//!   NOT_RUNNING
//! ```
//!
//! The instance is RUNNING when every stream thread has its assignment and has restored its
//! tasks, and REBALANCING while any thread is between a revocation and a finished restore.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The state of a [`crate::KafkaStreams`] instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Built, not started.
    Created,
    /// Threads are joining the group, assigning tasks or restoring state.
    Rebalancing,
    /// Every thread processes its tasks.
    Running,
    /// `close()` was called; threads are committing and leaving the group.
    PendingShutdown,
    /// Every thread has stopped after a clean shutdown.
    NotRunning,
    /// A thread failed; the others were stopped. See [`crate::KafkaStreams::error`].
    Error,
}

impl State {
    /// Whether the lifecycle allows `self → next`.
    pub fn can_transition_to(self, next: State) -> bool {
        use State::*;
        matches!(
            (self, next),
            (Created, Rebalancing)
                | (Created, PendingShutdown)
                | (Rebalancing, Running)
                | (Rebalancing, PendingShutdown)
                | (Rebalancing, Error)
                | (Running, Rebalancing)
                | (Running, PendingShutdown)
                | (Running, Error)
                | (PendingShutdown, NotRunning)
                | (PendingShutdown, Error)
        )
    }

    /// Whether threads may be running in this state.
    pub fn is_running_or_rebalancing(self) -> bool {
        matches!(self, State::Running | State::Rebalancing)
    }

    /// The Kafka Streams name (`RUNNING`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "CREATED",
            State::Rebalancing => "REBALANCING",
            State::Running => "RUNNING",
            State::PendingShutdown => "PENDING_SHUTDOWN",
            State::NotRunning => "NOT_RUNNING",
            State::Error => "ERROR",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Called with `(new, old)` on every state change, from the thread that caused it.
pub type StateListener = Arc<dyn Fn(State, State) + Send + Sync>;

/// What one stream thread is doing, as the instance state is derived from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ThreadState {
    /// Started, or between a revocation and the end of the restore that follows.
    Rebalancing,
    /// Processing.
    Running,
    /// Stopped (cleanly or not).
    Dead,
}

struct Inner {
    state: State,
    threads: Vec<ThreadState>,
    error: Option<String>,
    listener: Option<StateListener>,
    tasks: Vec<Vec<kstreams_core::TaskId>>,
}

/// The instance state shared by the handle and the threads.
pub(crate) struct StateHolder {
    inner: Mutex<Inner>,
    changed: Condvar,
}

impl StateHolder {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner {
                state: State::Created,
                threads: Vec::new(),
                error: None,
                listener: None,
                tasks: Vec::new(),
            }),
            changed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave `Inner` half-updated (every update is a
        // single assignment), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn state(&self) -> State {
        self.lock().state
    }

    pub(crate) fn error(&self) -> Option<String> {
        self.lock().error.clone()
    }

    pub(crate) fn set_listener(&self, listener: StateListener) {
        self.lock().listener = Some(listener);
    }

    pub(crate) fn set_thread_count(&self, n: usize) {
        let mut inner = self.lock();
        inner.threads = vec![ThreadState::Rebalancing; n];
        inner.tasks = vec![Vec::new(); n];
    }

    /// Publishes the tasks thread `index` runs.
    pub(crate) fn set_thread_tasks(&self, index: usize, tasks: Vec<kstreams_core::TaskId>) {
        if let Some(slot) = self.lock().tasks.get_mut(index) {
            *slot = tasks;
        }
    }

    /// The tasks every thread runs, sorted.
    pub(crate) fn active_tasks(&self) -> Vec<kstreams_core::TaskId> {
        let mut all: Vec<_> = self.lock().tasks.iter().flatten().copied().collect();
        all.sort();
        all
    }

    /// Moves the instance to `next` if the lifecycle allows it; returns whether it moved.
    pub(crate) fn transition(&self, next: State) -> bool {
        let mut inner = self.lock();
        self.transition_locked(&mut inner, next)
    }

    fn transition_locked(&self, inner: &mut MutexGuard<'_, Inner>, next: State) -> bool {
        let old = inner.state;
        if !old.can_transition_to(next) {
            return false;
        }
        inner.state = next;
        tracing::info!(from = %old, to = %next, "kstreams state change");
        metrics::gauge!("kstreams_state", "state" => next.as_str()).set(1.0);
        metrics::gauge!("kstreams_state", "state" => old.as_str()).set(0.0);
        if let Some(l) = inner.listener.clone() {
            // Called with the lock held so listeners see changes in order.
            l(next, old);
        }
        self.changed.notify_all();
        true
    }

    /// Records a thread's state and derives the instance state from all of them.
    pub(crate) fn set_thread_state(&self, index: usize, thread: ThreadState) {
        let mut inner = self.lock();
        if let Some(slot) = inner.threads.get_mut(index) {
            *slot = thread;
        }
        let all_dead = inner.threads.iter().all(|t| *t == ThreadState::Dead);
        match inner.state {
            State::PendingShutdown if all_dead => {
                self.transition_locked(&mut inner, State::NotRunning);
            }
            State::Running | State::Rebalancing => {
                let live = inner.threads.iter().filter(|t| **t != ThreadState::Dead);
                let next = if live.clone().any(|t| *t == ThreadState::Rebalancing) {
                    State::Rebalancing
                } else {
                    State::Running
                };
                if next != inner.state {
                    self.transition_locked(&mut inner, next);
                }
            }
            _ => {}
        }
        self.changed.notify_all();
    }

    /// Records a thread failure: the instance goes to ERROR (the first error is kept).
    pub(crate) fn fail(&self, error: String) {
        let mut inner = self.lock();
        if inner.error.is_none() {
            inner.error = Some(error);
        }
        self.transition_locked(&mut inner, State::Error);
    }

    /// Whether every thread is dead.
    pub(crate) fn all_threads_dead(&self) -> bool {
        self.lock().threads.iter().all(|t| *t == ThreadState::Dead)
    }

    /// Waits until `done(state)` holds or `timeout` passes; returns the last state seen and
    /// whether the condition held.
    pub(crate) fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(State, &[ThreadState]) -> bool,
    ) -> (State, bool) {
        let deadline = Instant::now() + timeout;
        let mut inner = self.lock();
        loop {
            if done(inner.state, &inner.threads) {
                return (inner.state, true);
            }
            let now = Instant::now();
            if now >= deadline {
                return (inner.state, false);
            }
            inner = match self.changed.wait_timeout(inner, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_state_follows_its_threads() {
        let h = StateHolder::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        h.set_listener(Arc::new(move |new, old| s.lock().unwrap().push((old, new))));
        h.set_thread_count(2);
        assert!(h.transition(State::Rebalancing));
        h.set_thread_state(0, ThreadState::Running);
        assert_eq!(h.state(), State::Rebalancing);
        h.set_thread_state(1, ThreadState::Running);
        assert_eq!(h.state(), State::Running);
        h.set_thread_state(1, ThreadState::Rebalancing);
        assert_eq!(h.state(), State::Rebalancing);
        h.set_thread_state(1, ThreadState::Running);
        assert!(h.transition(State::PendingShutdown));
        h.set_thread_state(0, ThreadState::Dead);
        assert_eq!(h.state(), State::PendingShutdown);
        h.set_thread_state(1, ThreadState::Dead);
        assert_eq!(h.state(), State::NotRunning);
        use State::*;
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                (Created, Rebalancing),
                (Rebalancing, Running),
                (Running, Rebalancing),
                (Rebalancing, Running),
                (Running, PendingShutdown),
                (PendingShutdown, NotRunning)
            ]
        );
    }

    #[test]
    fn illegal_transitions_are_refused() {
        let h = StateHolder::new();
        assert!(!h.transition(State::Running));
        assert!(!h.transition(State::NotRunning));
        h.fail("boom".into());
        assert_eq!(h.state(), State::Created, "CREATED cannot fail");
        assert!(h.transition(State::Rebalancing));
        h.fail("boom".into());
        assert_eq!(h.state(), State::Error);
        assert_eq!(h.error().as_deref(), Some("boom"));
        assert!(!h.transition(State::Running));
    }
}
