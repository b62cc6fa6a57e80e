//! A search's run directory: what a search leaves on disk, and how a killed one resumes.
//!
//! ```text
//! runs/har-5mF/
//!   run.json        the search's configuration (resume refuses another; --trials may change)
//!   .lock           held (flock) by the search writing here; the kernel drops it when that ends
//!   journal.jsonl   one JSON line per finished trial, appended and synced, never rewritten
//!   trials/N.plan   the Q15 plan of every trained trial (written before its journal line)
//!   trials/N.proposal.json  what trial N is (architecture, batch): a worker's order
//!   trials/N.result.json    a worker's finished trial, until the journal takes it
//!   logs/           workers' output (local pool and Slurm tasks)
//!   best.plan       the best trial's plan          ┐
//!   summary.json    counts, best trial, timings    │ derived from the journal:
//!   trials.csv      the journal as a table         │ rewritten after every trial
//!   pareto.svg      accuracy vs latency            ┘
//! ```
//!
//! The journal is the single source of truth: a trial exists once its line is complete. A
//! line torn by a kill is dropped on resume, and that trial runs again; since trials draw
//! their randomness from (seed, trial number), it runs again identically.

mod journal;
mod report;

pub use journal::{save_plan, write_atomic, Journal, JournalError};
pub use report::{pareto_front, write_reports, Summary, TestResult};

use serde::{Deserialize, Serialize};

use inas_common::design::ExecDesign;

/// Version of `run.json` and of the journal's lines.
pub const RUN_FORMAT: u32 = 1;

/// `run.json`: what the run directory holds and how it was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    pub format: u32,
    /// The search configuration, as the search command serialises it.
    pub config: serde_json::Value,
}

/// What became of one proposed architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TrialOutcome {
    /// Trained and quantized.
    Trained {
        float_acc: f64,
        q15_acc: f64,
        /// Epoch of the kept checkpoint (best validation accuracy).
        best_epoch: u32,
    },
    /// The architecture does not fit the device memory (never trained).
    OverMemory { detail: String },
    /// No design runs some layer within one power cycle's energy (never trained).
    Infeasible { layer: String, detail: String },
    /// Designs exist, but the modelled latency (`latency_s`) misses the requirement (never
    /// trained).
    TooSlow,
    /// Proposed before: the earlier trial's result is reused, not retrained.
    Repeated { of: u32 },
    /// Its training failed on every attempt (a worker killed, a task cancelled, an error):
    /// `retries` says why each time. The strategy scores it as a network of accuracy 0.
    Failed { reason: String },
}

/// Seconds a trial spent in each phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub explore_s: f64,
    pub train_s: f64,
    pub quantize_s: f64,
    pub total_s: f64,
}

/// One journal line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    pub trial: u32,
    /// The strategy's action list (kernel and filter values, or units).
    pub actions: Vec<u32>,
    /// Human-readable architecture, e.g. `conv1d k5 f8 | k3 f16 | k5 f24`.
    pub arch: String,
    #[serde(flatten)]
    pub outcome: TrialOutcome,
    /// The search mode's modelled end-to-end latency: intermittent for `inas`, continuous for
    /// `hwnas`. None when no design exists.
    pub latency_s: Option<f64>,
    /// The same network's chosen designs evaluated under intermittent power (for `inas` equal
    /// to `latency_s`; for `hwnas` the baseline's designs re-evaluated, None when unsafe).
    pub intermittent_latency_s: Option<f64>,
    /// Whether the trial meets the latency requirement under intermittent power.
    pub meets_requirement: bool,
    /// One design per layer, as the plan carries them.
    pub designs: Vec<ExecDesign>,
    pub reward: f64,
    pub timings: Timings,
    /// Why each failed attempt of this trial failed (a worker killed, a task cancelled), in
    /// order; absent when the first attempt finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retries: Vec<String>,
}

impl TrialRecord {
    pub fn trained(&self) -> Option<(f64, f64)> {
        match self.outcome {
            TrialOutcome::Trained {
                float_acc, q15_acc, ..
            } => Some((float_acc, q15_acc)),
            _ => None,
        }
    }

    /// Path of the trial's plan inside a run directory.
    pub fn plan_file(trial: u32) -> String {
        format!("trials/{trial}.plan")
    }
}

/// The trial a search reports: the most accurate (Q15, validation) trained trial; ties go to
/// the lower modelled latency, then to the earlier trial. Only children within the requirement
/// under the search mode's own model are trained, so for `inas` this is the best network that
/// meets the requirement under intermittent power, and for `hwnas` the network HW-NAS would
/// pick, whatever becomes of it under intermittent power (`intermittent_latency_s`).
pub fn best(records: &[TrialRecord]) -> Option<&TrialRecord> {
    records
        .iter()
        .filter_map(|r| r.trained().map(|(_, q)| (r, q)))
        .max_by(|(a, qa), (b, qb)| {
            qa.total_cmp(qb)
                .then_with(|| {
                    let la = a.latency_s.unwrap_or(f64::INFINITY);
                    let lb = b.latency_s.unwrap_or(f64::INFINITY);
                    lb.total_cmp(&la)
                })
                .then_with(|| b.trial.cmp(&a.trial))
        })
        .map(|(r, _)| r)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use inas_common::design::LoopOrder;

    pub(crate) fn record(
        trial: u32,
        acc: Option<f64>,
        lat: Option<f64>,
        meets: bool,
    ) -> TrialRecord {
        TrialRecord {
            trial,
            actions: vec![3, 8, 5, 16],
            arch: format!("arch{trial}"),
            outcome: match acc {
                Some(a) => TrialOutcome::Trained {
                    float_acc: a + 0.01,
                    q15_acc: a,
                    best_epoch: 2,
                },
                None => TrialOutcome::Infeasible {
                    layer: "CONV_0".into(),
                    detail: "needs 3 mJ".into(),
                },
            },
            latency_s: lat,
            intermittent_latency_s: lat,
            meets_requirement: meets,
            designs: vec![ExecDesign {
                tr: 2,
                tc: 1,
                tm: 4,
                tn: 3,
                order: LoopOrder::ReuseI,
                batch: 2,
            }],
            reward: acc.unwrap_or(-1.0),
            timings: Timings {
                explore_s: 0.001,
                train_s: 1.5,
                quantize_s: 0.2,
                total_s: 1.8,
            },
            retries: Vec::new(),
        }
    }

    #[test]
    fn best_is_most_accurate_then_fastest() {
        let rs = vec![
            record(0, Some(0.80), Some(3.0), true),
            record(1, Some(0.90), Some(9.0), true),
            record(2, Some(0.90), Some(4.0), true),
            record(3, None, None, false),
            record(4, Some(0.90), Some(4.0), true),
        ];
        assert_eq!(best(&rs).map(|r| r.trial), Some(2));
        assert_eq!(best(&rs[3..4]).map(|r| r.trial), None);
    }

    #[test]
    fn record_round_trips_through_json() {
        for r in [
            record(7, Some(0.5), Some(1.0), true),
            record(8, None, None, false),
        ] {
            let line = serde_json::to_string(&r).unwrap();
            assert!(!line.contains('\n'));
            let back: TrialRecord = serde_json::from_str(&line).unwrap();
            assert_eq!(back, r);
        }
    }
}
