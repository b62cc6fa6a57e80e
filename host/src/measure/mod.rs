//! Measuring a deployed plan: accuracy on test samples, the device's logits against the host
//! engine's, and latency measured against the model's prediction, end to end and per layer.
//!
//! End-to-end latency is timed by the host on the link's clock, from sending `Run` to receiving
//! the result: the device counts only its own on-time and cannot see the time it spends off.
//!
//! **Per layer.** The device reports a run's totals only (on-time cycles, power cycles). The host
//! gets per-layer numbers without any change to the firmware by running *layer prefixes*: for
//! k = 1 … L−1 it deploys the plan cut after layer k (same designs, same tensors, so the engine
//! does exactly the work of those layers), runs the first sample, and takes differences of the
//! cumulative times. The full plan is deployed again before the samples run. This costs L−1
//! extra uploads and inferences, once per measurement.
//!
//! **Boots in intermittent runs.** A boot re-validates the stored plan, so its cost grows with
//! the plan's layer count, and a prefix's power cycles are cheaper than the full plan's: plain
//! differences would charge layer k with the extra boot cost of every earlier power cycle. For
//! intermittent runs the prefixes therefore also run in continuous mode (no boots), and layer k
//! gets its continuous difference plus its power cycles at the full plan's cost per power cycle
//! (its intermittent minus continuous time, over its power cycles). The per-layer figures still
//! add up to the full intermittent run.

pub use inas_core::predict;
pub mod report;
pub mod samples;

use inas_common::plan::{self, Plan, PlanMeta};
use inas_common::wire::RunMode;
use serde::Serialize;

use crate::device::client::{device_name, ClientError, Deployed, Inference, Stats};
use crate::device::{host_logits, Client, Link};
pub use predict::LayerPrediction;

/// One test input (Q15, as the plan's input) and its label, if known.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub input: Vec<i16>,
    pub label: Option<u8>,
}

/// How to measure.
#[derive(Clone, Debug)]
pub struct Setup {
    pub mode: RunMode,
    /// Per-layer numbers by layer prefixes (see the module docs).
    pub per_layer: bool,
    /// The model's per-layer prediction for the plan, if any.
    pub predicted: Option<Vec<LayerPrediction>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SampleResult {
    pub index: usize,
    pub label: Option<u8>,
    /// Argmax of the device's logits.
    pub predicted_class: usize,
    pub correct: Option<bool>,
    pub logits: Vec<i16>,
    pub logits_match_host: bool,
    /// Host-timed, end to end.
    pub latency_s: f64,
    /// The device's on-time.
    pub on_time_s: f64,
    pub power_cycles: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerResult {
    pub name: String,
    pub design: String,
    /// Host-timed difference of successive prefixes (None without per-layer measurement).
    pub measured_latency_s: Option<f64>,
    pub measured_on_time_s: Option<f64>,
    pub measured_power_cycles: Option<i64>,
    pub predicted_latency_s: Option<f64>,
    pub predicted_on_time_s: Option<f64>,
    pub predicted_power_cycles: Option<f64>,
}

/// Everything `inas measure` reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub device: String,
    pub link: String,
    pub plan_id: u32,
    pub mode: &'static str,
    pub samples: usize,
    /// Share of labelled samples whose argmax is the label (None without labels).
    pub accuracy: Option<f64>,
    /// The device's logits equal the host engine's for every sample.
    pub logits_match_host: bool,
    /// Mean per inference.
    pub measured_latency_s: f64,
    pub measured_on_time_s: f64,
    pub predicted_latency_s: Option<f64>,
    pub predicted_on_time_s: Option<f64>,
    /// The profile whose model made the prediction (set by whoever chose it).
    pub predicted_by: Option<String>,
    /// Mean per inference.
    pub power_cycles: f64,
    pub predicted_power_cycles: Option<f64>,
    pub layers: Vec<LayerResult>,
    pub per_sample: Vec<SampleResult>,
    pub deploy: Deployed,
    /// Line statistics of the whole measurement.
    pub link_stats: Stats,
}

#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Input(String),
}

