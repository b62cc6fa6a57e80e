//! `inas devices`, `deploy`, `measure`, `calibrate`: a board over a serial port, or the
//! simulated board in process.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use inas_common::plan::PlanMeta;
use inas_common::session::LAUNCHPAD;
use inas_common::wire::RunMode;
use inas_emu::builds::{firmware_elf, Build};
use inas_emu::power::Supply;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::args::{PowerArg, SupplyArgs};
use super::data::CacheArgs;
use super::out::{errln, outln};
use super::out::{EXIT_INFEASIBLE, EXIT_OK};
use super::plans;
use crate::bench;
use crate::calibrate::{self, layers};
use crate::data::DatasetName;
use crate::device::client::{device_name, Deployed};
use crate::device::emulator::{self, EmulatorLink};
use crate::device::fault::{Faults, FaultyLink};
use crate::device::link::byte_time;
use crate::device::serial::{self, SerialLink};
use crate::device::simboard::{self, SimLink};
use crate::device::{host_logits, Client, ClientError, Link, Options};
use crate::explore::evaluate_fixed_network;
use crate::measure::{self, predict, samples, Sample, Setup};
use crate::model::Platform;
use crate::planner;
use crate::profile::Profile;
use crate::units;

/// Exit code when the device or the link failed (no answer, gave up after the tries).
pub const EXIT_DEVICE: i32 = 3;

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a rate in [0, 1)")),
    }
}

/// Which device: exactly one of these.
#[derive(Clone, Debug, Args)]
#[group(required = true, multiple = false)]
pub struct TargetArgs {
    /// Serial port of a board: its application UART (e.g. /dev/ttyACM1 or COM5; `inas devices`
    /// lists candidates).
    #[arg(long, value_name = "PORT")]
    pub port: Option<String>,
    /// The simulated board, in process: the device's own session code over simulated FRAM
    /// (LaunchPad layout), each operation priced by --simboard-profile, in simulated time.
    #[arg(long)]
    pub simboard: bool,
    /// The virtual LaunchPad, in process: a board firmware ELF (default: this checkout's build,
    /// `cargo xtask firmware`) on the emulator, in lockstep simulated time. It lives for this
    /// command: plans upload on USB power, and `measure --harvested` runs them on the
    /// harvester and capacitor of --profile/--cap/--rehm. For a board that outlives one
    /// command, run `inas emulate --pty` and pass its path to --port.
    #[arg(long, value_name = "ELF", num_args = 0..=1)]
    #[allow(clippy::option_option)]
    pub emulator: Option<Option<PathBuf>>,
}

/// The link to the device and how patient to be with it.
#[derive(Clone, Debug, Args)]
pub struct LinkArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Serial speed (the firmware uses 115200 8N1).
    #[arg(long, default_value_t = serial::BAUD, value_parser = clap::value_parser!(u32).range(300..=4_000_000))]
    pub baud: u32,
    /// Profile that prices the simulated board's operations.
    #[arg(long, default_value = "reference", value_name = "NAME|FILE")]
    pub simboard_profile: String,
    /// Seconds to wait for an answer before sending a request again.
    #[arg(long, default_value = "2", value_parser = units::up_to("s", 86_400.0), value_name = "S")]
    pub timeout: f64,
    /// Sends of one request before giving up.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub tries: u32,
    /// Damage the line for testing: this share of bytes arrives altered, each way.
    #[arg(long, default_value = "0", value_parser = parse_rate, value_name = "RATE")]
    pub fault_corrupt: f64,
    /// Damage the line for testing: this share of bytes is lost, each way.
    #[arg(long, default_value = "0", value_parser = parse_rate, value_name = "RATE")]
    pub fault_drop: f64,
    /// Seed of the line damage.
    #[arg(long, default_value_t = 1)]
    pub fault_seed: u64,
    /// With --emulator: where the device spends its cycles during runs, by firmware function,
    /// written to this CSV when the command ends (function, cycles, share of the profiled
    /// cycles). Profiling slows the emulator several times; device timings are unchanged.
    #[arg(long, value_name = "CSV", requires = "emulator")]
    pub profile_cycles: Option<PathBuf>,
}

