//! The search loop: propose, price with the explorer, train, quantize, journal — and resume.
//!
//! Every trial draws its randomness from (seed, trial number) and the strategy is rebuilt by
//! replaying the journal, so a killed search resumed with `--resume` continues exactly where it
//! stopped: no trial lost, none repeated, the same proposals as an uninterrupted run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::executor::{self, Counts, Executor, ExecutorSpec, LocalPool, Slurm, SlurmOptions};
use super::mode::{Gate, Mode};
use super::reward::Outcome;
use super::strategy::{Candidate, Decisions, StrategyError, StrategyKind};
use super::trial::{self, BatchPos, Priced, Proposal, Trainer};
use super::Settings;
use crate::data::{Split, Splits};
use crate::model::{Overrides, Platform};
use crate::network::Dataset;
use crate::planner;
use crate::q15ref::Headroom;
use crate::runs::{
    self, Journal, RunHeader, TestResult, Timings, TrialOutcome, TrialRecord, RUN_FORMAT,
};
use crate::train::{self, DeviceChoice, TrainConfig};

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
    /// Trials proposed together and trained in parallel before the strategy sees their
    /// outcomes (1: the paper's one-at-a-time search; absent from run.json then).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub batch: usize,
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
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
            batch: 1,
        }
    }

    pub(crate) fn overrides(&self) -> Overrides {
        Overrides {
            capacitance_f: self.cap_f,
            margin: self.margin,
            r_ohm: self.rehm_ohm,
            vm_bytes: self.vm_bytes,
        }
    }

    pub(crate) fn train_config(&self, trial: u32) -> Result<TrainConfig> {
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
        if !(1..=4096).contains(&self.batch) {
            bail!("--batch must be from 1 to 4096, got {}", self.batch);
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
        let profile = crate::profile::load(&self.profile)?;
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
    /// Trials waiting for a worker, and running (executors with workers only).
    fn tasks(&mut self, _counts: Counts) {}
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
        // A network that could not be trained scores as one that classifies nothing.
        TrialOutcome::Failed { .. } => Outcome::Trained {
            latency_s: r.latency_s.unwrap_or(0.0),
            accuracy: 0.0,
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

/// How a search runs its trials (not part of its result: a resume may choose another).
#[derive(Clone, Debug, Default)]
pub struct Execution {
    pub executor: ExecutorSpec,
    /// The `[slurm]` settings, for `ExecutorSpec::Slurm`.
    pub slurm: SlurmOptions,
    /// Further attempts of a trial whose worker died or whose task failed.
    pub retries: u32,
    /// The `inas` binary workers run [default: this process's].
    pub worker_exe: Option<PathBuf>,
}

/// Runs (or with `resume`, continues) a search in `out`, training in this process. On resume
/// only `config.trials` is used: it becomes the run's trial count (recorded in `run.json`);
/// the rest comes from `run.json`.
pub fn search(
    config: &SearchConfig,
    out: &Path,
    resume: bool,
    data: DataSource<'_>,
    progress: &mut dyn Progress,
) -> Result<SearchResult> {
    search_with(
        config,
        out,
        resume,
        data,
        progress,
        &Execution {
            retries: 2,
            ..Execution::default()
        },
    )
}

/// What became of a trial of the current batch, so far.
enum Slot {
    /// Its journal line, reward still 0.
    Done(TrialRecord),
    /// Reuses trial `of` (earlier, or earlier in this batch).
    Repeated { of: u32 },
    /// Being trained by a worker: its priced line and the reasons of failed attempts.
    Running {
        priced: TrialRecord,
        failures: Vec<String>,
    },
    /// To be trained in this process.
    Here(Priced),
    /// In the journal.
    Observed,
}

/// [`search`] with trials run as `execution` says: proposed `config.batch` at a time, trained
/// by workers where the executor has them, observed in trial order.
pub fn search_with(
    config: &SearchConfig,
    out: &Path,
    resume: bool,
    data: DataSource<'_>,
    progress: &mut dyn Progress,
    execution: &Execution,
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
    let space = config.dataset.space();
    let loaded;
    let (splits, cache): (&Splits, Option<PathBuf>) = match data {
        DataSource::Loaded(s) => (s, None),
        DataSource::Cache(dir) => {
            loaded = trial::load_splits(&config, &dir)?;
            (&loaded, Some(dir))
        }
    };
    let mut executor: Option<Box<dyn Executor>> = match (&execution.executor, &cache) {
        (ExecutorSpec::Local(1), _) => None,
        (_, None) => bail!(
            "--executor {}: workers load the dataset from the cache, and this search has its \
             data in memory",
            execution.executor
        ),
        (spec, Some(_)) => {
            let exe = match &execution.worker_exe {
                Some(e) => e.clone(),
                None => std::env::current_exe().context("finding the inas binary")?,
            };
            Some(match spec {
                ExecutorSpec::Local(n) => Box::new(LocalPool::new(exe, out, *n)?),
                ExecutorSpec::Slurm => Box::new(Slurm::new(exe, out, execution.slurm.clone())?),
            })
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
    let trainer = Trainer::new(&config, splits)?;

    let mut settings = Settings::paper(config.strategy, config.seed, config.lat_req_s);
    if config.controller == Controller::Sampled {
        settings.reinforce = super::ReinforceConfig::sampled();
    }
    let mut strategy = settings.build(Decisions::of(space)?)?;
    strategy.set_batch(config.batch)?;
    let mut first_seen: HashMap<Vec<u32>, u32> = HashMap::new();
    let mut resolved: Vec<TrialRecord> = Vec::with_capacity(records.len());
    for r in &records {
        resolved.push(match r.outcome {
            TrialOutcome::Repeated { of } => resolved[of as usize].clone(),
            _ => r.clone(),
        });
    }
    let root = journal.root().to_owned();
    let mut records = records;
    // The batch under way: its first trial and its proposals.
    let mut batch: Option<(u32, Vec<Candidate>)> = None;
    // Replay: every batch as it was proposed, then the journal's outcomes of it.
    let mut next = 0usize;
    while next < records.len() {
        let (start, cands) = propose_batch(&root, &mut *strategy, next, &config, &records)
            .with_context(|| format!("resuming {}", out.display()))?;
        let end = (start as usize + cands.len()).min(records.len());
        for t in start as usize..end {
            let base = &resolved[t];
            strategy
                .observe(
                    &cands[t - start as usize],
                    &strategy_outcome(base, config.lat_req_s),
                )
                .with_context(|| format!("resuming {}", out.display()))?;
            first_seen
                .entry(records[t].actions.clone())
                .or_insert(t as u32);
        }
        if start as usize + cands.len() > records.len() {
            batch = Some((start, cands));
        }
        next = end;
    }

    while records.len() < config.trials {
        let (start, cands) = match batch.take() {
            Some(b) => b,
            None => propose_batch(&root, &mut *strategy, records.len(), &config, &records)?,
        };
        for (i, cand) in cands.iter().enumerate() {
            let proposal = Proposal {
                trial: start + i as u32,
                actions: cand.actions.clone(),
                arch: describe(config.dataset, &cand.actions),
                batch: BatchPos {
                    start,
                    len: cands.len() as u32,
                },
                data_cache: cache.as_ref().map(|c| absolute(c)),
            };
            if Proposal::read(&root, proposal.trial)?.as_ref() != Some(&proposal) {
                proposal.write(&root)?;
            }
        }
        let first = records.len() as u32;
        let end = (start as usize + cands.len()).min(config.trials) as u32;
        let started = Instant::now();
        // Price the batch; repeats and children that are not trained are done at once.
        let mut slots: Vec<Slot> = Vec::new();
        let mut to_run = Vec::new();
        for trial in first..end {
            let cand = &cands[(trial - start) as usize];
            let arch = describe(config.dataset, &cand.actions);
            progress.trial_started(trial, config.trials, &arch);
            if let Some(&of) = first_seen.get(&cand.actions) {
                // The paper's controller re-proposes architectures: reuse, don't retrain.
                slots.push(Slot::Repeated { of });
                continue;
            }
            first_seen.insert(cand.actions.clone(), trial);
            let priced = trainer.price(trial, cand, &arch)?;
            slots.push(match (&priced.gate, &executor) {
                (Gate::Skip(_), _) => Slot::Done(priced.record),
                (Gate::Train { .. }, None) => Slot::Here(priced),
                (Gate::Train { .. }, Some(_)) => {
                    // A finished result (a worker of a killed coordinator) is adopted.
                    match trial::read_result(&root, trial)? {
                        Some(r) => Slot::Done(r),
                        None => {
                            to_run.push(trial);
                            Slot::Running {
                                priced: priced.record,
                                failures: Vec::new(),
                            }
                        }
                    }
                }
            });
        }
        if let Some(ex) = executor.as_mut() {
            ex.submit(&to_run)?;
            progress.tasks(ex.counts());
        }
        // Observe in trial order, as each trial and those before it are done.
        let mut observed = first;
        while observed < end {
            let i = (observed - first) as usize;
            let record = match &mut slots[i] {
                Slot::Done(r) => Some(r.clone()),
                Slot::Repeated { of } => {
                    let base = &resolved[*of as usize];
                    let mut r = base.clone();
                    r.trial = observed;
                    r.outcome = TrialOutcome::Repeated { of: *of };
                    r.retries = Vec::new();
                    r.timings = Timings {
                        total_s: started.elapsed().as_secs_f64(),
                        ..Timings::default()
                    };
                    Some(r)
                }
                Slot::Here(_) => match std::mem::replace(&mut slots[i], Slot::Observed) {
                    Slot::Here(priced) => {
                        Some(trainer.train(&root, priced, progress, Instant::now())?)
                    }
                    _ => unreachable!("matched above"),
                },
                Slot::Running { .. } => None,
                Slot::Observed => unreachable!("observed trials are behind `observed`"),
            };
            let Some(mut record) = record else {
                // Wait for a worker, then take what ended.
                let ex = executor.as_mut().expect("running slots have an executor");
                let ended = ex.wait()?;
                for e in ended {
                    // Only this batch's running trials (an executor reports nothing else).
                    let Some(j) = e.trial.checked_sub(first).map(|j| j as usize) else {
                        continue;
                    };
                    let Some(Slot::Running { priced, failures }) = slots.get_mut(j) else {
                        continue;
                    };
                    if let Some(mut r) = trial::read_result(&root, e.trial)? {
                        r.retries = std::mem::take(failures);
                        slots[j] = Slot::Done(r);
                        continue;
                    }
                    failures.push(format!(
                        "attempt {}: {} without a result (log: {})",
                        failures.len() + 1,
                        e.how,
                        executor::log_file(&root, e.trial).display()
                    ));
                    if failures.len() as u32 <= execution.retries {
                        ex.submit(&[e.trial])?;
                    } else {
                        let mut r = priced.clone();
                        r.outcome = TrialOutcome::Failed {
                            reason: format!("{} attempts failed", failures.len()),
                        };
                        r.retries = std::mem::take(failures);
                        slots[j] = Slot::Done(r);
                    }
                }
                progress.tasks(ex.counts());
                continue;
            };
            let cand = &cands[(observed - start) as usize];
            let base = match record.outcome {
                TrialOutcome::Repeated { of } => resolved[of as usize].clone(),
                _ => record.clone(),
            };
            let score = strategy.observe(cand, &strategy_outcome(&base, config.lat_req_s))?;
            record.reward = score.reward;
            journal.append(&record)?;
            resolved.push(base);
            records.push(record);
            runs::write_reports(journal.root(), &records, Some(config.lat_req_s), None)?;
            progress.trial_done(records.last().expect("just pushed"));
            slots[i] = Slot::Observed;
            observed += 1;
        }
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

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

/// Proposes the batch that starts at trial `start`: as long as its proposal files say when
/// they exist (the batch as it was first proposed), else `config.batch` trials or the rest of
/// the search. Each proposal must equal what the journal or the proposal files hold.
fn propose_batch(
    root: &Path,
    strategy: &mut dyn super::Strategy,
    start: usize,
    config: &SearchConfig,
    records: &[TrialRecord],
) -> Result<(u32, Vec<Candidate>)> {
    let start32 = start as u32;
    let recorded = Proposal::read(root, start32)?;
    let len = match &recorded {
        Some(p) if p.batch.start == start32 && p.batch.len >= 1 => p.batch.len as usize,
        Some(p) => bail!(
            "{}: trial {start} is in the batch from trial {}, which the journal does not \
             start there",
            root.join(Proposal::file(start32)).display(),
            p.batch.start
        ),
        // Runs from before batches, or a batch not proposed yet.
        None if start < records.len() => 1,
        None => config.batch.min(config.trials - start).max(1),
    };
    let mut cands = Vec::with_capacity(len);
    for t in start..start + len {
        let c = strategy.propose()?;
        let known = match records.get(t) {
            Some(r) => Some(r.actions.clone()),
            None => Proposal::read(root, t as u32)?.map(|p| p.actions),
        };
        if let Some(actions) = known {
            if actions != c.actions {
                return Err(StrategyError::Diverged {
                    trial: t,
                    proposed: c,
                    journal: Candidate { actions },
                }
                .into());
            }
        }
        cands.push(c);
    }
    Ok((start32, cands))
}

/// Q15 accuracy of a trial's plan on the test split, run by the device-exact reference, and
/// what its accumulators did there.
fn test_accuracy(root: &Path, trial: u32, test: &Split) -> Result<TestResult> {
    use rayon::prelude::*;
    let path = root.join(TrialRecord::plan_file(trial));
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let (plan, _) =
        planner::open(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let exp = plan.meta.input_exp;
    let (correct, accumulator) = (0..test.len())
        .into_par_iter()
        .map(|i| {
            let input: Vec<i16> = test
                .sample(i)
                .iter()
                .map(|&v| crate::quant::to_q15(v, exp))
                .collect();
            let mut h = Headroom::default();
            let outs = crate::q15ref::forward_traced(&plan, &input, &mut h);
            let logits = outs.last().map(Vec::as_slice).unwrap_or(&[]);
            (
                usize::from(train::q15::argmax(logits) == usize::from(test.y[i])),
                h,
            )
        })
        .reduce(
            || (0, Headroom::default()),
            |(c, h), (d, g)| (c + d, h.merge(g)),
        );
    Ok(TestResult {
        trial,
        samples: test.len(),
        accumulator,
        q15_acc: if test.is_empty() {
            0.0
        } else {
            correct as f64 / test.len() as f64
        },
    })
}
