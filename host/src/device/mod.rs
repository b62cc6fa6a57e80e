//! Talking to a device over a byte link: the protocol client and its transports.
//!
//! [`link::Link`] is the whole transport interface (send bytes, receive bytes before a deadline,
//! a clock); [`client::Client`] runs the protocol over any link: hello, plan upload with
//! resend and commit, inputs, runs, status, benchmarks. Transports: [`serial`] (a real board),
//! [`emulator`] (the firmware ELF on the virtual LaunchPad, in lockstep simulated time),
//! [`simboard`] (the device's own session code in process, in simulated time) and [`fault`]
//! (a wrapper that damages bytes, for tests).

pub mod client;
pub mod emulator;
pub mod fault;
pub mod link;
pub mod serial;
pub mod simboard;

pub use client::{Client, ClientError, Options};
pub use link::{Link, LinkError};

use inas_common::engine::EngineError;

use crate::planner;
use crate::simdev::{run_with_cuts, PowerFail};

/// The logits the host's engine computes for a plan and input (what a device must return).
pub fn host_logits(plan: &[u8], input: &[i16]) -> Result<Vec<i16>, String> {
    let (source, valid) = planner::open(plan).map_err(|e| format!("plan: {e}"))?;
    let need = valid.meta().input.elements() as usize;
    if input.len() != need {
        return Err(format!(
            "the input has {} values, the plan's input {need}",
            input.len()
        ));
    }
    run_with_cuts(&valid, &source, input, |_| None)
        .map(|(out, _)| out)
        .map_err(|e| match e {
            EngineError::Device(PowerFail) => "power failed".into(),
            other => format!("the host engine stopped: {other:?}"),
        })
}
