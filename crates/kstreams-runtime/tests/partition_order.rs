//! Timestamp-ordered choice across a task's partitions, on librdkafka's mock cluster: a task
//! merging two topics gets their records in fetch order — here all of `left`, then all of
//! `right` — and must process them in timestamp order, waiting (`max.task.idle.ms`) for the
//! partition that has not delivered yet.
#![allow(clippy::unwrap_used)] // tests may unwrap

mod support;

use std::sync::Arc;
use std::time::Duration;

use kstreams_core::StringSerde;
use kstreams_dsl::{Consumed, Produced, StreamsBuilder};
use rdkafka::producer::{BaseRecord, Producer};
use support::*;

const T0: i64 = 1_764_115_200_000;
const N: i64 = 200;

fn produce_timed(cluster: &Mock, topic: &str, timestamps: impl Iterator<Item = i64>) {
    let p = producer(cluster);
    for ts in timestamps {
        let value = ts.to_string();
        p.send(BaseRecord::<'_, str, str>::to(topic).key("k").payload(&value).timestamp(ts))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    p.flush(Duration::from_secs(10)).unwrap();
}

#[test]
fn a_task_reading_two_partitions_processes_them_in_timestamp_order() {
    init_tracing();
    let cluster = mock_cluster(&[("left", 1), ("right", 1), ("merged", 1)]);
    // Everything of `left` (even seconds) is written, and fetched, before `right` (odd ones).
    produce_timed(&cluster, "left", (0..N).map(|i| T0 + 2 * i * 1000));
    produce_timed(&cluster, "right", (0..N).map(|i| T0 + (2 * i + 1) * 1000));

    let mut b = StreamsBuilder::new();
    let left = b.stream("left", Consumed::with(StringSerde, StringSerde));
    let right = b.stream("right", Consumed::with(StringSerde, StringSerde));
    left.merge(&right).to("merged", Produced::with(StringSerde, StringSerde));
    let dir = tempfile::tempdir().unwrap();
    let config = config(&cluster, "partition-order", dir.path())
        .max_task_idle(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut streams = start(&cluster, Arc::new(b.build().unwrap()), config);
    wait_running(&streams);

    let out = read_until(&cluster, "merged", Duration::from_secs(30), |r| r.len() >= 2 * N as usize);
    let timestamps: Vec<i64> =
        out.iter().map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap().parse().unwrap()).collect();
    let mut sorted = timestamps.clone();
    sorted.sort_unstable();
    assert_eq!(timestamps.len(), 2 * N as usize);
    assert_eq!(timestamps, sorted, "records leave the task in timestamp order across both partitions");
    streams.close().unwrap();
}
