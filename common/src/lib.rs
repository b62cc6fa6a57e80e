//! `inas-common`: what the host and the device agree on bit for bit.
//!
//! `no_std`, no heap, stable Rust. For now it holds the execution-design vocabulary (tile sizes,
//! inter-tile loop order, preservation batch) that the explorer chooses and that plans will
//! carry to the device.
#![no_std]
#![forbid(unsafe_code)]

pub mod design;

pub use design::{DesignParseError, ExecDesign, LoopOrder};
