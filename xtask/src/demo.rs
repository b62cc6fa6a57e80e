//! `cargo xtask demo`: the paper's comparison on our own stack, from a fresh clone.
//!
//! Set-up (libtorch, the HAR dataset, the firmware), a small HAR search in `inas` mode and one
//! in `hwnas` mode with the same capacitor, budget, seed and profile (the reference model by
//! default, `--profile` for another); both winners deployed to the virtual LaunchPad (the
//! firmware ELF just built, on the emulator; or a real board with `--port`), run under the RC
//! harvester and measured, and a side-by-side table. Everything it writes is under
//! `runs/demo/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::{cargo, root, run};

/// The demo's budget: small enough for a 2-core machine, large enough to find a HAR network
/// above 85 % (Q15, test split).
const TRIALS: &str = "8";
const EPOCHS: &str = "8";
const BATCH: &str = "64";
const SEED: &str = "1";
const CAP: &str = "5mF";
const REHM: &str = "41";
const LAT_REQ: &str = "30s";
const SAMPLES: &str = "20";
const RUN_TIMEOUT: &str = "120";
/// The profile both searches price designs with, by default: the paper's platform (the
/// reference model), where the comparison shows the paper's effect. `--profile
/// msp430fr5994-emu` searches for our firmware's own costs instead.
const PROFILE: &str = "reference";

struct Options {
    port: Option<String>,
    fresh: bool,
    profile: String,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        port: None,
        fresh: false,
        profile: PROFILE.into(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--port" => {
                o.port = Some(
                    it.next()
                        .context("--port needs a serial port, e.g. /dev/ttyACM1")?
                        .clone(),
                )
            }
            "--fresh" => o.fresh = true,
            "--profile" => {
                o.profile = it
                    .next()
                    .context("--profile needs a built-in profile name or a TOML file")?
                    .clone()
            }
            other => bail!(
                "demo: unknown flag '{other}' (flags: --port PORT, --profile NAME|FILE, --fresh)"
            ),
        }
    }
    Ok(o)
}

/// The release `inas` binary, built once.
fn inas_binary() -> Result<PathBuf> {
    let mut build = cargo();
    build.args(["build", "--release", "--quiet", "--package", "inas"]);
    run(build)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    Ok(target.join("release/inas"))
}

