//! Graceful shutdown through a [`ShutdownHandle`] (the path SIGINT/SIGTERM take): the
//! instance commits, closes its tasks and leaves the group; an instance that fails by itself
//! also ends the wait.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kstreams_runtime::{ShutdownHandle, ShutdownReason, State};
use support::*;

#[test]
fn a_triggered_handle_commits_and_leaves_the_group() {
    init_tracing();
    let cluster = mock_cluster(&[("in", 2), ("out", 2)]);
    let dir = tempfile::tempdir().unwrap();
    // A long commit interval: only the shutdown commits.
    let cfg =
        config(&cluster, "graceful", dir.path()).commit_interval(Duration::from_secs(600)).build().unwrap();
    let mut streams = start(&cluster, count_topology("in", "out", Arc::default()), cfg);
    wait_running(&streams);
    produce_keyed(&cluster, "in", &keyed_records(&["k1", "k2", "k3"], 4));
    assert_eq!(read_until(&cluster, "out", Duration::from_secs(30), |r| r.len() >= 12).len(), 12);
    assert!(committed(&cluster, "graceful", "in", 2).is_empty(), "nothing committed before shutdown");

    let handle = ShutdownHandle::new();
    let trigger = handle.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        trigger.trigger();
    });
    assert_eq!(streams.close_when(&handle).unwrap(), ShutdownReason::Requested);
    assert_eq!(streams.state(), State::NotRunning);
    assert_eq!(
        committed(&cluster, "graceful", "in", 2).values().sum::<i64>(),
        12,
        "in-flight work committed"
    );

    // It left the group: a new member gets every partition without waiting out the old
    // member's session (6 s in these tests).
    let dir2 = tempfile::tempdir().unwrap();
    let cfg = config(&cluster, "graceful", dir2.path()).build().unwrap();
    let started = Instant::now();
    let mut next = start(&cluster, count_topology("in", "out", Arc::default()), cfg);
    wait_running(&next);
    assert_eq!(next.active_tasks().len(), 2);
    assert!(started.elapsed() < Duration::from_secs(5), "rebalance took {:?}", started.elapsed());
    // It restored the counts and continues them.
    produce_keyed(&cluster, "in", &keyed_records(&["k1"], 1));
    let out = read_until(&cluster, "out", Duration::from_secs(30), |r| r.len() >= 13);
    assert_eq!(counts_by_key(&out)["k1"], vec![1, 2, 3, 4, 5]);
    next.close().unwrap();
}

#[test]
fn an_instance_that_fails_ends_the_wait() {
    init_tracing();
    let cluster = mock_cluster(&[("in", 1), ("out", 1)]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&cluster, "fails", dir.path()).build().unwrap();
    let mut streams = start(&cluster, count_topology("in", "out", Arc::new(AtomicU64::new(0))), cfg);
    wait_running(&streams);
    produce(&cluster, "in", &[(Some("k"), b"boom")]);
    let handle = ShutdownHandle::new();
    assert_eq!(streams.close_when(&handle).unwrap(), ShutdownReason::InstanceStopped);
    assert_eq!(handle.reason(), Some(ShutdownReason::InstanceStopped));
    assert_eq!(streams.state(), State::Error);
}
