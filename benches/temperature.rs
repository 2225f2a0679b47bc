//! Records/s of the temperature-average topology through the test driver (no broker), with
//! the in-memory store and with the cached RocksDB store, against a baseline measured in the
//! same run: decoding the same JSON readings and nothing else. Compare the ratios, not the
//! absolute figures: these machines are shared.
//!
//! The `repartition-*` cases run the example's shape (unkeyed input re-keyed by sensor
//! through a repartition topic) with watermarks on and off, to measure what following and
//! publishing watermarks costs.
//!
//! `cargo bench --bench temperature`; `--bench temperature_mimalloc` runs the same cases with
//! mimalloc as the global allocator.
#![allow(missing_docs)] // criterion_group! generates undocumented functions

use criterion::{criterion_group, criterion_main};

mod support;

criterion_group!(benches, support::bench);
criterion_main!(benches);
