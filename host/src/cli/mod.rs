//! The command-line edge: flags and files in, tables and JSON out. Exit codes: 0 done,
//! 1 the network cannot run (no feasible design), 2 bad input.

mod args;
pub use inas_core::case;
mod data;
mod device;
mod emulate;
mod out;
mod plans;
pub mod render;
mod search;
mod simulate;

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use rayon::prelude::*;

use args::{parse_designs, Designs, NetArgs, PowerArg, SupplyArgs};
use case::{CaseArgs, CaseSpec};
use out::{errln, out, outln};
use render::CaseJson;

use crate::profile::{Profile, BUILTIN};

pub use out::{EXIT_BAD_INPUT, EXIT_INFEASIBLE, EXIT_OK};

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
    Plan(plans::PlanCommand),
    /// Run a plan on the simulated device: outputs against the Q15 reference, injected power
    /// failures, and an energy-driven run against the model's prediction.
    Simulate(simulate::SimulateArgs),
    /// Datasets: fetch into the cache, list what is cached, show a dataset's splits.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// List serial ports that may be a board (TI LaunchPads first, with USB VID:PID).
    Devices(device::DevicesArgs),
    /// Upload a plan to a device: capability check, chunked upload with resend, commit, and a
    /// verification run against the host engine.
    Deploy(device::DeployArgs),
    /// Deploy a plan and measure it: accuracy on test samples, logits against the host engine,
    /// latency end to end and per layer against the model (JSON, CSV and an SVG plot).
    Measure(device::MeasureArgs),
    /// Fit a platform profile's transfer and MAC cycles to a device's microbenchmarks.
    Calibrate(device::CalibrateArgs),
    /// Time the firmware in device cycles: the MAC kernel, transfers, a batch's bookkeeping, a
    /// boot, and reference plans end to end (cycles per MAC).
    Bench(device::BenchArgs),
    /// Search for a network: train and quantize candidates, price them with the explorer, and
    /// keep a resumable run directory (journal, plans, summary, trials.csv, pareto.svg).
    Search(search::SearchArgs),
    /// Write the plan of a search's trial (default: the best).
    Export(search::ExportArgs),
    /// Run one trial of a search (what --executor local:N and slurm workers run): train,
    /// quantize and price the proposed child, write its plan and result in the run directory
    Trial(search::TrialArgs),
    /// Run a firmware ELF on the virtual LaunchPad (MSP430FR5994 emulator) under a harvested
    /// supply, optionally with its UART on a pseudo-terminal (--pty); prints a run report.
    Emulate(emulate::EmulateArgs),
    /// Print a built-in platform profile as TOML (a starting point for your own), or list them.
    Profile {
        /// Profile name; lists the built-in profiles when omitted.
        name: Option<String>,
    },
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

/// The executable that runs the commands needing libtorch (`search`, `trial`), beside `inas`.
pub const TORCH_EXE: &str = "inas-torch";

/// Runs the CLI on `std::env::args()` and returns the exit code: every command, libtorch's
/// included (the `inas-torch` executable).
pub fn main() -> i32 {
    match parse() {
        Ok(cli) => finish(match cli.command {
            Command::Search(args) => search::run_search(args),
            Command::Trial(args) => search::run_trial(args),
            command => run(command),
        }),
        Err(code) => code,
    }
}

/// The `inas` executable: every command that needs no libtorch runs here, and nothing here
/// reaches libtorch, so the linker leaves it out and the CLI starts in milliseconds (libtorch's
/// static initialisers take about half a second). `search` and `trial` go to `inas-torch`
/// beside it, with the same arguments.
pub fn main_without_torch() -> i32 {
    match parse() {
        Ok(Cli {
            command: Command::Search(_) | Command::Trial(_),
        }) => finish(torch_exe()),
        Ok(cli) => finish(run(cli.command)),
        Err(code) => code,
    }
}

/// The command line, or the exit code of one clap refused (or answered, as `--help`).
fn parse() -> Result<Cli, i32> {
    Cli::try_parse().map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            EXIT_BAD_INPUT
        } else {
            EXIT_OK
        }
    })
}

fn finish(result: Result<i32>) -> i32 {
    match result.and_then(|code| {
        out::flush()?;
        Ok(code)
    }) {
        Ok(code) => code,
        Err(e) => {
            errln!("error: {e:#}");
            EXIT_BAD_INPUT
        }
    }
}

