//! The intermittent-aware performance model (iNAS-PMod, cost-model.md §5-§8, §10, §11).
//!
//! Every formula keeps the reference's grouping and left-to-right order: the explorer picks
//! designs by *exact* equality of latencies, so a reordered sum changes which design wins.
//! Integer counts stay integers until they meet a real quantity.

use inas_common::{ExecDesign, LoopOrder};
use serde::Serialize;
use thiserror::Error;

use crate::network::Layer;
use crate::profile::{CostTable, Profile, Side};
use crate::supply::{Capacitor, Harvester, Recharge, SupplyError};

/// Largest VM a profile or run may declare; keeps every tile product far from u64 overflow.
pub const MAX_VM_BYTES: u64 = 1 << 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Power {
    /// Intermittent: harvested energy, one preservation batch per power cycle.
    Int,
    /// Continuous: the HW-NAS baseline, no energy budget.
    Cont,
}

/// Run settings that override the profile's defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Overrides {
    pub capacitance_f: Option<f64>,
    pub margin: Option<f64>,
    pub r_ohm: Option<f64>,
    pub vm_bytes: Option<u64>,
}

/// A setting that cannot be used, named as a flag and as the key of a batch line or a search
/// configuration (`--cap (cap_f)`), or as the profile's when the profile supplied it.
#[derive(Clone, Debug, Error, PartialEq)]
pub enum SettingsError {
    #[error("{setting}: {error}")]
    Supply {
        setting: &'static str,
        error: SupplyError,
    },
    #[error("--vm (vm_bytes): VM capacity must be between 1 and {MAX_VM_BYTES} bytes, got {0}")]
    Vm(u64),
}

/// Everything one evaluation needs: the profile's costs and this run's supply and VM.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Platform {
    pub costs: CostTable,
    pub cap: Capacitor,
    pub harvester: Harvester,
    pub vm_bytes: u64,
}

impl Platform {
    pub fn new(profile: &Profile, o: Overrides) -> Result<Platform, SettingsError> {
        let named = |error: SupplyError| {
            let setting = match &error {
                SupplyError::Capacitance(_) | SupplyError::NotFinite { .. }
                    if o.capacitance_f.is_some() =>
                {
                    "--cap (cap_f)"
                }
                SupplyError::Margin(_) if o.margin.is_some() => "--margin (margin)",
                SupplyError::Harvester(_) if o.r_ohm.is_some() => "--rehm (rehm_ohm)",
                _ => "the profile's supply",
            };
            SettingsError::Supply { setting, error }
        };
        let cap = profile
            .capacitor(
                o.capacitance_f.unwrap_or(profile.supply.capacitance_f),
                o.margin.unwrap_or(profile.supply.margin),
            )
            .map_err(named)?;
        let harvester = match o.r_ohm {
            Some(r) => profile.harvester.with_resistance(r).map_err(named)?,
            None => profile.harvester,
        };
        harvester.validate(cap.v_on()).map_err(named)?;
        // The longest recharge (from Voff): every cycle's recharge is at most this.
        let longest = harvester.recharge_from_s(&cap, cap.v_off());
        if !longest.is_finite() {
            let setting = match (o.capacitance_f, o.r_ohm) {
                (Some(_), Some(_)) => "--cap (cap_f) with --rehm (rehm_ohm)",
                (Some(_), None) => "--cap (cap_f)",
                (None, Some(_)) => "--rehm (rehm_ohm)",
                (None, None) => "the profile's supply",
            };
            return Err(SettingsError::Supply {
                setting,
                error: SupplyError::NotFinite {
                    what: "the time to recharge the capacitor (s)",
                    value: longest,
                },
            });
        }
        let vm_bytes = o.vm_bytes.unwrap_or(profile.memory.vm_bytes);
        if vm_bytes == 0 || vm_bytes > MAX_VM_BYTES {
            return Err(SettingsError::Vm(vm_bytes));
        }
        Ok(Platform {
            costs: profile.cost_table(),
            cap,
            harvester,
            vm_bytes,
        })
    }

