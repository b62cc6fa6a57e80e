//! `inas search` and `inas export`: flags and a TOML file in, a run directory out.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;

use super::out::EXIT_OK;
use super::out::{errln, outln};
use crate::data;
use crate::network::Dataset;
use crate::planner;
use crate::runs::{Journal, TrialRecord};
use crate::search::executor::{Counts, ExecutorSpec, SlurmOptions};
use crate::search::run::{search_with, Controller, DataSource, Execution, Progress, SearchConfig};
use crate::search::trial;
use crate::search::{Mode, StrategyKind};
use crate::units;

/// Every flag is optional so that `--config` can fill it; flags win over the file, the file
/// over the defaults. On `--resume` the run's own settings are used and only `--trials` may
/// raise the trial count.
#[derive(Clone, Debug, Default, Args)]
pub struct SearchArgs {
    /// Run directory (journal, plans, reports).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Continue the search in --out where it stopped.
    #[arg(long)]
    pub resume: bool,
    /// TOML file with any of the settings below (keys as in run.json, SI units: cap_f = 0.005).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Search space: har (default), cifar or kws.
    #[arg(long, value_parser = |s: &str| s.parse::<Dataset>())]
    pub dataset: Option<Dataset>,
    /// inas (intermittent-aware, default) or hwnas (continuous-power baseline).
    #[arg(long, value_parser = |s: &str| s.parse::<Mode>())]
    pub mode: Option<Mode>,
    /// reinforce (the iNAS controller, default), random or evolution.
    #[arg(long, value_parser = |s: &str| s.parse::<StrategyKind>())]
    pub strategy: Option<StrategyKind>,
    /// The REINFORCE controller's update: paper (the reference's, default) or sampled
    /// (textbook REINFORCE, which learns more reliably).
    #[arg(long, value_parser = |s: &str| s.parse::<Controller>())]
    pub controller: Option<Controller>,
    /// Trials (children proposed) [default: 8; the paper: 100].
    #[arg(long)]
    pub trials: Option<usize>,
    /// Training epochs per child [default: 8; the paper: 25].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Training batch size [default: 64; the paper: 512 HAR, 256 CIFAR, 100 KWS].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Seed of the strategy, the data split and every child's training [default: 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Latency requirement, e.g. 30s or 500ms [default: 30s].
    #[arg(long, value_parser = units::seconds)]
    pub lat_req: Option<f64>,
    /// Platform profile: a built-in name or a TOML file [default: reference].
    #[arg(long)]
    pub profile: Option<String>,
    /// Storage capacitance, e.g. 5mF [default: 5mF].
    #[arg(long, value_parser = units::farads)]
    pub cap: Option<f64>,
    /// Harvester equivalent resistance, e.g. 41 [default: 41 Ω].
    #[arg(long, value_parser = units::ohms)]
    pub rehm: Option<f64>,
    /// Fraction of the capacitor's energy one power cycle may spend [default: profile's].
    #[arg(long, value_parser = super::args::parse_margin)]
    pub margin: Option<f64>,
    /// Volatile memory for tile buffers, bytes [default: profile's].
    #[arg(long)]
    pub vm: Option<u64>,
    /// Train each child on a random subset of at most this many samples.
    #[arg(long)]
    pub max_train_samples: Option<usize>,
    /// Validate on at most this many samples.
    #[arg(long)]
    pub max_val_samples: Option<usize>,
    /// Fraction of the training data held out for validation [default: 0.1].
    #[arg(long)]
    pub val_fraction: Option<f64>,
    /// Training device: cpu, cuda, cuda:N or auto [default: auto].
    #[arg(long)]
    pub device: Option<String>,
    /// Trials proposed together and trained in parallel before the strategy sees their
    /// outcomes [default: 1, the paper's one at a time]. REINFORCE then takes one step on the
    /// batch's episodes.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Dataset cache [default: $INAS_DATA, else ~/.cache/inas/data].
    #[arg(long, value_name = "DIR")]
    pub data_cache: Option<PathBuf>,
    /// Where trials run: local:1 (this process), local:N (N worker processes) or slurm (one
    /// job array per batch; see the --slurm-* flags).
    #[arg(long, default_value = "local:1", value_parser = |s: &str| s.parse::<ExecutorSpec>())]
    pub executor: ExecutorSpec,
    /// Further attempts of a trial whose worker died or whose task failed.
    #[arg(long, default_value_t = 2)]
    pub retries: u32,
    #[command(flatten)]
    pub slurm: SlurmArgs,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `--executor slurm`: what `sbatch` gets. A TOML file (`--slurm-config`) holds the same keys
/// (partition, account, time, gres, cpus_per_task, extra, poll_s); flags win over it.
#[derive(Clone, Debug, Default, Args)]
pub struct SlurmArgs {
    /// TOML file of Slurm settings (the keys below, `extra` a list of sbatch arguments).
    #[arg(long, value_name = "FILE")]
    pub slurm_config: Option<PathBuf>,
    /// Partition (sbatch --partition).
    #[arg(long, value_name = "NAME")]
    pub slurm_partition: Option<String>,
    /// Account (sbatch --account).
    #[arg(long, value_name = "NAME")]
    pub slurm_account: Option<String>,
    /// Time limit per trial, in Slurm's format: 30, 1:00:00, 1-0 (sbatch --time).
    #[arg(long, value_name = "LIMIT")]
    pub slurm_time: Option<String>,
    /// Generic resources per trial, e.g. gpu:1 (sbatch --gres).
    #[arg(long, value_name = "GRES")]
    pub slurm_gres: Option<String>,
    /// CPUs per trial (sbatch --cpus-per-task).
    #[arg(long, value_name = "N")]
    pub slurm_cpus: Option<u32>,
    /// A further sbatch argument, passed as it is (repeatable): --sbatch-arg=--qos=short.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub sbatch_arg: Vec<String>,
    /// Seconds between squeue polls [default: 2].
    #[arg(long, value_name = "SECONDS")]
    pub slurm_poll: Option<f64>,
}

impl SlurmArgs {
    /// The file's settings, then the flags.
    pub fn resolve(&self) -> Result<SlurmOptions> {
        let mut o: SlurmOptions = match &self.slurm_config {
            None => SlurmOptions::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("Slurm settings {} are not valid", path.display()))?
            }
        };
        let set = |dst: &mut Option<String>, v: &Option<String>| {
            if v.is_some() {
                dst.clone_from(v);
            }
        };
        set(&mut o.partition, &self.slurm_partition);
        set(&mut o.account, &self.slurm_account);
        set(&mut o.time, &self.slurm_time);
        set(&mut o.gres, &self.slurm_gres);
        if self.slurm_cpus.is_some() {
            o.cpus_per_task = self.slurm_cpus;
        }
        o.extra.extend(self.sbatch_arg.iter().cloned());
        if let Some(p) = self.slurm_poll {
            if !(p.is_finite() && p > 0.0) {
                bail!("--slurm-poll must be a positive number of seconds, got {p}");
            }
            o.poll_s = Some(p);
        }
        Ok(o)
    }
}

