//! The trial as a unit of work: what one child of a search is (a proposal file), how it is
//! priced and trained (the same code in the coordinator and in a worker), and how a worker
//! hands its result back (a result file, written whole).
//!
//! `inas trial --run DIR --trial N` is the worker: it reads `run.json` and
//! `trials/N.proposal.json`, loads the dataset from the cache the proposal names, trains,
//! quantizes and prices the child, stores `trials/N.plan`, then `trials/N.result.json` (write
//! then rename). A trial whose result exists is not redone, so a task run twice (a retry that
//! raced a slow first attempt, a resubmitted batch) leaves one result. The coordinator alone
//! writes the journal: it takes results in trial order.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::mode::{evaluate_candidate, DesignOutcome, Gate};
use super::reward::Outcome;
use super::run::{Progress, SearchConfig};
use super::strategy::Candidate;
use crate::data::{self, DatasetName, Splits};
use crate::model::Platform;
use crate::planner;
use crate::profile::Memory;
use crate::runs::{self, Journal, Timings, TrialOutcome, TrialRecord};
use crate::train::{self, Samples};

/// Where a trial sits in its batch: the search proposed trials `start .. start + len`
/// together, then observed their outcomes in order. Resuming replays batches as they were.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchPos {
    pub start: u32,
    pub len: u32,
}

/// `trials/N.proposal.json`: a child of the search, as the coordinator proposed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    pub trial: u32,
    pub actions: Vec<u32>,
    pub arch: String,
    pub batch: BatchPos,
    /// The dataset cache the worker loads from (a shared file system on a cluster); absent
    /// for searches on data loaded in memory, which no worker can run.
    pub data_cache: Option<PathBuf>,
}

impl Proposal {
    pub fn file(trial: u32) -> String {
        format!("trials/{trial}.proposal.json")
    }

    pub fn write(&self, root: &Path) -> Result<()> {
        let text = serde_json::to_vec_pretty(self)?;
        runs::write_atomic(&root.join(Self::file(self.trial)), &text)?;
        Ok(())
    }

    /// The proposal of `trial`, if the coordinator wrote one (runs from before batches have
    /// none: each of their trials was a batch of one).
    pub fn read(root: &Path, trial: u32) -> Result<Option<Proposal>> {
        read_trial_file(
            &root.join(Self::file(trial)),
            "a trial proposal",
            trial,
            |p: &Proposal| p.trial,
        )
    }
}

/// A trial's JSON file, if it exists; one that holds another trial is an error.
fn read_trial_file<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
    trial: u32,
    trial_of: impl Fn(&T) -> u32,
) -> Result<Option<T>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let t: T = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not {what}", path.display()))?;
    if trial_of(&t) != trial {
        bail!("{}: holds trial {}", path.display(), trial_of(&t));
    }
    Ok(Some(t))
}

/// `trials/N.result.json`: a worker's finished trial (its journal line, less the reward the
/// coordinator adds when it observes it).
pub fn result_file(trial: u32) -> String {
    format!("trials/{trial}.result.json")
}

pub fn read_result(root: &Path, trial: u32) -> Result<Option<TrialRecord>> {
    read_trial_file(
        &root.join(result_file(trial)),
        "a trial result",
        trial,
        |r: &TrialRecord| r.trial,
    )
}

fn write_result(root: &Path, record: &TrialRecord) -> Result<()> {
    let text = serde_json::to_vec(record)?;
    runs::write_atomic(&root.join(result_file(record.trial)), &text)?;
    Ok(())
}

/// Everything pricing and training a child needs, built once per process from the search's
/// configuration and data: the coordinator's and every worker's are the same.
pub struct Trainer<'a> {
    config: &'a SearchConfig,
    platform: Platform,
    memory: Memory,
    target: inas_common::plan::Target,
    train_set: Samples<'a>,
    val_set: Samples<'a>,
    calibration: Vec<Vec<f32>>,
    preprocess: Option<&'a data::Normalization>,
}

/// A priced child: its journal line so far, and whether it is to be trained.
pub struct Priced {
    pub record: TrialRecord,
    pub gate: Gate,
}

