//! A search-space network as a tch module: conv2d / conv1d / dense layers with ReLU, global
//! average pooling and a dense head; stride 1, valid padding.
//!
//! The module takes a batch `[B, H, W, C]` of HWC samples, exactly what the engine reads, and its
//! weights convert both ways to a [`FloatNet`] (`[kh][kw][m][n]`), so that the exported network
//! computes what the module computes (checked against [`crate::quant::forward_f32`] in tests).
//! Initial weights come from a seeded Rust generator, not from libtorch's global one, so that
//! models built concurrently (tests, a parallel search) stay reproducible.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use tch::{nn, Device, Kind, TchError, Tensor};

use super::TrainError;
use crate::network::{Layer, LayerKind, Network};
use crate::quant::{FloatLayer, FloatNet};

/// Choices about the model that are not part of the architecture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelOptions {
    /// Convolutions carry a bias (dense layers always do).
    pub conv_bias: bool,
}

fn is_conv(l: &Layer) -> bool {
    matches!(l.kind, LayerKind::Conv2d | LayerKind::Conv1d)
}

/// Keras' default initialization, from `seed`: Glorot-uniform weights (limit
/// `sqrt(6 / (fan_in + fan_out))`, where a convolution's fans include its kernel taps) and zero
/// biases.
pub fn init_float(net: &Network, opts: ModelOptions, seed: u64) -> FloatNet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let layers = net
        .layers
        .iter()
        .map(|l| {
            if l.is_pool() {
                return FloatLayer {
                    weights: vec![],
                    bias: vec![],
                };
            }
            let taps = (l.kh * l.kw) as f32;
            let fan_in = taps * l.n as f32;
            let fan_out = if is_conv(l) { taps } else { 1.0 } * l.m as f32;
            let limit = (6.0 / (fan_in + fan_out)).sqrt();
            let weights = (0..l.weight_elements())
                .map(|_| rng.random_range(-limit..limit))
                .collect();
            let bias = if is_conv(l) && !opts.conv_bias {
                vec![]
            } else {
                vec![0.0; l.m as usize]
            };
            FloatLayer { weights, bias }
        })
        .collect();
    FloatNet {
        network: net.clone(),
        layers,
    }
}

#[derive(Debug)]
enum Op {
    /// Weights `[m, n, kh, kw]`.
    Conv2d {
        w: Tensor,
        b: Option<Tensor>,
    },
    /// Weights `[m, n, kh]`.
    Conv1d {
        w: Tensor,
        b: Option<Tensor>,
    },
    /// Weights `[m, kh·kw·n]` over the HWC-flattened input; ReLU unless it is the head.
    Dense {
        w: Tensor,
        b: Option<Tensor>,
        relu: bool,
    },
    Gap,
}

/// How the activations between two ops are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// `[B, H, W, C]`, the input.
    Hwc,
    /// `[B, C, H, W]`.
    Nchw,
    /// `[B, C, L]`.
    Ncl,
    /// `[B, F]`.
    Flat,
}

/// A network's trainable module. Its variables live in its own [`nn::VarStore`].
#[derive(Debug)]
pub struct Model {
    vs: nn::VarStore,
    network: Network,
    ops: Vec<Op>,
}

fn check_layer(l: &Layer, p: &FloatLayer) -> Result<(), TrainError> {
    let bad = |d: String| Err(TrainError::Network(format!("{}: {d}", l.name)));
    if l.is_pool() {
        if !p.weights.is_empty() || !p.bias.is_empty() {
            return bad("a pooling layer has no parameters".into());
        }
        return Ok(());
    }
    if p.weights.len() as u64 != l.weight_elements() {
        return bad(format!(
            "{} weights, the layer has {}",
            p.weights.len(),
            l.weight_elements()
        ));
    }
    if !p.bias.is_empty() && p.bias.len() != l.m as usize {
        return bad(format!("{} biases, expected {} or none", p.bias.len(), l.m));
    }
    if l.kind == LayerKind::Conv1d && (l.w != 1 || l.kw != 1) {
        return bad("a 1-D convolution needs a single input column".into());
    }
    if l.kh > l.h || l.kw > l.w {
        return bad("the kernel is larger than the input".into());
    }
    Ok(())
}

impl Model {
    /// A freshly initialized model ([`init_float`]) on `device`.
    pub fn new(
        net: &Network,
        opts: ModelOptions,
        seed: u64,
        device: Device,
    ) -> Result<Model, TrainError> {
        Model::from_float(&init_float(net, opts, seed), device)
    }

    /// A model holding the parameters of a float network.
    pub fn from_float(float: &FloatNet, device: Device) -> Result<Model, TrainError> {
        let net = &float.network;
        if net.layers.is_empty() || net.layers.len() != float.layers.len() {
            return Err(TrainError::Network(format!(
                "{} layers with {} parameter sets",
                net.layers.len(),
                float.layers.len()
            )));
        }
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let mut ops = Vec::with_capacity(net.layers.len());
        for (l, p) in net.layers.iter().zip(&float.layers) {
            check_layer(l, p)?;
            if l.is_pool() {
                ops.push(Op::Gap);
                continue;
            }
            let (kh, kw, m, n) = (l.kh as i64, l.kw as i64, l.m as i64, l.n as i64);
            let flat = Tensor::f_from_slice(&p.weights)?;
            // [kh][kw][m][n] → the layout libtorch's kernels take.
            let w = match l.kind {
                LayerKind::Conv2d => flat.f_view([kh, kw, m, n])?.f_permute([2, 3, 0, 1])?,
                LayerKind::Conv1d => flat.f_view([kh, m, n])?.f_permute([1, 2, 0])?,
                _ => flat
                    .f_view([kh * kw, m, n])?
                    .f_permute([1, 0, 2])?
                    .f_reshape([m, kh * kw * n])?,
            };
            let path = root.sub(l.name.to_ascii_lowercase());
            let w = path.f_var_copy("weight", &w.f_contiguous()?)?;
            let b = if p.bias.is_empty() {
                None
            } else {
                Some(path.f_var_copy("bias", &Tensor::f_from_slice(&p.bias)?)?)
            };
            ops.push(match l.kind {
                LayerKind::Conv2d => Op::Conv2d { w, b },
                LayerKind::Conv1d => Op::Conv1d { w, b },
                LayerKind::Dense => Op::Dense { w, b, relu: true },
                LayerKind::Classifier => Op::Dense { w, b, relu: false },
                LayerKind::GlobalAvgPool => unreachable!("handled above"),
            });
        }
        Ok(Model {
            vs,
            network: net.clone(),
            ops,
        })
    }

