//! Output: the JSON schema other tools rely on, and the table people read.

use std::fmt::Write as _;

use serde::Serialize;

use crate::cli::case::{Case, Mode, Outcome};
use crate::explore::SweepStats;
use crate::model::{Design, Power, Rejected};
use crate::supply::Harvester;

/// One layer of the JSON output. The first fields are the stable schema; the rest are extras.
#[derive(Debug, Serialize)]
pub struct LayerJson {
    pub name: String,
    pub tr: u32,
    pub tc: u32,
    pub tm: u32,
    pub tn: u32,
    pub order: &'static str,
    pub batch: u32,
    pub epc_max_j: Option<f64>,
    pub epc_min_j: Option<f64>,
    pub npc: Option<f64>,
    pub le2e_s: Option<f64>,
    pub vm_bytes: u64,
    pub design: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n0: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ngt0: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lpc_s: Option<[f64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lrc_s: Option<[f64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eu_pct: Option<f64>,
    /// For fixed designs that cannot run: FAILED_C0 or FAILED_C1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates: Option<SweepStats>,
}

/// The whole JSON output of one case.
#[derive(Debug, Serialize)]
pub struct CaseJson {
    pub feasible: bool,
    pub latency_s: Option<f64>,
    pub layers: Vec<LayerJson>,
    pub error: Option<String>,
    /// The reference's error code: −1 when a network is infeasible (quirk Q4), else none.
    pub error_code: Option<i32>,
    /// The code the reference intended: 11 (VM) or 12 (energy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intended_code: Option<i32>,
    pub dataset: Option<String>,
    pub arch: Option<Vec<u32>>,
    pub power: Option<&'static str>,
    pub budget_j: Option<f64>,
}

impl CaseJson {
    /// The line written for a case that could not be run (bad input).
    pub fn bad_input(why: String) -> CaseJson {
        CaseJson {
            feasible: false,
            latency_s: None,
            layers: vec![],
            error: Some(why),
            error_code: None,
            intended_code: None,
            dataset: None,
            arch: None,
            power: None,
            budget_j: None,
        }
    }
}

fn layer_json(name: &str, d: &Design, stats: Option<SweepStats>) -> LayerJson {
    let e = d.exec();
    let c = d.counts();
    LayerJson {
        name: name.to_owned(),
        tr: e.tr,
        tc: e.tc,
        tm: e.tm,
        tn: e.tn,
        order: e.order.name(),
        batch: e.batch,
        epc_max_j: Some(d.epc_max_j()),
        epc_min_j: Some(d.epc_min_j()),
        npc: Some(c.npc),
        le2e_s: Some(d.le2e_s()),
        vm_bytes: d.vm_bytes(),
        design: e.to_string(),
        n0: Some(c.n0),
        ngt0: Some(c.ngt0),
        lpc_s: Some(d.lpc_s()),
        lrc_s: d.lrc_s(),
        eu_pct: d.eu_pct(),
        reason: None,
        candidates: stats,
    }
}

pub fn case_json(case: &Case, outcome: &Outcome) -> CaseJson {
    let mut out = CaseJson {
        feasible: outcome.feasible(),
        latency_s: None,
        layers: vec![],
        error: None,
        error_code: None,
        intended_code: None,
        dataset: Some(case.dataset.name().to_owned()),
        arch: Some(case.arch.clone()),
        power: Some(match case.mode {
            Mode::Explore(Power::Cont) => "cont",
            _ => "int",
        }),
        budget_j: match case.mode {
            Mode::Explore(Power::Cont) => None,
            _ => Some(case.platform.budget_j()),
        },
    };
    match outcome {
        Outcome::Explored(r) => {
            out.latency_s = r.latency_s;
            out.layers = r
                .layers
                .iter()
                .map(|l| layer_json(&l.name, &l.design, Some(l.stats)))
                .collect();
            if let Some(why) = &r.infeasible {
                out.error = Some(why.to_string());
                out.error_code = Some(-1);
                out.intended_code = Some(why.intended_code());
            }
        }
        Outcome::Fixed(r) => {
            out.latency_s = r.latency_s;
            let designs = match &case.mode {
                Mode::Fixed(ds) => ds.as_slice(),
                Mode::Explore(_) => &[],
            };
            for ((name, res), d) in r.layers.iter().zip(designs) {
                out.layers.push(match res {
                    Ok(design) => layer_json(name, design, None),
                    Err(rej) => {
                        let (reason, epc, counts, vm) = match rej {
                            Rejected::Vm { vm_bytes, .. } => ("FAILED_C0", None, None, *vm_bytes),
                            Rejected::Energy {
                                epc_max_j,
                                epc_min_j,
                                counts,
                                vm_bytes,
                                ..
                            } => (
                                "FAILED_C1",
                                Some((*epc_max_j, *epc_min_j)),
                                Some(*counts),
                                *vm_bytes,
                            ),
                        };
                        LayerJson {
                            name: name.clone(),
                            tr: d.tr,
                            tc: d.tc,
                            tm: d.tm,
                            tn: d.tn,
                            order: d.order.name(),
                            batch: d.batch,
                            epc_max_j: epc.map(|e| e.0),
                            epc_min_j: epc.map(|e| e.1),
                            npc: counts.map(|c| c.npc),
                            le2e_s: None,
                            vm_bytes: vm,
                            design: d.to_string(),
                            n0: counts.map(|c| c.n0),
                            ngt0: counts.map(|c| c.ngt0),
                            lpc_s: None,
                            lrc_s: None,
                            eu_pct: None,
                            reason: Some(reason),
                            candidates: None,
                        }
                    }
                });
            }
            if let Some(f) = &r.unsafe_layer {
                out.error = Some(f.to_string());
                out.error_code = Some(-1);
            }
        }
    }
    out
}

fn fmt_f(v: Option<f64>, scale: f64, prec: usize) -> String {
    match v {
        Some(v) => format!("{:.*}", prec, v * scale),
        None => "-".into(),
    }
}

/// The human-readable report of one case.
pub fn table(case: &Case, outcome: &Outcome, profile_name: &str) -> String {
    let j = case_json(case, outcome);
    let p = &case.platform;
    let mut s = String::new();
    let mode = match &case.mode {
        Mode::Explore(Power::Int) => "explore, intermittent power",
        Mode::Explore(Power::Cont) => "explore, continuous power (HW-NAS baseline)",
        Mode::Fixed(_) => "fixed designs under intermittent power",
    };
    let arch: Vec<String> = case.arch.iter().map(u32::to_string).collect();
    let _ = writeln!(
        s,
        "{} [{}]: {mode}; profile {profile_name}",
        case.dataset,
        arch.join(",")
    );
    let harvester = match p.harvester {
        Harvester::Rc(rc) => format!("RC source {} V through {} Ω", rc.v_sup, rc.r_ohm),
        Harvester::ConstantPower(cp) => format!("constant {} mW", cp.power_w * 1e3),
    };
    let _ = writeln!(
        s,
        "supply: {} mF, Von {} V, Voff {} V, margin {}, budget {:.1} µJ per cycle; {harvester}; VM {} B",
        p.cap.capacitance_f() * 1e3,
        p.cap.v_on(),
        p.cap.v_off(),
        p.cap.margin(),
        p.budget_j() * 1e6,
        p.vm_bytes
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<11} {:<31} {:<24} {:>11} {:>11} {:>7} {:>11} {:>6} {:>6}",
        "layer",
        "shape",
        "design",
        "Epc max µJ",
        "Epc min µJ",
        "cycles",
        "latency s",
        "VM B",
        "Eu %"
    );
    let mut cycles = 0.0;
    for (l, layer) in j.layers.iter().zip(&case.network.layers) {
        cycles += l.npc.unwrap_or(0.0);
        let design = match l.reason {
            Some(r) => format!("{} {r}", l.design),
            None => l.design.clone(),
        };
        let _ = writeln!(
            s,
            "{:<11} {:<31} {:<24} {:>11} {:>11} {:>7} {:>11} {:>6} {:>6}",
            l.name,
            layer.shape(),
            design,
            fmt_f(l.epc_max_j, 1e6, 1),
            fmt_f(l.epc_min_j, 1e6, 1),
            l.npc.map_or("-".into(), |n| format!("{n}")),
            fmt_f(l.le2e_s, 1.0, 3),
            l.vm_bytes,
            fmt_f(l.eu_pct, 1.0, 1),
        );
    }
    let _ = writeln!(s);
    match (j.latency_s, &j.error) {
        (Some(lat), _) => {
            let _ = match case.mode {
                Mode::Explore(Power::Cont) => {
                    writeln!(s, "total latency {lat:.3} s (continuous power)")
                }
                _ => writeln!(s, "total latency {lat:.3} s over {cycles} power cycles"),
            };
        }
        (None, Some(why)) => {
            let _ = writeln!(s, "infeasible: {why}");
        }
        (None, None) => {}
    }
    s
}