impl<'a> Trainer<'a> {
    pub fn new(config: &'a SearchConfig, splits: &'a Splits) -> Result<Trainer<'a>> {
        let profile = crate::profile::load(&config.profile)?;
        // The trial's plan runs on our engine: its designs are explored for it.
        let platform = Platform::for_engine(&profile, config.overrides())?;
        let target = planner::target(platform.vm_bytes, profile.memory.nvm_bytes, &profile.name);
        let train_set = Samples::from(&splits.train);
        let calibration = train::calibration_inputs(&train_set, config.calibration_samples);
        Ok(Trainer {
            config,
            platform,
            memory: profile.memory,
            target,
            train_set,
            val_set: Samples::from(&splits.val),
            calibration,
            preprocess: splits.normalization.as_ref(),
        })
    }

    /// The build check and the explorer: the journal line of a child that is not trained, or
    /// the start of one that is.
    pub fn price(&self, trial: u32, cand: &Candidate, arch: &str) -> Result<Priced> {
        let space = self.config.dataset.space();
        let t_explore = Instant::now();
        let priced =
            evaluate_candidate(self.config.mode, &self.platform, space, &self.memory, cand)?;
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
            retries: Vec::new(),
        };
        match &priced {
            DesignOutcome::Unbuildable(e) => {
                record.outcome = TrialOutcome::OverMemory {
                    detail: e.to_string(),
                };
            }
            DesignOutcome::NoDesign(why) => {
                record.outcome = TrialOutcome::Infeasible {
                    layer: why.layer().to_owned(),
                    detail: why.to_string(),
                };
            }
            DesignOutcome::Designed(d) => {
                record.latency_s = Some(d.latency_s);
                record.intermittent_latency_s = match &d.intermittent {
                    None => Some(d.latency_s),
                    Some(fixed) => fixed.latency_s,
                };
                record.meets_requirement = record
                    .intermittent_latency_s
                    .is_some_and(|l| l <= self.config.lat_req_s);
                record.designs = d.designs();
            }
        }
        let gate = priced.gate(self.config.lat_req_s);
        if let Gate::Skip(Outcome::TooSlow { .. }) = gate {
            record.outcome = TrialOutcome::TooSlow;
        }
        Ok(Priced { record, gate })
    }

    /// Trains, quantizes and stores the plan of a child the gate lets through; returns its
    /// journal line (reward 0: the strategy scores it when it observes it).
    pub fn train(
        &self,
        root: &Path,
        priced: Priced,
        progress: &mut dyn Progress,
        started: Instant,
    ) -> Result<TrialRecord> {
        let Priced { mut record, gate } = priced;
        if let Gate::Train { .. } = gate {
            let trial = record.trial;
            let space = self.config.dataset.space();
            let net = &super::mode::build(space, &self.memory, &record.actions)?;
            let tc = self.config.train_config(trial)?;
            let t_train = Instant::now();
            let trained = train::fit(net, &self.train_set, &self.val_set, &tc, |e| {
                progress.epoch(trial, e.epoch, e.epochs, e.val_acc);
                ControlFlow::Continue(())
            })?;
            record.timings.train_s = t_train.elapsed().as_secs_f64();
            let t_q = Instant::now();
            let q = train::evaluate_q15(
                &trained.float_net,
                &record.designs,
                self.target,
                trial,
                &self.calibration,
                &self.val_set,
            )?;
            record.timings.quantize_s = t_q.elapsed().as_secs_f64();
            // The plan carries the standardisation its inputs had in training.
            let plan = match self.preprocess {
                Some(norm) => planner::with_preprocess(&q.plan, &norm.mean, &norm.std)?,
                None => q.plan.clone(),
            };
            runs::save_plan(root, trial, &plan)?;
            record.outcome = TrialOutcome::Trained {
                float_acc: trained.val_acc,
                q15_acc: q.accuracy(),
                best_epoch: trained.best_epoch as u32,
            };
        }
        record.timings.total_s = started.elapsed().as_secs_f64();
        Ok(record)
    }
}

/// The search's data, as every process of it loads it: the cache's splits for the run's seed
/// and validation fraction, standardised with the training split's statistics.
pub fn load_splits(config: &SearchConfig, cache: &Path) -> Result<Splits> {
    let opts = data::LoadOptions {
        val_fraction: config.val_fraction,
        seed: config.seed,
        ..Default::default()
    };
    let mut s = data::load(DatasetName::from(config.dataset), cache, &opts)?;
    s.normalize();
    Ok(s)
}

