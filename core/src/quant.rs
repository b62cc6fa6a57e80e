//! Float networks, their reference forward pass, and quantization to Q15.
//!
//! Every tensor gets a power-of-two exponent `e` (real = q · 2^(e − 15)) chosen from its
//! largest magnitude: weights from their values, activations from a float forward pass over
//! calibration inputs. A layer's accumulator shift is then `15 + e_out − e_in − e_w`; the
//! output exponent is raised when that shift would be negative. Global average pooling keeps
//! its input's exponent. Weights give up precision when needed so that the i32 accumulator
//! covers twice the output range (shift ≤ 15): a long dot product of full-scale Q15 values
//! would otherwise saturate.

use crate::network::{Layer, Network};
use crate::planner::{pool_weight, LayerTensors};

/// A layer's float parameters: weights `[kh][kw][m][n]` and `m` biases (empty for GAP).
#[derive(Clone, Debug, PartialEq)]
pub struct FloatLayer {
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
}

/// A network with float parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatNet {
    pub network: Network,
    pub layers: Vec<FloatLayer>,
}

fn relu_layer(l: &Layer) -> bool {
    matches!(
        l.kind,
        crate::network::LayerKind::Conv2d
            | crate::network::LayerKind::Conv1d
            | crate::network::LayerKind::Dense
    )
}

/// The float forward pass (HWC, stride 1, valid padding, ReLU after searched layers): the
/// outputs of every layer, last one the logits.
pub fn forward_f32(net: &FloatNet, input: &[f32]) -> Vec<Vec<f32>> {
    let mut x = input.to_vec();
    let mut outs = vec![];
    for (l, p) in net.network.layers.iter().zip(&net.layers) {
        let (w, n) = (l.w as usize, l.n as usize);
        let (r, c, m) = (l.r as usize, l.c as usize, l.m as usize);
        let mut y = vec![0f32; r * c * m];
        if l.is_pool() {
            let count = (l.h * l.w) as f32;
            for (ch, out) in y.iter_mut().enumerate() {
                *out = (0..(l.h * l.w) as usize)
                    .map(|px| x[px * n + ch])
                    .sum::<f32>()
                    / count;
            }
        } else {
            let (kh, kw) = (l.kh as usize, l.kw as usize);
            for rr in 0..r {
                for cc in 0..c {
                    for mm in 0..m {
                        let mut acc = p.bias.get(mm).copied().unwrap_or(0.0);
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let xi = ((rr + ki) * w + cc + kj) * n;
                                let wi = ((ki * kw + kj) * m + mm) * n;
                                acc += (0..n).map(|k| x[xi + k] * p.weights[wi + k]).sum::<f32>();
                            }
                        }
                        y[(rr * c + cc) * m + mm] = if relu_layer(l) { acc.max(0.0) } else { acc };
                    }
                }
            }
        }
        outs.push(y.clone());
        x = y;
    }
    outs
}

/// The exponent whose Q15 range holds `max_abs`: the least `e` with `max_abs < 2^e`, clamped
/// to a sane range.
pub fn exponent_for(max_abs: f32) -> i8 {
    if max_abs.is_nan() || max_abs <= 0.0 || max_abs.is_infinite() {
        return 0;
    }
    (max_abs.log2().floor() as i32 + 1).clamp(-15, 15) as i8
}

/// Real value → Q15 with exponent `e`, rounded and saturated.
pub fn to_q15(v: f32, e: i8) -> i16 {
    let scaled = (f64::from(v) * 2f64.powi(15 - i32::from(e))).round();
    scaled.clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
}

/// A raw sample (as the dataset loader gives it) → the plan's Q15 input: the standardisation
/// the plan carries (none: the sample is used as it is), then its input exponent. The one
/// conversion every caller that feeds a plan raw data uses.
pub fn sample_to_q15(meta: &inas_common::plan::PlanMeta, raw: &[f32]) -> Vec<i16> {
    let pre = &meta.preprocess;
    raw.iter()
        .enumerate()
        .map(|(i, &x)| {
            let x = match pre.get(i % pre.len().max(1)) {
                Some(s) => (x - f32::from_bits(s.mean_bits)) / f32::from_bits(s.std_bits),
                None => x,
            };
            to_q15(x, meta.input_exp)
        })
        .collect()
}

/// Q15 with exponent `e` → real value.
pub fn from_q15(q: i16, e: i8) -> f32 {
    (f64::from(q) * 2f64.powi(i32::from(e) - 15)) as f32
}

/// A quantized network: per-layer tensors for the plan, and the input exponent.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantized {
    pub input_exp: i8,
    pub layers: Vec<LayerTensors>,
}

impl Quantized {
    /// Quantizes an input with the calibrated exponent.
    pub fn input(&self, x: &[f32]) -> Vec<i16> {
        x.iter().map(|&v| to_q15(v, self.input_exp)).collect()
    }

    /// The real values of a layer's Q15 outputs.
    pub fn dequantize(&self, layer: usize, q: &[i16]) -> Vec<f32> {
        q.iter()
            .map(|&v| from_q15(v, self.layers[layer].out_exp))
            .collect()
    }
}

fn max_abs<'a>(it: impl IntoIterator<Item = &'a f32>) -> f32 {
    it.into_iter().fold(0f32, |m, v| m.max(v.abs()))
}

/// Quantizes a float network, calibrating activation ranges on `calibration` inputs.
pub fn quantize(net: &FloatNet, calibration: &[Vec<f32>]) -> Quantized {
    let runs: Vec<Vec<Vec<f32>>> = calibration.iter().map(|x| forward_f32(net, x)).collect();
    let input_exp = exponent_for(max_abs(calibration.iter().flatten()));
    let mut e_in = input_exp;
    let mut layers = vec![];
    for (i, (l, p)) in net.network.layers.iter().zip(&net.layers).enumerate() {
        if l.is_pool() {
            let (w, shift) = pool_weight(l.h * l.w);
            layers.push(LayerTensors {
                weights: vec![w],
                bias: vec![],
                shift,
                out_exp: e_in,
            });
            continue;
        }
        let observed = max_abs(runs.iter().flat_map(|r| r[i].iter()));
        let mut e_out = exponent_for(observed).max(exponent_for(max_abs(&p.bias)));
        // The i32 accumulator holds real values below 2^(1 + e_in + e_w): give partial sums
        // one bit of headroom over the output range (shift ≤ 15), at the cost of weight bits
        // when the output range is wide.
        let e_w = exponent_for(max_abs(&p.weights)).max((e_out - e_in).clamp(-15, 15));
        let raw = |e_out: i8| 15 + i32::from(e_out) - i32::from(e_in) - i32::from(e_w);
        while raw(e_out) < 0 {
            e_out += 1;
        }
        let shift = raw(e_out).clamp(0, 31) as u8;
        layers.push(LayerTensors {
            weights: p.weights.iter().map(|&v| to_q15(v, e_w)).collect(),
            bias: p.bias.iter().map(|&v| to_q15(v, e_out)).collect(),
            shift,
            out_exp: e_out,
        });
        e_in = e_out;
    }
    Quantized { input_exp, layers }
}
