//! Whole-layer calibration: what microbenchmarks cannot isolate.
//!
//! Transfers and MACs have their own benchmarks; everything else a firmware spends per tile —
//! addressing, accumulation, pooling, partial-sum and output bookkeeping, and the reboot of
//! every power cycle — only shows in whole layers. The model's latency is linear in each of
//! those constants (cost-model.md §7: counts times constants), so with the benchmarked lines fixed, the
//! per-layer on-times of a set of calibration plans, measured in both run modes, pin them down by
//! least squares. The plans vary loop order, tile sizes and preservation batch so that every
//! constant is exercised in different proportions.
//!
//! The fit minimises relative error (a small layer counts as much as a large one) and keeps
//! every constant non-negative: a constant that would go negative is fixed at 0 and the rest
//! refitted.

use inas_common::wire::RunMode;
use inas_common::{ExecDesign, LoopOrder};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use crate::device::{Client, Link};
use crate::measure::predict::on_time_s;
use crate::measure::{self, MeasureError, Sample, Setup};
use crate::network::{Layer, Network, HAR};
use crate::planner;
use crate::profile::Profile;

/// One fitted constant: where it lives in a profile and how to set it.
struct Param {
    name: &'static str,
    set: fn(&mut Profile, f64),
}

/// The constants whole layers calibrate, in profile units (cycles of the cost-model clock;
/// seconds for the reboot). Per-MAC and per-element addressing fold into `ops.add` and
/// `ops.pool`: the model only ever adds them together.
/// The per-element GAP constant: a firmware with a pool microbenchmark measures it.
pub const POOL_CYCLES: &str = "ops.pool.cycles";

const PARAMS: [Param; 14] = [
    Param {
        name: "ops.tile.cycles",
        set: |p, v| p.ops.tile.cycles = v,
    },
    Param {
        name: "ops.output.cycles",
        set: |p, v| p.ops.output.cycles = v,
    },
    Param {
        name: "overheads.footprint",
        set: |p, v| p.overheads.footprint.latency.cycles = Some(v),
    },
    Param {
        name: "ops.add.cycles",
        set: |p, v| p.ops.add.cycles = v,
    },
    Param {
        name: POOL_CYCLES,
        set: |p, v| p.ops.pool.cycles = v,
    },
    Param {
        name: "reboot.latency_s",
        set: |p, v| p.reboot.latency_s = v,
    },
    Param {
        name: "overheads.fetch_ifm",
        set: |p, v| p.overheads.fetch_ifm.latency.cycles = Some(v),
    },
    Param {
        name: "overheads.fetch_weights",
        set: |p, v| p.overheads.fetch_weights.latency.cycles = Some(v),
    },
    Param {
        name: "overheads.fetch_psum_i",
        set: |p, v| p.overheads.fetch_psum_i.latency.cycles = Some(v),
    },
    Param {
        name: "overheads.fetch_psum_w",
        set: |p, v| p.overheads.fetch_psum_w.latency.cycles = Some(v),
    },
    Param {
        name: "overheads.fetch_psum_o",
        set: |p, v| p.overheads.fetch_psum_o.latency.cycles = Some(v),
    },
    Param {
        name: "overheads.backup_out_i",
        set: |p, v| p.overheads.backup_out_i.latency.cycles = Some(v),
    },
    Param {
        name: "overheads.backup_out_w",
        set: |p, v| p.overheads.backup_out_w.latency.cycles = Some(v),
    },
    Param {
        name: "overheads.backup_out_o",
        set: |p, v| p.overheads.backup_out_o.latency.cycles = Some(v),
    },
];

/// `p` with every fitted constant at 0 and the folded addressing overheads at 0 cycles. The
/// MAC line's per-call part goes too: the model charges it per kernel tap, the same count as
/// `ops.add`, which the fit sets instead (a firmware whose MAC call covers a whole output tile
/// costs per tile and per output, not per tap, and the microbenchmark's per-call figure
/// charged per tap would over-count it many times).
#[cfg(test)]
fn zeroed(p: &Profile) -> Profile {
    zeroed_but(p, &[])
}

/// [`zeroed`], except the constants named in `kept` (measured by a microbenchmark).
fn zeroed_but(p: &Profile, kept: &[&str]) -> Profile {
    let mut z = p.clone();
    z.mac.cycles.intercept = 0.0;
    for param in PARAMS.iter().filter(|q| !kept.contains(&q.name)) {
        (param.set)(&mut z, 0.0);
    }
    let o = &mut z.overheads;
    for oh in [
        &mut o.psum_addressing,
        &mut o.accumulate_addressing,
        &mut o.pool_addressing,
    ] {
        oh.latency.cycles = Some(0.0);
    }
    z
}