/// What a worker did.
#[derive(Clone, Debug, PartialEq)]
pub enum Worked {
    /// The trial's result was there already: nothing was redone.
    AlreadyDone,
    Done(Box<TrialRecord>),
}

/// `inas trial`: runs trial `trial` of the search in `root` and writes its result. The data
/// cache is the proposal's unless `cache` says otherwise (a cluster node that mounts it
/// elsewhere).
pub fn work(root: &Path, trial: u32, cache: Option<&Path>) -> Result<Worked> {
    let mut worker = Worker::new(root, cache)?;
    worker.work(trial)
}

/// A worker of one search: loads the run's configuration, and the data on its first trial,
/// once for every trial it runs.
pub struct Worker {
    root: PathBuf,
    config: SearchConfig,
    cache: Option<PathBuf>,
    splits: Option<Splits>,
}

impl Worker {
    pub fn new(root: &Path, cache: Option<&Path>) -> Result<Worker> {
        let (header, _) = Journal::read(root)?;
        let config: SearchConfig = serde_json::from_value(header.config).with_context(|| {
            format!("{}: run.json holds no search configuration", root.display())
        })?;
        Ok(Worker {
            root: root.to_owned(),
            config,
            cache: cache.map(Path::to_owned),
            splits: None,
        })
    }

    /// Runs `trial` and writes its result, unless it is there already.
    pub fn work(&mut self, trial: u32) -> Result<Worked> {
        let root = &self.root;
        if read_result(root, trial)?.is_some() {
            return Ok(Worked::AlreadyDone);
        }
        let Some(proposal) = Proposal::read(root, trial)? else {
            bail!(
                "{}: trial {trial} has no proposal ({})",
                root.display(),
                Proposal::file(trial)
            );
        };
        let started = Instant::now();
        let splits = match &mut self.splits {
            Some(s) => s,
            slot @ None => {
                let Some(cache) = self.cache.clone().or(proposal.data_cache.clone()) else {
                    bail!("trial {trial}: the search names no data cache; pass --data-cache");
                };
                slot.insert(load_splits(&self.config, &cache)?)
            }
        };
        let trainer = Trainer::new(&self.config, splits)?;
        let cand = Candidate {
            actions: proposal.actions.clone(),
        };
        let priced = trainer.price(trial, &cand, &proposal.arch)?;
        let record = trainer.train(root, priced, &mut super::run::Quiet, started)?;
        write_result(root, &record)?;
        Ok(Worked::Done(Box::new(record)))
    }

    /// `inas trial --serve`: trial numbers in, one per line; for each, `done N` or
    /// `failed N` out once it ended, and the trial's report or error appended to its log.
    /// Ends at the end of the input.
    pub fn serve(
        &mut self,
        input: impl std::io::BufRead,
        mut output: impl std::io::Write,
    ) -> Result<()> {
        for line in input.lines() {
            let line = line?;
            let trial: u32 = line
                .trim()
                .parse()
                .with_context(|| format!("'{line}' is not a trial number"))?;
            let report = match self.work(trial) {
                Ok(w) => Ok(describe_work(trial, &w)),
                Err(e) => Err(format!("{e:#}")),
            };
            let log = super::executor::log_file(&self.root, trial);
            let text = match &report {
                Ok(r) => format!("{r}\n"),
                Err(e) => format!("error: {e}\n"),
            };
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
                .with_context(|| format!("writing {}", log.display()))?;
            match report {
                Ok(_) => writeln!(output, "done {trial}")?,
                Err(e) => writeln!(output, "failed {trial} {}", e.replace('\n', " "))?,
            }
            output.flush()?;
        }
        Ok(())
    }
}

/// One line on what a worker did.
pub fn describe_work(trial: u32, w: &Worked) -> String {
    match w {
        Worked::AlreadyDone => format!("trial {trial}: already done"),
        Worked::Done(r) => format!(
            "trial {} {}: {}",
            r.trial,
            r.arch,
            match r.trained() {
                Some((f, q)) => format!("float {:.2} %, Q15 {:.2} %", f * 100.0, q * 100.0),
                None => "not trained".into(),
            }
        ),
    }
}