/// The supply of harvested runs, in the forms the links that model one need.
#[derive(Clone)]
struct RunPower {
    /// The virtual LaunchPad's capacitor and harvester.
    emulator: Supply,
    /// The model's, for the simulated board.
    model: Platform,
}

impl LinkArgs {
    /// Opens the link; `run_power` is the supply of runs on the virtual LaunchPad and the
    /// simulated board (a real board's power is the user's bench).
    fn open(&self, run_power: Option<&RunPower>) -> Result<Client<Box<dyn Link>>> {
        let (link, baud): (Box<dyn Link>, u32) = match (&self.target.port, &self.target.emulator) {
            (Some(port), _) => (Box::new(SerialLink::open(port, self.baud)?), self.baud),
            (None, Some(elf)) => {
                let elf = match elf {
                    Some(elf) => elf.clone(),
                    None => firmware_elf(Build::Board)?,
                };
                let mut link = EmulatorLink::start(&elf, None)?;
                if let Some(csv) = &self.profile_cycles {
                    link.profile_cycles(csv.clone());
                }
                if let Some(p) = run_power {
                    link.run_on(p.emulator.clone());
                }
                // The firmware's UART speed: the emulator times each character at it.
                (Box::new(link), serial::BAUD)
            }
            (None, None) => {
                let profile = crate::profile::load(&self.simboard_profile)?;
                let mut link = SimLink::new(LAUNCHPAD, &profile.cost_table());
                if let Some(p) = run_power {
                    link.run_on(p.model.cap, p.model.harvester);
                }
                (Box::new(link), simboard::BAUD)
            }
        };
        let link: Box<dyn Link> = if self.fault_corrupt > 0.0 || self.fault_drop > 0.0 {
            Box::new(FaultyLink::new(
                link,
                Faults {
                    corrupt: self.fault_corrupt,
                    drop: self.fault_drop,
                    seed: self.fault_seed,
                },
            ))
        } else {
            link
        };
        Ok(Client::new(
            link,
            Options {
                reply_timeout: Duration::from_secs_f64(self.timeout),
                tries: self.tries,
                byte_time: byte_time(baud),
                ..Options::default()
            },
        ))
    }
}

#[derive(Clone, Debug, Args)]
pub struct DevicesArgs {
    /// Print JSON (an array of ports) instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Debug, Args)]
pub struct DeployArgs {
    /// The plan file.
    pub plan: PathBuf,
    #[command(flatten)]
    pub link: LinkArgs,
    /// Skip the verification run (one seeded random input; its logits must equal the host
    /// engine's, which proves the stored weights).
    #[arg(long)]
    pub no_verify: bool,
    /// Seconds the verification run may take.
    #[arg(long, default_value = "600", value_parser = units::up_to("s", 86_400.0), value_name = "S")]
    pub run_timeout: f64,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Debug, Args)]
