//! `cargo xtask firmware` and `cargo xtask sim-smoke`: the MSP430FR5994 firmware, built with
//! the machine's nightly (build-std, rust-lld) and run under `mspdebug sim`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

use crate::{cargo, root, run};

/// Low FRAM the board firmware's code may use (over it the build fails; the rest of the 48 KB
/// holds constants, the FRAM state and the session), and the most the smoke build's may: past
/// that, its code and FRAM state stop fitting the 48 KB of low FRAM.
const CODE_BUDGET: u64 = 40 * 1024;
const SMOKE_CODE_LIMIT: u64 = 40 * 1024;
const SRAM_BUDGET: u64 = 4 * 1024 + 2048;
/// Stack the smoke run must leave untouched (bytes).
const STACK_MARGIN: u32 = 256;

/// Symbols of 64-bit integer or floating-point helpers: the firmware must not need them.
const FORBIDDEN: &[&str] = &[
    "__muldi3",
    "__divdi3",
    "__udivdi3",
    "__moddi3",
    "__umoddi3",
    "__ashldi3",
    "__lshrdi3",
    "__ashrdi3",
    "__mspabi_mpyll",
    "__mspabi_divlli",
    "__mspabi_divull",
    "__mspabi_remlli",
    "__mspabi_remull",
    "__adddf3",
    "__subdf3",
    "__muldf3",
    "__divdf3",
    "__addsf3",
    "__subsf3",
    "__mulsf3",
    "__divsf3",
    "__floatsidf",
    "__fixdfsi",
    "__extendsfdf2",
];

fn firmware_dir() -> PathBuf {
    root().join("firmware")
}

/// cargo for the firmware directory: its rust-toolchain.toml (nightly) must win over the
/// stable toolchain xtask itself runs under.
fn fw_cargo() -> Command {
    let mut c = Command::new("cargo");
    c.current_dir(firmware_dir());
    for v in [
        "RUSTUP_TOOLCHAIN",
        "RUSTC",
        "RUSTDOC",
        "CARGO",
        "RUSTC_WRAPPER",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
    ] {
        c.env_remove(v);
    }
    c
}

pub(crate) fn nightly_tools() -> Result<PathBuf> {
    let out = Command::new("rustc")
        .args(["+nightly", "--print", "sysroot"])
        .output();
    let sysroot = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        _ => bail!("the firmware needs a nightly toolchain (rustup toolchain install nightly)"),
    };
    let installed = Command::new("rustup")
        .args(["component", "list", "--toolchain", "nightly", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let missing: Vec<&str> = ["rust-src", "llvm-tools"]
        .into_iter()
        .filter(|c| !installed.lines().any(|l| l.starts_with(c)))
        .collect();
    if !missing.is_empty() {
        let mut add = Command::new("rustup");
        add.args(["component", "add", "--toolchain", "nightly"])
            .args(&missing);
        run(add).context("installing the nightly components the firmware needs")?;
    }
    let host = String::from_utf8(
        Command::new("rustc")
            .args(["+nightly", "-vV"])
            .output()?
            .stdout,
    )?
    .lines()
    .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
    .context("rustc -vV names no host")?;
    Ok(Path::new(&sysroot)
        .join("lib/rustlib")
        .join(host)
        .join("bin"))
}

fn ensure_mspdebug() -> Result<()> {
    if Command::new("mspdebug").arg("--version").output().is_ok() {
        return Ok(());
    }
    eprintln!("xtask: mspdebug not found, installing it with apt-get");
    let mut update = Command::new("apt-get");
    update.args(["update", "-qq"]);
    run(update).context("apt-get update (installing mspdebug needs root)")?;
    let mut install = Command::new("apt-get");
    install.args(["install", "-y", "-qq", "mspdebug"]);
    run(install).context("apt-get install mspdebug")
}

/// A plan and an input for the smoke run, made by the host CLI, and the host engine's outputs.
struct Smoke {
    plan: PathBuf,
    input_bin: PathBuf,
    outputs: Vec<i16>,
}

fn prepare_smoke() -> Result<Smoke> {
    let dir = root().join("target/smoke");
    std::fs::create_dir_all(&dir)?;
    let mut build = cargo();
    build.args(["build", "--quiet", "--package", "inas"]);
    run(build)?;
    let inas = root().join("target/debug/inas");
    let plan = dir.join("smoke.plan");
    let mut mk = Command::new(&inas);
    mk.args([
        "plan",
        "random",
        "--dataset",
        "har",
        "--arch",
        "3,4,3,4,3,4",
        "--seed",
        "7",
        // Small enough that two plan slots fit the low FRAM mspdebug simulates, and a small
        // capacitor so the run takes many batches (a mid-run power failure has somewhere to
        // strike).
        "--input-len",
        "48",
        "--cap",
        "1mF",
        "-o",
    ])
    .arg(&plan);
    run(mk)?;
    // A fixed pseudo-random input (an LCG: no dependency needed).
    let mut x: u32 = 0x1234_5678;
    let input: Vec<i16> = (0..48 * 9)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 16) as i16 / 2
        })
        .collect();
    let input_json = dir.join("input.json");
    std::fs::write(&input_json, serde_json::to_string(&input)?)?;
    let input_bin = dir.join("input.bin");
    std::fs::write(
        &input_bin,
        input
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    )?;
    let out = Command::new(&inas)
        .arg("simulate")
        .arg(&plan)
        .arg("--input")
        .arg(&input_json)
        .args(["--harvest", "none", "--json"])
        .output()?;
    ensure!(
        out.status.success(),
        "inas simulate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let outputs = j["outputs"]
        .as_array()
        .context("simulate printed no outputs")?
        .iter()
        .map(|v| v.as_i64().map(|v| v as i16).context("outputs are integers"))
        .collect::<Result<_>>()?;
    Ok(Smoke {
        plan,
        input_bin,
        outputs,
    })
}

