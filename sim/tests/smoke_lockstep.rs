//! Lockstep against `mspdebug sim` on the firmware's smoke build (the build without
//! peripherals): every instruction of the first 20,000 (registers, written bytes, cycles),
//! then whole-SRAM and FRAM-state checkpoints every 250,000 instructions up to 2 M (of the
//! run's 21.7 M; debug builds are too slow for more in a test).
//!
//! The ELF is the lead's build output (`cargo xtask firmware`), or a copy named by
//! `INAS_SMOKE_ELF`; the test fails with a clear message if neither exists.

mod common;

use common::*;
use inas_sim::Firmware;
use std::path::PathBuf;

fn smoke_elf() -> PathBuf {
    let candidates = [
        std::env::var_os("INAS_SMOKE_ELF").map(PathBuf::from),
        Some(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../firmware/target/inas-firmware-smoke.elf"),
        ),
        Some(PathBuf::from("/tmp/inas/elf/smoke.elf")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!("no smoke firmware ELF: run `cargo xtask firmware` or set INAS_SMOKE_ELF")
        })
}

fn machine(fw: &Firmware) -> inas_sim::Machine {
    let mut m = mspdebug_like();
    fw.load_into(m.memory_mut()).expect("the smoke ELF loads");
    m.power_on().expect("the smoke ELF has a reset vector");
    m
}

#[test]
fn the_first_20000_instructions_match_mspdebug_step_by_step() {
    require_mspdebug();
    let elf = smoke_elf();
    let fw = Firmware::from_path(&elf).expect("the smoke ELF parses");
    let mut m = machine(&fw);
    let r = lockstep(&mut m, &elf, 20_000, true);
    assert!(
        r.divergences.is_empty(),
        "divergences: {:?}",
        &r.divergences[..r.divergences.len().min(10)]
    );
    // The only cycle differences are mspdebug's timing of constant-generator operands.
    let unexplained: Vec<_> = r
        .cycle_diffs
        .iter()
        .filter(|d| {
            let w = d.2;
            let (reg, as_) = match w >> 12 {
                4.. => ((w >> 8) & 15, (w >> 4) & 3),
                1 => (w & 15, (w >> 4) & 3),
                _ => (0, 0),
            };
            !((reg == 3 && as_ != 0) || (reg == 2 && as_ >= 2))
        })
        .collect();
    assert!(
        unexplained.is_empty(),
        "cycle differences: {:?}",
        &unexplained[..unexplained.len().min(10)]
    );
}

#[test]
fn checkpoints_over_the_first_two_million_instructions_match_mspdebug() {
    require_mspdebug();
    let elf = smoke_elf();
    let fw = Firmware::from_path(&elf).expect("the smoke ELF parses");
    let mut m = machine(&fw);
    let persistent = fw.symbol("BOOTS").expect("the smoke ELF has BOOTS");
    let (n, diffs) = checkpoints(
        &mut m,
        &elf,
        250_000,
        2_000_000,
        &[(persistent & !0xFF, 0x2100)],
    );
    assert_eq!(n, 8);
    assert!(
        diffs.is_empty(),
        "divergences: {:?}",
        &diffs[..diffs.len().min(10)]
    );
}
