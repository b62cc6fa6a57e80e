//! `inas emulate`, the real binary on the firmware's smoke build: the report's keys and
//! counts, brown-outs under a weak harvester, and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use inas_emu::builds::{firmware_elf, Build};
use serde_json::Value;

fn inas(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inas"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run inas")
}

fn smoke() -> PathBuf {
    firmware_elf(Build::Smoke).unwrap_or_else(|e| panic!("{e}"))
}

fn report(o: &Output) -> Value {
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn a_continuous_run_stops_at_the_instruction_limit_and_reports_json() {
    let d = tempfile::tempdir().unwrap();
    let elf = smoke();
    let args = [
        "emulate",
        elf.to_str().unwrap(),
        "--continuous",
        "--max-instructions",
        "300000",
        "--json",
    ];
    let r = report(&inas(d.path(), &args));
    for key in [
        "instructions",
        "cycles",
        "power_cycles",
        "on_time_s",
        "off_time_s",
        "wall_s",
    ] {
        assert!(r.get(key).is_some_and(Value::is_number), "{key} in {r}");
    }
    assert_eq!(r["instructions"], 300_000);
    assert_eq!(r["power_cycles"], 1);
    assert_eq!(r["off_time_s"], 0.0);
    assert_eq!(r["ended"], "instruction_limit");
    // Every instruction takes at least one cycle; the smoke build runs at 1 MHz.
    let cycles = r["cycles"].as_u64().unwrap();
    assert!(cycles > 300_000, "{r}");
    let on = r["on_time_s"].as_f64().unwrap();
    assert!((on - cycles as f64 / 1e6).abs() < 1e-9, "{r}");
}

#[test]
fn a_weak_harvester_browns_the_chip_out_and_the_off_time_is_simulated() {
    let d = tempfile::tempdir().unwrap();
    let elf = smoke();
    // At 1 MHz the chip draws about 0.12 mA: through 3 kOhm the source cannot hold the
    // capacitor above Voff, so it browns out and recharges, again and again.
    let args = [
        "emulate",
        elf.to_str().unwrap(),
        "--cap",
        "100uF",
        "--rehm",
        "3k",
        "--max-instructions",
        "2000000",
        "--json",
    ];
    let r = report(&inas(d.path(), &args));
    assert_eq!(r["instructions"], 2_000_000);
    assert!(r["power_cycles"].as_u64().unwrap() >= 3, "{r}");
    assert!(r["off_time_s"].as_f64().unwrap() > 0.0, "{r}");
}

#[test]
fn a_file_that_is_not_an_elf_is_exit_2_naming_the_file() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("notes.txt"), "not firmware\n").unwrap();
    let o = inas(
        d.path(),
        &["emulate", "notes.txt", "--max-instructions", "10"],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("notes.txt") && err.contains("ELF"), "{err}");
    let o = inas(d.path(), &["emulate", "missing.elf"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.elf"));
}

#[test]
fn contradictory_supply_flags_are_rejected() {
    let d = tempfile::tempdir().unwrap();
    let elf = smoke();
    let o = inas(
        d.path(),
        &[
            "emulate",
            elf.to_str().unwrap(),
            "--continuous",
            "--cap",
            "5mF",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--continuous"));
    let o = inas(
        d.path(),
        &["emulate", elf.to_str().unwrap(), "--cap", "5 parsecs"],
    );
    assert_eq!(o.status.code(), Some(2));
}