    /// The platform for plans our engine runs: the costs of [`CostTable::for_engine`]. Plans
    /// are explored for it, checked against it and predicted with it; [`Platform::new`] is the
    /// reference's model, bit for bit (`inas explore`).
    pub fn for_engine(profile: &Profile, o: Overrides) -> Result<Platform, SettingsError> {
        let p = Platform::new(profile, o)?;
        Ok(Platform {
            costs: p.costs.for_engine(),
            ..p
        })
    }

    /// Eav: the energy one power cycle may spend.
    pub fn budget_j(&self) -> f64 {
        self.cap.budget_j()
    }
}

/// Which IFM-tile rule a GAP layer follows (quirk Q2): the intermittent sweep uses Tr x Tc; the
/// continuous sweep and the fixed-design evaluation use the CONV rule when the profile keeps Q2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IfmRule {
    IntSweep,
    Other,
}

#[inline(always)]
fn ceil_div(a: u32, b: u32) -> u64 {
    u64::from(a.div_ceil(b))
}

#[inline(always)]
fn mul(a: u64, b: u64) -> u64 {
    a.saturating_mul(b)
}

/// IFM tile rows and columns of a design on a layer (cost-model.md §4.2).
#[inline(always)]
pub(crate) fn ifm_tile(t: &CostTable, layer: &Layer, d: &ExecDesign, rule: IfmRule) -> (u64, u64) {
    let conv_rule = (
        u64::from(d.tr) + u64::from(layer.kh) - 1,
        u64::from(d.tc) + u64::from(layer.kw) - 1,
    );
    if layer.is_pool() && (rule == IfmRule::IntSweep || !t.quirks.gap_ifm_tile_with_kernel) {
        (u64::from(d.tr), u64::from(d.tc))
    } else {
        conv_rule
    }
}

/// VM bytes of a design's tile buffers (constraint C0, cost-model.md §6).
#[inline(always)]
pub(crate) fn vm_bytes(t: &CostTable, layer: &Layer, d: &ExecDesign, ifm: (u64, u64)) -> u64 {
    VmTerms::new(t, layer, d, ifm).at(d.batch)
}

/// VM use as `(fixed + per_batch × S) × element size`: only the output buffer can grow with S.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VmTerms {
    fixed: u64,
    per_batch: u64,
    element_bytes: u64,
}

impl VmTerms {
    #[inline(always)]
    pub(crate) fn new(
        t: &CostTable,
        layer: &Layer,
        d: &ExecDesign,
        (tri, tci): (u64, u64),
    ) -> VmTerms {
        let (tr, tc, tm, tn) = (d.tr as u64, d.tc as u64, d.tm as u64, d.tn as u64);
        let tile_out = mul(mul(tr, tc), tm);
        let (fixed, per_batch) = if layer.is_pool() {
            // Bin = Tr·Tc·Tm, Bw = 0, Bout = Tm·S.
            (tile_out, tm)
        } else {
            let b_in = mul(mul(tri, tci), tn);
            let b_w = mul(mul(u64::from(layer.kh) * u64::from(layer.kw), tm), tn);
            match d.order {
                // S output tiles per cycle.
                LoopOrder::ReuseI | LoopOrder::ReuseW => (b_in.saturating_add(b_w), tile_out),
                // One output tile stays resident across the S input-channel tiles.
                LoopOrder::ReuseO => (b_in.saturating_add(b_w).saturating_add(tile_out), 0),
            }
        };
        VmTerms {
            fixed,
            per_batch,
            element_bytes: t.element_bytes,
        }
    }

    #[inline(always)]
    pub(crate) fn at(&self, s: u32) -> u64 {
        mul(
            self.fixed.saturating_add(mul(self.per_batch, u64::from(s))),
            self.element_bytes,
        )
    }
}

/// Power-cycle counts of a design: total, those starting at input-channel tile 0, the rest.
/// Fractional only for non-dividing fixed designs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CycleCounts {
    pub npc: f64,
    pub n0: f64,
    pub ngt0: f64,
}

/// Tile counts along each loop: ⌈R/Tr⌉, ⌈C/Tc⌉, ⌈M/Tm⌉, ⌈N/Tn⌉ (for GAP, rows and columns
/// count over the IFM: ⌈H/Tr⌉, ⌈W/Tc⌉). Each depends on one tile size only, which lets the
/// sweep compute them once per loop level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TileCounts {
    pub rt: u64,
    pub ct: u64,
    pub mt: u64,
    pub nt: u64,
}

