//! `inas`: intermittent-aware neural architecture search, host side: the edges around the pure
//! core (`inas-core`, re-exported here under its own module names): datasets, training, the
//! search, devices and the emulator, calibration, and the [`cli`] that reads files and flags
//! and prints.

pub mod bench;
pub mod calibrate;
pub mod cli;
pub mod data;
pub mod device;
pub mod measure;
pub mod profile;
pub mod runs;
pub mod search;
pub mod train;

pub use inas_core::{explore, model, network, planner, q15ref, quant, simdev, supply, units};
