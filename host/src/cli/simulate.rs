//! `inas simulate`: a plan on the simulated device.

use anyhow::{anyhow, bail, Context, Result};
use inas_common::engine::{Engine, EngineError};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::args::SupplyArgs;
use super::out::outln;
use super::out::{EXIT_INFEASIBLE, EXIT_OK};
use super::plans;
use crate::explore::evaluate_fixed_network;
use crate::model::Platform;
use crate::planner;
use crate::q15ref;
use crate::simdev::{run_with_cuts, write_log, Cut, EnergyDevice, PowerFail, SimNvm};

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

#[derive(Debug, Serialize)]
struct Report {
    outputs: Vec<i16>,
    reference_outputs: Vec<i16>,
    /// Runs whose outputs differ from the reference.
    mismatches: u64,
    failures_injected: u64,
    runs: u64,
    power_cycles: Option<u64>,
    latency_s: Option<f64>,
    predicted_latency_s: Option<f64>,
    predicted_power_cycles: Option<f64>,
    on_time_s: Option<f64>,
    off_time_s: Option<f64>,
    brownouts: Option<u64>,
    completed: Option<bool>,
    /// Why the model says the plan cannot run intermittently, if it does.
    unsafe_layer: Option<String>,
}

fn stopped(e: EngineError<PowerFail>) -> anyhow::Error {
    match e {
        EngineError::Device(PowerFail) => anyhow!("power failed while writing the input (start)"),
        other => anyhow!("engine stopped: {other:?}"),
    }
}

fn input_of(args: &SimulateArgs, n: usize) -> Result<Vec<i16>> {
    if args.input == "random" {
        return Ok(planner::random_input(n, args.seed));
    }
    let text = std::fs::read_to_string(&args.input)
        .with_context(|| format!("cannot read input {}", args.input))?;
    let v: Vec<i16> = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: expected a JSON array of Q15 integers (-32768..32767)",
            args.input
        )
    })?;
    if v.len() != n {
        bail!(
            "{}: the plan's input has {n} values, the file {}",
            args.input,
            v.len()
        );
    }
    Ok(v)
}

pub fn run(args: SimulateArgs) -> Result<i32> {
    let bytes = plans::read(&args.plan)?;
    let (source, plan) = plans::validated(&args.plan, &bytes)?;
    let input = input_of(&args, plan.meta().input.elements() as usize)?;
    let reference = q15ref::forward(&source, &input).pop().unwrap_or_default();
    let (outputs, _) = run_with_cuts(&plan, &source, &input, |_| None).map_err(stopped)?;
    let mut r = Report {
        mismatches: u64::from(outputs != reference),
        outputs,
        reference_outputs: reference.clone(),
        failures_injected: 0,
        runs: 1,
        power_cycles: None,
        latency_s: None,
        predicted_latency_s: None,
        predicted_power_cycles: None,
        on_time_s: None,
        off_time_s: None,
        brownouts: None,
        completed: None,
        unsafe_layer: None,
    };
    match args.failures {
        Failures::None => {}
        Failures::Random(n) => {
            // Writes of a clean run, to spread the cuts over the whole inference.
            let (first, lens) = write_log(&plan, &source, &input).map_err(stopped)?;
            let spread = ((lens.len() as u64 - first) / 8).max(1);
            let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
            // Several failures per run, each at a random write torn at a random word, until
            // N have struck.
            while r.failures_injected < n {
                let mut left = n - r.failures_injected;
                let (out, injected) = run_with_cuts(&plan, &source, &input, |nvm| {
                    (left > 0).then(|| {
                        left -= 1;
                        Cut {
                            write: nvm.writes + rng.random_range(0..spread),
                            keep: rng.random_range(0..=64usize),
                        }
                    })
                })
                .map_err(stopped)?;
                r.runs += 1;
                r.failures_injected += injected;
                r.mismatches += u64::from(out != reference);
            }
        }
        Failures::EveryWrite => {
            let (first, lens) = write_log(&plan, &source, &input).map_err(stopped)?;
            for w in first..lens.len() as u64 {
                for keep in 0..=lens[w as usize] {
                    let mut armed = Some(Cut { write: w, keep });
                    let (out, injected) =
                        run_with_cuts(&plan, &source, &input, |_| armed.take()).map_err(stopped)?;
                    r.runs += 1;
                    r.failures_injected += injected;
                    r.mismatches += u64::from(out != reference);
                }
            }
        }
    }
    if args.harvest == HarvestArg::Rc {
        let profile = crate::profile::load(args.supply.profile())?;
        let platform = Platform::new(&profile, args.supply.overrides())?;
        let engine = Engine::new(&plan);
        let mut nvm = SimNvm::for_plan(&plan, &source);
        engine
            .start(&mut nvm, &input)
            .map_err(|_| anyhow!("power failed during start"))?;
        let mut dev = EnergyDevice::new(nvm, platform.costs, platform.cap, platform.harvester);
        let run = dev
            .run_intermittent(&plan)
            .map_err(|e| anyhow!("engine stopped: {e:?}"))?;
        r.power_cycles = Some(run.power_cycles);
        r.latency_s = run.completed.then(|| run.latency_s());
        r.on_time_s = Some(run.on_time_s);
        r.off_time_s = Some(run.off_time_s);
        r.brownouts = Some(run.brownouts);
        r.completed = Some(run.completed);
        if run.completed {
            let (at, len) = engine.output();
            r.mismatches +=
                u64::from(dev.nvm.words[at as usize..(at + len) as usize] != reference[..]);
        }
        // The model for the plan's own designs on our engine.
        let model = Platform::for_engine(&profile, args.supply.overrides())?;
        let net = planner::network_of(plan.meta());
        let designs: Vec<_> = plan.layers().iter().map(|l| l.design).collect();
        let fixed = evaluate_fixed_network(&model, &net, &designs)?;
        r.predicted_latency_s = fixed.latency_s;
        r.predicted_power_cycles = fixed.latency_s.map(|_| {
            fixed
                .layers
                .iter()
                .map(|(_, d)| d.as_ref().map_or(0.0, |d| d.counts().npc))
                .sum()
        });
        r.unsafe_layer = fixed.unsafe_layer.map(|f| f.to_string());
    }
    if args.json {
        outln!("{}", serde_json::to_string(&r)?)?;
    } else {
        outln!(
            "{}: {} runs, {} failures injected, {} mismatches",
            args.plan.display(),
            r.runs,
            r.failures_injected,
            r.mismatches
        )?;
        outln!(
            "outputs   {:?}\nreference {:?}",
            r.outputs,
            r.reference_outputs
        )?;
        if let Some(done) = r.completed {
            match (done, r.latency_s) {
                (true, Some(l)) => outln!(
                    "energy-driven: {} power cycles, {l:.3} s (on {:.3} s, off {:.3} s); model {}",
                    r.power_cycles.unwrap_or(0),
                    r.on_time_s.unwrap_or(0.0),
                    r.off_time_s.unwrap_or(0.0),
                    r.predicted_latency_s.map_or("cannot run it".to_owned(), |p| format!("{p:.3} s"))
                )?,
                _ => outln!(
                    "energy-driven: never completes: a batch needs more than one power cycle's energy ({} brown-outs){}",
                    r.brownouts.unwrap_or(0),
                    r.unsafe_layer.as_ref().map_or(String::new(), |u| format!("; model: {u}"))
                )?,
            }
        }
    }
    Ok(if r.mismatches == 0 && r.completed != Some(false) {
        EXIT_OK
    } else {
        EXIT_INFEASIBLE
    })
}
