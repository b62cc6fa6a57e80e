//! The execution-design explorer (iNAS-Exp, cost-model.md §4, §9, §10): an exhaustive per-layer sweep of
//! tile sizes, loop order and preservation batch, the reference's choice rule, and the
//! network-level result.

use inas_common::{ExecDesign, LoopOrder};
use serde::Serialize;

use crate::model::{
    self, cont_record, counts_from, finish_int, ifm_tile, max_min, vm_bytes, CycleTerms, Design,
    IfmRule, ModelError, Platform, Power, Rejected, TileCounts, VmTerms,
};
use crate::network::{Layer, Network};

/// How a sweep went: the reference's enum / feas / ties columns, split by failure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SweepStats {
    pub enumerated: u64,
    pub failed_c0: u64,
    pub failed_c1: u64,
    pub feasible: u64,
    /// Feasible designs whose latency equals the minimum exactly.
    pub ties: u64,
}

/// Why no design of a layer can run, with the numbers that decide it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Infeasible {
    /// No candidate fits the VM (the reference's intended code 11).
    Memory {
        layer: String,
        min_vm_bytes: u64,
        vm_capacity: u64,
    },
    /// Some fit the VM, none fits one power cycle's energy (the reference's intended code 12).
    Energy {
        layer: String,
        best_epc_j: f64,
        budget_j: f64,
        design: String,
    },
}

impl Infeasible {
    pub fn layer(&self) -> &str {
        match self {
            Infeasible::Memory { layer, .. } | Infeasible::Energy { layer, .. } => layer,
        }
    }

    /// The code the reference *intended* (it always returns −1, quirk Q4).
    pub fn intended_code(&self) -> i32 {
        match self {
            Infeasible::Memory { .. } => 11,
            Infeasible::Energy { .. } => 12,
        }
    }
}

impl std::fmt::Display for Infeasible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Infeasible::Memory { layer, min_vm_bytes, vm_capacity } => write!(
                f,
                "{layer}: no design fits the VM: the smallest needs {min_vm_bytes} B > {vm_capacity} B"
            ),
            Infeasible::Energy { layer, best_epc_j, budget_j, design } => write!(
                f,
                "{layer}: best energy per cycle {:.1} µJ > budget {:.1} µJ (design {design})",
                best_epc_j * 1e6,
                budget_j * 1e6
            ),
        }
    }
}

/// One explored layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerResult {
    pub name: String,
    pub stats: SweepStats,
    pub design: Design,
}

/// A network's exploration: every layer up to the first infeasible one.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkResult {
    pub power: Power,
    pub layers: Vec<LayerResult>,
    /// Left-to-right sum of the layer latencies; none when a layer is infeasible.
    pub latency_s: Option<f64>,
    pub infeasible: Option<Infeasible>,
}

/// Divisors of `x` in ascending order.
fn divisors(x: u32) -> Vec<u32> {
    let mut low = Vec::new();
    let mut high = Vec::new();
    let mut d = 1u32;
    while u64::from(d) * u64::from(d) <= u64::from(x) {
        if x.is_multiple_of(d) {
            low.push(d);
            if d != x / d {
                high.push(x / d);
            }
        }
        d += 1;
    }
    low.extend(high.into_iter().rev());
    low
}

/// {1} ∪ even divisors of `x`, ascending.
fn one_and_even_divisors(x: u32) -> Vec<u32> {
    let mut v = vec![1];
    v.extend(divisors(x).into_iter().filter(|d| d % 2 == 0));
    v
}

/// Tile-size candidate lists (cost-model.md §4.1).
struct Lists {
    tr: Vec<u32>,
    tc: Vec<u32>,
    tm: Vec<u32>,
    tn: Vec<u32>,
}

impl Lists {
    fn new(l: &Layer) -> Lists {
        if l.is_pool() {
            Lists {
                tr: one_and_even_divisors(l.h),
                tc: one_and_even_divisors(l.w),
                tm: one_and_even_divisors(l.m),
                tn: vec![1],
            }
        } else {
            Lists {
                tr: divisors(l.r),
                tc: divisors(l.c),
                tm: divisors(l.m),
                tn: one_and_even_divisors(l.n),
            }
        }
    }
}

fn orders(l: &Layer) -> &'static [LoopOrder] {
    if l.is_pool() {
        &[LoopOrder::ReuseO]
    } else {
        &LoopOrder::ALL
    }
}

