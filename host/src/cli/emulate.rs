//! `inas emulate`: a firmware ELF on the virtual LaunchPad (`inas-emu`), under an RC harvester
//! (the profile's, or `--cap`/`--rehm`), a recorded power trace, or continuous power. With
//! `--pty` the UART is a pseudo-terminal whose path is the first line on stdout, so host
//! commands and scripts can talk to the emulated board as to a real one; `--speed` holds it to
//! the wall clock (real time by default), so what a host times over the pty is what a board
//! would take, recharges included. The run ends at `--max-instructions`, `--max-seconds` of
//! simulated on-time, Ctrl-C, or the end of stdin (when stdin is a terminal or a pipe); then
//! the report is printed.

use std::io::{IsTerminal, Read};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use clap::Args;
use inas_emu::bridge::{PaceStats, Paced, Pty, Speed, UartBridge};
use inas_emu::power::{Harvester, PowerTrace, Supply};
use inas_emu::{Emulator, Firmware, MachineConfig, Report, RunConfig, SimError};

use super::out::EXIT_OK;
use super::out::{errln, outln};
use crate::units;

#[derive(Clone, Debug, Args)]
pub struct EmulateArgs {
    /// Firmware ELF for the MSP430FR5994 (e.g. firmware/target/inas-firmware.elf).
    pub firmware: PathBuf,
    /// Bridge the UART to a new pseudo-terminal; its path is the first line on stdout.
    #[arg(long)]
    pub pty: bool,
    /// With --pty: simulated seconds per wall-clock second. 1 keeps the board in real time,
    /// as a host on a serial port expects (the off-time of every recharge included: the board
    /// stays off that long); 10 runs it ten times faster; `max` as fast as this machine can,
    /// with no relation to the wall clock. Without --pty nothing is on the line and the run
    /// is always as fast as it can be.
    #[arg(long, value_name = "X|max", default_value = "1", requires = "pty")]
    pub speed: Speed,
    /// Storage capacitance, SI prefix allowed (5mF, 470uF) [default: profile's].
    #[arg(long, value_parser = units::farads, conflicts_with = "continuous")]
    pub cap: Option<f64>,
    /// RC harvester's source resistance in ohms [default: profile's].
    #[arg(long, value_parser = units::ohms, conflicts_with_all = ["continuous", "power_trace"])]
    pub rehm: Option<f64>,
    /// Harvested power from a CSV trace (time_s,power_w or time_s,current_a,voltage_v)
    /// instead of the RC source.
    #[arg(long, value_name = "FILE", conflicts_with = "continuous")]
    pub power_trace: Option<PathBuf>,
    /// Continuous power: no capacitor, no brown-outs.
    #[arg(long)]
    pub continuous: bool,
    /// Platform profile for the supply's thresholds and defaults: a built-in name or a TOML file.
    #[arg(long, default_value = "reference")]
    pub profile: String,
    /// End the run after this many instructions.
    #[arg(long, value_name = "N")]
    pub max_instructions: Option<u64>,
    /// End the run after this much simulated on-time (e.g. 30, 500ms).
    #[arg(long, value_name = "SECONDS", value_parser = units::seconds)]
    pub max_seconds: Option<f64>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Where the device's energy comes from, validated.
#[derive(Clone, Debug)]
enum Power {
    Continuous,
    Harvested(Supply),
}

impl Power {
    fn from_args(args: &EmulateArgs) -> Result<Power> {
        if args.continuous {
            return Ok(Power::Continuous);
        }
        let profile = crate::profile::load(&args.profile)?;
        let Some(path) = &args.power_trace else {
            return Ok(Power::Harvested(crate::device::emulator::supply(
                &profile, args.cap, args.rehm,
            )?));
        };
        let cap = crate::device::emulator::capacitor(&profile, args.cap);
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let harvester = Harvester::Trace(PowerTrace::from_csv(&path.display().to_string(), &text)?);
        Ok(Power::Harvested(Supply::new(cap, harvester)?))
    }
}

/// The UART's far side without `--pty`: what the device sends is dropped.
struct Unconnected;

impl UartBridge for Unconnected {
    fn exchange(&mut self, _: &[u8]) -> Result<Vec<u8>, SimError> {
        Ok(Vec::new())
    }
}

/// A bridge that also ends the run when the user asks (Ctrl-C, end of stdin).
struct Stoppable<B> {
    inner: B,
    stop: Arc<AtomicBool>,
}

impl<B: UartBridge> UartBridge for Stoppable<B> {
    fn exchange(&mut self, from_device: &[u8]) -> Result<Vec<u8>, SimError> {
        self.inner.exchange(from_device)
    }

    fn exchange_at(&mut self, now_s: f64, from_device: &[u8]) -> Result<Vec<u8>, SimError> {
        self.inner.exchange_at(now_s, from_device)
    }

    fn off(&mut self, since_s: f64, off_s: f64) -> Result<(), SimError> {
        self.inner.off(since_s, off_s)
    }

