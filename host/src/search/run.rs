//! The search loop: propose, price with the explorer, train, quantize, journal — and resume.
//!
//! Every trial draws its randomness from (seed, trial number) and the strategy is rebuilt by
//! replaying the journal, so a killed search resumed with `--resume` continues exactly where it
//! stopped: no trial lost, none repeated, the same proposals as an uninterrupted run.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::mode::{evaluate_candidate, DesignOutcome, Gate, Mode};
use super::reward::Outcome;
use super::strategy::{Candidate, Decisions, StrategyKind};
use super::Settings;
use crate::data::{self, DatasetName, Split, Splits};
use crate::model::{Overrides, Platform};
use crate::network::Dataset;
use crate::planner;
use crate::profile::Profile;
use crate::runs::{
    self, Journal, RunHeader, TestResult, Timings, TrialOutcome, TrialRecord, RUN_FORMAT,
};
use crate::train::{self, DeviceChoice, Samples, TrainConfig};

/// Which update the REINFORCE controller uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Controller {
    /// The reference's update (argmax proposals, index+1 labels, reward-scaled L2): for
    /// reproducing the paper. It can saturate onto a failing choice.
    #[default]
    Paper,
    /// Textbook REINFORCE on the same network and reward: sampled proposals.
    Sampled,
}

impl std::str::FromStr for Controller {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "paper" => Ok(Controller::Paper),
            "sampled" => Ok(Controller::Sampled),
            _ => Err(format!(
                "unknown controller '{s}' (expected paper or sampled)"
            )),
        }
    }
}

/// Everything that decides a search's result. Stored in `run.json`; `--resume` reuses it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    pub dataset: Dataset,
    pub mode: Mode,
    pub strategy: StrategyKind,
    /// The REINFORCE controller's update (`--strategy reinforce` only).
    #[serde(default)]
    pub controller: Controller,
    pub trials: usize,
    pub epochs: usize,
    /// Training batch size; the paper's per dataset when absent.
    pub batch_size: Option<usize>,
    pub seed: u64,
    /// The latency requirement, seconds.
    pub lat_req_s: f64,
    /// Platform profile: a built-in name or a TOML file.
    pub profile: String,
    pub cap_f: Option<f64>,
    pub rehm_ohm: Option<f64>,
    pub margin: Option<f64>,
    pub vm_bytes: Option<u64>,
    /// Train each child on at most this many samples (a random subset, the same for every
    /// trial).
    pub max_train_samples: Option<usize>,
    /// Validate on at most this many samples.
    pub max_val_samples: Option<usize>,
    /// Fraction of the training data held out for validation.
    pub val_fraction: f64,
    /// Training inputs used to calibrate the Q15 exponents.
    pub calibration_samples: usize,
    /// Training device: cpu, cuda[:N] or auto.
    pub device: String,
}

impl SearchConfig {
    /// The defaults: a small budget (8 trials of 8 epochs in batches of 64: about 2.5 min for
    /// HAR on 2 cores, Q15 test accuracy 86.5 % with seed 1) at 5 mF with the HAR harvester of
    /// the paper's evaluation (R_ehm 41 Ω) and its middle HAR requirement rounded up (TS2
    /// 28.9 s → 30 s). The paper's budget is `--trials 100 --epochs 25`.
    pub fn defaults(dataset: Dataset) -> SearchConfig {
        SearchConfig {
            dataset,
            mode: Mode::Inas,
            strategy: StrategyKind::Reinforce,
            controller: Controller::Paper,
            trials: 8,
            epochs: 8,
            batch_size: Some(64),
            seed: 1,
            lat_req_s: 30.0,
            profile: "reference".into(),
            cap_f: Some(0.005),
            rehm_ohm: Some(41.0),
            margin: None,
            vm_bytes: None,
            max_train_samples: None,
            max_val_samples: None,
            val_fraction: 0.1,
            calibration_samples: 256,
            device: "auto".into(),
        }
    }

    fn overrides(&self) -> Overrides {
        Overrides {
            capacitance_f: self.cap_f,
            margin: self.margin,
            r_ohm: self.rehm_ohm,
            vm_bytes: self.vm_bytes,
        }
    }

    fn train_config(&self, trial: u32) -> Result<TrainConfig> {
        let mut t = TrainConfig::paper(self.dataset);
        t.epochs = self.epochs;
        if let Some(b) = self.batch_size {
            t.batch_size = b;
        }
        t.seed = trial_seed(self.seed, trial);
        t.device = self
            .device
            .parse::<DeviceChoice>()
            .map_err(anyhow::Error::msg)?;
        t.max_train_samples = self.max_train_samples;
        t.max_val_samples = self.max_val_samples;
        t.check()?;
        Ok(t)
    }