/// `--config FILE`: the same keys as `run.json`, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    dataset: Option<Dataset>,
    mode: Option<Mode>,
    strategy: Option<StrategyKind>,
    controller: Option<Controller>,
    trials: Option<usize>,
    epochs: Option<usize>,
    batch_size: Option<usize>,
    seed: Option<u64>,
    lat_req_s: Option<f64>,
    profile: Option<String>,
    cap_f: Option<f64>,
    rehm_ohm: Option<f64>,
    margin: Option<f64>,
    vm_bytes: Option<u64>,
    max_train_samples: Option<usize>,
    max_val_samples: Option<usize>,
    val_fraction: Option<f64>,
    calibration_samples: Option<usize>,
    device: Option<String>,
    batch: Option<usize>,
}

impl SearchArgs {
    /// The flags that change a search's result (all but --out, --resume, --trials and the
    /// presentation flags).
    fn result_flags(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let mut flag = |set: bool, name| {
            if set {
                v.push(name)
            }
        };
        flag(self.config.is_some(), "--config");
        flag(self.dataset.is_some(), "--dataset");
        flag(self.mode.is_some(), "--mode");
        flag(self.strategy.is_some(), "--strategy");
        flag(self.controller.is_some(), "--controller");
        flag(self.epochs.is_some(), "--epochs");
        flag(self.batch_size.is_some(), "--batch-size");
        flag(self.seed.is_some(), "--seed");
        flag(self.lat_req.is_some(), "--lat-req");
        flag(self.profile.is_some(), "--profile");
        flag(self.cap.is_some(), "--cap");
        flag(self.rehm.is_some(), "--rehm");
        flag(self.margin.is_some(), "--margin");
        flag(self.vm.is_some(), "--vm");
        flag(self.max_train_samples.is_some(), "--max-train-samples");
        flag(self.max_val_samples.is_some(), "--max-val-samples");
        flag(self.val_fraction.is_some(), "--val-fraction");
        flag(self.device.is_some(), "--device");
        flag(self.batch.is_some(), "--batch");
        v
    }