/// One layer of a calibration plan, measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerPoint {
    pub plan: usize,
    #[serde(serialize_with = "layer_name")]
    pub layer: Layer,
    #[serde(serialize_with = "design_name")]
    pub design: ExecDesign,
    #[serde(serialize_with = "mode_name")]
    pub mode: RunMode,
    /// The device's on-time for the layer, s.
    pub measured_s: f64,
}

fn layer_name<S: serde::Serializer>(l: &Layer, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&l.name)
}

fn design_name<S: serde::Serializer>(d: &ExecDesign, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(d)
}

fn mode_name<S: serde::Serializer>(m: &RunMode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match m {
        RunMode::Intermittent => "intermittent",
        RunMode::Continuous => "continuous",
    })
}

/// The fitted constants and how well the model with them explains the points.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerFit {
    /// (profile key, value in profile units) of every fitted constant.
    pub params: Vec<(String, f64)>,
    /// Constants a microbenchmark measured: kept as the base profile had them, not fitted.
    pub kept: Vec<String>,
    /// Constants with nothing in the calibration set to fit them: left at 0.
    pub unexcited: Vec<String>,
    /// Constants the fit wanted negative: fixed at 0.
    pub clamped: Vec<String>,
    /// Per point: (measured, predicted) on-time, s.
    pub points: Vec<(f64, f64)>,
    /// Per point: plan, layer, design and run mode.
    pub labels: Vec<String>,
    /// Largest |predicted − measured| / measured over the points, %.
    pub max_error_pct: f64,
    /// Root-mean-square relative error, %.
    pub rms_error_pct: f64,
}

impl LayerFit {
    /// Writes the fitted constants into `p`.
    pub fn apply(&self, p: &mut Profile) {
        let kept: Vec<&str> = self.kept.iter().map(String::as_str).collect();
        *p = zeroed_but(p, &kept);
        for (name, v) in &self.params {
            if let Some(param) = PARAMS.iter().find(|q| q.name == name) {
                (param.set)(p, *v);
            }
        }
    }
}

/// Relative errors (%) of predictions against measurements.
pub fn errors_pct(points: &[(f64, f64)]) -> Vec<f64> {
    points
        .iter()
        .map(|&(m, p)| (p - m) / m.abs().max(1e-12) * 100.0)
        .collect()
}

/// Fits the whole-layer constants of `base` (whose transfer and MAC lines are already
/// calibrated) to `points`; the constants named in `kept` keep `base`'s values. `None` when
/// there are no points.
pub fn fit(base: &Profile, points: &[LayerPoint], kept: &[&str]) -> Option<LayerFit> {
    if points.is_empty() {
        return None;
    }
    let zero = zeroed_but(base, kept);
    let fixed = zero.cost_table();
    let on = |costs: &crate::profile::CostTable, pt: &LayerPoint| {
        on_time_s(costs, &pt.layer, &pt.design, pt.mode)
    };
    // Features: the on-time each constant contributes per unit, with the lines and the kept
    // constants removed.
    let mut lines_off = zeroed_but(base, &[]);
    for l in [
        &mut lines_off.transfer.read,
        &mut lines_off.transfer.write,
        &mut lines_off.mac,
    ] {
        l.cycles.slope = 0.0;
        l.cycles.intercept = 0.0;
    }
    let features: Vec<Vec<f64>> = PARAMS
        .iter()
        .map(|param| {
            let mut unit = lines_off.clone();
            (param.set)(&mut unit, 1.0);
            let t = unit.cost_table();
            points.iter().map(|pt| on(&t, pt)).collect()
        })
        .collect();
    let constant: Vec<f64> = points.iter().map(|pt| on(&fixed, pt)).collect();
    let measured: Vec<f64> = points.iter().map(|pt| pt.measured_s).collect();

    let is_kept = |j: usize| kept.contains(&PARAMS[j].name);
    let mut free: Vec<usize> = (0..PARAMS.len())
        .filter(|&j| !is_kept(j) && features[j].iter().any(|&f| f != 0.0))
        .collect();
    let unexcited: Vec<String> = (0..PARAMS.len())
        .filter(|&j| !is_kept(j) && !free.contains(&j))
        .map(|j| PARAMS[j].name.to_owned())
        .collect();
    let mut clamped = vec![];
    let theta = loop {
        let theta = solve(&features, &constant, &measured, &free);
        let worst = free
            .iter()
            .copied()
            .filter(|&j| theta[j] < 0.0)
            .min_by(|&a, &b| theta[a].total_cmp(&theta[b]));
        match worst {
            Some(j) => {
                clamped.push(PARAMS[j].name.to_owned());
                free.retain(|&k| k != j);
            }
            None => break theta,
        }
    };
    let params: Vec<(String, f64)> = PARAMS
        .iter()
        .zip(&theta)
        .enumerate()
        .filter(|&(j, _)| !is_kept(j))
        .map(|(_, (p, &v))| (p.name.to_owned(), v.max(0.0)))
        .collect();
    let predicted: Vec<f64> = (0..points.len())
        .map(|i| {
            constant[i]
                + (0..PARAMS.len())
                    .map(|j| theta[j].max(0.0) * features[j][i])
                    .sum::<f64>()
        })
        .collect();
    let pairs: Vec<(f64, f64)> = measured.iter().copied().zip(predicted).collect();
    let errs = errors_pct(&pairs);
    let max_error_pct = errs.iter().fold(0.0f64, |a, e| a.max(e.abs()));
    let rms_error_pct = (errs.iter().map(|e| e * e).sum::<f64>() / errs.len() as f64).sqrt();
    let labels = points
        .iter()
        .map(|p| {
            let mode = match p.mode {
                RunMode::Intermittent => "int",
                RunMode::Continuous => "cont",
            };
            format!("plan {} {} {} {mode}", p.plan, p.layer.name, p.design)
        })
        .collect();
    Some(LayerFit {
        params,
        kept: kept.iter().map(|&k| k.to_owned()).collect(),
        unexcited,
        clamped,
        points: pairs,
        labels,
        max_error_pct,
        rms_error_pct,
    })
}

