//! batchdeck: drive and watch Azure Batch work from a terminal, against real Azure or an
//! embedded local Azure (a Batch + Blob Storage emulator on loopback).
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod azure;
pub mod config;
pub mod emulator;
/// The fuzz targets' logic, shared by `fuzz/` and `tests/fuzz_corpus.rs` (Cargo feature
/// `fuzzing`).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod headless;
pub mod tui;
pub mod util;
pub mod watch;
pub mod workflow;
