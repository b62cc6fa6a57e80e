//! The accuracy a trained child keeps on the device: quantize it to Q15 (activation ranges
//! calibrated on training samples), build its plan with the explorer's designs, and classify the
//! validation set with [`q15ref::forward`](crate::q15ref::forward), the plain Q15 forward pass
//! that the engine equals bit for bit (the Q15 results depend on the designs' input-channel and
//! pooling tiles, so they are part of the input).

use std::time::Instant;

use inas_common::plan::Target;
use inas_common::ExecDesign;
use rayon::prelude::*;

use super::{Samples, TrainError};
use crate::planner;
use crate::q15ref;
use crate::quant::{quantize, FloatNet, Quantized};

/// A quantized child and what it scores on the validation set.
#[derive(Clone, Debug)]
pub struct Q15Eval {
    pub correct: usize,
    pub total: usize,
    pub quantized: Quantized,
    /// The plan the accuracy was measured on (what a device would run).
    pub plan: Vec<u8>,
    /// Q15 logits of every validation sample, `classes` values per sample.
    pub logits: Vec<i16>,
    pub seconds: f64,
}

impl Q15Eval {
    /// Fraction of validation samples classified correctly.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.total as f64
    }
}

/// `count` calibration inputs spread evenly over `train` (all of it when smaller).
pub fn calibration_inputs(train: &Samples, count: usize) -> Vec<Vec<f32>> {
    let n = train.len();
    let count = count.min(n);
    (0..count)
        .map(|k| train.sample(k * n / count).to_vec())
        .collect()
}

/// Index of the largest logit (the first one on ties).
pub fn argmax(logits: &[i16]) -> usize {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best
}

/// Quantizes `net`, builds its plan for `target` with one explorer design per layer, and
/// measures the plan's accuracy on `val` (samples in parallel).
pub fn evaluate_q15(
    net: &FloatNet,
    designs: &[ExecDesign],
    target: Target,
    plan_id: u32,
    calibration: &[Vec<f32>],
    val: &Samples,
) -> Result<Q15Eval, TrainError> {
    let t0 = Instant::now();
    val.check(&net.network, "validation")?;
    if calibration.is_empty() {
        return Err(TrainError::Empty {
            what: "calibration",
        });
    }
    if let Some(c) = calibration.iter().find(|c| c.len() != val.sample_len()) {
        return Err(TrainError::Data {
            what: "calibration",
            detail: format!(
                "an input has {} values, the network takes {}",
                c.len(),
                val.sample_len()
            ),
        });
    }
    let quantized = quantize(net, calibration);
    let plan = planner::build(
        &net.network,
        designs,
        &quantized.layers,
        quantized.input_exp,
        target,
        plan_id,
    )
    .map_err(|e| TrainError::Plan(e.to_string()))?;
    let (source, _) = planner::open(&plan).map_err(|e| TrainError::Plan(e.to_string()))?;
    let classes = val.classes;
    let per_sample: Vec<Vec<i16>> = (0..val.len())
        .into_par_iter()
        .map(|i| {
            let mut outs = q15ref::forward(&source, &quantized.input(val.sample(i)));
            outs.pop().unwrap_or_default()
        })
        .collect();
    let mut logits = Vec::with_capacity(val.len() * classes);
    let mut correct = 0;
    for (out, &label) in per_sample.iter().zip(val.y) {
        debug_assert_eq!(out.len(), classes);
        correct += usize::from(argmax(out) == usize::from(label));
        logits.extend_from_slice(out);
    }
    Ok(Q15Eval {
        correct,
        total: val.len(),
        quantized,
        plan,
        logits,
        seconds: t0.elapsed().as_secs_f64(),
    })
}
