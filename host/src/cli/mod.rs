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

/// The executable that runs the commands needing libtorch (`search`, `trial`), beside `inas`.
pub const TORCH_EXE: &str = "inas-torch";

/// Runs the CLI on `std::env::args()` and returns the exit code: every command, libtorch's
/// included (the `inas-torch` executable).
pub fn main() -> i32 {
    let Some(cli) = parse() else {
        return EXIT_ERR_PARSED.with(|c| c.get());
    };
    finish(match cli.command {
        Command::Search(args) => search::run_search(args),
        Command::Trial(args) => search::run_trial(args),
        command => run(command),
    })
}

/// The `inas` executable: every command that needs no libtorch runs here, and nothing here
/// reaches libtorch, so the linker leaves it out and the CLI starts in milliseconds (libtorch's
/// static initialisers take about half a second). `search` and `trial` go to `inas-torch`
/// beside it, with the same arguments.
pub fn main_without_torch() -> i32 {
    let Some(cli) = parse() else {
        return EXIT_ERR_PARSED.with(|c| c.get());
    };
    match cli.command {
        Command::Search(_) | Command::Trial(_) => finish(torch_exe()),
        command => finish(run(command)),
    }
}

thread_local! {
    /// The exit code of a command line clap refused (or answered, as `--help`).
    static EXIT_ERR_PARSED: std::cell::Cell<i32> = const { std::cell::Cell::new(EXIT_OK) };
}

fn parse() -> Option<Cli> {
    match Cli::try_parse() {
        Ok(cli) => Some(cli),
        Err(e) => {
            let _ = e.print();
            EXIT_ERR_PARSED.with(|c| {
                c.set(if e.use_stderr() {
                    EXIT_BAD_INPUT
                } else {
                    EXIT_OK
                })
            });
            None
        }
    }
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
    let profile = crate::profile::load(args.supply.profile())?;
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
