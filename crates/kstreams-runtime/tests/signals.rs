//! SIGTERM sent to this test process closes the instance gracefully. Safe because
//! `listen_for_signals` returns only after tokio has installed its SIGTERM handler (from then
//! on the signal no longer terminates the process), and this binary holds this test only.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use kstreams_runtime::{listen_for_signals, Signal};
use kstreams_runtime::{ShutdownHandle, ShutdownReason, State};
use support::*;

#[test]
fn sigterm_closes_the_instance() {
    init_tracing();
    let cluster = mock_cluster(&[("in", 1), ("out", 1)]);
    let dir = tempfile::tempdir().unwrap();
    let cfg =
        config(&cluster, "sigterm", dir.path()).commit_interval(Duration::from_secs(600)).build().unwrap();
    let mut streams = start(&cluster, count_topology("in", "out", Arc::default()), cfg);
    wait_running(&streams);
    produce_keyed(&cluster, "in", &keyed_records(&["k"], 3));
    assert_eq!(read_until(&cluster, "out", Duration::from_secs(30), |r| r.len() >= 3).len(), 3);

    let handle = ShutdownHandle::new();
    listen_for_signals(&handle).unwrap();
    let status =
        std::process::Command::new("kill").args(["-TERM", &std::process::id().to_string()]).status().unwrap();
    assert!(status.success());
    assert_eq!(streams.close_when(&handle).unwrap(), ShutdownReason::Signal(Signal::Terminate));
    assert_eq!(streams.state(), State::NotRunning);
    assert_eq!(committed(&cluster, "sigterm", "in", 1).values().sum::<i64>(), 3);
}
