//! The `temperature` bench (see `temperature.rs`) with mimalloc as the global allocator: the
//! topology allocates small buffers per record, and the allocator is a large share of its
//! cost. The baseline in this run uses mimalloc too, so the ratios stay comparable.
//!
//! `cargo bench --bench temperature_mimalloc`
#![allow(missing_docs)] // criterion_group! generates undocumented functions

use criterion::{criterion_group, criterion_main};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod support;

criterion_group!(benches, support::bench);
criterion_main!(benches);