fn build_firmware(smoke: &Smoke) -> Result<PathBuf> {
    let tools = nightly_tools()?;
    let mut build = fw_cargo();
    build
        .args([
            "build",
            "--release",
            "--no-default-features",
            "--features",
            "smoke",
        ])
        .env("INAS_SMOKE_PLAN", &smoke.plan)
        .env("INAS_SMOKE_INPUT", &smoke.input_bin);
    run(build)?;
    let elf = firmware_dir().join("target/msp430-none-elf/release/inas-firmware");
    println!("smoke build (mspdebug sim):");
    report_sizes(&tools, &elf, Build::Smoke)?;
    let smoke = firmware_dir().join("target/inas-firmware-smoke.elf");
    std::fs::copy(&elf, &smoke)?;
    Ok(smoke)
}

/// The board build: UART, DMA to high FRAM, MPY32, timer. Returns its ELF.
pub(crate) fn build_board() -> Result<PathBuf> {
    board_at(Mclk::Mhz8)
}

/// The board build's clock: 8 MHz is the default build; 16 MHz (one FRAM wait state) is built
/// beside it, for comparison.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mclk {
    Mhz8,
    Mhz16,
}

fn board_at(mclk: Mclk) -> Result<PathBuf> {
    let tools = nightly_tools()?;
    let mut build = fw_cargo();
    build.args(["build", "--release"]);
    let name = match mclk {
        Mclk::Mhz8 => "inas-firmware.elf",
        Mclk::Mhz16 => {
            build.args(["--features", "mclk-16mhz"]);
            "inas-firmware-16mhz.elf"
        }
    };
    run(build)?;
    let elf = firmware_dir().join("target/msp430-none-elf/release/inas-firmware");
    println!("board build (LaunchPad, {name}):");
    report_sizes(&tools, &elf, Build::Board)?;
    let board = firmware_dir().join("target").join(name);
    std::fs::copy(&elf, &board)?;
    Ok(board)
}

/// Which firmware build a size report is for: each has its own code limit.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Build {
    /// The LaunchPad firmware: held to [`CODE_BUDGET`].
    Board,
    /// The simulator build (embedded plan, no peripherals): held to [`SMOKE_CODE_LIMIT`].
    Smoke,
}

