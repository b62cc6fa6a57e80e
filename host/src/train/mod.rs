//! Training the children of a search with tch (libtorch), and measuring what they are worth on
//! the device.
//!
//! [`model`] turns a [`Network`](crate::network::Network) into a tch module that computes exactly
//! what [`quant::forward_f32`](crate::quant::forward_f32) computes on its exported weights.
//! [`fit`] trains it with Adam and keeps the weights of the best validation epoch; [`q15`]
//! quantizes the result and runs the bit-exact Q15 forward pass of the device on the validation
//! set. [`config`] holds the knobs (the paper's per-dataset defaults, the device choice).
//!
//! The trainer reads plain slices ([`Samples`]) so that it depends on no data loader: inputs are
//! HWC, as the engine reads them.

pub mod config;
pub mod fit;
pub mod model;
pub mod q15;
mod samples;

pub use config::{DeviceChoice, TrainConfig};
pub use fit::{fit, EpochStats, Timings, Trained};
pub use model::{init_float, Model, ModelOptions};
pub use q15::{calibration_inputs, evaluate_q15, Q15Eval};
pub use samples::Samples;

use thiserror::Error;

/// What can go wrong while training or evaluating a child.
#[derive(Debug, Error)]
pub enum TrainError {
    #[error("{what}: {detail}")]
    Data { what: &'static str, detail: String },
    #[error("{what} set is empty")]
    Empty { what: &'static str },
    #[error("{0}")]
    Config(String),
    #[error("CUDA device {index} requested, but libtorch sees {count} CUDA device(s); a binary linked the default way loads only libtorch_cpu (see train::DeviceChoice); use --device cpu or auto")]
    NoCuda { index: usize, count: i64 },
    #[error("the network cannot be trained: {0}")]
    Network(String),
    #[error("libtorch: {0}")]
    Torch(tch::TchError),
    #[error("building the Q15 plan: {0}")]
    Plan(String),
}

// By hand rather than `#[from]`, which would also make the inner error the source: the message
// already holds it, and a report of the chain would print it twice.
impl From<tch::TchError> for TrainError {
    fn from(e: tch::TchError) -> Self {
        TrainError::Torch(e)
    }
}
