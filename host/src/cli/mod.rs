//! The command-line edge: flags and files in, tables and JSON out. Exit codes: 0 done,
//! 1 the network cannot run (no feasible design), 2 bad input.

mod args;
pub mod case;
mod data;
mod device;
mod emulate;
mod out;
mod plans;
pub mod render;
mod search;
mod simulate;

use std::io::BufRead;

use anyhow::{Context, Result};
use clap::Parser;
use rayon::prelude::*;

pub use args::{Cli, Command, ExploreArgs};
use case::CaseSpec;
use out::{errln, out, outln};
use render::CaseJson;

use crate::profile::{Profile, BUILTIN};

/// Exit codes.
pub const EXIT_OK: i32 = 0;
pub const EXIT_INFEASIBLE: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;

/// Runs the CLI on `std::env::args()` and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                EXIT_BAD_INPUT
            } else {
                EXIT_OK
            };
        }
    };
    let result = run(cli).and_then(|code| {
        out::flush()?;
        Ok(code)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            errln!("error: {e:#}");
            EXIT_BAD_INPUT
        }
    }
}

fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Explore(args) => explore(args),
        Command::Plan(cmd) => plans::run(cmd),
        Command::Simulate(args) => simulate::run(args),
        Command::Search(args) => search::run_search(args),
        Command::Export(args) => search::run_export(args),
        Command::Trial(args) => search::run_trial(args),
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
            let p = Profile::load(&name)?;
            match BUILTIN.iter().find(|(n, _)| *n == name) {
                Some((_, text)) => out!("{text}")?,
                None => out!("{}", toml::to_string(&p)?)?,
            }
            Ok(EXIT_OK)
        }
    }
}

fn defaults(args: &ExploreArgs) -> CaseSpec {
    CaseSpec {
        dataset: Some(args.net.dataset.name().to_owned()),
        arch: args.net.arch.as_ref().map(|a| a.0.clone()),
        cap_f: args.supply.cap,
        rehm_ohm: args.supply.rehm,
        margin: args.supply.margin,
        vm_bytes: args.supply.vm,
        power: Some(match args.power {
            args::PowerArg::Int => "int".into(),
            args::PowerArg::Cont => "cont".into(),
        }),
        designs: args
            .designs
            .as_ref()
            .map(|d| d.0.iter().map(|d| d.to_string()).collect()),
    }
}

fn explore(args: ExploreArgs) -> Result<i32> {
    let profile = Profile::load(&args.supply.profile)?;
    let defaults = defaults(&args);
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
    defaults: &CaseSpec,
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
                .and_then(|spec| spec.over(defaults).validate(profile))
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
