//! Building plans on the host: a network, the explorer's designs and Q15 tensors become the
//! bytes a device runs.

use inas_common::plan::{self, LayerDesc, PlanMeta, Shape, Target, TensorRef, MAX_LAYERS};
use inas_common::ExecDesign;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use thiserror::Error;

use crate::network::{Layer, LayerKind, Network};

#[derive(Debug, Error, PartialEq)]
pub enum PlanBuildError {
    #[error("a plan holds at most {MAX_LAYERS} layers, the network has {0}")]
    TooManyLayers(usize),
    #[error("expected one design per layer ({expected}), got {got}")]
    Designs { expected: usize, got: usize },
    #[error("{0}: a dimension does not fit the plan format (max 65535)")]
    Dimension(String),
    #[error("plan encoding failed: {0}")]
    Encode(String),
}

/// Q15 tensors of one layer: weights `[kh][kw][m][n]` (GAP: one pooling weight), biases (`m` or
/// none), the accumulator shift and the output exponent.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerTensors {
    pub weights: Vec<i16>,
    pub bias: Vec<i16>,
    pub shift: u8,
    pub out_exp: i8,
}

fn dim(l: &Layer, v: u32) -> Result<u16, PlanBuildError> {
    u16::try_from(v).map_err(|_| PlanBuildError::Dimension(l.name.clone()))
}

/// The pooling weight and shift of a GAP layer over `count` elements: 2^shift / count rounded,
/// shift 15 so the result keeps the input's Q format.
pub fn pool_weight(count: u32) -> (i16, u8) {
    let w = ((1u32 << 15) + count / 2) / count.max(1);
    (w.min(i16::MAX as u32) as i16, 15)
}

/// Assembles the plan bytes.
pub fn build(
    net: &Network,
    designs: &[ExecDesign],
    tensors: &[LayerTensors],
    input_exp: i8,
    target: Target,
    plan_id: u32,
) -> Result<Vec<u8>, PlanBuildError> {
    if net.layers.len() > MAX_LAYERS {
        return Err(PlanBuildError::TooManyLayers(net.layers.len()));
    }
    if designs.len() != net.layers.len() || tensors.len() != net.layers.len() {
        return Err(PlanBuildError::Designs {
            expected: net.layers.len(),
            got: designs.len().min(tensors.len()),
        });
    }
    let mut data: Vec<i16> = vec![];
    let mut layers = heapless::Vec::<LayerDesc, MAX_LAYERS>::new();
    let mut put = |v: &[i16]| {
        let r = TensorRef {
            offset: data.len() as u32,
            len: v.len() as u32,
        };
        data.extend_from_slice(v);
        r
    };
    for ((l, d), t) in net.layers.iter().zip(designs).zip(tensors) {
        let desc = LayerDesc {
            kind: l.kind,
            input: Shape {
                h: dim(l, l.h)?,
                w: dim(l, l.w)?,
                c: dim(l, l.n)?,
            },
            output: Shape {
                h: dim(l, l.r)?,
                w: dim(l, l.c)?,
                c: dim(l, l.m)?,
            },
            kh: dim(l, l.kh)?,
            kw: dim(l, l.kw)?,
            relu: matches!(
                l.kind,
                LayerKind::Conv2d | LayerKind::Conv1d | LayerKind::Dense
            ),
            weights: put(&t.weights),
            bias: put(&t.bias),
            shift: t.shift,
            out_exp: t.out_exp,
            design: *d,
        };
        layers
            .push(desc)
            .map_err(|_| PlanBuildError::TooManyLayers(net.layers.len()))?;
    }
    let first = &net.layers[0];
    let meta = PlanMeta {
        plan_id,
        target,
        input: Shape {
            h: dim(first, first.h)?,
            w: dim(first, first.w)?,
            c: dim(first, first.n)?,
        },
        input_exp,
        preprocess: heapless::Vec::new(),
        layers,
    };
    let len =
        plan::encoded_len(&meta, data.len()).map_err(|e| PlanBuildError::Encode(e.to_string()))?;
    let mut out = vec![0u8; len];
    plan::encode(&meta, &data, &mut out).map_err(|e| PlanBuildError::Encode(e.to_string()))?;
    Ok(out)
}

/// The plan `bytes` with the standardisation its network was trained on (per input channel,
/// `(x − mean) / std`) in its metadata, so that whoever feeds it raw samples needs nothing but
/// the plan ([`crate::quant::sample_to_q15`]).
pub fn with_preprocess(bytes: &[u8], mean: &[f32], std: &[f32]) -> Result<Vec<u8>, PlanBuildError> {
    let p = plan::Plan::decode(bytes).map_err(|e| PlanBuildError::Encode(e.to_string()))?;
    let mut meta = p.meta.clone();
    meta.preprocess.clear();
    let channels = mean.len();
    for (&m, &s) in mean.iter().zip(std) {
        meta.preprocess
            .push(plan::Standardize {
                mean_bits: m.to_bits(),
                std_bits: s.to_bits(),
            })
            .map_err(|_| {
                PlanBuildError::Encode(format!(
                    "{} input channels; a plan describes at most {}",
                    channels,
                    plan::MAX_CHANNELS
                ))
            })?;
    }
    let tensors: Vec<i16> = (0..p.tensor_elements())
        .map(|i| p.tensor_value(i))
        .collect();
    let len = plan::encoded_len(&meta, tensors.len())
        .map_err(|e| PlanBuildError::Encode(e.to_string()))?;
    let mut out = vec![0u8; len];
    plan::encode(&meta, &tensors, &mut out).map_err(|e| PlanBuildError::Encode(e.to_string()))?;
    Ok(out)
}