/// The best design so far under the reference's rule (cost-model.md §9.2): least latency by exact equality,
/// then least VM, then first enumerated.
struct Best {
    latency: f64,
    vm: u64,
    design: Option<ExecDesign>,
    ties: u64,
}

impl Best {
    fn new() -> Best {
        Best {
            latency: f64::INFINITY,
            vm: u64::MAX,
            design: None,
            ties: 0,
        }
    }

    #[inline(always)]
    fn offer(&mut self, latency: f64, vm: u64, d: &ExecDesign) {
        if latency < self.latency || self.design.is_none() {
            *self = Best {
                latency,
                vm,
                design: Some(*d),
                ties: 1,
            };
        } else if latency == self.latency {
            self.ties += 1;
            if vm < self.vm {
                self.vm = vm;
                self.design = Some(*d);
            }
        }
    }
}

/// Tracks the closest miss, to say why a layer has no design.
struct Misses {
    min_vm: u64,
    best_energy: Option<(f64, ExecDesign)>,
}

impl Misses {
    fn into_infeasible(self, p: &Platform, layer: &Layer) -> Infeasible {
        match self.best_energy {
            Some((e, d)) => Infeasible::Energy {
                layer: layer.name.clone(),
                best_epc_j: e,
                budget_j: p.budget_j(),
                design: d.to_string(),
            },
            None => Infeasible::Memory {
                layer: layer.name.clone(),
                min_vm_bytes: self.min_vm,
                vm_capacity: p.vm_bytes,
            },
        }
    }
}

/// Outcome of one layer's sweep.
pub type LayerOutcome = Result<(Design, SweepStats), (Infeasible, SweepStats)>;

/// Sweeps one layer under intermittent power (cost-model.md §9.1) and returns the chosen design.
pub fn explore_layer_int(p: &Platform, layer: &Layer) -> Result<LayerOutcome, ModelError> {
    let lists = Lists::new(layer);
    let eav = p.budget_j();
    let mut stats = SweepStats::default();
    let mut best = Best::new();
    let mut misses = Misses {
        min_vm: u64::MAX,
        best_energy: None,
    };
    // Preservation-batch lists depend on one loop count each; compute them once per value.
    let batches_m: Vec<Vec<u32>> = lists
        .tm
        .iter()
        .map(|&tm| one_and_even_divisors(layer.m.div_ceil(tm)))
        .collect();
    let batches_n: Vec<Vec<u32>> = lists
        .tn
        .iter()
        .map(|&tn| one_and_even_divisors(layer.n.div_ceil(tn)))
        .collect();
    let mts: Vec<u64> = lists
        .tm
        .iter()
        .map(|&tm| u64::from(layer.m.div_ceil(tm)))
        .collect();
    let nts: Vec<u64> = lists
        .tn
        .iter()
        .map(|&tn| u64::from(layer.n.div_ceil(tn)))
        .collect();
    for &tr in &lists.tr {
        let rt = TileCounts::rows(layer, tr);
        for &tc in &lists.tc {
            let ct = TileCounts::cols(layer, tc);
            let batches_rc = one_and_even_divisors((rt * ct) as u32);
            for (mi, &tm) in lists.tm.iter().enumerate() {
                for (ni, &tn) in lists.tn.iter().enumerate() {
                    let tiles = TileCounts {
                        rt,
                        ct,
                        mt: mts[mi],
                        nt: nts[ni],
                    };
                    for &order in orders(layer) {
                        let batches: &[u32] = if layer.is_pool() {
                            &batches_rc
                        } else {
                            match order {
                                LoopOrder::ReuseI => &batches_m[mi],
                                LoopOrder::ReuseW => &batches_rc,
                                LoopOrder::ReuseO => &batches_n[ni],
                            }
                        };
                        stats.enumerated += batches.len() as u64;
                        // Everything but S is fixed inside this loop: the IFM tile and the
                        // S-independent cost terms are computed once, and only when some S
                        // passes C0 (energy) or C1 (latency).
                        let group = ExecDesign {
                            tr,
                            tc,
                            tm,
                            tn,
                            order,
                            batch: 1,
                        };
                        let ifm = ifm_tile(&p.costs, layer, &group, IfmRule::IntSweep);
                        let vm_terms = VmTerms::new(&p.costs, layer, &group, ifm);
                        // S = 1 needs the least VM of the group.
                        misses.min_vm = misses.min_vm.min(vm_terms.at(1));
                        let mut e_terms = None;
                        let mut l_terms = None;
                        for (si, &batch) in batches.iter().enumerate() {
                            let d = ExecDesign { batch, ..group };
                            let vm = vm_terms.at(batch);
                            if vm > p.vm_bytes {
                                // VM grows with S (reuse_I, reuse_W, GAP) or does not depend
                                // on it (reuse_O): either way every larger S fails too.
                                stats.failed_c0 += (batches.len() - si) as u64;
                                break;
                            }
                            let counts = counts_from(layer, &d, &tiles);
                            let e_terms = e_terms.get_or_insert_with(|| {
                                CycleTerms::new(&p.costs.e, layer, &group, ifm)
                            });
                            let e = max_min(&counts, e_terms.at(&p.costs.e, batch));
                            if e.0 > eav {
                                stats.failed_c1 += 1;
                                if misses.best_energy.is_none_or(|(b, _)| e.0 < b) {
                                    misses.best_energy = Some((e.0, d));
                                }
                                continue;
                            }
                            stats.feasible += 1;
                            let l_terms = l_terms.get_or_insert_with(|| {
                                CycleTerms::new(&p.costs.l, layer, &group, ifm)
                            });
                            let l = max_min(&counts, l_terms.at(&p.costs.l, batch));
                            // Recharge time is never negative, so the latency without it is a
                            // lower bound (IEEE rounding is monotone): a design whose bound
                            // already exceeds the best cannot win or tie, and its logarithms
                            // are skipped. A cycle spending the budget exactly still reaches
                            // the recharge model, which refuses it as the reference does.
                            let bound = (counts.n0 * l.1) + (counts.ngt0 * l.0);
                            if bound > best.latency && e.0 != eav {
                                continue;
                            }
                            let rec = finish_int(p, layer, &d, vm, e, l, counts)?;
                            best.offer(rec.le2e_s(), vm, &d);
                        }
                    }
                }
            }
        }
    }
    Ok(match best.design {
        Some(d) => {
            stats.ties = best.ties;
            // The same function the sweep used, on the same point: it passes C0 and C1 again.
            let design = model::evaluate_int(p, layer, &d, IfmRule::IntSweep)?.map_err(|why| {
                ModelError::Inconsistent {
                    layer: layer.name.clone(),
                    why: why.to_string(),
                }
            })?;
            Ok((design, stats))
        }
        None => Err((misses.into_infeasible(p, layer), stats)),
    })
}

