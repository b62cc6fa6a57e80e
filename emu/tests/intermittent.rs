//! The smoke firmware under a harvested supply: it browns out, recharges (off-time is
//! simulated), reboots with SRAM poisoned and FRAM kept, and the report adds up.

mod common;

use inas_emu::builds::Build;
use inas_emu::power::{Capacitor, Harvester, Supply};
use inas_emu::{bridge::InProcess, Emulator, Firmware, MachineConfig, RunConfig};

#[test]
fn brown_outs_keep_fram_and_the_report_adds_up() {
    let fw = Firmware::from_path(&common::elf(Build::Smoke)).expect("parses");
    let boots = fw.symbol("BOOTS").expect("BOOTS");
    let mut emu = Emulator::new(fw, MachineConfig::default()).expect("loads");
    let cap = Capacitor {
        capacitance_f: 100e-6,
        v_on: 2.99,
        v_off: 2.8,
    };
    // 0.1 mW in, about 0.35 mW drawn at 1 MHz: a brown-out every ~0.2 s of on-time.
    let supply = Supply::new(cap, Harvester::ConstantPower { watts: 1e-4 }).unwrap();
    let cfg = RunConfig {
        machine: MachineConfig::default(),
        supply: Some(supply),
        max_instructions: 1_500_000,
        stop_at: None,
        max_seconds: 100.0,
    };
    let r = emu.run(&cfg, &mut InProcess::default()).expect("runs");
    assert!(r.power_cycles >= 3, "{r:?}");
    assert!(r.off_time_s > 0.0 && r.on_time_s > 0.0, "{r:?}");
    assert_eq!(r.instructions, 1_500_000);
    // Each power cycle used what the capacitor holds between Von and Voff, give or take the
    // harvest during on-time and the last slice's overshoot.
    let per_cycle = cap.energy_j(2.99) - cap.energy_j(2.8);
    let cycles_done = (r.power_cycles - 1) as f64;
    assert!(r.energy_used_j > cycles_done * per_cycle * 0.9, "{r:?}");
    assert!(r.energy_harvested_j > 0.0);
    // The boot counter in FRAM survived every brown-out: each power cycle that got as far as
    // `main` counted itself (the run may stop in the last one's start-up, before it counts).
    let n = u64::from(emu.machine.memory().word(boots));
    assert!(
        n == r.power_cycles || n + 1 == r.power_cycles,
        "BOOTS {n} after {} power cycles",
        r.power_cycles
    );
    // SRAM was poisoned at each failure, so the stack region shows the poison pattern.
    assert!(emu
        .machine
        .memory()
        .read_bytes(0x1C00, 0x2000)
        .contains(&0xA5));
}