/// Why a random plan could not be made.
#[derive(Debug, Error)]
pub enum RandomPlanError {
    #[error("{0}")]
    Network(String),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Settings(#[from] crate::model::SettingsError),
    /// The network has no feasible design (with the explorer's reason).
    #[error("the network has no feasible design: {0}")]
    Infeasible(String),
    #[error(transparent)]
    Build(#[from] PlanBuildError),
}

/// A plan of `arch` in `space` with random Q15 weights (seeded; the seed is also the plan id)
/// and the designs the explorer picks under `profile` (with `overrides`) for `power`: what
/// `inas plan random` writes.
pub fn random_plan(
    profile: &crate::profile::Profile,
    overrides: crate::model::Overrides,
    space: &crate::network::SearchSpace,
    arch: &[u32],
    power: crate::model::Power,
    seed: u64,
) -> Result<Vec<u8>, RandomPlanError> {
    // Explored for our engine, so that its designs keep C1 for what the engine does.
    let platform = crate::model::Platform::for_engine(profile, overrides)?;
    let network = space
        .network(arch)
        .map_err(|e| RandomPlanError::Network(format!("arch {arch:?}: {e}")))?;
    let result = crate::explore::explore_network(&platform, &network, power)?;
    if let Some(why) = result.infeasible {
        return Err(RandomPlanError::Infeasible(why.to_string()));
    }
    let designs: Vec<_> = result.layers.iter().map(|l| l.design.exec()).collect();
    let tensors = random_tensors(&network, seed);
    let target = target(platform.vm_bytes, profile.memory.nvm_bytes, &profile.name);
    Ok(build(&network, &designs, &tensors, 0, target, seed as u32)?)
}

/// Decodes plan bytes and validates them against the target the plan records.
pub fn open(bytes: &[u8]) -> Result<(plan::Plan<'_>, plan::ValidPlan), plan::PlanError> {
    let p = plan::Plan::decode(bytes)?;
    let t = p.meta.target;
    let v = plan::validate(
        &p,
        &plan::Limits {
            vm_bytes: t.vm_bytes,
            nvm_bytes: t.nvm_bytes,
        },
    )?;
    Ok((p, v))
}

/// Random Q15 tensors for a network (tests and demos), scaled so activations stay in range:
/// weights uniform in ±1/sqrt(fan-in), small biases, shift 15.
pub fn random_tensors(net: &Network, seed: u64) -> Vec<LayerTensors> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    net.layers
        .iter()
        .map(|l| {
            if l.is_pool() {
                let (w, shift) = pool_weight(l.h * l.w);
                return LayerTensors {
                    weights: vec![w],
                    bias: vec![],
                    shift,
                    out_exp: 0,
                };
            }
            let fan_in = (l.kh * l.kw * l.n).max(1) as f64;
            let bound = ((32767.0 / fan_in.sqrt()) as i32).max(1);
            let weights = (0..l.weight_elements())
                .map(|_| rng.random_range(-bound..=bound) as i16)
                .collect();
            let bias = (0..l.m)
                .map(|_| rng.random_range(-2000..=2000) as i16)
                .collect();
            LayerTensors {
                weights,
                bias,
                shift: 15,
                out_exp: 0,
            }
        })
        .collect()
}

/// A random Q15 input of `n` values.
pub fn random_input(n: usize, seed: u64) -> Vec<i16> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_1A7E);
    (0..n)
        .map(|_| rng.random_range(-32768..=32767) as i16)
        .collect()
}

/// NVM bytes the plan of `net` needs (its tensors as [`random_tensors`] and training make
/// them, three feature-map buffers and the two footprint slots, as `plan::validate` counts
/// them). Saturating u64 arithmetic: any network can be priced before a tensor is allocated.
pub fn nvm_need_bytes(net: &Network) -> u64 {
    let tensors = net.layers.iter().fold(0u64, |sum, l| {
        let own = if l.is_pool() {
            1
        } else {
            l.weight_elements().saturating_add(u64::from(l.m))
        };
        sum.saturating_add(own)
    });
    let input = net.layers.first().map_or(0, |l| {
        u64::from(l.h)
            .saturating_mul(u64::from(l.w))
            .saturating_mul(u64::from(l.n))
    });
    let fm = net
        .layers
        .iter()
        .map(Layer::ofm_elements)
        .fold(input, u64::max);
    fm.saturating_mul(3)
        .saturating_add(tensors)
        .saturating_add(2 * u64::from(plan::FOOTPRINT_SLOT_WORDS))
        .saturating_mul(2)
}

/// The target description a plan records.
pub fn target(vm_bytes: u64, nvm_bytes: u64, profile: &str) -> Target {
    let mut name = [0u8; 16];
    for (d, s) in name.iter_mut().zip(profile.bytes()) {
        *d = s;
    }
    Target {
        vm_bytes: vm_bytes.min(u32::MAX as u64) as u32,
        nvm_bytes: nvm_bytes.min(u32::MAX as u64) as u32,
        profile: name,
    }
}

/// The host-side network of a plan (for the performance model).
pub fn network_of(meta: &PlanMeta) -> Network {
    let layers = meta
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let name = match l.kind {
                LayerKind::Conv2d | LayerKind::Conv1d => format!("CONV_{i}"),
                LayerKind::Dense => format!("FC_{i}"),
                LayerKind::GlobalAvgPool => "GAVGPOOL_0".to_owned(),
                LayerKind::Classifier => "FC_END".to_owned(),
            };
            Layer {
                name,
                kind: l.kind,
                h: l.input.h.into(),
                w: l.input.w.into(),
                n: l.input.c.into(),
                r: l.output.h.into(),
                c: l.output.w.into(),
                m: l.output.c.into(),
                kh: l.kh.into(),
                kw: l.kw.into(),
            }
        })
        .collect();
    Network { layers }
}