/// Runs this command line with `inas-torch` (beside this executable) and returns its exit
/// code; on Unix it replaces this process.
fn torch_exe() -> Result<i32> {
    let exe = std::env::current_exe()
        .context("finding the inas executable")?
        .with_file_name(format!("{TORCH_EXE}{}", std::env::consts::EXE_SUFFIX));
    let mut cmd = std::process::Command::new(&exe);
    cmd.args(std::env::args_os().skip(1));
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let e = cmd.exec();
        Err(e).with_context(|| {
            format!(
                "starting {} (search and trial run there; it is built with inas)",
                exe.display()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let status = cmd.status().with_context(|| {
            format!(
                "starting {} (search and trial run there; it is built with inas)",
                exe.display()
            )
        })?;
        Ok(status.code().unwrap_or(EXIT_BAD_INPUT))
    }
}

/// Every command but `search` and `trial` (which the callers run themselves).
fn run(command: Command) -> Result<i32> {
    match command {
        Command::Search(_) | Command::Trial(_) => {
            anyhow::bail!("internal error: search and trial run in {TORCH_EXE}")
        }
        Command::Explore(args) => explore(args),
        Command::Plan(cmd) => plans::run(cmd),
        Command::Simulate(args) => simulate::run(args),
        Command::Export(args) => search::run_export(args),
        Command::Data(cmd) => data::run(cmd),
        Command::Devices(args) => device::devices(args),
        Command::Deploy(args) => device::deploy(args),
        Command::Measure(args) => device::measure(args),
        Command::Calibrate(args) => device::calibrate(args),
        Command::Bench(args) => device::bench(args),
        Command::Emulate(args) => emulate::run(args),
        Command::Profile { name: None } => {
            for (name, text) in BUILTIN {
                let p = Profile::from_toml(text, name)?;
                outln!("{name}\t{}", p.description)?;
            }
            Ok(EXIT_OK)
        }
        Command::Profile { name: Some(name) } => {
            let p = crate::profile::load(&name)?;
            match BUILTIN.iter().find(|(n, _)| *n == name) {
                Some((_, text)) => out!("{text}")?,
                None => out!("{}", toml::to_string(&p)?)?,
            }
            Ok(EXIT_OK)
        }
    }
}

/// The case the flags describe (and the defaults of a batch's lines).
fn case_args(args: &ExploreArgs) -> CaseArgs {
    CaseArgs {
        dataset: args.net.dataset,
        arch: args.net.arch.as_ref().map(|a| a.0.clone()),
        overrides: args.supply.overrides(),
        power: args.power.into(),
        designs: args.designs.as_ref().map(|d| d.0.clone()),
    }
}

fn explore(args: ExploreArgs) -> Result<i32> {
    let profile = crate::profile::load(args.supply.profile())?;
    let defaults = case_args(&args);
    if let Some(path) = &args.batch {
        return batch(path, &defaults, &profile, args.json);
    }
    let case = defaults.validate(&profile).map_err(anyhow::Error::msg)?;
    let outcome = case.run().map_err(anyhow::Error::msg)?;
    if args.json {
        outln!(
            "{}",
            serde_json::to_string(&render::case_json(&case, &outcome))?
        )?;
    } else {
        out!("{}", render::table(&case, &outcome, &profile.name))?;
    }
    Ok(if outcome.feasible() {
        EXIT_OK
    } else {
        EXIT_INFEASIBLE
    })
}

/// One output line per input line, in order; a bad line gets an error line and the batch goes on.
fn batch(
    path: &std::path::Path,
    defaults: &CaseArgs,
    profile: &Profile,
    json: bool,
) -> Result<i32> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open batch file {}", path.display()))?;
    let lines: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read batch file {}", path.display()))?;
    let results: Vec<(usize, Result<CaseJson, String>)> = lines
        .par_iter()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            let r = serde_json::from_str::<CaseSpec>(line)
                .map_err(|e| format!("not a case object: {e}"))
                .and_then(|spec| spec.over(defaults)?.validate(profile))
                .and_then(|case| case.run().map(|o| render::case_json(&case, &o)));
            (
                i + 1,
                r.map_err(|e| format!("{}:{}: {e}", path.display(), i + 1)),
            )
        })
        .collect();
    let mut bad = 0;
    for (line_no, r) in results {
        let j = match r {
            Ok(j) => j,
            Err(why) => {
                bad += 1;
                if !json {
                    // The table's line is the message; stderr would repeat it.
                    outln!("line {line_no}: error: {why}")?;
                    continue;
                }
                // JSON lines are for programs; people read stderr.
                errln!("error: {why}");
                CaseJson::bad_input(why)
            }
        };
        if json {
            outln!("{}", serde_json::to_string(&j)?)?;
        } else {
            let summary = match (j.latency_s, &j.error) {
                (Some(l), _) => format!("feasible, latency {l:.3} s"),
                (None, Some(e)) => e.clone(),
                (None, None) => "no result".into(),
            };
            let arch = j
                .arch
                .as_ref()
                .map(|a| format!("{a:?}"))
                .unwrap_or_default();
            outln!(
                "line {line_no}: {} {arch} {}: {summary}",
                j.dataset.as_deref().unwrap_or("?"),
                j.power.unwrap_or("?")
            )?;
        }
    }
    Ok(if bad > 0 { EXIT_BAD_INPUT } else { EXIT_OK })
}
