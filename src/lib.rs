//! # kstreams
//!
//! Stream processing over Kafka topics, in Rust: typed streams and tables, windows with grace
//! and suppression, aggregations and joins, state in RocksDB with changelog topics, run as a
//! scalable consumer group — what Kafka Streams is to the JVM.
//!
//! This facade re-exports the workspace crates:
//! [`core`] (records, serdes, the Processor API, topologies and tasks), [`state`] (stores),
//! [`dsl`] (the typed DSL), [`runtime`] (running on Kafka) and [`sink`] (storing results in a
//! database), plus [`http`], a small loopback HTTP server for Prometheus scrapes. Most programs
//! only need the [`prelude`].
#![deny(missing_docs)]

pub use kstreams_core as core;
pub use kstreams_dsl as dsl;
pub use kstreams_runtime as runtime;
pub use kstreams_sink as sink;
pub use kstreams_state as state;

pub mod http;

/// Everything a topology function and its `main` usually need.
pub mod prelude {
    pub use kstreams_core::Headers;
    pub use kstreams_dsl::prelude::*;
}

/// The README's code blocks, compiled and run as doc tests so the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
