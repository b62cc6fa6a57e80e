//! Lockstep against `mspdebug sim` on the firmware's smoke build (the build without
//! peripherals): every instruction of the first 20,000 (registers, written bytes, cycles),
//! then registers, the whole SRAM and the whole low FRAM every 500,000 instructions over the
//! entire run, to `test_done`.
//!
//! The ELF is `cargo xtask firmware`'s output (see `inas_emu::builds`); the test fails with a
//! clear message if it is missing.

mod common;

use common::*;
use inas_emu::builds::Build;
use inas_emu::{Firmware, Stop};
use std::path::Path;

fn machine(fw: &Firmware) -> inas_emu::Machine {
    let mut m = mspdebug_like();
    fw.load_into(m.memory_mut()).expect("the smoke ELF loads");
    m.power_on().expect("the smoke ELF has a reset vector");
    m
}

#[test]
fn the_first_20000_instructions_match_mspdebug_step_by_step() {
    require_mspdebug();
    let path = elf(Build::Smoke);
    let fw = Firmware::from_path(&path).expect("the smoke ELF parses");
    let mut m = machine(&fw);
    let r = lockstep(&mut m, &path, 20_000, true);
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

/// (address, length) of the ELF's sections in FRAM. Sections, not segments: mspdebug's `prog`
/// loads section contents and leaves a segment's alignment padding erased (0xFF), where a
/// segment loader (ours, a programmer's) writes the padding's zeros; the padding is never
/// read, so it is left out of the comparison.
fn fram_sections(path: &Path) -> Vec<(u32, usize)> {
    use object::{Object, ObjectSection, SectionKind};
    let data = std::fs::read(path).expect("the smoke ELF reads");
    let file = object::File::parse(&*data).expect("the smoke ELF parses");
    file.sections()
        .filter(|s| {
            matches!(
                s.kind(),
                SectionKind::Text
                    | SectionKind::Data
                    | SectionKind::ReadOnlyData
                    | SectionKind::ReadOnlyString
            ) && (0x4000..0x1_0000).contains(&s.address())
                && s.size() > 0
        })
        .map(|s| (s.address() as u32, s.size() as usize))
        .collect()
}

#[test]
fn the_whole_smoke_run_matches_mspdebug_at_checkpoints() {
    require_mspdebug();
    let path = elf(Build::Smoke);
    let fw = Firmware::from_path(&path).expect("the smoke ELF parses");
    let done = fw.symbol("test_done").expect("the smoke ELF has test_done");
    // The run's length: instructions to `test_done`.
    let mut probe = machine(&fw);
    probe.add_breakpoint(done);
    assert_eq!(
        probe.run(u64::MAX, u64::MAX).expect("the smoke run runs"),
        Stop::Breakpoint(done)
    );
    let total = probe.instructions();
    assert!(total > 1_000_000, "a smoke run of {total} instructions");
    // Registers, SRAM and every FRAM section (code, constants, the engine's NVM, vectors)
    // every 500,000 instructions and at the end, where both must be at `test_done`.
    let mut m = machine(&fw);
    let fram = fram_sections(&path);
    assert!(fram.len() >= 3, "{fram:x?}");
    let (n, diffs) = checkpoints(&mut m, &path, 500_000, total, &fram);
    assert_eq!(m.pc(), done);
    assert_eq!(n as u64, total.div_ceil(500_000));
    assert!(
        diffs.is_empty(),
        "{} divergences over {total} instructions: {:?}",
        diffs.len(),
        &diffs[..diffs.len().min(10)]
    );
    eprintln!("lockstep: {n} checkpoints over {total} instructions, 0 divergences");
}
