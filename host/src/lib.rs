//! `inas`: intermittent-aware neural architecture search, host side.
//!
//! The pure core (no I/O): [`profile`] (platform constants as data), [`supply`] (capacitor and
//! harvester), [`network`] (search spaces → layers), [`model`] (the performance model) and
//! [`explore`] (the execution-design explorer). [`cli`] is the edge that reads files and flags
//! and prints.

pub mod bench;
pub mod calibrate;
pub mod cli;
pub mod data;
pub mod device;
pub mod explore;
pub mod measure;
pub mod model;
pub mod network;
pub mod planner;
pub mod profile;
pub mod q15ref;
pub mod quant;
pub mod runs;
pub mod search;
pub mod simdev;
pub mod supply;
pub mod train;
pub mod units;
