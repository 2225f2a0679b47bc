//! Records that cannot be deserialized go to the configured handler; nothing panics.
#![allow(clippy::unwrap_used)] // tests may unwrap

use kstreams_core::Headers;
use kstreams_core::{dead_letter_headers, DeserializationHandler};
use kstreams_dsl::prelude::*;
use kstreams_test::{DriverConfig, TopologyTestDriver};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Reading {
    sensor_id: u32,
    temperatura: f64,
}

fn driver(handler: DeserializationHandler) -> TopologyTestDriver {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, JsonSerde::<Reading>::new()))
        .map_values(|r| r.temperatura)
        .to("out", Produced::with(StringSerde, F64Serde));
    let config = DriverConfig { deserialization: handler, ..DriverConfig::default() };
    TopologyTestDriver::with_config(b.build().unwrap(), config).unwrap()
}

fn pipe(d: &TopologyTestDriver, value: &[u8]) -> kstreams_core::Result<()> {
    d.pipe_raw("in", None, Some(b"k".to_vec()), Some(value.to_vec()), 5, Headers::default())
}

const GOOD: &[u8] = br#"{"sensor_id": 1, "temperatura": 20.5}"#;
const BAD: &[u8] = br#"{"sensor_id": "one", "temperatura": }"#;

#[test]
fn log_and_continue_skips_and_counts() {
    let d = driver(DeserializationHandler::LogAndContinue);
    pipe(&d, GOOD).unwrap();
    pipe(&d, BAD).unwrap();
    pipe(&d, b"\xff\xfe").unwrap();
    pipe(&d, GOOD).unwrap();
    let out = d.output_topic("out", StringSerde, F64Serde).read_key_values().unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(d.metrics().deserialization_errors, 2);
}

#[test]
fn fail_reports_topic_partition_and_offset() {
    let d = driver(DeserializationHandler::Fail);
    pipe(&d, GOOD).unwrap();
    let err = pipe(&d, BAD).unwrap_err().to_string();
    assert!(err.contains("in-0@1"), "{err}");
    assert!(err.contains("value"), "{err}");
}

#[test]
fn dead_letter_keeps_the_original_bytes_and_names_the_error() {
    let d = driver(DeserializationHandler::DeadLetter { topic: "dlq".into() });
    pipe(&d, BAD).unwrap();
    pipe(&d, GOOD).unwrap();
    let dead = d.read_raw("dlq");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].value.as_deref(), Some(BAD));
    assert_eq!(dead[0].key.as_deref(), Some(&b"k"[..]));
    let h = &dead[0].headers;
    assert_eq!(h.last(dead_letter_headers::TOPIC), Some(&b"in"[..]));
    assert_eq!(h.last(dead_letter_headers::PARTITION), Some(&b"0"[..]));
    assert_eq!(h.last(dead_letter_headers::OFFSET), Some(&b"0"[..]));
    assert!(h.last(dead_letter_headers::ERROR).is_some());
    assert_eq!(d.metrics().dead_lettered, 1);
    assert_eq!(
        d.output_topic("out", StringSerde, F64Serde).read_key_values().unwrap(),
        vec![("k".into(), 20.5)]
    );
}

#[test]
fn a_null_value_on_a_stream_is_a_deserialization_error_not_a_panic() {
    let d = driver(DeserializationHandler::LogAndContinue);
    d.pipe_raw("in", None, Some(b"k".to_vec()), None, 0, Headers::default()).unwrap();
    assert_eq!(d.metrics().deserialization_errors, 1);
}
