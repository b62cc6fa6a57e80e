//! Flags, defined once. Parsing here only validates text; acting on it happens elsewhere.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use inas_common::ExecDesign;

use crate::model::Power;
use crate::network::Dataset;
use crate::units;

#[derive(Debug, Parser)]
#[command(
    name = "inas",
    version,
    about = "Intermittent-aware neural architecture search for battery-free devices"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Explore execution designs (tiling, loop order, preservation batch) for a network.
    Explore(ExploreArgs),
    /// Make and inspect plans (what a device runs).
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Run a plan on the simulated device: outputs against the Q15 reference, injected power
    /// failures, and an energy-driven run against the model's prediction.
    Simulate(SimulateArgs),
    /// Datasets: fetch into the cache, list what is cached, show a dataset's splits.
    #[command(subcommand)]
    Data(super::data::DataCommand),
    /// List serial ports that may be a board (TI LaunchPads first, with USB VID:PID).
    Devices(super::device::DevicesArgs),
    /// Upload a plan to a device: capability check, chunked upload with resend, commit, and a
    /// verification run against the host engine.
    Deploy(super::device::DeployArgs),
    /// Deploy a plan and measure it: accuracy on test samples, logits against the host engine,
    /// latency end to end and per layer against the model (JSON, CSV and an SVG plot).
    Measure(super::device::MeasureArgs),
    /// Fit a platform profile's transfer and MAC cycles to a device's microbenchmarks.
    Calibrate(super::device::CalibrateArgs),
    /// Time the firmware in device cycles: the MAC kernel, transfers, a batch's bookkeeping, a
    /// boot, and reference plans end to end (cycles per MAC).
    Bench(super::device::BenchArgs),
    /// Search for a network: train and quantize candidates, price them with the explorer, and
    /// keep a resumable run directory (journal, plans, summary, trials.csv, pareto.svg).
    Search(super::search::SearchArgs),
    /// Write the plan of a search's trial (default: the best).
    Export(super::search::ExportArgs),
    /// Run one trial of a search (what --executor local:N and slurm workers run): train,
    /// quantize and price the proposed child, write its plan and result in the run directory
    Trial(super::search::TrialArgs),
    /// Run a firmware ELF on the virtual LaunchPad (MSP430FR5994 emulator) under a harvested
    /// supply, optionally with its UART on a pseudo-terminal (--pty); prints a run report.
    Emulate(super::emulate::EmulateArgs),
    /// Print a built-in platform profile as TOML (a starting point for your own), or list them.
    Profile {
        /// Profile name; lists the built-in profiles when omitted.
        name: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PowerArg {
    /// Intermittent power: energy budget per power cycle, recharge between cycles.
    Int,
    /// Continuous power: the HW-NAS baseline (S = 1, VM constraint only).
    Cont,
}

impl From<PowerArg> for inas_common::wire::RunMode {
    fn from(p: PowerArg) -> Self {
        match p {
            PowerArg::Int => Self::Intermittent,
            PowerArg::Cont => Self::Continuous,
        }
    }
}

impl From<PowerArg> for Power {
    fn from(p: PowerArg) -> Power {
        match p {
            PowerArg::Int => Power::Int,
            PowerArg::Cont => Power::Cont,
        }
    }
}

/// An action list: kernel,filters per layer (CONV) or units per layer (FC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arch(pub Vec<u32>);

pub fn parse_arch(s: &str) -> Result<Arch, String> {
    s.split(',')
        .map(|v| {
            v.trim().parse::<u32>().map_err(|_| {
                format!(
                    "'{}' in '{s}' is not a whole number (expected e.g. 3,8,5,24)",
                    v.trim()
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Arch)
}

/// One fixed design per layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Designs(pub Vec<ExecDesign>);

pub fn parse_designs(s: &str) -> Result<Designs, String> {
    s.split(',')
        .map(|d| {
            d.trim()
                .parse::<ExecDesign>()
                .map_err(|e| format!("design '{}': {e}", d.trim()))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Designs)
}

pub(super) fn parse_margin(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(m) if m > 0.0 && m <= 1.0 => Ok(m),
        _ => Err(format!("'{s}' is not a margin in (0, 1]")),
    }
}

fn parse_dataset(s: &str) -> Result<Dataset, String> {
    s.parse()
}

/// The network: dataset (search space) and architecture choices.
#[derive(Clone, Debug, Args)]
pub struct NetArgs {
    /// Search space: cifar (conv2d x5), har (conv1d x3) or kws (FC x4).
    #[arg(long, default_value = "cifar", value_parser = parse_dataset)]
    pub dataset: Dataset,
    /// Architecture choices: kernel,filters per layer, or units per layer for kws
    /// [default: the dataset's reference network].
    #[arg(long, value_parser = parse_arch, allow_hyphen_values = true)]
    pub arch: Option<Arch>,
}

/// The platform and its energy supply.
#[derive(Clone, Debug, Args)]
pub struct SupplyArgs {
    /// Storage capacitance in farads, SI prefix allowed (0.005, 5mF, 4700uF) [default: profile's].
    #[arg(long, value_parser = units::farads, allow_hyphen_values = true)]
    pub cap: Option<f64>,
    /// Harvester equivalent resistance in ohms [default: profile's].
    #[arg(long, value_parser = units::ohms, allow_hyphen_values = true)]
    pub rehm: Option<f64>,
    /// Fraction of the capacitor's energy one power cycle may spend [default: profile's].
    #[arg(long, value_parser = parse_margin, allow_hyphen_values = true)]
    pub margin: Option<f64>,
    /// Volatile memory for tile buffers, in bytes [default: profile's].
    #[arg(long, allow_hyphen_values = true)]
    pub vm: Option<u64>,
    /// Platform profile: a built-in name or a TOML file [default: reference; for `measure` on
    /// the virtual LaunchPad, msp430fr5994-emu, and on the simulated board its
    /// --simboard-profile].
    #[arg(long, value_name = "NAME|FILE")]
    pub profile: Option<String>,
}

impl SupplyArgs {
    /// The profile named, or `default`.
    pub fn profile_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.profile.as_deref().unwrap_or(default)
    }

    /// The profile named, or the reference.
    pub fn profile(&self) -> &str {
        self.profile_or("reference")
    }

    pub fn overrides(&self) -> crate::model::Overrides {
        crate::model::Overrides {
            capacitance_f: self.cap,
            margin: self.margin,
            r_ohm: self.rehm,
            vm_bytes: self.vm,
        }
    }
}

#[derive(Clone, Debug, Args)]
pub struct ExploreArgs {
    #[command(flatten)]
    pub net: NetArgs,
    #[command(flatten)]
    pub supply: SupplyArgs,
    /// Power: int (intermittent) or cont (continuous, the HW-NAS baseline).
    #[arg(long, value_enum, default_value = "int")]
    pub power: PowerArg,
    /// Evaluate these fixed designs (one per layer, comma-separated design strings such as
    /// 3_15_8_1_reuse_O_S1) under intermittent power instead of exploring.
    #[arg(long, value_parser = parse_designs, conflicts_with = "power")]
    pub designs: Option<Designs>,
    /// Explore many cases: one JSON object per line; the flags above fill in missing fields.
    #[arg(long, value_name = "FILE.jsonl")]
    pub batch: Option<PathBuf>,
    /// Print JSON (one object, or one line per batch case) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Make a plan with random Q15 weights and the explorer's designs (for tests and demos).
    Random {
        #[command(flatten)]
        net: NetArgs,
        #[command(flatten)]
        supply: SupplyArgs,
        /// Designs from the intermittent explorer (int) or the continuous-power baseline (cont).
        #[arg(long, value_enum, default_value = "int")]
        power: PowerArg,
        /// Seed of the random weights (also the plan id).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Input length (rows) instead of the dataset's: a smaller plan of the same search
        /// space, e.g. for a device smoke test.
        #[arg(long, value_name = "N")]
        input_len: Option<u32>,
        /// Where to write the plan.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Describe a plan: header, layers, designs, memory.
    Show {
        /// The plan file.
        plan: PathBuf,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
}

/// Which power failures `simulate` injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failures {
    None,
    /// This many failures, each at a random write, torn at a random word.
    Random(u64),
    /// One run per write and per torn-write point.
    EveryWrite,
}

/// Most random failures one `simulate` injects: about a minute on a HAR plan; more would only
/// look like a hang.
pub const MAX_RANDOM_FAILURES: u64 = 1_000_000;

pub fn parse_failures(s: &str) -> Result<Failures, String> {
    match s {
        "none" => Ok(Failures::None),
        "every-write" => Ok(Failures::EveryWrite),
        _ => match s.strip_prefix("random:").map(str::parse::<u64>) {
            Some(Ok(n)) if n <= MAX_RANDOM_FAILURES => Ok(Failures::Random(n)),
            _ => Err(format!(
                "'{s}' is not none, random:N (N up to {MAX_RANDOM_FAILURES}) or every-write"
            )),
        },
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HarvestArg {
    /// The profile's harvester (RC source), with --cap/--rehm/--margin.
    Rc,
    /// No energy-driven run.
    None,
}

#[derive(Clone, Debug, Args)]
pub struct SimulateArgs {
    /// The plan file (from `inas plan random`, or a search).
    pub plan: PathBuf,
    /// `random` (seeded) or a JSON file holding an array of Q15 integers.
    #[arg(long, default_value = "random")]
    pub input: String,
    /// Seed for the random input and the random failures.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Power failures to inject: none, random:N (N up to 1000000), every-write.
    #[arg(long, default_value = "none", value_parser = parse_failures)]
    pub failures: Failures,
    /// Energy-driven run: the device draws every operation from the capacitor.
    #[arg(long, value_enum, default_value = "rc")]
    pub harvest: HarvestArg,
    #[command(flatten)]
    pub supply: SupplyArgs,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
}
