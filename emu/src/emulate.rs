//! A whole emulated run: firmware on the machine, the supply around it, the UART bridged to
//! the host, and the report. The machine runs in slices (`SLICE_S` of simulated time); after
//! each, the supply is drained by the current the MCU drew in each mode (datasheet data from
//! the platform file) and charged by the harvester. At Voff the device browns out: SRAM and
//! CPU state are poisoned, peripherals reset, FRAM kept; it stays off (simulated off-time)
//! until the capacitor is back at Von, then boots from the reset vector. The bridge hears of
//! every off period (`UartBridge::off`), so a paced one keeps the board off in wall time too.

use crate::bridge::UartBridge;
use crate::elf::Firmware;
use crate::error::SimError;
use crate::machine::{Machine, MachineConfig, ModeCycles, Stop};
use crate::platform::Platform;
use crate::power::Supply;

/// Simulated seconds per slice: the brown-out resolution.
pub const SLICE_S: f64 = 1e-4;

/// What to run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub machine: MachineConfig,
    /// `None`: continuous power.
    pub supply: Option<Supply>,
    /// Instructions this run may execute.
    pub max_instructions: u64,
    /// Stop when the PC reaches this address (e.g. a `test_done` symbol).
    pub stop_at: Option<u32>,
    /// Stop after this much simulated time.
    pub max_seconds: f64,
}

/// Why the run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    InstructionLimit,
    StopAddress,
    TimeLimit,
    /// The harvester cannot bring the capacitor back to Von.
    NoRecharge,
    /// The UART bridge's host said it is done.
    HostDone,
}

/// The per-run report (`inas emulate --json` prints it).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub instructions: u64,
    pub cycles: u64,
    pub power_cycles: u64,
    pub on_time_s: f64,
    pub off_time_s: f64,
    pub wall_s: f64,
    pub energy_used_j: f64,
    pub energy_harvested_j: f64,
    pub resets: u64,
    pub uart_tx_bytes: u64,
    pub uart_rx_bytes: u64,
    pub unmodelled_accesses: u64,
    pub ended: Ended,
}

/// The MCU's supply current (A) over a slice, from its per-mode cycles.
fn load_amps(p: &Platform, mclk_hz: u32, d: &ModeCycles) -> f64 {
    let c = &p.current;
    let total = (d.active + d.lpm.iter().sum::<u64>()).max(1) as f64;
    let mhz = f64::from(mclk_hz) / 1e6;
    let ua = [
        c.active_base_ua + c.active_ua_per_mhz * mhz,
        c.lpm0_ua_at_1mhz + c.lpm0_ua_per_mhz * (mhz - 1.0).max(0.0),
        c.lpm1_ua,
        c.lpm2_ua,
        c.lpm3_ua,
        c.lpm4_ua,
    ];
    let weighted = ua[0] * d.active as f64
        + d.lpm
            .iter()
            .zip(&ua[1..])
            .map(|(&n, &u)| n as f64 * u)
            .sum::<f64>();
    weighted / total * 1e-6
}

/// A loaded firmware ready to run.
pub struct Emulator {
    pub machine: Machine,
    pub firmware: Firmware,
}

impl Emulator {
    pub fn new(firmware: Firmware, config: MachineConfig) -> Result<Emulator, SimError> {
        let mut machine = Machine::new(Platform::fr5994(), config);
        firmware.load_into(machine.memory_mut())?;
        machine.power_on()?;
        Ok(Emulator { machine, firmware })
    }

    /// Runs to the end condition, exchanging UART bytes with `bridge` after every slice.
    pub fn run(
        &mut self,
        cfg: &RunConfig,
        bridge: &mut dyn UartBridge,
    ) -> Result<Report, SimError> {
        let wall = std::time::Instant::now();
        let mut supply = cfg.supply.clone();
        let m = &mut self.machine;
        if let Some(pc) = cfg.stop_at {
            m.add_breakpoint(pc);
        }
        let mut r = Report {
            instructions: 0,
            cycles: 0,
            power_cycles: 1,
            on_time_s: 0.0,
            off_time_s: 0.0,
            wall_s: 0.0,
            energy_used_j: 0.0,
            energy_harvested_j: 0.0,
            resets: 0,
            uart_tx_bytes: 0,
            uart_rx_bytes: 0,
            unmodelled_accesses: 0,
            ended: Ended::InstructionLimit,
        };
        let (instructions0, cycles0) = (m.instructions(), m.cycles());
        let max_instructions = instructions0.saturating_add(cfg.max_instructions);
        let mut last_modes = m.mode_cycles();
        let mut last_seconds = m.seconds();
        loop {
            let done = m.instructions();
            if done >= max_instructions {
                r.ended = Ended::InstructionLimit;
                break;
            }
            if r.on_time_s >= cfg.max_seconds {
                r.ended = Ended::TimeLimit;
                break;
            }
            let slice = (SLICE_S * f64::from(m.clocks().mclk_hz)).max(1.0) as u64;
            let stop = m.run(max_instructions - done, m.cycles() + slice)?;
            let now_s = m.seconds();
            let dt = now_s - last_seconds;
            last_seconds = now_s;
            r.on_time_s += dt;
            let modes = m.mode_cycles();
            let delta = ModeCycles {
                active: modes.active - last_modes.active,
                lpm: std::array::from_fn(|i| modes.lpm[i] - last_modes.lpm[i]),
            };
            last_modes = modes;
            let tx = m.uart_take();
            r.uart_tx_bytes += tx.len() as u64;
            let rx = bridge.exchange_at(r.on_time_s + r.off_time_s, &tx)?;
            r.uart_rx_bytes += rx.len() as u64;
            if !rx.is_empty() {
                m.uart_send(&rx);
            }
            if let Stop::Reset(_) = stop {
                r.resets += 1;
            }
            if let Some(s) = supply.as_mut() {
                let amps = load_amps(m.platform(), m.clocks().mclk_hz, &delta);
                let (used, got) = s.drain(dt, amps);
                r.energy_used_j += used;
                r.energy_harvested_j += got;
                if s.browned_out() {
                    m.power_fail();
                    let Some((off, got)) = s.recharge() else {
                        r.ended = Ended::NoRecharge;
                        break;
                    };
                    let since = r.on_time_s + r.off_time_s;
                    r.off_time_s += off;
                    r.energy_harvested_j += got;
                    r.power_cycles += 1;
                    bridge.off(since, off)?;
                    m.power_on()?;
                    continue;
                }
            }
            if let Stop::Breakpoint(_) = stop {
                r.ended = Ended::StopAddress;
                break;
            }
            if bridge.finished() {
                r.ended = Ended::HostDone;
                break;
            }
        }
        r.instructions = m.instructions() - instructions0;
        r.cycles = m.cycles() - cycles0;
        r.unmodelled_accesses = m.access_log().total();
        r.wall_s = wall.elapsed().as_secs_f64();
        Ok(r)
    }
}
