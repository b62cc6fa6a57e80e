//! `inas-common`: what the host and the device agree on bit for bit.
//!
//! `no_std`, no heap, stable Rust: the execution-design vocabulary ([`design`]), Q15 arithmetic
//! ([`q15`]), the plan format ([`plan`]) and checksums ([`crc`]).
#![no_std]
#![forbid(unsafe_code)]

pub mod crc;
pub mod design;
pub mod engine;
pub mod plan;
pub mod q15;
pub mod session;
pub mod upload;
pub mod wire;

pub use design::{DesignParseError, ExecDesign, LoopOrder};