impl TileCounts {
    pub fn rows(layer: &Layer, tr: u32) -> u64 {
        ceil_div(if layer.is_pool() { layer.h } else { layer.r }, tr)
    }
    pub fn cols(layer: &Layer, tc: u32) -> u64 {
        ceil_div(if layer.is_pool() { layer.w } else { layer.c }, tc)
    }
    pub fn of(layer: &Layer, d: &ExecDesign) -> TileCounts {
        TileCounts {
            rt: Self::rows(layer, d.tr),
            ct: Self::cols(layer, d.tc),
            mt: ceil_div(layer.m, d.tm),
            nt: ceil_div(layer.n, d.tn),
        }
    }
}

#[inline(always)]
pub(crate) fn cycle_counts(layer: &Layer, d: &ExecDesign) -> CycleCounts {
    counts_from(layer, d, &TileCounts::of(layer, d))
}

/// Power-cycle counts from tile counts (cost-model.md §5).
#[inline(always)]
pub(crate) fn counts_from(layer: &Layer, d: &ExecDesign, t: &TileCounts) -> CycleCounts {
    let s = f64::from(d.batch);
    let rcm = mul(mul(t.rt, t.ct), t.mt);
    if layer.is_pool() {
        let npc = rcm as f64 / s;
        return CycleCounts {
            npc,
            n0: npc,
            ngt0: 0.0,
        };
    }
    let tiles = mul(rcm, t.nt);
    let npc = tiles as f64 / s;
    let n0 = match d.order {
        LoopOrder::ReuseI | LoopOrder::ReuseW => rcm as f64 / s,
        LoopOrder::ReuseO => rcm as f64,
    };
    CycleCounts {
        npc,
        n0,
        ngt0: npc - n0,
    }
}

/// Cost of one power cycle on one side of the model: with partial-sum fetch (`plus`, n > 0)
/// and without (`zero`, n = 0). Spec §7.
#[inline(always)]
pub(crate) fn cycle_cost(x: &Side, layer: &Layer, d: &ExecDesign, ifm: (u64, u64)) -> (f64, f64) {
    CycleTerms::new(x, layer, d, ifm).at(x, d.batch)
}

/// The part of a power cycle's cost that does not depend on the preservation batch S, so that
/// a sweep computes it once per (tiles, order) and only the S-dependent rest per batch size.
/// Grouping is the reference's: the split only names intermediate values it already has.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CycleTerms {
    Conv {
        order: LoopOrder,
        tm: u64,
        /// Tr·Tc, the output blocks per tile.
        n_o: u64,
        /// Kh·Kw·Tr·Tc·Tm: MACs per tile (P = S · this).
        macs: u64,
        /// Tr·Tc·Tm: output elements per tile.
        outs: u64,
        fi: f64,
        fw: f64,
        fo: f64,
        /// ((mac(Tn) + add) + (oPS + oAC)).
        per_mac: f64,
        /// wr(Tm) + bO_o.
        wr_out: f64,
        /// Our engine: rd(Tm) + oPS_o, a fresh output tile's bias read (0 for the reference).
        bias: f64,
    },
    Pool {
        /// Tr·Tc·Tm: elements per tile.
        elems: u64,
        /// Tm: outputs a tile finishes.
        outs: u64,
        /// nI × (rd(Tm) + oI).
        fi: f64,
        /// rd(Tm) + oO_O.
        fo: f64,
        per_elem: f64,
        bd: f64,
        /// Our engine: rd(1) + oW, the batch's pooling-weight read (0 for the reference).
        weight: f64,
    },
}

