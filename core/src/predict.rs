//! What the performance model predicts for a plan's own designs, per layer, in the form a
//! measurement can be compared with.
//!
//! The engine runs batches in both run modes, so both are priced with the model's per-cycle
//! formulas (cost-model.md §7) on the plan's designs: intermittent runs pay a reboot per power cycle
//! and, on a harvester, the recharge; continuous runs pay neither. GAP layers are priced as the
//! engine fetches them (the reference's quirk Q2 off), as `inas simulate` does.

use inas_common::plan::ValidPlan;
use inas_common::wire::RunMode;
use serde::Serialize;

use crate::model::{self, IfmRule, Overrides, Platform, SettingsError};
use crate::network::Layer;
use crate::planner;
use crate::profile::{CostTable, Profile};
use crate::supply::Recharge;
use inas_common::ExecDesign;

/// One layer's prediction.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerPrediction {
    pub name: String,
    pub design: String,
    /// On-time (reboots included in intermittent mode), s.
    pub on_time_s: f64,
    /// Recharge time between power cycles, s (0 without a harvester); `None` when a cycle
    /// needs more energy than the capacitor holds.
    pub recharge_s: Option<f64>,
    /// End-to-end: on-time plus recharge.
    pub latency_s: Option<f64>,
    pub power_cycles: f64,
}

/// One layer's on-time on the latency side of `costs`, run by our engine
/// ([`CostTable::for_engine`]): its power cycles' batches (footprint commits included) and, in
/// intermittent runs, a reboot per power cycle. Linear in the latency constants, which is what
/// lets `calibrate` fit them to a device.
pub fn on_time_s(costs: &CostTable, layer: &Layer, d: &ExecDesign, mode: RunMode) -> f64 {
    let costs = costs.for_engine();
    let ifm = model::ifm_tile(&costs, layer, d, IfmRule::Other);
    let counts = model::cycle_counts(layer, d);
    let (l_max, l_min) = model::cycle_side(&costs.l, layer, d, ifm, &counts);
    let on = (counts.n0 * l_min) + (counts.ngt0 * l_max);
    match mode {
        RunMode::Continuous => on - counts.npc * costs.l.reboot,
        RunMode::Intermittent => on,
    }
}

/// Predicts each layer of `plan` for `mode`. With `harvested`, intermittent runs include the
/// recharge from the profile's harvester and capacitor (with `overrides`).
pub fn predict(
    profile: &Profile,
    overrides: Overrides,
    plan: &ValidPlan,
    mode: RunMode,
    harvested: bool,
) -> Result<Vec<LayerPrediction>, SettingsError> {
    let p = Platform::for_engine(profile, overrides)?;
    let net = planner::network_of(plan.meta());
    let reboot = p.costs.l.reboot;
    Ok(net
        .layers
        .iter()
        .zip(plan.layers())
        .map(|(layer, desc)| {
            let d = &desc.design;
            let ifm = model::ifm_tile(&p.costs, layer, d, IfmRule::Other);
            let counts = model::cycle_counts(layer, d);
            let on = on_time_s(&p.costs, layer, d, RunMode::Intermittent);
            let (on, cycles, recharge) = match mode {
                RunMode::Continuous => (on - counts.npc * reboot, 0.0, Some(0.0)),
                RunMode::Intermittent if !harvested => (on, counts.npc, Some(0.0)),
                RunMode::Intermittent => {
                    let (e_max, e_min) = model::cycle_side(&p.costs.e, layer, d, ifm, &counts);
                    let rc = |e| p.harvester.recharge_time_s(&p.cap, e).ok();
                    let recharge = match (rc(e_min), rc(e_max)) {
                        (Some(a), Some(b)) => Some((counts.n0 * a) + (counts.ngt0 * b)),
                        _ => None,
                    };
                    (on, counts.npc, recharge)
                }
            };
            LayerPrediction {
                name: layer.name.clone(),
                design: d.to_string(),
                on_time_s: on,
                recharge_s: recharge,
                latency_s: recharge.map(|r| on + r),
                power_cycles: cycles,
            }
        })
        .collect())
}