/// Sweeps one layer under continuous power (cost-model.md §10): S = 1, C0 only, least whole-layer latency.
pub fn explore_layer_cont(p: &Platform, layer: &Layer) -> LayerOutcome {
    let lists = Lists::new(layer);
    let mut stats = SweepStats::default();
    let mut best = Best::new();
    let mut min_vm = u64::MAX;
    for &tr in &lists.tr {
        for &tc in &lists.tc {
            for &tm in &lists.tm {
                for &tn in &lists.tn {
                    for &order in orders(layer) {
                        stats.enumerated += 1;
                        let d = ExecDesign {
                            tr,
                            tc,
                            tm,
                            tn,
                            order,
                            batch: 1,
                        };
                        let vm = vm_bytes(
                            &p.costs,
                            layer,
                            &d,
                            ifm_tile(&p.costs, layer, &d, IfmRule::Other),
                        );
                        min_vm = min_vm.min(vm);
                        if vm > p.vm_bytes {
                            stats.failed_c0 += 1;
                            continue;
                        }
                        stats.feasible += 1;
                        let l = model::layer_cost_cont(&p.costs, &p.costs.l, layer, &d);
                        best.offer(l, vm, &d);
                    }
                }
            }
        }
    }
    match best.design {
        Some(d) => {
            stats.ties = best.ties;
            Ok((cont_record(p, layer, &d, best.vm), stats))
        }
        // The reference crashes here (quirk Q5); we say why.
        None => Err((
            Infeasible::Memory {
                layer: layer.name.clone(),
                min_vm_bytes: min_vm,
                vm_capacity: p.vm_bytes,
            },
            stats,
        )),
    }
}

/// A running latency that must stay a number a user can act on.
fn finite(layer: &str, latency_s: f64) -> Result<(), ModelError> {
    if latency_s.is_finite() {
        Ok(())
    } else {
        Err(ModelError::NotFinite {
            layer: layer.to_owned(),
            latency_s,
        })
    }
}