/// Least squares of relative error over the `free` constants (the others 0): minimises
/// Σ ((constant + Σ θ·feature − measured) / measured)².
fn solve(features: &[Vec<f64>], constant: &[f64], measured: &[f64], free: &[usize]) -> Vec<f64> {
    let k = free.len();
    let mut theta = vec![0.0; features.len()];
    if k == 0 {
        return theta;
    }
    // Normal equations AᵀA x = Aᵀb with rows scaled by 1/measured; columns scaled to unit
    // norm so seconds and cycles condition alike.
    let rows = measured.len();
    let a = |i: usize, c: usize| features[free[c]][i] / measured[i].abs().max(1e-12);
    let b: Vec<f64> = (0..rows)
        .map(|i| (measured[i] - constant[i]) / measured[i].abs().max(1e-12))
        .collect();
    let norm: Vec<f64> = (0..k)
        .map(|c| {
            (0..rows)
                .map(|i| a(i, c) * a(i, c))
                .sum::<f64>()
                .sqrt()
                .max(1e-300)
        })
        .collect();
    let mut m = vec![vec![0.0; k + 1]; k];
    for r in 0..k {
        for c in 0..k {
            m[r][c] = (0..rows).map(|i| a(i, r) * a(i, c)).sum::<f64>() / (norm[r] * norm[c]);
        }
        m[r][k] = (0..rows).map(|i| a(i, r) * b[i]).sum::<f64>() / norm[r];
        // A touch of ridge keeps a nearly collinear pair from blowing up.
        m[r][r] += 1e-9;
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..k {
        let piv = (col..k)
            .max_by(|&x, &y| m[x][col].abs().total_cmp(&m[y][col].abs()))
            .unwrap_or(col);
        m.swap(col, piv);
        let d = m[col][col];
        if d.abs() < 1e-300 {
            continue;
        }
        let pivot = m[col].clone();
        for (r, row) in m.iter_mut().enumerate() {
            if r == col {
                continue;
            }
            let f = row[col] / d;
            if f != 0.0 {
                for (x, p) in row[col..].iter_mut().zip(&pivot[col..]) {
                    *x -= f * p;
                }
            }
        }
    }
    for (c, &j) in free.iter().enumerate() {
        let d = m[c][c];
        theta[j] = if d.abs() < 1e-300 {
            0.0
        } else {
            m[c][k] / d / norm[c]
        };
    }
    theta
}

/// Input rows of the calibration plans: small enough to measure quickly, large enough for
/// several tiles per layer.
pub const ROWS: u32 = 48;

/// A calibration plan: its network, designs and bytes.
pub struct CalPlan {
    pub net: Network,
    pub designs: Vec<ExecDesign>,
    pub bytes: Vec<u8>,
}

fn divisors(n: u32) -> Vec<u32> {
    (1..=n).filter(|&d| n.is_multiple_of(d)).collect()
}

/// `count` small HAR-space plans (`rows` input rows) with designs drawn from `seed`: every
/// loop order, tile sizes from single elements to whole layers, batches of 1 to 4. Each
/// fits a device with `vm_bytes` of VM and `nvm_bytes` of NVM.
pub fn plans(count: usize, rows: u32, seed: u64, vm_bytes: u64, nvm_bytes: u64) -> Vec<CalPlan> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut space = HAR;
    space.input = rows;
    let mut out = vec![];
    let mut attempts = 0;
    while out.len() < count && attempts < count * 200 {
        attempts += 1;
        let actions: Vec<u32> = (0..space.layers)
            .flat_map(|_| {
                [
                    space.kernels[rng.random_range(0..space.kernels.len())],
                    space.filters[rng.random_range(0..2)],
                ]
            })
            .collect();
        let Ok(net) = space.network(&actions) else {
            continue;
        };
        let designs: Vec<ExecDesign> = net
            .layers
            .iter()
            .map(|l| {
                // Mostly large tiles, as the explorer picks them, some small ones for contrast.
                let pick = |rng: &mut ChaCha8Rng, n: u32| {
                    let d = divisors(n);
                    let from = if rng.random_bool(0.7) { d.len() / 2 } else { 0 };
                    d[rng.random_range(from..d.len())]
                };
                let order = if l.is_pool() {
                    LoopOrder::ReuseO
                } else {
                    [LoopOrder::ReuseI, LoopOrder::ReuseW, LoopOrder::ReuseO]
                        [rng.random_range(0..3)]
                };
                let tr = pick(&mut rng, if l.is_pool() { l.h } else { l.r });
                let tc = if l.is_pool() { l.w } else { l.c };
                let tm = pick(&mut rng, l.m);
                let tn = if l.is_pool() { 1 } else { pick(&mut rng, l.n) };
                // A batch divides the loop it runs along (the plan format's rule): output
                // channel tiles for reuse_I, spatial tiles for reuse_W and GAP, input channel
                // tiles for reuse_O. Any divisor, so that long batches of small tiles (the
                // explorer's favourite) are measured too.
                let spatial = (if l.is_pool() { l.h } else { l.r }).div_ceil(tr) * l.c.div_ceil(tc);
                let along = match order {
                    _ if l.is_pool() => spatial,
                    LoopOrder::ReuseI => l.m.div_ceil(tm),
                    LoopOrder::ReuseW => spatial,
                    LoopOrder::ReuseO => l.n.div_ceil(tn),
                };
                let ds = divisors(along.max(1));
                ExecDesign {
                    tr,
                    tc,
                    tm,
                    tn,
                    order,
                    batch: ds[rng.random_range(0..ds.len())],
                }
            })
            .collect();
        let tensors = planner::random_tensors(&net, seed ^ attempts as u64);
        let target = planner::target(vm_bytes, nvm_bytes, "calibration");
        let id = 0xCA1B_0000 + out.len() as u32;
        let built = planner::build(&net, &designs, &tensors, 0, target, id);
        if let Ok(bytes) = built.map_err(|e| e.to_string()).and_then(|b| {
            planner::open(&b).map_err(|e| e.to_string())?;
            Ok(b)
        }) {
            out.push(CalPlan {
                net,
                designs,
                bytes,
            });
        }
    }
    out
}

