//! The exactly-once v2 path against rdkafka's mock cluster, which supports transactions (but
//! does not hide aborted records from read-committed consumers, so these tests check commits
//! through the group's offsets rather than through what a reader sees).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kstreams_runtime::{ProcessingGuarantee, State};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use support::*;

fn eos(cluster: &Mock, app: &str, dir: &std::path::Path) -> kstreams_runtime::StreamsConfig {
    config(cluster, app, dir)
        .processing_guarantee(ProcessingGuarantee::ExactlyOnceV2)
        .commit_interval(Duration::from_millis(100))
        .client_id(app)
        .build()
        .unwrap()
}

fn wait_for_error(streams: &kstreams_runtime::KafkaStreams) -> String {
    let state = streams.wait_for_state(State::Error, Duration::from_secs(30));
    assert_eq!(state, State::Error);
    streams.error().expect("an error is recorded")
}

fn committed_txns(thread: &str) -> u64 {
    counter("kstreams_transactions_committed_total", &[("thread", thread)])
}

fn aborted_txns(thread: &str) -> u64 {
    counter("kstreams_transactions_aborted_total", &[("thread", thread)])
}

fn wait_until(what: &str, timeout: Duration, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn exactly_once_commits_output_and_offsets_in_transactions() {
    init_tracing();
    install_recorder();
    let cluster = mock_cluster(&[("tx-in", 2), ("tx-out", 2)]);
    let dir = tempfile::tempdir().unwrap();
    let mut streams =
        start(&cluster, count_topology("tx-in", "tx-out", Arc::default()), eos(&cluster, "eos", dir.path()));
    wait_running(&streams);
    produce_keyed(&cluster, "tx-in", &keyed_records(&["x", "y"], 5));
    let out = read_until(&cluster, "tx-out", Duration::from_secs(30), |r| r.len() >= 10);
    assert_eq!(
        counts_by_key(&out).values().cloned().collect::<Vec<_>>(),
        vec![vec![1, 2, 3, 4, 5], vec![1, 2, 3, 4, 5]]
    );
    // The mock broker accepts TxnOffsetCommit but does not store the offsets, so the commit is
    // observed through the runtime's transaction counter.
    wait_until("a committed transaction", Duration::from_secs(10), || {
        committed_txns("eos-StreamThread-1") >= 1
    });
    streams.close().unwrap();
    assert_eq!(streams.state(), State::NotRunning);
    assert_eq!(aborted_txns("eos-StreamThread-1"), 0);
}

#[test]
fn a_processing_error_aborts_the_transaction_and_stops_the_instance() {
    init_tracing();
    install_recorder();
    let cluster = mock_cluster(&[("ab-in", 1), ("ab-out", 1)]);
    let dir = tempfile::tempdir().unwrap();
    let mut streams = start(
        &cluster,
        count_topology("ab-in", "ab-out", Arc::default()),
        eos(&cluster, "abort", dir.path()),
    );
    wait_running(&streams);
    produce(&cluster, "ab-in", &[(Some("k"), b"1"), (Some("k"), b"2")]);
    assert_eq!(read_until(&cluster, "ab-out", Duration::from_secs(30), |r| r.len() >= 2).len(), 2);
    wait_until("the first transaction", Duration::from_secs(10), || {
        committed_txns("abort-StreamThread-1") >= 1
    });
    assert_eq!(aborted_txns("abort-StreamThread-1"), 0);
    produce(&cluster, "ab-in", &[(Some("k"), b"3"), (Some("k"), b"boom")]);
    let error = wait_for_error(&streams);
    assert!(error.contains("count") && error.contains("boom"), "{error}");
    assert_eq!(aborted_txns("abort-StreamThread-1"), 1, "the transaction holding `3` was aborted");
    streams.close().unwrap();
    assert_eq!(streams.state(), State::Error);
}

#[test]
fn a_fenced_producer_stops_the_thread_with_a_clear_error() {
    init_tracing();
    let cluster = mock_cluster(&[("f-in", 1), ("f-out", 1)]);
    let dir = tempfile::tempdir().unwrap();
    let mut streams =
        start(&cluster, count_topology("f-in", "f-out", Arc::default()), eos(&cluster, "fence", dir.path()));
    wait_running(&streams);
    // The mock broker does not fence by transactional id itself, so make it answer the way a
    // broker answers a zombie whose transactional id was taken over by a newer producer.
    let fenced = [RDKafkaRespErr::RD_KAFKA_RESP_ERR_PRODUCER_FENCED; 10];
    for api in [RDKafkaApiKey::AddPartitionsToTxn, RDKafkaApiKey::AddOffsetsToTxn, RDKafkaApiKey::EndTxn] {
        cluster.request_errors(api, &fenced);
    }
    produce(&cluster, "f-in", &[(Some("k"), b"1")]);
    let error = wait_for_error(&streams);
    assert!(error.contains("fence-StreamThread-1") && error.contains("fenced"), "{error}");
    streams.close().unwrap();
    assert_eq!(streams.state(), State::Error);
}

/// A commit whose EndTxn never gets an answer within the transaction timeout has an unknown
/// outcome: the thread must not reuse its producer (librdkafka lacks KIP-890, so a late
/// EndTxn of that transaction could commit the next one). It recreates the producer, whose
/// `init_transactions` settles the old transaction, goes back to the committed offsets and
/// goes on. The mock cluster keeps answering EndTxn "concurrent transactions" (retried by
/// librdkafka) until the test clears the errors.
#[test]
fn a_commit_with_an_unknown_outcome_recreates_the_producer_and_goes_on() {
    init_tracing();
    install_recorder();
    let cluster = mock_cluster(&[("amb-in", 1), ("amb-out", 1)]);
    let dir = tempfile::tempdir().unwrap();
    let config = config(&cluster, "ambiguous", dir.path())
        .processing_guarantee(ProcessingGuarantee::ExactlyOnceV2)
        .commit_interval(Duration::from_millis(100))
        .client_id("ambiguous")
        .set("producer.transaction.timeout.ms", "3000")
        .build()
        .unwrap();
    let mut streams = start(&cluster, count_topology("amb-in", "amb-out", Arc::default()), config);
    wait_running(&streams);
    let thread = "ambiguous-StreamThread-1";
    produce(&cluster, "amb-in", &[(Some("k"), b"1")]);
    wait_until("a first commit", Duration::from_secs(10), || committed_txns(thread) >= 1);
    let stuck = [RDKafkaRespErr::RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS; 500];
    cluster.request_errors(RDKafkaApiKey::EndTxn, &stuck);
    produce(&cluster, "amb-in", &[(Some("k"), b"2")]);
    wait_until("the producer recreated", Duration::from_secs(30), || {
        counter("kstreams_producer_resets_total", &[("thread", thread)]) >= 1
    });
    cluster.clear_request_errors(RDKafkaApiKey::EndTxn);
    let before = committed_txns(thread);
    produce(&cluster, "amb-in", &[(Some("k"), b"3")]);
    wait_until("commits again", Duration::from_secs(30), || committed_txns(thread) > before);
    assert_eq!(streams.state(), State::Running, "{:?}", streams.error());
    assert!(counter("kstreams_task_recoveries_total", &[("thread", thread)]) >= 1);
    streams.close().unwrap();
    assert_eq!(streams.state(), State::NotRunning);
}