pub struct MeasureArgs {
    /// The plan to deploy and measure.
    #[arg(long)]
    pub plan: PathBuf,
    #[command(flatten)]
    pub link: LinkArgs,
    /// Test samples from a cached dataset's test split (`inas data fetch` fills the cache),
    /// standardised as the plan says its network was trained (a search writes that into every
    /// plan) and quantized to the plan's input.
    #[arg(long, value_name = "NAME", conflicts_with = "inputs")]
    pub dataset: Option<DatasetName>,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Test samples from a JSON file: a list of Q15 input arrays, or of {"input": [...],
    /// "label": N} objects. Without --dataset or --inputs: seeded random inputs.
    #[arg(long, value_name = "FILE.json")]
    pub inputs: Option<PathBuf>,
    /// How many samples to run.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub samples: u32,
    /// Seed of the sample choice and of random inputs.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run mode on the device: int, one preservation batch per power cycle and then a software
    /// power-down (the paper's contract); cont, run to the end.
    #[arg(long, value_enum, default_value = "int")]
    pub mode: PowerArg,
    /// Skip the per-layer measurement (it deploys and runs each layer prefix once).
    #[arg(long)]
    pub no_per_layer: bool,
    /// The board runs on the harvester and capacitor of --profile/--cap/--rehm: predictions
    /// include the recharge between power cycles. The virtual LaunchPad and the simulated board
    /// run on it (the simulated board by the model's recharge); a board on a port runs on your
    /// bench's supply. A plan the model says cannot complete there (a batch needs more than one
    /// charge) is refused with the reason, unless --run-timeout is given.
    #[arg(long)]
    pub harvested: bool,
    /// The prediction's platform (--profile), and its supply with --harvested.
    #[command(flatten)]
    pub supply: SupplyArgs,
    /// Seconds one inference may take [default: 5x the prediction + 10 s, or 600 s]. With
    /// --harvested, giving it also runs a plan the model says cannot complete.
    #[arg(long, value_parser = units::up_to("s", 86_400.0), value_name = "S")]
    pub run_timeout: Option<f64>,
    /// Where to write measure.json, samples.csv, layers.csv and latency.svg.
    #[arg(long, short, default_value = "measure-out", value_name = "DIR")]
    pub out: PathBuf,
    /// Print the report as one JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Debug, Args)]
pub struct CalibrateArgs {
    #[command(flatten)]
    pub link: LinkArgs,
    /// Where to write the calibrated profile (TOML).
    #[arg(short, long, value_name = "FILE.toml")]
    pub output: PathBuf,
    /// Profile that supplies what benchmarks cannot measure (energy, CPU ops, overheads).
    #[arg(long, default_value = "reference", value_name = "NAME|FILE")]
    pub base: String,
    /// Name of the new profile.
    #[arg(long, default_value = "calibrated")]
    pub name: String,
    /// Repetitions of each benchmark.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub reps: u16,
    /// Calibration plans whose layers (measured in both run modes) fit the CPU, overhead and
    /// reboot constants; 0 keeps the base profile's.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(0..=100))]
    pub layer_plans: u16,
    /// Seed of the calibration plans' designs and data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Power the board draws while running, in watts (measure it with a current probe): every
    /// energy of the profile becomes the matching time at this power. Default with --emulator:
    /// the virtual LaunchPad's datasheet active current at the firmware's clock, at the middle
    /// of the capacitor's window; otherwise the base profile's energies are kept.
    #[arg(long, value_parser = units::up_to("W", 10.0), value_name = "W")]
    pub active_power_w: Option<f64>,
    /// Print the fits as one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub link: LinkArgs,
    /// Plans to time end to end [default: the three reference plans, made as `inas plan
    /// random` makes them].
    #[arg(long = "plan", value_name = "FILE")]
    pub plans: Vec<PathBuf>,
    /// Repetitions of each microbenchmark.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub reps: u16,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// A progress bar on stderr, hidden when `quiet` (JSON output) or stderr is not a terminal.
fn bar(len: u64, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_owned());
    pb
}

/// Maps device and link failures to their exit code, with the message printed.
fn device_failure(e: anyhow::Error) -> Result<i32> {
    match e.downcast_ref::<ClientError>() {
        Some(ClientError::DoesNotFit(_)) => {
            errln!("error: {e:#}");
            Ok(EXIT_INFEASIBLE)
        }
        Some(ClientError::BadPlan(_)) => Err(e),
        Some(_) => {
            errln!("error: {e:#}");
            Ok(EXIT_DEVICE)
        }
        None => Err(e),
    }
}

pub fn devices(args: DevicesArgs) -> Result<i32> {
    if cfg!(target_os = "linux") && !std::path::Path::new("/sys/class/tty").is_dir() {
        bail!("cannot list serial ports: /sys/class/tty is missing (is /sys mounted?)");
    }
    let ports = serial::ports().map_err(|e| anyhow!("cannot list serial ports: {e}"))?;
    if args.json {
        outln!("{}", serde_json::to_string(&ports)?)?;
        return Ok(EXIT_OK);
    }
    if ports.is_empty() {
        outln!("no serial ports found (use --emulator for the virtual LaunchPad, or --simboard for the simulated board)")?;
        return Ok(EXIT_OK);
    }
    outln!("{:<20} {:<9} {:<9} DESCRIPTION", "PORT", "KIND", "VID:PID")?;
    for p in &ports {
        let ids = match (p.vid, p.pid) {
            (Some(v), Some(d)) => format!("{v:04x}:{d:04x}"),
            _ => "-".into(),
        };
        let mut desc = [p.manufacturer.as_deref(), p.product.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if p.launchpad {
            desc.push_str(
                "  <- TI eZ-FET (LaunchPad): of its two ports, the application UART is usually \
                 the second",
            );
        }
        outln!("{:<20} {:<9} {:<9} {desc}", p.port, p.kind, ids)?;
    }
    Ok(EXIT_OK)
}

#[derive(Serialize)]
struct DeployJson {
    device: String,
    link: String,
    #[serde(flatten)]
    deployed: Deployed,
    throughput_bytes_per_s: f64,
    /// Whether the verification run's logits equalled the host engine's (None: skipped).
    verified: Option<bool>,
}

pub fn deploy(args: DeployArgs) -> Result<i32> {
    let bytes = plans::read(&args.plan)?;
    let (_, valid) = plans::validated(&args.plan, &bytes)?;
    let layers = valid.layers().len() as u16;
    let inputs = valid.meta().input.elements() as usize;
    let run = || -> Result<i32> {
        let mut client = args.link.open(None)?;
        let caps = client.hello()?;
        let pb = bar(bytes.len() as u64, "uploading", args.json);
        let deployed = client.deploy(&bytes, &mut |at, total| {
            pb.set_length(total);
            pb.set_position(at);
        })?;
        pb.finish_and_clear();
        let verified = if args.no_verify {
            None
        } else {
            let input = planner::random_input(inputs, 1);
            let want = host_logits(&bytes, &input).map_err(|e| anyhow!(e))?;
            client.set_options(Options {
                run_timeout: Duration::from_secs_f64(args.run_timeout),
                ..client.options()
            });
            let got = client.infer(&input, RunMode::Continuous, layers)?;
            Some(got.result.plan_id == deployed.plan_id && got.result.logits.to_vec() == want)
        };
        let out = DeployJson {
            device: device_name(&caps),
            link: client.link().describe(),
            throughput_bytes_per_s: f64::from(deployed.bytes) / deployed.elapsed_s.max(1e-9),
            deployed,
            verified,
        };
        if args.json {
            outln!("{}", serde_json::to_string(&out)?)?;
        } else {
            let s = out.deployed.stats;
            outln!(
                "deployed plan {} ({} B) to {} on {} in {:.2} s ({:.0} B/s); {} frames, {} resent, \
                 {} damaged answers, {} timeouts, {} restarts",
                out.deployed.plan_id,
                out.deployed.bytes,
                out.device,
                out.link,
                out.deployed.elapsed_s,
                out.throughput_bytes_per_s,
                s.frames_sent,
                s.resends,
                s.bad_frames,
                s.timeouts,
                s.upload_restarts
            )?;
            match verified {
                Some(true) => outln!("verified: a run's logits equal the host engine's")?,
                Some(false) => outln!(
                    "VERIFICATION FAILED: the device's logits differ from the host engine's"
                )?,
                None => {}
            }
        }
        Ok(if verified == Some(false) {
            EXIT_INFEASIBLE
        } else {
            EXIT_OK
        })
    };
    run().or_else(device_failure)
}

fn samples_of(args: &MeasureArgs, meta: &PlanMeta, classes: u16) -> Result<Vec<Sample>> {
    let n = args.samples as usize;
    if let Some(path) = &args.inputs {
        return samples::from_file(path, n, meta, classes);
    }
    if let Some(name) = args.dataset {
        if meta.preprocess.is_empty() {
            errln!(
                "warning: the plan does not say how its inputs were standardised; fitting \
                 {name}'s training split with --seed {} (rebuild the plan with `inas search` to \
                 carry it)",
                args.seed
            );
        }
        return samples::from_dataset(name, &args.cache.dir()?, args.seed, n, meta, classes);
    }
    Ok(samples::random(n, meta, args.seed))
}

pub fn measure(args: MeasureArgs) -> Result<i32> {
    let bytes = plans::read(&args.plan)?;
    let (_, valid) = plans::validated(&args.plan, &bytes)?;
    let meta = valid.meta();
    let classes = meta.layers.last().map_or(0, |l| l.output.c);
    let samples = samples_of(&args, meta, classes)?;
    let mode = RunMode::from(args.mode);
    // Predictions describe the device measured: our firmware's calibrated profile on the
    // virtual LaunchPad, the simulated board's own pricing on it; a board on a port has no
    // calibration of ours (`inas calibrate --port` makes one), so the reference.
    let default_profile = match (&args.link.target.port, &args.link.target.emulator) {
        (None, Some(_)) => "msp430fr5994-emu",
        (None, None) => args.link.simboard_profile.as_str(),
        (Some(_), _) => "reference",
    };
    let profile = crate::profile::load(args.supply.profile_or(default_profile))?;
    let predicted = predict::predict(
        &profile,
        args.supply.overrides(),
        &valid,
        mode,
        args.harvested,
    )?;
    let total: Option<f64> = predicted.iter().map(|p| p.latency_s).sum();
    let run_timeout = args
        .run_timeout
        .unwrap_or_else(|| total.map_or(600.0, |t| 5.0 * t + 10.0));
    let setup = Setup {
        mode,
        per_layer: !args.no_per_layer,
        predicted: Some(predicted),
    };
    let run_power = match args.harvested {
        true => Some(RunPower {
            emulator: emulator::supply(&profile, args.supply.cap, args.supply.rehm)?,
            model: Platform::new(&profile, args.supply.overrides())?,
        }),
        false => None,
    };
    // A plan whose batch needs more than a charge never completes on a harvester: say so now
    // rather than after the run timeout. The model can be pessimistic about a device (the
    // reference's costs are above our firmware's), so --run-timeout still runs it.
    let cannot_complete = match args.harvested {
        true => cannot_complete(&profile, &args.supply, &valid)?,
        false => None,
    };
    if let Some(why) = &cannot_complete {
        match args.run_timeout {
            None => {
                errln!(
                    "error: {}: on this harvester the plan cannot complete, says profile {}: {why}; \
                     a larger --cap, a plan explored for this supply, or --run-timeout S to run it anyway",
                    args.plan.display(),
                    profile.name
                );
                return Ok(EXIT_INFEASIBLE);
            }
            Some(t) => errln!(
                "warning: {}: profile {} says the plan cannot complete on this harvester ({why}); \
                 running it for at most {t} s",
                args.plan.display(),
                profile.name
            ),
        }
    }
    if let Some(port) = args.link.target.port.as_deref().filter(|p| is_pty(p)) {
        errln!(
            "note: {port} is a pseudo-terminal (`inas emulate --pty`?): the latencies measured \
             are wall-clock time, the board's only if the emulator runs at --speed 1; at \
             --speed max they time this machine, not the board"
        );
    }
    let run = || -> Result<i32> {
        let mut client = args.link.open(run_power.as_ref())?;
        client.set_options(Options {
            run_timeout: Duration::from_secs_f64(run_timeout),
            ..client.options()
        });
        let steps = samples.len()
            + if setup.per_layer {
                valid.layers().len() - 1
            } else {
                0
            };
        let pb = bar(steps as u64, "measuring", args.json);
        let report = measure::measure(&mut client, &bytes, &samples, &setup, &mut |d, _| {
            pb.set_position(d as u64)
        })
        .map_err(|e| match e {
            measure::MeasureError::Client(c) => anyhow::Error::new(c),
            other => anyhow!("{other}"),
        })?;
        pb.finish_and_clear();
        let report = measure::Report {
            predicted_by: Some(profile.name.clone()),
            ..report
        };
        let files = measure::report::write(&report, &args.out)?;
        if args.json {
            outln!("{}", serde_json::to_string(&report)?)?;
        } else {
            print_report(&report, &files)?;
        }
        Ok(if report.logits_match_host {
            EXIT_OK
        } else {
            EXIT_INFEASIBLE
        })
    };
    run().or_else(|e| {
        let code = device_failure(e)?;
        if let Some(why) = &cannot_complete {
            errln!("note: the model said the plan cannot complete on this harvester: {why}");
        }
        Ok(code)
    })
}

/// Whether a serial port is a pseudo-terminal's slave (Unix98: /dev/pts/N), which a board is
/// not: it may be the virtual LaunchPad, whose pace the host cannot see.
fn is_pty(port: &str) -> bool {
    std::fs::canonicalize(port).is_ok_and(|p| p.starts_with("/dev/pts"))
}

/// Why the model says the plan's own designs cannot run on the supply of `--profile`, `--cap`,
/// `--rehm` and `--margin` (a batch needs more than one power cycle's energy), if it does.
fn cannot_complete(
    profile: &Profile,
    supply: &SupplyArgs,
    plan: &inas_common::plan::ValidPlan,
) -> Result<Option<String>> {
    // Our engine's costs, as `simulate` and the predictions price it.
    let model = Platform::for_engine(profile, supply.overrides())?;
    let net = planner::network_of(plan.meta());
    let designs: Vec<_> = plan.layers().iter().map(|l| l.design).collect();
    let fixed = evaluate_fixed_network(&model, &net, &designs)?;
    Ok(fixed.unsafe_layer.map(|f| f.to_string()))
}

fn print_report(r: &measure::Report, files: &[PathBuf]) -> Result<()> {
    let s = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.4}"));
    outln!(
        "{} on {}, plan {}, {} run, {} samples",
        r.device,
        r.link,
        r.plan_id,
        r.mode,
        r.samples
    )?;
    match r.accuracy {
        Some(a) => outln!("accuracy: {:.1} %", a * 100.0)?,
        None => outln!("accuracy: - (no labels)")?,
    }
    outln!(
        "logits equal the host engine's: {}",
        if r.logits_match_host {
            "yes, every sample".to_owned()
        } else {
            let bad: Vec<String> = r
                .per_sample
                .iter()
                .filter(|s| !s.logits_match_host)
                .map(|s| s.index.to_string())
                .collect();
            format!("NO (samples {})", bad.join(", "))
        }
    )?;
    outln!(
        "latency per inference: measured {:.4} s (device on-time {:.4} s), predicted {} s{}; \
         power cycles {:.1} (predicted {})",
        r.measured_latency_s,
        r.measured_on_time_s,
        s(r.predicted_latency_s),
        r.predicted_by
            .as_ref()
            .map_or(String::new(), |p| format!(" by profile {p}")),
        r.power_cycles,
        s(r.predicted_power_cycles)
    )?;
    outln!(
        "{:<12} {:<24} {:>12} {:>12} {:>8}",
        "layer",
        "design",
        "measured s",
        "predicted s",
        "error"
    )?;
    for l in &r.layers {
        let err = match (l.measured_latency_s, l.predicted_latency_s) {
            (Some(m), Some(p)) if p > 0.0 => format!("{:+.1} %", (m - p) / p * 100.0),
            _ => "-".into(),
        };
        outln!(
            "{:<12} {:<24} {:>12} {:>12} {:>8}",
            l.name,
            l.design,
            s(l.measured_latency_s),
            s(l.predicted_latency_s),
            err
        )?;
    }
    let st = r.link_stats;
    outln!(
        "line: {} frames sent, {} resent, {} damaged answers, {} timeouts",
        st.frames_sent,
        st.resends,
        st.bad_frames,
        st.timeouts
    )?;
    for f in files {
        outln!("wrote {}", f.display())?;
    }
    Ok(())
}

pub fn bench(args: BenchArgs) -> Result<i32> {
    let plans = if args.plans.is_empty() {
        bench::reference_plans()?
    } else {
        args.plans
            .iter()
            .map(|p| {
                Ok(bench::BenchPlan {
                    name: p.display().to_string(),
                    bytes: plans::read(p)?,
                })
            })
            .collect::<Result<_>>()?
    };
    let run = || -> Result<i32> {
        let mut client = args.link.open(None)?;
        let pb = bar(1, "benchmarking", args.json);
        let figures = bench::run(&mut client, &plans, args.reps, &mut |d, t| {
            pb.set_length(t as u64);
            pb.set_position(d as u64);
        })?;
        pb.finish_and_clear();
        if args.json {
            outln!("{}", serde_json::to_string(&figures)?)?;
        } else {
            outln!("{} on {}", figures.table(), client.link().describe())?;
        }
        Ok(EXIT_OK)
    };
    run().or_else(device_failure)
}

pub fn calibrate(args: CalibrateArgs) -> Result<i32> {
    let base = crate::profile::load(&args.base)?;
    let run = || -> Result<i32> {
        let mut client = args.link.open(None)?;
        let pb = bar(1, "benchmarking", args.json);
        let mut cal = calibrate::measure(&mut client, args.reps, &mut |d, t| {
            pb.set_length(t as u64);
            pb.set_position(d as u64);
        })?;
        pb.finish_and_clear();
        if args.layer_plans > 0 {
            let (lines, _) = cal.profile(&base, &args.name, None)?;
            let plans = layers::plans(
                usize::from(args.layer_plans),
                layers::ROWS,
                args.seed,
                u64::from(cal.vm_bytes),
                u64::from(cal.nvm_bytes),
            );
            let pb = bar(1, "measuring layers", args.json);
            let points = layers::measure_points(&mut client, &plans, &mut |d, t| {
                pb.set_length(t as u64);
                pb.set_position(d as u64);
            })
            .map_err(|e| match e {
                measure::MeasureError::Client(c) => anyhow::Error::new(c),
                other => anyhow!("{other}"),
            })?;
            pb.finish_and_clear();
            // A measured pool slope is kept; the layer fit prices the rest around it.
            let kept: &[&str] = if cal.pool.is_some() {
                &[layers::POOL_CYCLES]
            } else {
                &[]
            };
            cal.layers = layers::fit(&lines, &points, kept);
        }
        let active_power_w = args.active_power_w.or_else(|| {
            args.link.target.emulator.is_some().then(|| {
                emulator::active_power_w(cal.clock_hz, (base.supply.v_on + base.supply.v_off) / 2.0)
            })
        });
        let (profile, notes) = cal.profile(&base, &args.name, active_power_w)?;
        let text = format!(
            "# Calibrated by `inas calibrate` on {} (firmware {}, {} Hz) over {}.\n{}",
            cal.device,
            cal.firmware,
            cal.clock_hz,
            client.link().describe(),
            toml::to_string(&profile)?
        );
        std::fs::write(&args.output, text)
            .with_context(|| format!("cannot write {}", args.output.display()))?;
        if args.json {
            #[derive(Serialize)]
            struct Out<'a> {
                #[serde(flatten)]
                cal: &'a calibrate::Calibration,
                profile: String,
                notes: &'a [String],
            }
            let out = Out {
                cal: &cal,
                profile: args.output.display().to_string(),
                notes: &notes,
            };
            outln!("{}", serde_json::to_string(&out)?)?;
        } else {
            let scale = base.clock.cost_model_hz / f64::from(cal.clock_hz.max(1));
            outln!(
                "{} firmware {} at {} Hz; cycles below at the profile's {} Hz",
                cal.device,
                cal.firmware,
                cal.clock_hz,
                base.clock.cost_model_hz
            )?;
            outln!(
                "{:<16} {:>12} {:>12} {:>10} {:>12}",
                "primitive",
                "slope",
                "intercept",
                "r2",
                "max resid %"
            )?;
            for (name, f) in [
                ("transfer.read", &cal.read),
                ("transfer.write", &cal.write),
                ("mac", &cal.mac),
            ] {
                outln!(
                    "{:<16} {:>12.4} {:>12.2} {:>10.6} {:>12.3}",
                    name,
                    f.slope * scale,
                    f.intercept * scale,
                    f.r2,
                    f.max_residual_pct
                )?;
            }
            outln!(
                "footprint commit: {:.1} cycles measured, {:.1} predicted by the write fit",
                cal.commit_cycles * scale,
                cal.commit_predicted_cycles * scale
            )?;
            if let Some(fit) = &cal.layers {
                outln!(
                    "whole layers: {} measured (both run modes); the model with the fitted \
                     constants is off by {:.2} % at most, {:.2} % rms",
                    fit.points.len(),
                    fit.max_error_pct,
                    fit.rms_error_pct
                )?;
                for (name, v) in &fit.params {
                    outln!("  {name:<28} {v:>14.6}")?;
                }
            }
            for n in &notes {
                outln!("note: {n}")?;
            }
            outln!("wrote {}", args.output.display())?;
        }
        Ok(EXIT_OK)
    };
    run().or_else(device_failure)
}