    /// Checks everything that can be checked before any work and before the run directory is
    /// touched: a search that would fail on its settings fails here, leaving nothing behind.
    pub fn check(&self) -> Result<()> {
        if self.trials == 0 {
            bail!("--trials must be at least 1");
        }
        if self.epochs == 0 {
            bail!("--epochs must be at least 1");
        }
        if !(self.lat_req_s.is_finite() && self.lat_req_s > 0.0) {
            bail!(
                "--lat-req must be a positive duration, got {} s",
                self.lat_req_s
            );
        }
        if self.calibration_samples == 0 {
            bail!("--calibration-samples must be at least 1");
        }
        // Training selects the best epoch on the validation split: it cannot be empty.
        if !(self.val_fraction > 0.0 && self.val_fraction <= 0.9) {
            bail!(
                "--val-fraction must be a fraction in (0, 0.9], got {}",
                self.val_fraction
            );
        }
        let train = self.train_config(0)?;
        train
            .device
            .resolve()
            .with_context(|| format!("--device {}", self.device))?;
        let profile = Profile::load(&self.profile)?;
        Platform::new(&profile, self.overrides())?;
        Ok(())
    }
}

/// A trial's seed: distinct per trial, the same on every run and resume.
pub fn trial_seed(seed: u64, trial: u32) -> u64 {
    seed ^ u64::from(trial + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// What the loop reports while it works.
pub trait Progress {
    fn trial_started(&mut self, _trial: u32, _total: usize, _arch: &str) {}
    fn epoch(&mut self, _trial: u32, _epoch: usize, _epochs: usize, _val_acc: f64) {}
    fn trial_done(&mut self, _record: &TrialRecord) {}
}

/// No reports.
pub struct Quiet;
impl Progress for Quiet {}

/// The end of a search.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchResult {
    pub out: PathBuf,
    pub summary: runs::Summary,
    pub data_source: String,
}

/// Where a search gets its data: already loaded (tests, benchmarks) or from the cache.
pub enum DataSource<'a> {
    Loaded(&'a Splits),
    Cache(PathBuf),
}

/// Human-readable architecture.
pub fn describe(dataset: Dataset, actions: &[u32]) -> String {
    let space = dataset.space();
    match space.model {
        crate::network::ModelType::Fc => {
            let units: Vec<String> = actions.iter().map(|u| u.to_string()).collect();
            format!("fc {}", units.join("-"))
        }
        _ => actions
            .chunks(2)
            .map(|p| format!("k{} f{}", p[0], p.get(1).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(" | "),
    }
}

/// The strategy's view of a journal line.
fn strategy_outcome(r: &TrialRecord, lat_req_s: f64) -> Outcome {
    match &r.outcome {
        TrialOutcome::Trained { float_acc, .. } => Outcome::Trained {
            latency_s: r.latency_s.unwrap_or(0.0),
            accuracy: *float_acc,
        },
        TrialOutcome::OverMemory { .. } => Outcome::Unbuildable,
        TrialOutcome::Infeasible { .. } => Outcome::NoDesign,
        TrialOutcome::TooSlow => Outcome::TooSlow {
            latency_s: r.latency_s.unwrap_or(lat_req_s * 2.0),
        },
        TrialOutcome::Repeated { .. } => unreachable!("resolved by the caller"),
    }
}

fn stored_config(out: &Path, header: RunHeader) -> Result<SearchConfig> {
    serde_json::from_value(header.config)
        .with_context(|| format!("{}: run.json holds no search configuration", out.display()))
}

/// `--trials` on resume sets the run's trial count; it cannot undo trials already run.
fn more_trials_than_done(out: &Path, config: &SearchConfig, done: usize) -> Result<()> {
    if config.trials < done {
        bail!(
            "{}: --trials {} is fewer than the {done} trials this search already ran",
            out.display(),
            config.trials
        );
    }
    Ok(())
}

/// Runs (or with `resume`, continues) a search in `out`. On resume only `config.trials` is
/// used: it becomes the run's trial count (recorded in `run.json`); the rest comes from
/// `run.json`.
pub fn search(
    config: &SearchConfig,
    out: &Path,
    resume: bool,
    data: DataSource<'_>,
    progress: &mut dyn Progress,
) -> Result<SearchResult> {
    // Everything that can fail on the settings or the data fails before the run directory is
    // created or changed.
    let config = if resume {
        let (header, records) = Journal::read(out)?;
        let mut stored = stored_config(out, header)?;
        // Only the trial count may change on resume: everything else would change the results.
        stored.trials = config.trials;
        more_trials_than_done(out, &stored, records.len())?;
        stored
    } else {
        Journal::exists(out)?;
        config.clone()
    };
    config.check()?;
    let profile = Profile::load(&config.profile)?;
    let platform = Platform::new(&profile, config.overrides())?;
    let space = config.dataset.space();
    let memory = profile.memory;
    let target = planner::target(platform.vm_bytes, profile.memory.nvm_bytes, &profile.name);

    let loaded;
    let splits: &Splits = match data {
        DataSource::Loaded(s) => s,
        DataSource::Cache(dir) => {
            let opts = data::LoadOptions {
                val_fraction: config.val_fraction,
                seed: config.seed,
                ..Default::default()
            };
            let mut s = data::load(DatasetName::from(config.dataset), &dir, &opts)?;
            s.normalize();
            loaded = s;
            &loaded
        }
    };
    let (mut journal, records) = if resume {
        let (journal, header, records) = Journal::resume(out)?;
        // Another search may have run here since the first look.
        more_trials_than_done(out, &config, records.len())?;
        if stored_config(out, header)?.trials != config.trials {
            journal.set_header(&RunHeader {
                format: RUN_FORMAT,
                config: serde_json::to_value(&config)?,
            })?;
        }
        (journal, records)
    } else {
        let header = RunHeader {
            format: RUN_FORMAT,
            config: serde_json::to_value(&config)?,
        };
        (Journal::create(out, &header)?, Vec::new())
    };
    let train_set = Samples::from(&splits.train);
    let val_set = Samples::from(&splits.val);
    let calibration = train::calibration_inputs(&train_set, config.calibration_samples);

    let mut settings = Settings::paper(config.strategy, config.seed, config.lat_req_s);
    if config.controller == Controller::Sampled {
        settings.reinforce = super::ReinforceConfig::sampled();
    }
    let mut strategy = settings.build(Decisions::of(space)?)?;
    let mut first_seen: HashMap<Vec<u32>, u32> = HashMap::new();
    let mut resolved: Vec<TrialRecord> = Vec::with_capacity(records.len());
    let mut replay = Vec::with_capacity(records.len());
    for r in &records {
        let base = match r.outcome {
            TrialOutcome::Repeated { of } => &resolved[of as usize],
            _ => r,
        };
        replay.push((
            Candidate {
                actions: r.actions.clone(),
            },
            strategy_outcome(base, config.lat_req_s),
        ));
        first_seen.entry(r.actions.clone()).or_insert(r.trial);
        resolved.push(base.clone());
    }
    strategy
        .replay(&replay)
        .with_context(|| format!("resuming {}", out.display()))?;
    let mut records = records;

    while records.len() < config.trials {
        let trial = journal.next_trial();
        let started = Instant::now();
        let cand = strategy.propose()?;
        let arch = describe(config.dataset, &cand.actions);
        progress.trial_started(trial, config.trials, &arch);
        let (record, outcome) = if let Some(&of) = first_seen.get(&cand.actions) {
            // The paper's controller re-proposes architectures: reuse, don't retrain.
            let base = &resolved[of as usize];
            let mut r = base.clone();
            r.trial = trial;
            r.outcome = TrialOutcome::Repeated { of };
            r.timings = Timings {
                total_s: started.elapsed().as_secs_f64(),
                ..Timings::default()
            };
            (r, strategy_outcome(base, config.lat_req_s))
        } else {
            run_trial(
                &config,
                trial,
                &cand,
                &arch,
                &platform,
                &memory,
                target,
                &train_set,
                &val_set,
                &calibration,
                splits.normalization.as_ref(),
                &journal,
                progress,
                started,
            )?
        };
        let score = strategy.observe(&cand, &outcome)?;
        let mut record = record;
        record.reward = score.reward;
        journal.append(&record)?;
        first_seen.entry(cand.actions.clone()).or_insert(trial);
        resolved.push(match record.outcome {
            TrialOutcome::Repeated { of } => resolved[of as usize].clone(),
            _ => record.clone(),
        });
        records.push(record);
        runs::write_reports(journal.root(), &records, Some(config.lat_req_s), None)?;
        progress.trial_done(records.last().expect("just pushed"));
    }

    // The test split, once, for the reported trial.
    let test = match runs::best(&records) {
        Some(b) => Some(test_accuracy(journal.root(), b.trial, &splits.test)?),
        None => None,
    };
    runs::write_reports(
        journal.root(),
        &records,
        Some(config.lat_req_s),
        test.as_ref(),
    )?;
    let mut summary = runs::Summary::of(&records);
    summary.test = test;
    Ok(SearchResult {
        out: journal.root().to_owned(),
        summary,
        data_source: splits.source.clone(),
    })
}

#[allow(clippy::too_many_arguments)]
fn run_trial(
    config: &SearchConfig,
    trial: u32,
    cand: &Candidate,
    arch: &str,
    platform: &Platform,
    memory: &crate::profile::Memory,
    target: inas_common::plan::Target,
    train_set: &Samples<'_>,
    val_set: &Samples<'_>,
    calibration: &[Vec<f32>],
    preprocess: Option<&data::Normalization>,
    journal: &Journal,
    progress: &mut dyn Progress,
    started: Instant,
) -> Result<(TrialRecord, Outcome)> {
    let space = config.dataset.space();
    let t_explore = Instant::now();
    let priced = evaluate_candidate(config.mode, platform, space, memory, cand)?;
    let explore_s = t_explore.elapsed().as_secs_f64();
    let mut record = TrialRecord {
        trial,
        actions: cand.actions.clone(),
        arch: arch.to_owned(),
        outcome: TrialOutcome::OverMemory {
            detail: String::new(),
        },
        latency_s: None,
        intermittent_latency_s: None,
        meets_requirement: false,
        designs: Vec::new(),
        reward: 0.0,
        timings: Timings {
            explore_s,
            ..Timings::default()
        },
    };
    let designed = match &priced {
        DesignOutcome::Unbuildable(e) => {
            record.outcome = TrialOutcome::OverMemory {
                detail: e.to_string(),
            };
            None
        }
        DesignOutcome::NoDesign(why) => {
            record.outcome = TrialOutcome::Infeasible {
                layer: why.layer().to_owned(),
                detail: why.to_string(),
            };
            None
        }
        DesignOutcome::Designed(d) => {
            record.latency_s = Some(d.latency_s);
            record.intermittent_latency_s = match &d.intermittent {
                None => Some(d.latency_s),
                Some(fixed) => fixed.latency_s,
            };
            record.meets_requirement = record
                .intermittent_latency_s
                .is_some_and(|l| l <= config.lat_req_s);
            record.designs = d.designs();
            Some(d)
        }
    };
    let outcome = match priced.gate(config.lat_req_s) {
        Gate::Skip(outcome) => {
            if let Outcome::TooSlow { .. } = outcome {
                record.outcome = TrialOutcome::TooSlow;
            }
            outcome
        }
        Gate::Train { latency_s } => {
            debug_assert!(designed.is_some(), "a trainable candidate has designs");
            let net = &super::mode::build(space, memory, &cand.actions)?;
            let tc = config.train_config(trial)?;
            let t_train = Instant::now();
            let trained = train::fit(net, train_set, val_set, &tc, |e| {
                progress.epoch(trial, e.epoch, e.epochs, e.val_acc);
                ControlFlow::Continue(())
            })?;
            record.timings.train_s = t_train.elapsed().as_secs_f64();
            let t_q = Instant::now();
            let q = train::evaluate_q15(
                &trained.float_net,
                &record.designs,
                target,
                trial,
                calibration,
                val_set,
            )?;
            record.timings.quantize_s = t_q.elapsed().as_secs_f64();
            // The plan carries the standardisation its inputs had in training.
            let plan = match preprocess {
                Some(norm) => planner::with_preprocess(&q.plan, norm)?,
                None => q.plan.clone(),
            };
            journal.save_plan(trial, &plan)?;
            record.outcome = TrialOutcome::Trained {
                float_acc: trained.val_acc,
                q15_acc: q.accuracy(),
                best_epoch: trained.best_epoch as u32,
            };
            Outcome::Trained {
                latency_s,
                accuracy: trained.val_acc,
            }
        }
    };
    record.timings.total_s = started.elapsed().as_secs_f64();
    Ok((record, outcome))
}

/// Q15 accuracy of a trial's plan on the test split, run by the device-exact reference.
fn test_accuracy(root: &Path, trial: u32, test: &Split) -> Result<TestResult> {
    use rayon::prelude::*;
    let path = root.join(TrialRecord::plan_file(trial));
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let (plan, _) =
        planner::open(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let exp = plan.meta.input_exp;
    let correct: usize = (0..test.len())
        .into_par_iter()
        .map(|i| {
            let input: Vec<i16> = test
                .sample(i)
                .iter()
                .map(|&v| crate::quant::to_q15(v, exp))
                .collect();
            let outs = crate::q15ref::forward(&plan, &input);
            let logits = outs.last().map(Vec::as_slice).unwrap_or(&[]);
            usize::from(train::q15::argmax(logits) == usize::from(test.y[i]))
        })
        .sum();
    Ok(TestResult {
        trial,
        samples: test.len(),
        q15_acc: if test.is_empty() {
            0.0
        } else {
            correct as f64 / test.len() as f64
        },
    })
}