    fn finished(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.inner.finished()
    }
}

/// Sets the returned flag on Ctrl-C (or SIGTERM) and at the end of stdin when stdin is a
/// terminal or a pipe (not /dev/null, so a backgrounded run keeps going).
fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = stop.clone();
    ctrlc::set_handler(move || on_signal.store(true, Ordering::Relaxed))
        .context("cannot install the Ctrl-C handler")?;
    let stdin_ends_run = std::io::stdin().is_terminal()
        || std::fs::metadata("/dev/stdin").is_ok_and(|m| m.file_type().is_fifo());
    if stdin_ends_run {
        let on_eof = stop.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
            on_eof.store(true, Ordering::Relaxed);
        });
    }
    Ok(stop)
}

fn load(path: &Path) -> Result<Emulator> {
    let fw = Firmware::from_path(path).map_err(|e| match e {
        SimError::Io { .. } => anyhow!("{e}"),
        e => anyhow!("{}: {e}", path.display()),
    })?;
    Emulator::new(fw, MachineConfig::default()).map_err(|e| anyhow!("{}: {e}", path.display()))
}

pub fn run(args: EmulateArgs) -> Result<i32> {
    let power = Power::from_args(&args)?;
    let mut emu = load(&args.firmware)?;
    let cfg = RunConfig {
        machine: MachineConfig::default(),
        supply: match power {
            Power::Continuous => None,
            Power::Harvested(s) => Some(s),
        },
        max_instructions: args.max_instructions.unwrap_or(u64::MAX),
        stop_at: None,
        max_seconds: args.max_seconds.unwrap_or(f64::INFINITY),
    };
    let stop = stop_flag()?;
    let (report, paced) = if args.pty {
        let pty = Pty::open()?;
        // The path first and alone on its line: scripts read it to connect.
        outln!("{}", pty.path())?;
        super::out::flush()?;
        errln!(
            "inas emulate: {} on {} (the firmware's UART) at speed {}; Ctrl-C ends the run",
            args.firmware.display(),
            pty.path(),
            args.speed
        );
        if args.speed.ratio().is_none() {
            errln!(
                "inas emulate: at speed max the board is not held to the wall clock: what a host \
                 times over {} is this machine's speed, not the board's (--speed 1 for that)",
                pty.path()
            );
        }
        // Pacing outside the stop flag: a Ctrl-C ends a long recharge's wait too.
        let mut bridge = Paced::new(Stoppable { inner: pty, stop }, args.speed);
        let report = emu.run(&cfg, &mut bridge);
        (report, args.speed.ratio().map(|_| bridge.stats()))
    } else {
        let mut bridge = Stoppable {
            inner: Unconnected,
            stop,
        };
        (emu.run(&cfg, &mut bridge), None)
    };
    let report = report.map_err(|e| anyhow!("{}: {e}", args.firmware.display()))?;
    let speed = if args.pty { args.speed } else { Speed::MAX };
    print_report(&report, speed, paced, args.json)?;
    Ok(EXIT_OK)
}

/// The emulator's report, with how the run was paced.
#[derive(serde::Serialize)]
struct ReportJson<'a> {
    #[serde(flatten)]
    report: &'a Report,
    /// Simulated seconds per wall-clock second, or "max".
    speed: SpeedJson,
    #[serde(flatten)]
    paced: Option<PaceStats>,
}

#[derive(serde::Serialize)]
#[serde(untagged)]
enum SpeedJson {
    Ratio(f64),
    Max(&'static str),
}

fn print_report(r: &Report, speed: Speed, paced: Option<PaceStats>, json: bool) -> Result<()> {
    if json {
        let out = ReportJson {
            report: r,
            speed: speed
                .ratio()
                .map_or(SpeedJson::Max("max"), SpeedJson::Ratio),
            paced,
        };
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
        return Ok(());
    }
    let ended = serde_json::to_value(r.ended)?;
    outln!("ended: {}", ended.as_str().unwrap_or("?"))?;
    outln!(
        "instructions: {}, cycles: {} ({:.1} M instructions/s)",
        r.instructions,
        r.cycles,
        r.instructions as f64 / r.wall_s.max(1e-9) / 1e6
    )?;
    outln!(
        "power cycles: {} (and {} resets by the chip itself); on {:.4} s, off {:.4} s",
        r.power_cycles,
        r.resets,
        r.on_time_s,
        r.off_time_s
    )?;
    outln!(
        "energy: used {:.3} mJ, harvested {:.3} mJ",
        r.energy_used_j * 1e3,
        r.energy_harvested_j * 1e3
    )?;
    outln!(
        "uart: {} bytes sent, {} received; unmodelled accesses: {}; wall {:.3} s",
        r.uart_tx_bytes,
        r.uart_rx_bytes,
        r.unmodelled_accesses,
        r.wall_s
    )?;
    match paced {
        Some(p) => outln!(
            "speed {speed}: waited {:.3} s for the wall clock; at most {:.1} ms behind it",
            p.slept_s,
            p.max_behind_s * 1e3
        )?,
        None => outln!("speed max: unpaced")?,
    }
    Ok(())
}