fn report_sizes(tools: &Path, elf: &Path, build: Build) -> Result<()> {
    let out = Command::new(tools.join("llvm-size"))
        .arg("-A")
        .arg(elf)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let size = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| {
                let mut f = l.split_whitespace();
                (f.next() == Some(name)).then(|| f.next().and_then(|s| s.parse().ok()))?
            })
            .unwrap_or(0)
    };
    let (t, r, p, d, b, u) = (
        size(".text"),
        size(".rodata"),
        size(".persistent"),
        size(".data"),
        size(".bss"),
        size(".uninit"),
    );
    println!(
        "firmware sizes: .text {t} B, .rodata {r} B, .data {d} B, .bss {b} B, .uninit {u} B, \
         .persistent (FRAM state) {p} B"
    );
    match build {
        Build::Board => println!(
            "  code {t} B of a {CODE_BUDGET} B budget (low FRAM), {} B spare; constants {r} B",
            CODE_BUDGET.saturating_sub(t)
        ),
        Build::Smoke => println!(
            "  code {t} B of the smoke build's {SMOKE_CODE_LIMIT} B limit (the board's budget is {CODE_BUDGET} B); constants {r} B"
        ),
    }
    let sram = d + b + u;
    println!("  SRAM statics {sram} B of a {SRAM_BUDGET} B budget (4 KB + tile buffers)");
    let limit = match build {
        Build::Board => CODE_BUDGET,
        Build::Smoke => SMOKE_CODE_LIMIT,
    };
    ensure!(
        t <= limit,
        "firmware code is {t} B, {} B over its {limit} B limit (rank the functions with llvm-nm --size-sort -S)",
        t.saturating_sub(limit)
    );
    ensure!(
        sram <= SRAM_BUDGET,
        "SRAM statics exceed the {SRAM_BUDGET} B budget"
    );
    let nm = Command::new(tools.join("llvm-nm")).arg(elf).output()?;
    let symbols = String::from_utf8_lossy(&nm.stdout);
    let bad: Vec<&str> = FORBIDDEN
        .iter()
        .copied()
        .filter(|f| symbols.lines().any(|l| l.ends_with(&format!(" {f}"))))
        .collect();
    ensure!(
        bad.is_empty(),
        "the firmware links 64-bit or floating-point helpers: {bad:?}"
    );
    println!("  no 64-bit integer or floating-point helpers linked");
    Ok(())
}

pub fn firmware(args: &[String]) -> Result<()> {
    match args {
        [] => {}
        [flag, mhz] if flag == "--mhz" && mhz == "8" => {}
        [flag, mhz] if flag == "--mhz" && mhz == "16" => {
            board_at(Mclk::Mhz16)?;
            return Ok(());
        }
        _ => anyhow::bail!("firmware takes no flag or `--mhz 8|16`, not {args:?}"),
    }
    let smoke = prepare_smoke()?;
    build_firmware(&smoke)?;
    build_board()?;
    Ok(())
}

/// Runs mspdebug's simulator with `commands`; returns its output.
fn mspdebug(commands: &[String]) -> Result<String> {
    let out = Command::new("mspdebug")
        .arg("-q")
        .arg("sim")
        .args(commands)
        .output()
        .context("running mspdebug")?;
    Ok(String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
}

/// Every dump `md` printed starting at `addr`, in order, each cut to `len` bytes.
fn dumps(output: &str, addr: u32, len: usize) -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = Vec::new();
    let mut next: Option<u32> = None;
    for line in output.lines() {
        let Some((a, rest)) = line.trim().split_once(':') else {
            continue;
        };
        let Ok(at) = u32::from_str_radix(a.trim(), 16) else {
            continue;
        };
        // The hex bytes end where the ASCII column starts.
        let hex: Vec<u8> = rest
            .split('|')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|h| u8::from_str_radix(h, 16).ok())
            .collect();
        if at == addr {
            all.push(hex);
        } else if Some(at) == next {
            if let Some(d) = all.last_mut() {
                d.extend(hex);
            }
        } else {
            next = None;
            continue;
        }
        next = all.last().map(|d| addr + d.len() as u32);
    }
    for d in &mut all {
        d.truncate(len);
    }
    all.retain(|d| d.len() == len);
    all
}

/// The first and last dumps of `len` bytes at `addr`.
fn dumped(output: &str, addr: u32, len: usize) -> Result<(Vec<u8>, Vec<u8>)> {
    let all = dumps(output, addr, len);
    match (all.first(), all.last()) {
        (Some(f), Some(l)) => Ok((f.clone(), l.clone())),
        _ => bail!("mspdebug printed no {len}-byte dump at {addr:#x}:\n{output}"),
    }
}

fn words(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|p| i16::from_le_bytes([p[0], p[1]]))
        .collect()
}