/// The plan cut after its first `k` layers (same id, designs and tensor section).
pub fn prefix_plan(bytes: &[u8], k: usize) -> Result<Vec<u8>, String> {
    let p = Plan::decode(bytes).map_err(|e| e.to_string())?;
    if k == 0 || k > p.meta.layers.len() {
        return Err(format!(
            "a prefix of {k} layers of a {}-layer plan",
            p.meta.layers.len()
        ));
    }
    let mut layers = p.meta.layers.clone();
    layers.truncate(k);
    let meta = PlanMeta {
        layers,
        ..p.meta.clone()
    };
    let tensors: Vec<i16> = (0..p.tensor_elements())
        .map(|i| p.tensor_value(i))
        .collect();
    let len = plan::encoded_len(&meta, tensors.len()).map_err(|e| e.to_string())?;
    let mut out = vec![0u8; len];
    plan::encode(&meta, &tensors, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

fn argmax(v: &[i16]) -> usize {
    // The first of equal maxima, as a classifier's argmax conventionally is.
    v.iter()
        .enumerate()
        .fold(
            (0, i16::MIN),
            |(bi, bv), (i, &x)| if x > bv { (i, x) } else { (bi, bv) },
        )
        .0
}

/// Measures `plan` on the device behind `client`: deploys it (and its prefixes, for per-layer
/// numbers), runs every sample, and compares. `progress(done, total)` follows the inferences.
pub fn measure<L: Link>(
    client: &mut Client<L>,
    plan: &[u8],
    samples: &[Sample],
    setup: &Setup,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Report, MeasureError> {
    if samples.is_empty() {
        return Err(MeasureError::Input("no samples to measure".into()));
    }
    let decoded = Plan::decode(plan).map_err(|e| MeasureError::Input(format!("plan: {e}")))?;
    let layer_count = decoded.meta.layers.len();
    let layers_u16 = layer_count as u16;
    let caps = client.hello()?;
    let clock_hz = f64::from(caps.clock_hz.max(1));
    let host: Vec<Vec<i16>> = samples
        .iter()
        .map(|s| host_logits(plan, &s.input))
        .collect::<Result<_, _>>()
        .map_err(MeasureError::Input)?;
    let per_layer = setup.per_layer && layer_count > 1;
    // Intermittent per-layer figures need the prefixes in continuous mode too (module docs).
    let split_boots = per_layer && setup.mode == RunMode::Intermittent;
    let modes: &[RunMode] = if split_boots {
        &[RunMode::Intermittent, RunMode::Continuous]
    } else {
        &[setup.mode]
    };
    let total = samples.len()
        + if per_layer {
            modes.len() * (layer_count - 1) + modes.len() - 1
        } else {
            0
        };
    let mut done = 0;
    // Cumulative (host s, on s, power cycles) after each prefix of the first sample, per mode.
    let mut prefixes: Vec<(f64, f64, i64)> = vec![];
    let mut cont_prefixes: Vec<(f64, f64, i64)> = vec![];
    let cut = |r: &Inference| {
        (
            r.host_latency.as_secs_f64(),
            r.result.on_cycles.get() as f64 / clock_hz,
            i64::from(r.result.power_cycles),
        )
    };
    // A device stores each upload in the slot it does not run from, and where a plan lies
    // changes its cost a little (16-bit compares of 32-bit NVM addresses: about 0.2 % on the
    // LaunchPad), which a difference of two prefixes would charge to one layer. So every
    // prefix runs from the slot the first one did: after the first, each goes up twice.
    let mut uploads = 0;
    let mut deploy_in_place = |client: &mut Client<L>, bytes: &[u8]| {
        if per_layer && uploads > 0 {
            client.deploy(bytes, &mut |_, _| {})?;
        }
        uploads += 1;
        Ok::<_, MeasureError>(client.deploy(bytes, &mut |_, _| {})?)
    };
    if per_layer {
        for k in 1..layer_count {
            let bytes = prefix_plan(plan, k).map_err(MeasureError::Input)?;
            deploy_in_place(client, &bytes)?;
            for &mode in modes {
                let r = client.infer(&samples[0].input, mode, k as u16)?;
                if mode == setup.mode {
                    prefixes.push(cut(&r));
                } else {
                    cont_prefixes.push(cut(&r));
                }
                done += 1;
                progress(done, total);
            }
        }
    }
    let deploy = deploy_in_place(client, plan)?;
    if split_boots {
        let r = client.infer(&samples[0].input, RunMode::Continuous, layers_u16)?;
        cont_prefixes.push(cut(&r));
        done += 1;
        progress(done, total);
    }
    let mut per_sample = Vec::with_capacity(samples.len());
    for (i, (s, want)) in samples.iter().zip(&host).enumerate() {
        let r = client.infer(&s.input, setup.mode, layers_u16)?;
        let logits = r.result.logits.to_vec();
        let class = argmax(&logits);
        per_sample.push(SampleResult {
            index: i,
            label: s.label,
            predicted_class: class,
            correct: s.label.map(|l| usize::from(l) == class),
            logits_match_host: r.result.plan_id == deploy.plan_id && logits == *want,
            logits,
            latency_s: r.host_latency.as_secs_f64(),
            on_time_s: r.result.on_cycles.get() as f64 / clock_hz,
            power_cycles: r.result.power_cycles,
        });
        done += 1;
        progress(done, total);
    }
    let n = per_sample.len() as f64;
    let mean = |f: &dyn Fn(&SampleResult) -> f64| per_sample.iter().map(f).sum::<f64>() / n;
    let labelled: Vec<bool> = per_sample.iter().filter_map(|s| s.correct).collect();
    let accuracy = (!labelled.is_empty())
        .then(|| labelled.iter().filter(|&&c| c).count() as f64 / labelled.len() as f64);
    if per_layer {
        let first = &per_sample[0];
        prefixes.push((
            first.latency_s,
            first.on_time_s,
            i64::from(first.power_cycles),
        ));
    }
    if split_boots {
        // Continuous differences plus each layer's power cycles at the full plan's cost per
        // power cycle (intermittent minus continuous).
        let (full, cont) = (prefixes[layer_count - 1], cont_prefixes[layer_count - 1]);
        let cycles = full.2.max(1) as f64;
        let per_cycle = ((full.0 - cont.0) / cycles, (full.1 - cont.1) / cycles);
        // Cumulatively that is the continuous prefix plus its power cycles at that cost.
        for (p, c) in prefixes.iter_mut().zip(&cont_prefixes) {
            let pcs = p.2 as f64;
            *p = (c.0 + pcs * per_cycle.0, c.1 + pcs * per_cycle.1, p.2);
        }
    }
    let predicted = setup.predicted.as_deref();
    let layers = decoded
        .meta
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let diff = |f: fn(&(f64, f64, i64)) -> f64| {
                let cur = prefixes.get(i).map(f)?;
                Some(cur - if i == 0 { 0.0 } else { f(&prefixes[i - 1]) })
            };
            let p = predicted.and_then(|p| p.get(i));
            LayerResult {
                name: p.map_or_else(|| format!("layer {i}"), |p| p.name.clone()),
                design: l.design.to_string(),
                measured_latency_s: diff(|c| c.0),
                measured_on_time_s: diff(|c| c.1),
                measured_power_cycles: diff(|c| c.2 as f64).map(|v| v as i64),
                predicted_latency_s: p.and_then(|p| p.latency_s),
                predicted_on_time_s: p.map(|p| p.on_time_s),
                predicted_power_cycles: p.map(|p| p.power_cycles),
            }
        })
        .collect();
    let sum = |f: fn(&LayerPrediction) -> Option<f64>| {
        predicted.and_then(|p| p.iter().map(f).sum::<Option<f64>>())
    };
    Ok(Report {
        device: device_name(&caps),
        link: client.link().describe(),
        plan_id: deploy.plan_id,
        mode: match setup.mode {
            RunMode::Intermittent => "intermittent",
            RunMode::Continuous => "continuous",
        },
        samples: per_sample.len(),
        accuracy,
        logits_match_host: per_sample.iter().all(|s| s.logits_match_host),
        measured_latency_s: mean(&|s| s.latency_s),
        measured_on_time_s: mean(&|s| s.on_time_s),
        predicted_latency_s: sum(|p| p.latency_s),
        predicted_on_time_s: sum(|p| Some(p.on_time_s)),
        predicted_by: None,
        power_cycles: mean(&|s| f64::from(s.power_cycles)),
        predicted_power_cycles: sum(|p| Some(p.power_cycles)),
        layers,
        per_sample,
        deploy,
        link_stats: client.stats(),
    })
}
