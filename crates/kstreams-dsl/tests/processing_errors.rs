//! A record whose processing fails (user code panics, or a processor returns an error) goes to
//! the processing handler: stop with an error naming the record (default), skip and count it,
//! or dead-letter it. The process never unwinds.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::sync::Arc;

use kstreams_core::Headers;
use kstreams_core::{dead_letter_headers, ProcessingHandler};
use kstreams_dsl::prelude::*;
use kstreams_test::{DriverConfig, TopologyTestDriver};

/// Text values → their length; the value `boom` makes the user's closure panic.
fn driver(handler: ProcessingHandler) -> TopologyTestDriver {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, StringSerde))
        .map_values(|v: String| {
            assert_ne!(v, "boom", "cannot measure a boom");
            v.len() as u64
        })
        .to("out", Produced::with(StringSerde, U64Serde));
    let config = DriverConfig { processing: handler, ..DriverConfig::default() };
    TopologyTestDriver::with_config(b.build().unwrap(), config).unwrap()
}

fn pipe(d: &TopologyTestDriver, value: &str) -> kstreams_core::Result<()> {
    d.pipe_raw("in", None, Some(b"k".to_vec()), Some(value.as_bytes().to_vec()), 5, Headers::default())
}

fn lengths(d: &TopologyTestDriver) -> Vec<u64> {
    d.output_topic("out", StringSerde, U64Serde)
        .read_key_values()
        .unwrap()
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

#[test]
fn by_default_a_panic_stops_processing_with_an_error_naming_the_record() {
    let d = driver(ProcessingHandler::default());
    pipe(&d, "abc").unwrap();
    let err = pipe(&d, "boom").unwrap_err().to_string();
    assert!(err.contains("panicked") && err.contains("cannot measure a boom"), "{err}");
    assert!(err.contains("in-0@1"), "names topic, partition and offset: {err}");
    assert_eq!(lengths(&d), vec![3]);
}

#[test]
fn log_and_continue_skips_the_record_and_counts_it() {
    let d = driver(ProcessingHandler::LogAndContinue);
    for v in ["abc", "boom", "de"] {
        pipe(&d, v).unwrap();
    }
    assert_eq!(lengths(&d), vec![3, 2]);
    assert_eq!(d.metrics().processing_errors, 1);
}

#[test]
fn dead_letter_keeps_the_record_and_names_the_error() {
    let d = driver(ProcessingHandler::DeadLetter { topic: "dlq".into() });
    for v in ["boom", "abcd"] {
        pipe(&d, v).unwrap();
    }
    assert_eq!(lengths(&d), vec![4]);
    let dead = d.read_raw("dlq");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].value.as_deref(), Some(&b"boom"[..]));
    let header = |name: &str| dead[0].headers.last(name).map(|v| String::from_utf8_lossy(v).into_owned());
    assert!(header(dead_letter_headers::ERROR).unwrap().contains("cannot measure a boom"));
    assert_eq!(header(dead_letter_headers::OFFSET).as_deref(), Some("0"));
    assert_eq!(d.metrics().dead_lettered, 1);
}

#[test]
fn a_custom_handler_decides_per_error() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let d = driver(ProcessingHandler::Custom(Arc::new(move |raw, e| {
        s.lock().unwrap().push((raw.offset, e.to_string()));
        raw.offset < 2 // tolerate failures early in the partition only
    })));
    pipe(&d, "boom").unwrap();
    pipe(&d, "ok").unwrap();
    assert!(pipe(&d, "boom").is_err());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen[0].1.contains("panicked"), "{:?}", seen[0]);
}