impl CycleTerms {
    #[inline(always)]
    pub(crate) fn new(
        x: &Side,
        layer: &Layer,
        d: &ExecDesign,
        (tri, tci): (u64, u64),
    ) -> CycleTerms {
        let (tr, tc, tm, tn) = (d.tr as u64, d.tc as u64, d.tm as u64, d.tn as u64);
        let o_out = LoopOrder::ReuseO.index();
        if layer.is_pool() {
            let rd = x.rd.at(tm);
            return CycleTerms::Pool {
                elems: mul(mul(tr, tc), tm),
                outs: tm,
                fi: mul(tri, tci) as f64 * (rd + x.o_ifm),
                fo: rd + x.o_psum[o_out],
                per_elem: x.pool + x.o_pool,
                bd: x.wr.at(tm) + x.b_out[o_out],
                weight: if x.engine_reads {
                    x.rd.at(1) + x.o_weights
                } else {
                    0.0
                },
            };
        }
        let khkw = u64::from(layer.kh) * u64::from(layer.kw);
        let n_o = mul(tr, tc);
        let rd_tn = x.rd.at(tn);
        let o = d.order.index();
        CycleTerms::Conv {
            order: d.order,
            tm,
            n_o,
            macs: mul(mul(khkw, n_o), tm),
            outs: mul(n_o, tm),
            fi: mul(tri, tci) as f64 * (rd_tn + x.o_ifm),
            fw: mul(khkw, tm) as f64 * (rd_tn + x.o_weights),
            fo: n_o as f64 * (x.rd.at(tm) + x.o_psum[o]),
            per_mac: (x.mac.at(tn) + x.add) + x.o_mac,
            wr_out: x.wr.at(tm) + x.b_out[o],
            bias: if x.engine_reads {
                x.rd.at(tm) + x.o_psum[o]
            } else {
                0.0
            },
        }
    }

    /// (plus, zero) for preservation batch `s`.
    #[inline(always)]
    pub(crate) fn at(&self, x: &Side, s: u32) -> (f64, f64) {
        let s = u64::from(s);
        let sf = s as f64;
        let (fl, bl) = (x.footprint_rd, x.footprint_wr);
        match *self {
            CycleTerms::Pool {
                elems,
                outs,
                fi,
                fo,
                per_elem,
                bd,
                weight,
            } => {
                // (A batch that starts the outputs reads their biases instead of partial sums:
                // the same transfer.)
                let fd = (sf * fi) + fo;
                let fd = if x.engine_reads { fd + weight } else { fd };
                let cp = mul(s, elems) as f64 * per_elem;
                // As for a convolution: only calibrated profiles price tiles and finished
                // outputs, so the reference's sum stays bit for bit.
                let cp = if x.output == 0.0 && x.tile == 0.0 {
                    cp
                } else {
                    (cp + (mul(s, outs) as f64 * x.output)) + (sf * x.tile)
                };
                let pc = ((((x.reboot + fd) + fl) + cp) + bd) + bl;
                (pc, pc)
            }
            CycleTerms::Conv {
                order,
                tm,
                n_o,
                macs,
                outs,
                fi,
                fw,
                fo,
                per_mac,
                wr_out,
                bias,
            } => {
                let (f_plus, f_zero) = match order {
                    LoopOrder::ReuseI => ((sf * (fw + fo)) + fi, (sf * fw) + fi),
                    LoopOrder::ReuseW => ((sf * (fi + fo)) + fw, (sf * fi) + fw),
                    LoopOrder::ReuseO => ((sf * (fi + fw)) + fo, sf * (fi + fw)),
                };
                // Our engine starts each output tile of a batch at input-channel tile 0 from
                // its biases: S tiles for reuse_I and reuse_W, the one tile for reuse_O. (At
                // most a partial-sum fetch, so the worst cycle is still the `plus` one where
                // there is one.)
                let f_zero = match order {
                    _ if !x.engine_reads => f_zero,
                    LoopOrder::ReuseO => f_zero + bias,
                    _ => f_zero + (sf * bias),
                };
                let cp = mul(s, macs) as f64 * per_mac;
                // Only calibrated profiles price finishing an output; the reference's sum stays
                // bit for bit as it was.
                let cp = if x.output == 0.0 && x.tile == 0.0 {
                    cp
                } else {
                    (cp + (mul(s, outs) as f64 * x.output)) + (sf * x.tile)
                };
                let bd = match order {
                    // One block of S·Tm elements per output pixel.
                    LoopOrder::ReuseI => {
                        n_o as f64 * (x.wr.at(mul(s, tm)) + x.b_out[order.index()])
                    }
                    LoopOrder::ReuseW => mul(s, n_o) as f64 * wr_out,
                    LoopOrder::ReuseO => n_o as f64 * wr_out,
                };
                let plus = ((((x.reboot + f_plus) + fl) + cp) + bd) + bl;
                let zero = ((((x.reboot + f_zero) + fl) + cp) + bd) + bl;
                (plus, zero)
            }
        }
    }
}

