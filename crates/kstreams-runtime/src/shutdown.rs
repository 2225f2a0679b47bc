//! Graceful shutdown on SIGINT/SIGTERM.
//!
//! A binary starts the instance and hands the rest of its life to
//! [`crate::KafkaStreams::close_on_signals`]:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use kstreams_runtime::{KafkaStreams, StreamsConfig};
//! # fn topology() -> kstreams_core::Topology { kstreams_core::Topology::new() }
//! let config = StreamsConfig::builder("my-app", "127.0.0.1:9092").build()?;
//! let mut streams = KafkaStreams::new(Arc::new(topology()), config);
//! streams.start()?;
//! let reason = streams.close_on_signals()?; // blocks until Ctrl-C, SIGTERM or a failure
//! eprintln!("stopped: {reason:?}");
//! # Ok::<(), kstreams_runtime::RuntimeError>(())
//! ```
//!
//! The signal is only a trigger: a [`ShutdownHandle`] that a listener thread (a one-thread
//! tokio runtime waiting on `tokio::signal`) sets. Whoever waits on the handle then runs the
//! ordinary [`crate::KafkaStreams::close`]: each stream thread finishes the record it is
//! processing, runs the commit protocol, closes its tasks (writing checkpoints) and leaves
//! the group, so its partitions move to the other instances at once. Other triggers (an HTTP
//! admin endpoint, a test) use the same handle with [`crate::KafkaStreams::close_when`].
//!
//! Once installed, the listener owns SIGINT and SIGTERM for the rest of the process (tokio
//! never restores the default handlers): a second signal does not kill the process while the
//! instance closes; send SIGKILL for that.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::error::{Result, RuntimeError};
use crate::state::State;

/// How often a waiting close checks whether the instance stopped by itself.
const STATE_CHECK: Duration = Duration::from_millis(100);

/// The signals that shut an instance down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (`kill`, container runtimes).
    Terminate,
}

/// Why a shutdown began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownReason {
    /// The process received a signal.
    Signal(Signal),
    /// [`ShutdownHandle::trigger`] was called.
    Requested,
    /// The instance stopped by itself (a stream thread failed: state ERROR).
    InstanceStopped,
}

/// A one-shot shutdown trigger that any thread can set and wait for. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct ShutdownHandle {
    inner: Arc<(Mutex<Option<ShutdownReason>>, Condvar)>,
}

impl ShutdownHandle {
    /// A handle not triggered yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks for shutdown ([`ShutdownReason::Requested`]).
    pub fn trigger(&self) {
        self.trigger_with(ShutdownReason::Requested);
    }

    /// Asks for shutdown for `reason`; the first reason given is kept.
    pub fn trigger_with(&self, reason: ShutdownReason) {
        let (lock, cvar) = &*self.inner;
        let mut slot = lock.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert(reason);
        cvar.notify_all();
    }

    /// Why shutdown was asked for, if it was.
    pub fn reason(&self) -> Option<ShutdownReason> {
        *self.inner.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until triggered or `timeout` passes; returns the reason if triggered.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<ShutdownReason> {
        let (lock, cvar) = &*self.inner;
        let slot = lock.lock().unwrap_or_else(PoisonError::into_inner);
        let (slot, _) =
            cvar.wait_timeout_while(slot, timeout, |r| r.is_none()).unwrap_or_else(PoisonError::into_inner);
        *slot
    }
}

/// Starts a thread that triggers `handle` on the first SIGINT or SIGTERM. Returns once both
/// handlers are installed, so a signal sent afterwards is caught. The thread ends when a
/// signal arrives or `handle` is triggered otherwise.
#[cfg(unix)]
pub fn listen_for_signals(handle: &ShutdownHandle) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};

    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(RuntimeError::Signals)?;
    // Register on this thread so errors are returned, and signals caught, before we return.
    let (mut interrupt, mut terminate) = runtime
        .block_on(async {
            Ok::<_, std::io::Error>((signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?))
        })
        .map_err(RuntimeError::Signals)?;
    let handle = handle.clone();
    std::thread::Builder::new()
        .name("kstreams-signals".into())
        .spawn(move || {
            runtime.block_on(async {
                while handle.reason().is_none() {
                    let signal = tokio::select! {
                        _ = interrupt.recv() => Signal::Interrupt,
                        _ = terminate.recv() => Signal::Terminate,
                        _ = tokio::time::sleep(STATE_CHECK) => continue,
                    };
                    tracing::info!(?signal, "shutdown signal received; closing");
                    handle.trigger_with(ShutdownReason::Signal(signal));
                }
            });
        })
        .map_err(RuntimeError::Signals)?;
    Ok(())
}

/// Graceful shutdown, on the instance.
impl crate::KafkaStreams {
    /// Blocks until SIGINT or SIGTERM arrives (or the instance stops by itself), then closes
    /// the instance: commit, close tasks, leave the group. For binaries, after `start`.
    #[cfg(unix)]
    pub fn close_on_signals(&mut self) -> Result<ShutdownReason> {
        let handle = ShutdownHandle::new();
        listen_for_signals(&handle)?;
        self.close_when(&handle)
    }

    /// Blocks until `handle` is triggered (or the instance stops by itself: state ERROR or
    /// NOT_RUNNING), then closes the instance like [`Self::close`]. Returns why.
    pub fn close_when(&mut self, handle: &ShutdownHandle) -> Result<ShutdownReason> {
        let reason = loop {
            if let Some(reason) = handle.wait_timeout(STATE_CHECK) {
                break reason;
            }
            if matches!(self.state(), State::Error | State::NotRunning) {
                handle.trigger_with(ShutdownReason::InstanceStopped);
                break ShutdownReason::InstanceStopped;
            }
        };
        tracing::info!(?reason, "closing the instance");
        self.close()?;
        Ok(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_keeps_the_first_reason_and_wakes_waiters() {
        let handle = ShutdownHandle::new();
        assert_eq!(handle.wait_timeout(Duration::from_millis(10)), None);
        let waiter = {
            let h = handle.clone();
            std::thread::spawn(move || h.wait_timeout(Duration::from_secs(30)))
        };
        std::thread::sleep(Duration::from_millis(20));
        handle.trigger_with(ShutdownReason::Signal(Signal::Terminate));
        handle.trigger();
        assert_eq!(waiter.join().unwrap(), Some(ShutdownReason::Signal(Signal::Terminate)));
        assert_eq!(handle.reason(), Some(ShutdownReason::Signal(Signal::Terminate)));
    }
}