    /// Defaults, then the file, then the flags.
    pub fn resolve(&self) -> Result<SearchConfig> {
        let file = match &self.config {
            None => ConfigFile::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("config {} is not valid", path.display()))?
            }
        };
        let dataset = self.dataset.or(file.dataset).unwrap_or(Dataset::Har);
        let mut c = SearchConfig::defaults(dataset);
        macro_rules! set {
            ($field:ident, $flag:expr) => {
                if let Some(v) = $flag.clone().or(file.$field.clone()) {
                    c.$field = v;
                }
            };
            (opt $field:ident, $flag:expr) => {
                if let Some(v) = $flag.clone().or(file.$field.clone()) {
                    c.$field = Some(v);
                }
            };
        }
        set!(mode, self.mode);
        set!(strategy, self.strategy);
        set!(controller, self.controller);
        set!(trials, self.trials);
        set!(epochs, self.epochs);
        set!(seed, self.seed);
        set!(lat_req_s, self.lat_req);
        set!(profile, self.profile);
        set!(val_fraction, self.val_fraction);
        set!(device, self.device);
        set!(batch, self.batch);
        set!(opt batch_size, self.batch_size);
        set!(opt cap_f, self.cap);
        set!(opt rehm_ohm, self.rehm);
        set!(opt margin, self.margin);
        set!(opt vm_bytes, self.vm);
        set!(opt max_train_samples, self.max_train_samples);
        set!(opt max_val_samples, self.max_val_samples);
        if let Some(n) = file.calibration_samples {
            c.calibration_samples = n;
        }
        Ok(c)
    }
}

/// indicatif bars: trials, and the current child's epochs. Hidden when stderr is not a
/// terminal.
struct Bars {
    trials: ProgressBar,
    /// The best validation Q15 accuracy so far.
    best: Option<f64>,
}

