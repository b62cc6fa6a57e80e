//! `cargo xtask <task>`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! - `cargo xtask demo` — the main job on its defaults (README's first command).
//! - `cargo xtask ci`   — everything CI checks: format, lints, the whole test suite.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};

mod demo;
mod firmware;
mod flash;

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  setup      fetch what cargo does not: libtorch 2.13 for tch, into the user cache (demo and ci run it)
  demo       HAR search in inas and hwnas mode at 5 mF, both winners measured on the virtual LaunchPad
             (or a board: demo --port PORT), side by side; --fresh starts over (runs/demo/)
  ci         format check, clippy (warnings are errors), no_std build of inas-common, firmware sim-smoke,
             the whole test suite
  firmware   build the MSP430FR5994 firmware (smoke and board builds) and check their sizes against the budgets;
             --mhz 16 builds only the board build at 16 MHz, as firmware/target/inas-firmware-16mhz.elf
  sim-smoke  run the firmware under mspdebug sim: logits equal the host engine's, also across a power failure
  flash      program a LaunchPad: flash [--plan net.plan [--input x.json]] [--tool mspdebug|msp430flasher] [--hex OUT]
             (--plan puts the plan in the FRAM plan store of the same image; --input arms a run for the first
             boot; --hex only writes the image)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo::demo(&args[1..]),
        Some("ci") => ci(),
        Some("setup") => setup(),
        Some("firmware") => firmware::firmware(&args[1..]),
        Some("sim-smoke") => firmware::sim_smoke(),
        Some("flash") => flash::flash(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown task '{other}'\n\n{USAGE}")),
        None => Err(anyhow::anyhow!("no task given\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_owned()
}

pub(crate) fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

pub(crate) fn run(mut cmd: Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Everything the workspace needs that cargo does not fetch itself: libtorch for tch (from the
/// PyPI torch wheel into the user cache, once).
pub(crate) fn setup() -> Result<()> {
    let mut script = Command::new("bash");
    script.arg(root().join("scripts/setup-libtorch.sh"));
    run(script).context("setting up libtorch (scripts/setup-libtorch.sh needs python3 with pip)")
}

/// `inas-common` must build for a bare-metal target: proof that no `std` leaks into what the
/// firmware shares with the host.
fn no_std_check() -> Result<()> {
    const TARGET: &str = "thumbv7em-none-eabi";
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == TARGET)
        })
        .unwrap_or(false);
    if !installed {
        let mut add = Command::new("rustup");
        add.args(["target", "add", TARGET]);
        run(add)
            .context("the no_std check needs the thumbv7em-none-eabi target (rustup target add)")?;
    }
    let mut build = cargo();
    build.args(["build", "--package", "inas-common", "--target", TARGET]);
    run(build)
}

fn has_nextest() -> bool {
    cargo()
        .args(["nextest", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn ci() -> Result<()> {
    setup()?;
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run(fmt)?;
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run(clippy)?;
    no_std_check()?;
    // The firmware, built from scratch with the nightly, run under mspdebug's simulator.
    firmware::sim_smoke()?;
    // nextest does not run doctests; run them first so the suite's summary closes the output.
    let mut doc = cargo();
    doc.args(["test", "--workspace", "--doc", "--quiet"]);
    run(doc)?;
    let mut test = cargo();
    if has_nextest() {
        test.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    } else {
        eprintln!("xtask: cargo-nextest not found, using cargo test");
        test.args(["test", "--workspace", "--no-fail-fast"]);
    }
    let slurm = SlurmCluster::start();
    if let Some(c) = &slurm {
        test.env("INAS_TEST_SLURM_CONF", &c.conf);
    }
    let result = run(test);
    if let Some(c) = slurm {
        c.stop();
    }
    result
}

/// The single-node Slurm the executor tests submit to (scripts/slurm-test-cluster.sh): started
/// for the test run, stopped after it. Where it cannot start (not root, no apt), the Slurm
/// tests say they did not run and the rest of the suite runs.
struct SlurmCluster {
    dir: PathBuf,
    conf: PathBuf,
}

impl SlurmCluster {
    fn start() -> Option<SlurmCluster> {
        let dir = std::env::temp_dir().join("inas-slurm");
        let status = Command::new("sh")
            .arg(root().join("scripts/slurm-test-cluster.sh"))
            .arg("start")
            .arg(&dir)
            .status();
        match status {
            Ok(s) if s.success() => Some(SlurmCluster {
                conf: dir.join("slurm.conf"),
                dir,
            }),
            _ => {
                eprintln!("xtask: no test Slurm cluster; the Slurm executor tests will not run");
                None
            }
        }
    }

    fn stop(self) {
        let _ = Command::new("sh")
            .arg(root().join("scripts/slurm-test-cluster.sh"))
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}