/// Whole-layer cost under continuous power on one side of the model (cost-model.md §10).
pub(crate) fn layer_cost_cont(t: &CostTable, x: &Side, layer: &Layer, d: &ExecDesign) -> f64 {
    let (tri, tci) = ifm_tile(t, layer, d, IfmRule::Other);
    let (tr, tc, tm, tn) = (d.tr as u64, d.tc as u64, d.tm as u64, d.tn as u64);
    let (rt, ct, mt) = (
        ceil_div(layer.r, d.tr),
        ceil_div(layer.c, d.tc),
        ceil_div(layer.m, d.tm),
    );
    if layer.is_pool() {
        let tg = mul(mul(ceil_div(layer.h, d.tr), ceil_div(layer.w, d.tc)), mt) as f64;
        let rd = x.rd.at(tm);
        let fd = tg
            * ((mul(tri, tci) as f64 * (rd + x.o_ifm))
                + (rd + x.o_psum[LoopOrder::ReuseO.index()]));
        let cp = tg * (mul(mul(tr, tc), tm) as f64 * (x.pool + x.o_pool));
        let cp = if x.output == 0.0 && x.tile == 0.0 {
            cp
        } else {
            (cp + (tg * tm as f64 * x.output)) + (tg * x.tile)
        };
        let bd = tg * (x.wr.at(tm) + x.b_out[LoopOrder::ReuseO.index()]);
        // Our engine: each batch (one tile under continuous power) reads the pooling weight.
        let fd = if x.engine_reads {
            fd + (tg * (x.rd.at(1) + x.o_weights))
        } else {
            fd
        };
        return (fd + cp) + bd;
    }
    let nt = ceil_div(layer.n, d.tn);
    let rcm = mul(mul(rt, ct), mt);
    let tiles = mul(rcm, nt);
    let g = (tiles - rcm) as f64;
    let tf = tiles as f64;
    let khkw = u64::from(layer.kh) * u64::from(layer.kw);
    let n_o = mul(tr, tc);
    let o = d.order.index();
    let rd_tn = x.rd.at(tn);
    let fi = mul(tri, tci) as f64 * (rd_tn + x.o_ifm);
    let fw = mul(khkw, tm) as f64 * (rd_tn + x.o_weights);
    let fo = n_o as f64 * (x.rd.at(tm) + x.o_psum[o]);
    let fd = match d.order {
        LoopOrder::ReuseI => ((mul(mul(rt, ct), nt) as f64 * fi) + (tf * fw)) + (g * fo),
        LoopOrder::ReuseW => ((tf * fi) + (mul(mt, nt) as f64 * fw)) + (g * fo),
        // Quirk Q6: no partial-sum fetch (right: the output tile stays in VM across n).
        LoopOrder::ReuseO => (tf * fi) + (tf * fw),
    };
    // Our engine reads the biases of each output tile it starts (rcm of them).
    let fd = if x.engine_reads {
        fd + (rcm as f64 * (x.rd.at(tm) + x.o_psum[o]))
    } else {
        fd
    };
    let cp = (mul(mul(khkw, n_o), tm) as f64 * ((x.mac.at(tn) + x.add) + x.o_mac)) * tf;
    let cp = if x.output == 0.0 && x.tile == 0.0 {
        cp
    } else {
        (cp + (mul(n_o, tm) as f64 * x.output * tf)) + (tf * x.tile)
    };
    let per_tile_backup = n_o as f64 * (x.wr.at(tm) + x.b_out[o]);
    let backups = match d.order {
        // Without quirk Q6, reuse_O writes each output tile once, after its last n tile.
        LoopOrder::ReuseO if !t.quirks.cont_backup_every_tile => rcm as f64,
        _ => tf,
    };
    let bd = per_tile_backup * backups;
    (fd + cp) + bd
}