/// Explores every layer of a network in order; stops at the first layer without a design
/// (cost-model.md §9.3, §9.4).
pub fn explore_network(
    p: &Platform,
    net: &Network,
    power: Power,
) -> Result<NetworkResult, ModelError> {
    let mut layers = Vec::with_capacity(net.layers.len());
    let mut latency = 0.0;
    for layer in &net.layers {
        let outcome = match power {
            Power::Int => explore_layer_int(p, layer)?,
            Power::Cont => explore_layer_cont(p, layer),
        };
        match outcome {
            Ok((design, stats)) => {
                latency += design.le2e_s();
                finite(&layer.name, latency)?;
                layers.push(LayerResult {
                    name: layer.name.clone(),
                    stats,
                    design,
                });
            }
            Err((why, _)) => {
                return Ok(NetworkResult {
                    power,
                    layers,
                    latency_s: None,
                    infeasible: Some(why),
                })
            }
        }
    }
    Ok(NetworkResult {
        power,
        layers,
        latency_s: Some(latency),
        infeasible: None,
    })
}

/// Why a fixed design cannot run a layer intermittently.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FixedFailure {
    pub layer: String,
    pub design: String,
    #[serde(flatten)]
    pub rejected: Rejected,
}

impl std::fmt::Display for FixedFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: design {} is unsafe: {}",
            self.layer, self.design, self.rejected
        )
    }
}

/// A network whose layers run fixed designs (typically the continuous-power baseline's),
/// evaluated under intermittent power (cost-model.md §11).
#[derive(Clone, Debug, PartialEq)]
pub struct FixedResult {
    /// Per layer: its name and its evaluation.
    pub layers: Vec<(String, Result<Design, Rejected>)>,
    /// Sum of the layer latencies; none when any layer is unsafe.
    pub latency_s: Option<f64>,
    /// The first unsafe layer.
    pub unsafe_layer: Option<FixedFailure>,
}

/// Evaluates one fixed design per layer under intermittent power.
pub fn evaluate_fixed_network(
    p: &Platform,
    net: &Network,
    designs: &[ExecDesign],
) -> Result<FixedResult, ModelError> {
    if net.layers.len() != designs.len() {
        return Err(ModelError::DesignCount {
            layers: net.layers.len(),
            designs: designs.len(),
        });
    }
    let mut layers = Vec::with_capacity(designs.len());
    let mut latency = Some(0.0);
    let mut unsafe_layer = None;
    for (layer, d) in net.layers.iter().zip(designs) {
        let r = model::evaluate_fixed(p, layer, d)?;
        match &r {
            Ok(design) => {
                latency = latency.map(|l| l + design.le2e_s());
                if let Some(l) = latency {
                    finite(&layer.name, l)?;
                }
            }
            Err(rejected) => {
                latency = None;
                unsafe_layer.get_or_insert_with(|| FixedFailure {
                    layer: layer.name.clone(),
                    design: d.to_string(),
                    rejected: rejected.clone(),
                });
            }
        }
        layers.push((layer.name.clone(), r));
    }
    Ok(FixedResult {
        layers,
        latency_s: latency,
        unsafe_layer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_designs_must_match_the_layers() {
        let p = Platform::new(
            &crate::profile::Profile::reference(),
            crate::model::Overrides::default(),
        )
        .unwrap();
        let net = crate::network::HAR
            .network(crate::network::HAR.example)
            .unwrap();
        let one = ExecDesign {
            tr: 1,
            tc: 1,
            tm: 1,
            tn: 1,
            order: LoopOrder::ReuseI,
            batch: 1,
        };
        let e = evaluate_fixed_network(&p, &net, &[one]).unwrap_err();
        assert_eq!(
            e,
            ModelError::DesignCount {
                layers: 5,
                designs: 1
            }
        );
    }

    #[test]
    fn divisor_lists() {
        assert_eq!(divisors(30), vec![1, 2, 3, 5, 6, 10, 15, 30]);
        assert_eq!(divisors(1), vec![1]);
        assert_eq!(divisors(49), vec![1, 7, 49]);
        assert_eq!(one_and_even_divisors(24), vec![1, 2, 4, 6, 8, 12, 24]);
        assert_eq!(one_and_even_divisors(9), vec![1]);
        assert_eq!(one_and_even_divisors(1), vec![1]);
    }
}