impl Bars {
    fn new(total: usize, done: usize) -> Bars {
        let trials = ProgressBar::new(total as u64);
        trials.set_style(
            ProgressStyle::with_template(
                "{spinner} trial {pos}/{len} [{bar:30}] {elapsed_precise} ETA {eta} {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        trials.set_position(done as u64);
        Bars { trials, best: None }
    }
}

impl Progress for Bars {
    fn trial_started(&mut self, trial: u32, _total: usize, arch: &str) {
        self.trials.set_message(format!("#{trial} {arch}"));
    }
    fn tasks(&mut self, c: Counts) {
        let best = self
            .best
            .map_or(String::new(), |q| format!(", best Q15 {:.1} %", q * 100.0));
        self.trials
            .set_message(format!("{} queued, {} running{best}", c.queued, c.running));
    }
    fn epoch(&mut self, trial: u32, epoch: usize, epochs: usize, val_acc: f64) {
        self.trials.set_message(format!(
            "#{trial} epoch {epoch}/{epochs} val {:.1} %",
            val_acc * 100.0
        ));
    }
    fn trial_done(&mut self, r: &TrialRecord) {
        self.trials.inc(1);
        if let Some((_, q)) = r.trained() {
            self.best = Some(self.best.map_or(q, |b| b.max(q)));
        }
        let what = match r.trained() {
            Some((f, q)) => format!("float {:.1} % q15 {:.1} %", f * 100.0, q * 100.0),
            None => format!("{:?}", r.outcome)
                .split([' ', '{'])
                .next()
                .unwrap_or("")
                .to_lowercase(),
        };
        self.trials.println(format!(
            "trial {:>3} {:<28} {:<24} latency {}",
            r.trial,
            r.arch,
            what,
            r.intermittent_latency_s
                .map_or("-".to_owned(), |l| format!("{l:.2} s")),
        ));
    }
}

pub fn run_search(args: SearchArgs) -> Result<i32> {
    let (config, done) = if args.resume {
        let flags = args.result_flags();
        if !flags.is_empty() {
            bail!(
                "--resume continues {} with its own settings (run.json); drop {}",
                args.out.display(),
                flags.join(", ")
            );
        }
        let (header, records) = Journal::read(&args.out)?;
        let mut c: SearchConfig = serde_json::from_value(header.config).with_context(|| {
            format!(
                "{}: run.json holds no search configuration",
                args.out.display()
            )
        })?;
        // `--trials` sets the run's count (recorded in run.json); fewer than done is refused.
        c.trials = args.trials.unwrap_or(c.trials);
        (c, records.len())
    } else {
        (args.resolve()?, 0)
    };
    config.check()?;
    if args.executor != ExecutorSpec::Local(1) && config.batch == 1 {
        errln!(
            "inas: --executor {} with a batch of 1 runs one trial at a time; --batch N runs N",
            args.executor
        );
    }
    let cache = match &args.data_cache {
        Some(d) => d.clone(),
        None => data::cache::default_dir()?,
    };
    ensure_data(config.dataset, &cache)?;
    let execution = Execution {
        executor: args.executor.clone(),
        slurm: args.slurm.resolve()?,
        retries: args.retries,
        worker_exe: None,
    };
    let mut bars = Bars::new(config.trials, done);
    let result = search_with(
        &config,
        &args.out,
        args.resume,
        DataSource::Cache(cache),
        &mut bars,
        &execution,
    )?;
    bars.trials.finish_and_clear();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&result)?)?;
        return Ok(EXIT_OK);
    }
    let s = &result.summary;
    outln!(
        "search {} ({} mode, {} strategy, data: {})",
        result.out.display(),
        config.mode,
        config.strategy,
        result.data_source
    )?;
    outln!("{} trials: {} trained, {} over memory, {} infeasible or too slow, {} repeated, {} failed; {} within {} s",
        s.trials, s.trained, s.over_memory, s.infeasible, s.repeated, s.failed, s.within_requirement, config.lat_req_s
    )?;
    match &s.best {
        Some(b) => {
            outln!("best: trial {} {} — float {:.2} %, Q15 {:.2} % (validation), intermittent latency {}",
                b.trial,
                b.arch,
                b.float_acc * 100.0,
                b.q15_acc * 100.0,
                b.intermittent_latency_s.map_or("-".into(), |l| format!("{l:.2} s"))
            )?;
            if let Some(t) = &s.test {
                let a = &t.accumulator;
                outln!(
                    "      Q15 test accuracy {:.2} % on {} samples; accumulator peak {:.1} % of its range, {} of {} MAC calls saturated",
                    t.q15_acc * 100.0,
                    t.samples,
                    a.peak_share() * 100.0,
                    a.saturated,
                    a.calls
                )?;
            }
            outln!("      plan: {}", result.out.join("best.plan").display())?;
        }
        None => outln!("no trained trial meets the requirement")?,
    }
    outln!(
        "time: {:.1} s ({:.1} s training, explorer {:.4} %)",
        s.time.total_s,
        s.time.train_s,
        s.time.explore_share * 100.0
    )?;
    Ok(EXIT_OK)
}

