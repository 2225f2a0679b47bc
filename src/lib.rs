//! # kstreams
//!
//! Stream processing over Kafka topics, in Rust: typed streams and tables, windows with grace
//! and suppression, aggregations and joins, state in RocksDB with changelog topics, run as a
//! scalable consumer group — what Kafka Streams is to the JVM.
//!
//! This facade re-exports the workspace crates:
//! [`core`] (records, serdes, the Processor API, topologies and tasks), [`state`] (stores),
//! [`dsl`] (the typed DSL) and [`runtime`] (running on Kafka). Most programs only need the
//! [`prelude`].
//!
//! Two optional features, both off by default, add what only some programs need:
//!
//! - `sink`: `kstreams::sink` (the `kstreams-sink` crate), storing results in a database
//!   (SQLite, compiled from source);
//! - `http`: `kstreams::http`, an HTTP server (axum on hyper) for Prometheus scrapes at
//!   `/metrics` and routes of your own, such as interactive queries.
#![deny(missing_docs)]

pub use kstreams_core as core;
pub use kstreams_dsl as dsl;
pub use kstreams_runtime as runtime;
#[cfg(feature = "sink")]
pub use kstreams_sink as sink;
pub use kstreams_state as state;

#[cfg(feature = "http")]
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