/// A design that passed C0 (and C1 under intermittent power) on a given layer, with its costs.
/// Only the model makes these; a bare [`ExecDesign`] is just a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Design {
    design: ExecDesign,
    vm_bytes: u64,
    epc_max_j: f64,
    epc_min_j: f64,
    /// Per-cycle latency [max, min]; for continuous power both are the layer latency.
    lpc_s: [f64; 2],
    /// Recharge time [min, max] (the reference's order); none under continuous power.
    lrc_s: Option<[f64; 2]>,
    le2e_s: f64,
    /// Energy-budget utilisation in %; none under continuous power.
    eu_pct: Option<f64>,
    counts: CycleCounts,
}

impl Design {
    pub fn exec(&self) -> ExecDesign {
        self.design
    }
    pub fn vm_bytes(&self) -> u64 {
        self.vm_bytes
    }
    /// Worst-case energy of one power cycle (the whole layer under continuous power).
    pub fn epc_max_j(&self) -> f64 {
        self.epc_max_j
    }
    pub fn epc_min_j(&self) -> f64 {
        self.epc_min_j
    }
    /// [Lpc_max, Lpc_min].
    pub fn lpc_s(&self) -> [f64; 2] {
        self.lpc_s
    }
    /// [Lrc_min, Lrc_max].
    pub fn lrc_s(&self) -> Option<[f64; 2]> {
        self.lrc_s
    }
    /// End-to-end latency of the layer, recharge included.
    pub fn le2e_s(&self) -> f64 {
        self.le2e_s
    }
    pub fn eu_pct(&self) -> Option<f64> {
        self.eu_pct
    }
    pub fn counts(&self) -> CycleCounts {
        self.counts
    }
}

/// Why a design cannot run on a layer.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "reason")]
pub enum Rejected {
    /// C0: the tile buffers do not fit the VM.
    #[serde(rename = "FAILED_C0")]
    Vm { vm_bytes: u64, vm_capacity: u64 },
    /// C1: one power cycle needs more energy than the capacitor's budget.
    #[serde(rename = "FAILED_C1")]
    Energy {
        epc_max_j: f64,
        epc_min_j: f64,
        budget_j: f64,
        eu_pct: f64,
        counts: CycleCounts,
        vm_bytes: u64,
    },
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejected::Vm {
                vm_bytes,
                vm_capacity,
            } => {
                write!(
                    f,
                    "tile buffers need {vm_bytes} B > VM {vm_capacity} B (C0)"
                )
            }
            Rejected::Energy {
                epc_max_j,
                budget_j,
                ..
            } => write!(
                f,
                "energy per cycle {:.1} µJ > budget {:.1} µJ (C1)",
                epc_max_j * 1e6,
                budget_j * 1e6
            ),
        }
    }
}

/// Errors the reference would abort on.
#[derive(Clone, Debug, Error, PartialEq)]
pub enum ModelError {
    #[error("{layer}: {error}")]
    Recharge { layer: String, error: SupplyError },
    #[error("expected one design per layer ({layers}), got {designs}")]
    DesignCount { layers: usize, designs: usize },
    /// A latency overflowed: the supply or the profile is out of any sensible range.
    #[error("{layer}: the modelled latency is not a finite number ({latency_s} s): the supply (--cap, --rehm) or the profile is out of range")]
    NotFinite { layer: String, latency_s: f64 },
    /// The sweep's choice failed when evaluated again: a bug, reported rather than panicking.
    #[error("{layer}: internal error: the chosen design no longer passes its checks ({why})")]
    Inconsistent { layer: String, why: String },
}

/// Finishes an intermittent record once C0 and C1 passed (cost-model.md §8.3).
#[inline]
pub(crate) fn finish_int(
    p: &Platform,
    layer: &Layer,
    d: &ExecDesign,
    vm_bytes: u64,
    (e_max, e_min): (f64, f64),
    (l_max, l_min): (f64, f64),
    counts: CycleCounts,
) -> Result<Design, ModelError> {
    let recharge = |e| {
        p.harvester
            .recharge_time_s(&p.cap, e)
            .map_err(|error| ModelError::Recharge {
                layer: layer.name.clone(),
                error,
            })
    };
    let lrc_min = recharge(e_min)?;
    // Same energy, same recharge time: skip the second logarithm.
    let lrc_max = if e_max == e_min {
        lrc_min
    } else {
        recharge(e_max)?
    };
    let le2e = (counts.n0 * (l_min + lrc_min)) + (counts.ngt0 * (l_max + lrc_max));
    Ok(Design {
        design: *d,
        vm_bytes,
        epc_max_j: e_max,
        epc_min_j: e_min,
        lpc_s: [l_max, l_min],
        lrc_s: Some([lrc_min, lrc_max]),
        le2e_s: le2e,
        eu_pct: Some((e_max / p.budget_j()) * 100.0),
        counts,
    })
}