/// Measures every layer of `plans` on the device in both run modes (per-layer on-time by
/// layer prefixes, see [`crate::measure`]). `progress(done, total)` counts inferences.
pub fn measure_points<L: Link>(
    client: &mut Client<L>,
    plans: &[CalPlan],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<LayerPoint>, MeasureError> {
    let total: usize = plans.iter().map(|p| 2 * p.net.layers.len()).sum();
    let mut done = 0;
    let mut points = vec![];
    for (i, p) in plans.iter().enumerate() {
        let l0 = &p.net.layers[0];
        let input = planner::random_input((l0.h * l0.w * l0.n) as usize, i as u64);
        let sample = [Sample { input, label: None }];
        for mode in [RunMode::Intermittent, RunMode::Continuous] {
            let setup = Setup {
                mode,
                per_layer: true,
                predicted: None,
            };
            let base = done;
            let r = measure::measure(client, &p.bytes, &sample, &setup, &mut |d, _| {
                progress(base + d, total)
            })?;
            done += p.net.layers.len();
            if !r.logits_match_host {
                return Err(MeasureError::Input(format!(
                    "calibration plan {i}: the device's logits differ from the host engine's"
                )));
            }
            for ((layer, d), m) in p.net.layers.iter().zip(&p.designs).zip(&r.layers) {
                let Some(measured_s) = m.measured_on_time_s else {
                    continue;
                };
                points.push(LayerPoint {
                    plan: i,
                    layer: layer.clone(),
                    design: *d,
                    mode,
                    measured_s,
                });
            }
        }
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points_from(truth: &Profile, plans: &[CalPlan]) -> Vec<LayerPoint> {
        let t = truth.cost_table();
        let mut pts = vec![];
        for (i, p) in plans.iter().enumerate() {
            for mode in [RunMode::Intermittent, RunMode::Continuous] {
                for (layer, d) in p.net.layers.iter().zip(&p.designs) {
                    pts.push(LayerPoint {
                        plan: i,
                        layer: layer.clone(),
                        design: *d,
                        mode,
                        measured_s: on_time_s(&t, layer, d, mode),
                    });
                }
            }
        }
        pts
    }

    #[test]
    fn the_plans_are_valid_varied_and_repeatable() {
        let a = plans(6, 24, 7, 2048, 1 << 20);
        assert_eq!(a.len(), 6);
        let orders: std::collections::HashSet<_> = a
            .iter()
            .flat_map(|p| p.designs.iter().map(|d| d.order))
            .collect();
        assert_eq!(orders.len(), 3, "every loop order appears");
        assert!(a.iter().any(|p| p.designs.iter().any(|d| d.batch > 1)));
        let b = plans(6, 24, 7, 2048, 1 << 20);
        assert!(a.iter().zip(&b).all(|(x, y)| x.bytes == y.bytes));
    }

    #[test]
    fn a_model_generated_set_is_fitted_back_exactly() {
        // A "device" that is the model with known constants: the fit must recover them.
        let mut truth = zeroed(&Profile::reference());
        let known = [
            300.0, 37.0, 210.0, 21.0, 9.0, 0.011, 55.0, 44.0, 90.0, 70.0, 65.0, 120.0, 130.0, 80.0,
        ];
        assert_eq!(known.len(), PARAMS.len());
        for (p, v) in PARAMS.iter().zip(known) {
            (p.set)(&mut truth, v);
        }
        let pts = points_from(&truth, &plans(10, 24, 3, 2048, 1 << 20));
        let f = fit(&truth, &pts, &[]).unwrap();
        assert!(f.max_error_pct < 1e-6, "{f:?}");
        assert!(f.clamped.is_empty(), "{:?}", f.clamped);
        for ((name, got), want) in f.params.iter().zip(known) {
            if f.unexcited.contains(name) {
                continue;
            }
            assert!(
                (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{name}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn a_kept_constant_stays_as_measured_and_the_rest_is_fitted_around_it() {
        let mut truth = zeroed(&Profile::reference());
        let known = [
            300.0, 37.0, 210.0, 21.0, 9.0, 0.011, 55.0, 44.0, 90.0, 70.0, 65.0, 120.0, 130.0, 80.0,
        ];
        for (p, v) in PARAMS.iter().zip(known) {
            (p.set)(&mut truth, v);
        }
        let pts = points_from(&truth, &plans(10, 24, 3, 2048, 1 << 20));
        let f = fit(&truth, &pts, &[POOL_CYCLES]).unwrap();
        assert!(f.max_error_pct < 1e-6, "{f:?}");
        assert_eq!(f.kept, [POOL_CYCLES]);
        assert!(f.params.iter().all(|(n, _)| n != POOL_CYCLES));
        let mut p = Profile::reference();
        p.ops.pool.cycles = 9.0;
        f.apply(&mut p);
        assert_eq!(p.ops.pool.cycles, 9.0);
        // A wrong kept value is not hidden: the others cannot absorb it exactly.
        let mut off = truth.clone();
        off.ops.pool.cycles = 30.0;
        let g = fit(&off, &pts, &[POOL_CYCLES]).unwrap();
        assert!(g.max_error_pct > 0.1, "{g:?}");
    }

    #[test]
    fn a_constant_that_would_be_negative_is_clamped_to_zero() {
        let mut truth = zeroed(&Profile::reference());
        (PARAMS[3].set)(&mut truth, 40.0);
        let mut pts = points_from(&truth, &plans(6, 24, 5, 2048, 1 << 20));
        // Measurements 10 % below what the lines alone predict force some constant negative.
        let lines = zeroed(&truth).cost_table();
        for p in &mut pts {
            p.measured_s = on_time_s(&lines, &p.layer, &p.design, p.mode) * 0.9;
        }
        let f = fit(&truth, &pts, &[]).unwrap();
        assert!(!f.clamped.is_empty());
        assert!(f.params.iter().all(|(_, v)| *v >= 0.0), "{:?}", f.params);
    }
}