/// Fetches the dataset into the cache when it is not there yet (offline sources included).
fn ensure_data(dataset: Dataset, cache: &Path) -> Result<()> {
    let name = data::DatasetName::from(dataset);
    if data::cache::Manifest::read(&data::cache::dataset_dir(cache, name)).is_ok() {
        return Ok(());
    }
    errln!("inas: {name} is not in {}; fetching it", cache.display());
    std::fs::create_dir_all(cache)
        .with_context(|| format!("cannot create the cache {}", cache.display()))?;
    let opts = data::fetch::FetchOptions::default();
    let mut log = |line: &str| errln!("{line}");
    let m = data::fetch::fetch(
        name,
        cache,
        &opts,
        &data::fetch::Http::new(opts.timeout),
        &mut log,
    )?;
    errln!("inas: {name}: {}", m.describe());
    Ok(())
}

/// `inas export`: a trial's plan out of a run directory.
#[derive(Clone, Debug, Args)]
pub struct ExportArgs {
    /// Run directory of a search.
    pub run: PathBuf,
    /// Trial number [default: the best trial].
    #[arg(long)]
    pub trial: Option<u32>,
    /// Where to write the plan.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

pub fn run_export(args: ExportArgs) -> Result<i32> {
    let (_, records) = Journal::read(&args.run)?;
    let trial = match args.trial {
        Some(t) => t,
        None => crate::runs::best(&records)
            .map(|r| r.trial)
            .with_context(|| {
                format!(
                    "{}: no trained trial meets the requirement; pass --trial",
                    args.run.display()
                )
            })?,
    };
    let Some(record) = records.get(trial as usize) else {
        bail!(
            "{}: trial {trial} does not exist ({} trials)",
            args.run.display(),
            records.len()
        );
    };
    let source = match record.outcome {
        crate::runs::TrialOutcome::Repeated { of } => of,
        _ => trial,
    };
    if records[source as usize].trained().is_none() {
        bail!(
            "{}: trial {trial} was not trained ({}), so it has no plan",
            args.run.display(),
            serde_json::to_value(&records[source as usize].outcome)?["status"]
        );
    }
    let path = args.run.join(TrialRecord::plan_file(source));
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    planner::open(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    std::fs::write(&args.output, &bytes)
        .with_context(|| format!("writing {}", args.output.display()))?;
    outln!(
        "wrote {} ({} bytes): trial {trial}, {}",
        args.output.display(),
        bytes.len(),
        record.arch
    )?;
    Ok(EXIT_OK)
}

/// `inas trial`: one trial of a search, as a worker runs it.
#[derive(Clone, Debug, Args)]
pub struct TrialArgs {
    /// Run directory of the search (run.json and the trial's proposal).
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// Trial number.
    #[arg(long, required_unless_present = "serve", conflicts_with = "serve")]
    pub trial: Option<u32>,
    /// Run the trials whose numbers come on standard input, one per line, loading the data
    /// once; answer `done N` or `failed N` on standard output as each ends (local:N's workers).
    #[arg(long)]
    pub serve: bool,
    /// Dataset cache [default: the one the search named].
    #[arg(long, value_name = "DIR")]
    pub data_cache: Option<PathBuf>,
}

pub fn run_trial(args: TrialArgs) -> Result<i32> {
    let mut worker = trial::Worker::new(&args.run, args.data_cache.as_deref())?;
    match args.trial {
        Some(t) => outln!("{}", trial::describe_work(t, &worker.work(t)?))?,
        None => worker.serve(std::io::stdin().lock(), std::io::stdout().lock())?,
    }
    Ok(EXIT_OK)
}