/// One side of one power cycle as (max, min), with max := min when no cycle fetches partial
/// sums (cost-model.md §7.1).
#[inline(always)]
pub(crate) fn cycle_side(
    x: &Side,
    layer: &Layer,
    d: &ExecDesign,
    ifm: (u64, u64),
    counts: &CycleCounts,
) -> (f64, f64) {
    max_min(counts, cycle_cost(x, layer, d, ifm))
}

/// (Epc_max, Epc_min) from (plus, zero): the worst cycle fetches partial sums only if some
/// cycle starts past input-channel tile 0.
#[inline(always)]
pub(crate) fn max_min(counts: &CycleCounts, (plus, zero): (f64, f64)) -> (f64, f64) {
    if counts.ngt0 == 0.0 {
        (zero, zero)
    } else {
        (plus, zero)
    }
}

/// Evaluates one design under intermittent power (cost-model.md §11 with `IfmRule::Other`, or a sweep
/// point with `IfmRule::IntSweep`). No divisor check: non-dividing tiles use ceilings.
pub(crate) fn evaluate_int(
    p: &Platform,
    layer: &Layer,
    d: &ExecDesign,
    rule: IfmRule,
) -> Result<Result<Design, Rejected>, ModelError> {
    let ifm = ifm_tile(&p.costs, layer, d, rule);
    let vm = vm_bytes(&p.costs, layer, d, ifm);
    if vm > p.vm_bytes {
        return Ok(Err(Rejected::Vm {
            vm_bytes: vm,
            vm_capacity: p.vm_bytes,
        }));
    }
    let counts = cycle_counts(layer, d);
    let e = cycle_side(&p.costs.e, layer, d, ifm, &counts);
    if e.0 > p.budget_j() {
        return Ok(Err(Rejected::Energy {
            epc_max_j: e.0,
            epc_min_j: e.1,
            budget_j: p.budget_j(),
            eu_pct: (e.0 / p.budget_j()) * 100.0,
            counts,
            vm_bytes: vm,
        }));
    }
    let l = cycle_side(&p.costs.l, layer, d, ifm, &counts);
    finish_int(p, layer, d, vm, e, l, counts).map(Ok)
}

/// Evaluates a fixed design under intermittent power (cost-model.md §11): how a design chosen elsewhere
/// (typically by the continuous-power baseline, S = 1) fares on harvested energy.
pub fn evaluate_fixed(
    p: &Platform,
    layer: &Layer,
    d: &ExecDesign,
) -> Result<Result<Design, Rejected>, ModelError> {
    evaluate_int(p, layer, d, IfmRule::Other)
}

/// Evaluates a design under continuous power (cost-model.md §10): C0 only, whole-layer cost, S = 1.
pub fn evaluate_cont(p: &Platform, layer: &Layer, d: &ExecDesign) -> Result<Design, Rejected> {
    let d = ExecDesign { batch: 1, ..*d };
    let vm = vm_bytes(
        &p.costs,
        layer,
        &d,
        ifm_tile(&p.costs, layer, &d, IfmRule::Other),
    );
    if vm > p.vm_bytes {
        return Err(Rejected::Vm {
            vm_bytes: vm,
            vm_capacity: p.vm_bytes,
        });
    }
    Ok(cont_record(p, layer, &d, vm))
}

pub(crate) fn cont_record(p: &Platform, layer: &Layer, d: &ExecDesign, vm: u64) -> Design {
    let e = layer_cost_cont(&p.costs, &p.costs.e, layer, d);
    let l = layer_cost_cont(&p.costs, &p.costs.l, layer, d);
    Design {
        design: *d,
        vm_bytes: vm,
        epc_max_j: e,
        epc_min_j: e,
        lpc_s: [l, l],
        lrc_s: None,
        le2e_s: l,
        eu_pct: None,
        counts: cycle_counts(layer, d),
    }
}