fn inas_json(inas: &Path, args: &[&str]) -> Result<Value> {
    eprintln!("demo: inas {}", args.join(" "));
    let out = Command::new(inas)
        .args(args)
        .current_dir(root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", inas.display()))?;
    if !out.status.success() {
        bail!("inas {} failed with {}", args.join(" "), out.status);
    }
    serde_json::from_slice(&out.stdout)
        .with_context(|| format!("inas {} printed no JSON", args.join(" ")))
}

fn search(inas: &Path, mode: &str, out: &Path, profile: &str) -> Result<Value> {
    let out_s = out.to_string_lossy().into_owned();
    let mut args = vec![
        "search",
        "--dataset",
        "har",
        "--mode",
        mode,
        "--trials",
        TRIALS,
        "--epochs",
        EPOCHS,
        "--batch-size",
        BATCH,
        "--seed",
        SEED,
        "--cap",
        CAP,
        "--rehm",
        REHM,
        "--lat-req",
        LAT_REQ,
        "--profile",
        profile,
        "--out",
        &out_s,
        "--json",
    ];
    if out.join("run.json").exists() {
        // A demo cut short goes on where it stopped.
        args = vec!["search", "--out", &out_s, "--resume", "--json"];
    }
    inas_json(inas, &args)
}

fn measure(
    inas: &Path,
    plan: &Path,
    out: &Path,
    port: Option<&str>,
    elf: &Path,
    profile: &str,
) -> Result<Value> {
    let plan_s = plan.to_string_lossy().into_owned();
    let out_s = out.to_string_lossy().into_owned();
    let elf_s = elf.to_string_lossy().into_owned();
    let mut args = vec![
        "measure",
        "--plan",
        &plan_s,
        "--dataset",
        "har",
        "--samples",
        SAMPLES,
        "--harvested",
        "--cap",
        CAP,
        "--rehm",
        REHM,
        "--profile",
        profile,
        // A network that cannot finish a power cycle's work on one charge never completes:
        // give up after this much (simulated, on the virtual LaunchPad) time per inference.
        "--run-timeout",
        RUN_TIMEOUT,
        "--out",
        &out_s,
        "--json",
    ];
    match port {
        Some(p) => args.extend(["--port", p]),
        // The firmware on the emulator, in simulated time: uploads on USB power, every run on
        // the harvester and capacitor above.
        None => args.extend(["--emulator", &elf_s]),
    }
    inas_json(inas, &args)
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map_or("-".into(), |x| format!("{:.1} %", x * 100.0))
}

fn secs(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{x:.2} s"))
}

pub fn demo(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    crate::setup()?;
    let inas = inas_binary()?;
    let dir = root().join("runs/demo");
    if o.fresh && dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let mut fetch = Command::new(&inas);
    fetch.args(["data", "fetch", "har"]);
    run(fetch)?;
    // The firmware a board (or the virtual LaunchPad) runs: built and size-checked.
    let elf = crate::firmware::build_board()?;

    let mut rows = Vec::new();
    for mode in ["inas", "hwnas"] {
        let s = search(&inas, mode, &dir.join(mode), &o.profile)?;
        let best = &s["summary"]["best"];
        let m = if best.is_null() {
            None
        } else {
            let plan = dir.join(mode).join("best.plan");
            match measure(
                &inas,
                &plan,
                &dir.join(format!("measure-{mode}")),
                o.port.as_deref(),
                &elf,
                &o.profile,
            ) {
                Ok(m) => Some(m),
                Err(e) => {
                    // Not completing is a result here (the paper's point), not a demo failure.
                    println!("demo: {mode}'s network did not complete on the device: {e:#}");
                    None
                }
            }
        };
        rows.push((mode, s, m));
    }

    println!();
    println!(
        "HAR, {CAP}, R_ehm {REHM} Ω, requirement {LAT_REQ}; {TRIALS} trials x {EPOCHS} epochs, seed {SEED}; \
         profile {}; measured on {} ({SAMPLES} test samples)",
        o.profile,
        o.port.as_deref().unwrap_or("the virtual LaunchPad")
    );
    println!(
        "{:<6} {:<26} {:>8} {:>8} {:>8} {:>11} {:>11} {:>8} {:>9}",
        "mode",
        "network",
        "float",
        "Q15 val",
        "Q15 test",
        "predicted",
        "measured",
        "cycles",
        "completed"
    );
    for (mode, s, m) in &rows {
        let b = &s["summary"]["best"];
        let test = &s["summary"]["test"]["q15_acc"];
        let (measured, cycles, done) = match m {
            Some(m) => (
                secs(&m["measured_latency_s"]),
                m["power_cycles"].to_string(),
                m["logits_match_host"].as_bool().unwrap_or(false)
                    && m["measured_latency_s"].is_number(),
            ),
            None => ("-".into(), "-".into(), false),
        };
        println!(
            "{:<6} {:<26} {:>8} {:>8} {:>8} {:>11} {:>11} {:>8} {:>9}",
            mode,
            b["arch"].as_str().unwrap_or("(none trained)"),
            pct(&b["float_acc"]),
            pct(&b["q15_acc"]),
            pct(test),
            secs(&b["intermittent_latency_s"]),
            measured,
            cycles,
            if done { "yes" } else { "no" }
        );
    }
    let lat = |i: usize| {
        rows[i]
            .2
            .as_ref()
            .and_then(|m| m["measured_latency_s"].as_f64())
    };
    let pred = |i: usize| rows[i].1["summary"]["best"]["intermittent_latency_s"].as_f64();
    let change = |a: f64, b: f64| {
        format!(
            "{:.0} % {}",
            ((a - b) / b * 100.0).abs(),
            if a <= b { "less" } else { "more" }
        )
    };
    println!();
    match (pred(0), pred(1)) {
        (Some(a), Some(b)) => println!(
            "modelled: iNAS's network completes in {} time than HW-NAS's under the same capacitor",
            change(a, b)
        ),
        (Some(_), None) => {
            println!(
                "modelled: HW-NAS's network cannot complete under intermittent power; iNAS's does"
            )
        }
        _ => println!("modelled: no comparison, see the rows above"),
    }
    match (lat(0), lat(1)) {
        (Some(a), Some(b)) => println!("measured: {} time", change(a, b)),
        (Some(_), None) => println!(
            "measured: HW-NAS's network did not complete on the device within {RUN_TIMEOUT} s; \
             iNAS's did"
        ),
        _ => {}
    }
    println!("reports: {}", dir.display());
    Ok(())
}