fn symbol(tools: &Path, elf: &Path, name: &str) -> Result<u32> {
    let nm = Command::new(tools.join("llvm-nm")).arg(elf).output()?;
    String::from_utf8_lossy(&nm.stdout)
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3 && f[2] == name)
                .then(|| u32::from_str_radix(f[0], 16).ok())
                .flatten()
        })
        .with_context(|| format!("the firmware has no symbol {name}"))
}

pub fn sim_smoke() -> Result<()> {
    ensure_mspdebug()?;
    let smoke = prepare_smoke()?;
    // The board build cannot run under mspdebug (no peripherals there), but it must build,
    // fit and stay free of 64-bit and float helpers.
    build_board()?;
    let elf = build_firmware(&smoke)?;
    let tools = nightly_tools()?;
    let e = elf.display().to_string();
    let n = smoke.outputs.len();
    let (result, status, boots, commits, ebss) = (
        symbol(&tools, &elf, "RESULT")?,
        symbol(&tools, &elf, "STATUS")?,
        symbol(&tools, &elf, "BOOTS")?,
        symbol(&tools, &elf, "COMMITS")?,
        // The stack grows down to whichever of .bss and .data ends higher.
        symbol(&tools, &elf, "_ebss")?.max(symbol(&tools, &elf, "_edata")?),
    );
    let stack_top = symbol(&tools, &elf, "_stack_start")?;
    let md = |addr: u32, len: usize| format!("md {addr:#x} {len}");

    // 1. A clean run, with RAM painted to find the stack's high-water mark.
    let out = mspdebug(&[
        format!("prog {e}"),
        "simio add tracer t".into(),
        "fill 0x1c00 0x2000 0xa5".into(),
        "setbreak test_done".into(),
        "run".into(),
        md(status, 2),
        md(result, 2 * n),
        md(commits, 2),
        format!("md {ebss:#x} {}", stack_top - ebss),
        "simio info t".into(),
    ])?;
    let st = words(&dumped(&out, status, 2)?.1)[0] as u16;
    ensure!(
        st == 0x600D,
        "firmware status {st:#06x} (0x600d = ok):\n{out}"
    );
    let got = words(&dumped(&out, result, 2 * n)?.1);
    ensure!(
        got == smoke.outputs,
        "firmware logits {got:?} differ from the host engine's {:?}",
        smoke.outputs
    );
    let batches = words(&dumped(&out, commits, 2)?.1)[0] as u16;
    let stack = dumped(&out, ebss, (stack_top - ebss) as usize)?.1;
    let untouched = stack.iter().take_while(|&&b| b == 0xa5).count() as u32;
    let instructions: u64 = out
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Instruction count:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    println!(
        "sim-smoke: clean run: logits {got:?} = host engine's; {batches} batches, {instructions} instructions; stack {} B used, {untouched} B spare",
        stack_top - ebss - untouched
    );
    ensure!(
        untouched >= STACK_MARGIN,
        "the stack comes within {untouched} B of .bss"
    );
    ensure!(
        instructions > 0,
        "mspdebug printed no instruction count:\n{out}"
    );

    // 2. Power fails halfway: SRAM poisoned, CPU reset, FRAM kept; the run must resume.
    let out = mspdebug(&[
        format!("prog {e}"),
        format!("step {}", instructions / 2),
        md(commits, 2),
        md(status, 2),
        "fill 0x1c00 0x2000 0xa5".into(),
        "reset".into(),
        "setbreak test_done".into(),
        "run".into(),
        md(status, 2),
        md(result, 2 * n),
        md(boots, 2),
    ])?;
    let before = words(&dumped(&out, commits, 2)?.0)[0] as u16;
    let st = words(&dumped(&out, status, 2)?.1)[0] as u16;
    let got = words(&dumped(&out, result, 2 * n)?.1);
    let boots = words(&dumped(&out, boots, 2)?.1)[0] as u16;
    ensure!(
        before > 0 && before < batches,
        "the cut came after {before} of {batches} batches: not mid-run"
    );
    ensure!(
        st == 0x600D && boots == 2,
        "after the power failure: status {st:#06x}, boots {boots}:\n{out}"
    );
    ensure!(
        got == smoke.outputs,
        "resumed logits {got:?} differ from the host engine's {:?}",
        smoke.outputs
    );
    println!(
        "sim-smoke: power failure after {before}/{batches} batches: resumed, logits identical"
    );
    Ok(())
}
