//! The seed tutorial's temperature-average application, as a library that kstreams' examples,
//! root integration tests and benches share, so that what the tests check is exactly what the
//! programs run.
//!
//! - the records and the topology: [`Reading`], [`WindowAverage`], [`temperature_averages`]
//!   with its [`TemperatureSettings`], and [`window_average`], the mapping of a closed window
//!   to its output record;
//! - the programs' parts: the [`simulator`] of sensors, the [`viewer`] of results, the
//!   database writer ([`store`], feature `sink`), the HTTP [`queries`] (feature `http`) and
//!   the whole `temperature_averages` program ([`app`], both features);
//! - what the tests compare with: [`expected`], readings and the averages they must give,
//!   computed without kstreams.
//!
//! Its features `sink` and `http` are enabled by the facade's features of the same names
//! (for its examples, tests and benches), so a test that needs neither builds neither SQLite
//! nor an HTTP stack. Not published: it is the project's own support code.
#![deny(missing_docs)]

#[cfg(all(feature = "sink", feature = "http"))]
pub mod app;
pub mod expected;
mod logging;
#[cfg(feature = "http")]
pub mod progress;
#[cfg(feature = "http")]
pub mod queries;
mod records;
pub mod simulator;
#[cfg(feature = "sink")]
pub mod store;
mod topology;
pub mod viewer;

pub use logging::init_tracing;
pub use records::{Reading, WindowAverage};
pub use topology::{temperature_averages, window_average, TemperatureSettings, QUERYABLE_FOR, STATS_STORE};