    pub fn network(&self) -> &Network {
        &self.network
    }

    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Number of trainable values.
    pub fn parameters(&self) -> usize {
        self.vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel())
            .sum()
    }

    /// The logits `[B, classes]` of a batch `[B, H, W, C]`.
    pub fn f_forward(&self, xs: &Tensor) -> Result<Tensor, TchError> {
        let mut x = xs.shallow_clone();
        let mut layout = Layout::Hwc;
        for op in &self.ops {
            x = match op {
                Op::Conv2d { w, b } => {
                    x = to_layout(&x, layout, Layout::Nchw)?;
                    layout = Layout::Nchw;
                    x.f_conv2d(w, b.as_ref(), [1, 1], [0, 0], [1, 1], 1)?
                        .f_relu()?
                }
                Op::Conv1d { w, b } => {
                    x = to_layout(&x, layout, Layout::Ncl)?;
                    layout = Layout::Ncl;
                    x.f_conv1d(w, b.as_ref(), [1], [0], [1], 1)?.f_relu()?
                }
                Op::Gap => {
                    let dims: &[i64] = match layout {
                        Layout::Hwc => &[1, 2],
                        Layout::Nchw => &[2, 3],
                        Layout::Ncl => &[2],
                        Layout::Flat => &[],
                    };
                    layout = Layout::Flat;
                    if dims.is_empty() {
                        x
                    } else {
                        x.f_mean_dim(dims, false, None::<Kind>)?
                    }
                }
                Op::Dense { w, b, relu } => {
                    x = to_layout(&x, layout, Layout::Flat)?;
                    layout = Layout::Flat;
                    let y = x.f_linear(w, b.as_ref())?;
                    if *relu {
                        y.f_relu()?
                    } else {
                        y
                    }
                }
            };
        }
        Ok(x)
    }

    /// The current parameters as a float network (`[kh][kw][m][n]` weights).
    pub fn export(&self) -> Result<FloatNet, TchError> {
        let layers = self
            .network
            .layers
            .iter()
            .zip(&self.ops)
            .map(|(l, op)| {
                let (kh, kw, m, n) = (l.kh as i64, l.kw as i64, l.m as i64, l.n as i64);
                let (w, b) = match op {
                    Op::Gap => {
                        return Ok(FloatLayer {
                            weights: vec![],
                            bias: vec![],
                        })
                    }
                    Op::Conv2d { w, b } => (w.f_permute([2, 3, 0, 1])?, b),
                    Op::Conv1d { w, b } => (w.f_permute([2, 0, 1])?, b),
                    Op::Dense { w, b, .. } => (w.f_view([m, kh * kw, n])?.f_permute([1, 0, 2])?, b),
                };
                Ok(FloatLayer {
                    weights: to_vec(&w)?,
                    bias: b.as_ref().map(to_vec).transpose()?.unwrap_or_default(),
                })
            })
            .collect::<Result<_, TchError>>()?;
        Ok(FloatNet {
            network: self.network.clone(),
            layers,
        })
    }
}

impl nn::Module for Model {
    /// Panics where libtorch fails (out of memory, a wrong input shape); see [`Model::f_forward`].
    fn forward(&self, xs: &Tensor) -> Tensor {
        self.f_forward(xs).unwrap()
    }
}

/// A tensor's values in row-major order, on the CPU.
fn to_vec(t: &Tensor) -> Result<Vec<f32>, TchError> {
    let t = t
        .f_detach()?
        .f_to_device(Device::Cpu)?
        .f_contiguous()?
        .f_flatten(0, -1)?;
    Vec::<f32>::try_from(&t)
}

fn to_layout(x: &Tensor, from: Layout, to: Layout) -> Result<Tensor, TchError> {
    use Layout::*;
    let s = x.size();
    Ok(match (from, to) {
        (a, b) if a == b => x.shallow_clone(),
        (Hwc, Nchw) => x.f_permute([0, 3, 1, 2])?,
        // A 1-D map is HWC with W = 1.
        (Hwc, Ncl) => x.f_view([s[0], s[1], s[3]])?.f_permute([0, 2, 1])?,
        (Nchw, Ncl) => x.f_squeeze_dim(3)?,
        (Ncl, Nchw) => x.f_unsqueeze(3)?,
        (Hwc, Flat) => x.f_reshape([s[0], -1])?,
        (Nchw, Flat) => x.f_permute([0, 2, 3, 1])?.f_reshape([s[0], -1])?,
        (Ncl, Flat) => x.f_permute([0, 2, 1])?.f_reshape([s[0], -1])?,
        (from, to) => {
            return Err(TchError::Shape(format!(
                "cannot feed {from:?} activations to a layer that takes {to:?}"
            )))
        }
    })
}
