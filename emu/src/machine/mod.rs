//! The machine: CPU registers, memory, peripherals and the clock that ties them together.
//!
//! Time is counted in MCLK cycles. Peripherals are brought up to date only at *events*: the
//! machine keeps `next_event`, the earliest cycle at which any model changes state on its own
//! (a timer flag, a UART character, the watchdog, the caller's cycle budget), and the
//! instruction loop compares one counter per instruction against it. Every peripheral write
//! makes the next instruction boundary an event, so new settings take effect at once.
//!
//! Between events the CPU runs a tight loop over predecoded instructions (`decode`): fetch
//! the cached entry, run its handler, count. Everything else (interrupts, low-power modes,
//! peripherals, resets) is handled at events; an SR write is one, so the loop never has to
//! look at the CPU's mode.

mod bus;
mod dma_engine;

use crate::decode::ICache;
use crate::error::SimError;
use crate::memory::{Memory, Page};
use crate::periph::sys::ResetCause;
use std::collections::HashMap;

use crate::periph::{self, clock::Clocks, dma, mpy, AccessLog, Owner, Peripherals};
use crate::platform::{CycleTable, Platform};

pub const SR_C: u16 = 1 << 0;
pub const SR_Z: u16 = 1 << 1;
pub const SR_N: u16 = 1 << 2;
pub const SR_GIE: u16 = 1 << 3;
pub const SR_CPUOFF: u16 = 1 << 4;
pub const SR_OSCOFF: u16 = 1 << 5;
pub const SR_SCG0: u16 = 1 << 6;
pub const SR_SCG1: u16 = 1 << 7;
pub const SR_V: u16 = 1 << 8;

/// Which cycle table the CPU uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum CpuModel {
    /// The FR5994's CPUXv2 (SLAU367): the default.
    CpuXv2,
    /// The classic MSP430 CPU (SLAU144), as `mspdebug sim` counts cycles.
    Msp430,
}

/// How a machine starts.
#[derive(Clone, Copy, Debug)]
pub struct MachineConfig {
    pub cpu: CpuModel,
    /// What SRAM holds after power-up and after a power failure (the "poison").
    pub sram_fill: u8,
    /// What FRAM and ROM hold before the ELF is loaded.
    pub fram_fill: u8,
    /// What R1 and R4..R15 hold after a reset (the CPU does not initialise them).
    pub reg_fill: u16,
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            cpu: CpuModel::CpuXv2,
            sram_fill: 0xA5,
            fram_fill: 0xFF,
            reg_fill: 0xA5A5,
        }
    }
}

/// The cycle table in the shape the interpreter indexes.
#[derive(Clone, Debug)]
pub(crate) struct Lut {
    pub f1: [[u8; 5]; 7],
    pub f1_saving: u8,
    pub f2: [[u8; 3]; 7],
    pub jump: u8,
    pub reti: u8,
    pub interrupt: u8,
    pub t: CycleTable,
}

impl Lut {
    fn new(t: &CycleTable) -> Lut {
        Lut {
            f1: t.format1,
            f1_saving: t.mov_bit_cmp_memory_saving,
            f2: t.format2,
            jump: t.jump,
            reti: t.reti,
            interrupt: t.interrupt,
            t: t.clone(),
        }
    }
}

/// A memory write made by one instruction (for differential testing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemWrite {
    pub addr: u32,
    pub byte: bool,
}

/// Why `run` returned without an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The instruction limit was reached.
    InstructionLimit,
    /// The cycle budget given to `run` is used up.
    CycleBudget,
    /// The PC reached a breakpoint (before executing it).
    Breakpoint(u32),
    /// The chip reset itself (software BOR/POR, watchdog, password violation).
    Reset(ResetCause),
}

/// Per-mode cycle counts, for the energy model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ModeCycles {
    pub active: u64,
    /// LPM0..LPM4.
    pub lpm: [u64; 5],
}

/// The emulated MSP430FR5994.
pub struct Machine {
    pub(crate) r: [u32; 16],
    pub(crate) mem: Memory,
    pub(crate) p: Peripherals,
    pub(crate) lut: Lut,
    pub(crate) platform: Platform,
    pub(crate) config: MachineConfig,
    pub(crate) cycles: u64,
    pub(crate) instructions: u64,
    pub(crate) next_event: u64,
    /// A peripheral interrupt may be pending.
    pub(crate) irq_line: bool,
    /// Instruction count at which GIE was last set (interrupts wait one more instruction).
    pub(crate) gie_set_at: u64,
    pub(crate) clocks: Clocks,
    pub(crate) wait_states: u64,
    pub(crate) wdt_deadline: Option<u64>,
    pub(crate) cycle_budget: u64,
    pub(crate) reset_request: Option<ResetCause>,
    pub(crate) trace: Option<Vec<MemWrite>>,
    pub(crate) log: AccessLog,
    pub(crate) breakpoints: Vec<u32>,
    /// PC of the instruction being executed (for the access log).
    pub(crate) pc_now: u32,
    pub(crate) mode_cycles: ModeCycles,
    /// Seconds of simulated time up to `seg_start`, where the MCLK frequency last changed.
    pub(crate) seconds_base: f64,
    pub(crate) seg_start: u64,
    pub(crate) in_dma: bool,
    pub(crate) fram_over_speed: u64,
    pub(crate) icache: ICache,
    /// An error raised inside an instruction handler, returned by `run` at the next check.
    pub(crate) fault: Option<SimError>,
    /// Cycles spent at each instruction address, while profiling ([`Machine::set_profiling`]).
    profile: Option<HashMap<u32, u64>>,
    profiling: bool,
}

impl Machine {
    /// A powered-down machine with blank memories; load an ELF, then `power_on`.
    pub fn new(platform: Platform, config: MachineConfig) -> Machine {
        let table = match config.cpu {
            CpuModel::CpuXv2 => &platform.cycles.cpuxv2,
            CpuModel::Msp430 => &platform.cycles.msp430,
        };
        let lut = Lut::new(table);
        let mem = Memory::new(&platform, config.sram_fill, config.fram_fill);
        let mut p = Peripherals::new(0);
        let clocks = p.cs.clocks(&platform.clock);
        Machine {
            r: [0; 16],
            mem,
            p,
            lut,
            platform,
            config,
            cycles: 0,
            instructions: 0,
            next_event: 0,
            irq_line: false,
            gie_set_at: 0,
            clocks,
            wait_states: 0,
            wdt_deadline: None,
            cycle_budget: u64::MAX,
            reset_request: None,
            trace: None,
            log: AccessLog::default(),
            breakpoints: Vec::new(),
            pc_now: 0,
            mode_cycles: ModeCycles::default(),
            seconds_base: 0.0,
            seg_start: 0,
            in_dma: false,
            fram_over_speed: 0,
            icache: ICache::new(),
            fault: None,
            profile: None,
            profiling: false,
        }
    }

    // ---- public inspection -------------------------------------------------------------

    /// Register `n` (R0 = PC, R1 = SP, R2 = SR, R3 = CG2).
    pub fn reg(&self, n: usize) -> u32 {
        self.r[n & 15]
    }

    pub fn set_reg(&mut self, n: usize, v: u32) {
        self.r[n & 15] = v & 0xF_FFFF;
    }

    pub fn pc(&self) -> u32 {
        self.r[0]
    }

    pub fn sr(&self) -> u16 {
        self.r[2] as u16
    }

    pub fn cycles(&self) -> u64 {
        self.cycles
    }

    pub fn instructions(&self) -> u64 {
        self.instructions
    }

    pub fn clocks(&self) -> Clocks {
        self.clocks
    }

    pub fn mode_cycles(&self) -> ModeCycles {
        let mut m = self.mode_cycles;
        m.active = self.cycles - m.lpm.iter().sum::<u64>();
        m
    }

    /// Simulated seconds since power-up (this power cycle's MCLK history).
    pub fn seconds(&self) -> f64 {
        self.seconds_base + (self.cycles - self.seg_start) as f64 / f64::from(self.clocks.mclk_hz)
    }

    pub fn access_log(&self) -> &AccessLog {
        &self.log
    }

    /// Instructions fetched from FRAM faster than it allows without wait states.
    pub fn fram_over_speed(&self) -> u64 {
        self.fram_over_speed
    }

    pub fn memory(&self) -> &Memory {
        &self.mem
    }

    /// Direct access to memory (loading, tests); decoded instructions are dropped, since
    /// what the caller writes is not seen by the instruction cache.
    pub fn memory_mut(&mut self) -> &mut Memory {
        self.icache.clear();
        &mut self.mem
    }

    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// Stops `run` before executing the instruction at `pc`.
    pub fn add_breakpoint(&mut self, pc: u32) {
        self.breakpoints.push(pc);
        self.icache.clear();
    }

    /// Starts or pauses attributing cycles to instruction addresses (an instruction's own
    /// cycles, with the DMA blocks and MPY32 waits it causes); what was counted stays.
    /// Profiling runs one instruction per pass of the run loop, several times slower than the
    /// fast path.
    pub fn set_profiling(&mut self, on: bool) {
        self.profiling = on;
        if on && self.profile.is_none() {
            self.profile = Some(HashMap::new());
        }
    }

    /// Cycles by instruction address counted while profiling.
    pub fn profile(&self) -> Option<&HashMap<u32, u64>> {
        self.profile.as_ref()
    }

    /// Records every memory write (for differential testing); `take_writes` returns them.
    pub fn trace_writes(&mut self, on: bool) {
        self.trace = on.then(Vec::new);
    }

    pub fn take_writes(&mut self) -> Vec<MemWrite> {
        self.trace.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Bytes from the host to the device's UART.
    pub fn uart_send(&mut self, bytes: &[u8]) {
        self.p.uart.push_rx(bytes);
        self.next_event = self.cycles;
    }

    /// Bytes the device's UART has sent.
    pub fn uart_take(&mut self) -> Vec<u8> {
        self.p.uart.take_tx()
    }

    /// Whether the CPU is in a low-power mode (CPUOFF).
    pub fn sleeping(&self) -> bool {
        self.sr() & SR_CPUOFF != 0
    }

    // ---- power and reset ---------------------------------------------------------------

    /// Starts the CPU from the reset vector with all peripherals in their power-up state.
    pub fn power_on(&mut self) -> Result<(), SimError> {
        self.reset(ResetCause::Brownout)
    }

    /// A power failure: SRAM and CPU state are lost, FRAM is kept. The machine stays off
    /// until `power_on`.
    pub fn power_fail(&mut self) {
        self.p.uart.power_lost();
        self.mem.fill(Page::Sram, self.config.sram_fill);
        self.icache.clear();
        self.r = [u32::from(self.config.reg_fill); 16];
    }

    /// A BOR or PUC: peripherals reset, CPU restarts at the reset vector. SRAM keeps its
    /// contents (no power was lost).
    pub(crate) fn reset(&mut self, cause: ResetCause) -> Result<(), SimError> {
        self.p.timer.sync(
            self.cycles,
            self.clocks.mclk_hz,
            self.clocks.smclk_hz,
            self.clocks.aclk_hz,
        );
        self.p.reset(self.cycles, cause);
        self.clock_changed();
        let fill = u32::from(self.config.reg_fill);
        for n in [1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] {
            self.r[n] = fill;
        }
        self.r[2] = 0;
        self.r[3] = 0;
        let vector = u32::from(self.platform.vectors.reset);
        let target = u32::from(self.mem.word(vector));
        if !self.mem.page(target).is_memory() {
            return Err(SimError::BadResetVector { target });
        }
        self.r[0] = target & !1;
        self.wait_states = 0;
        self.irq_line = false;
        self.reset_request = None;
        self.wdt_restart();
        self.next_event = self.cycles;
        Ok(())
    }

    // ---- clocks and events -------------------------------------------------------------

    /// Recomputes the clocks after a CS write (or reset), keeping simulated time continuous.
    pub(crate) fn clock_changed(&mut self) {
        let new = self.p.cs.clocks(&self.platform.clock);
        // Bring clocked models up to now under the old frequencies.
        self.p.timer.sync(
            self.cycles,
            self.clocks.mclk_hz,
            self.clocks.smclk_hz,
            self.clocks.aclk_hz,
        );
        if new.mclk_hz != self.clocks.mclk_hz {
            self.seconds_base = self.seconds();
            self.seg_start = self.cycles;
        }
        self.clocks = new;
        self.update_wait_states();
        self.wdt_restart_keep();
    }

    fn update_wait_states(&mut self) {
        let nwaits = u64::from(self.p.sys.nwaits);
        self.wait_states = nwaits;
    }

    fn uart_char_cycles(&self) -> Option<u64> {
        let c = self.clocks;
        self.p.uart.char_cycles(c.mclk_hz, c.smclk_hz, c.aclk_hz)
    }

    fn wdt_clock_hz(&self) -> u32 {
        match self.p.sys.wdt_interval().1 {
            0 => self.clocks.smclk_hz,
            1 => self.clocks.aclk_hz,
            _ => self.platform.clock.vlo_hz,
        }
    }

    /// Restarts the watchdog count from zero.
    fn wdt_restart(&mut self) {
        self.wdt_deadline = if self.p.sys.wdt_held() {
            None
        } else {
            let (ticks, _) = self.p.sys.wdt_interval();
            let cycles = u128::from(ticks) * u128::from(self.clocks.mclk_hz)
                / u128::from(self.wdt_clock_hz());
            Some(self.cycles + cycles.min(u128::from(u64::MAX / 4)) as u64)
        };
    }

    /// After a setting change that does not clear the count.
    fn wdt_restart_keep(&mut self) {
        if self.p.sys.wdt_held() {
            self.wdt_deadline = None;
        } else if self.wdt_deadline.is_none() {
            self.wdt_restart();
        }
    }

    /// Brings every model to the current cycle, handles what is due and schedules the next
    /// event. Returns why `run` must stop, if it must.
    pub(crate) fn service(&mut self) -> Result<Option<Stop>, SimError> {
        let now = self.cycles;
        let c = self.clocks;
        self.p.timer.sync(now, c.mclk_hz, c.smclk_hz, c.aclk_hz);
        let char_cycles = self.uart_char_cycles();
        let pins = self.p.uart_pins();
        self.p.uart.sync(now, char_cycles, pins);
        if let Some(d) = self.wdt_deadline {
            if now >= d {
                if self.p.sys.wdt_interval_mode() {
                    self.p.sys.sfrifg1 |= 1;
                    self.wdt_restart();
                } else {
                    self.reset_request = Some(ResetCause::Watchdog);
                }
            }
        }
        if let Some(cause) = self.reset_request.take() {
            self.reset(cause)?;
            return Ok(Some(Stop::Reset(cause)));
        }
        self.update_irq();
        let mut next = self.cycle_budget;
        if let Some(t) = self.p.timer.next_event(c.mclk_hz, c.smclk_hz, c.aclk_hz) {
            next = next.min(t);
        }
        if let Some(t) = self.p.uart.next_event() {
            next = next.min(t);
        }
        if self.p.uart.rx_waiting() && pins && char_cycles.is_some() {
            next = next.min(now + 1);
        }
        if let Some(d) = self.wdt_deadline {
            next = next.min(d);
        }
        self.next_event = next.max(now + 1);
        if now >= self.cycle_budget {
            return Ok(Some(Stop::CycleBudget));
        }
        Ok(None)
    }

    /// The highest-priority pending, enabled interrupt's vector address.
    pub(crate) fn pending_vector(&self) -> Option<u16> {
        let v = &self.platform.vectors;
        let (ta0, ta1) = self.p.timer.irq();
        let wdt = self.p.sys.sfrifg1 & self.p.sys.sfrie1 & 1 != 0;
        let sources = [
            (wdt, v.wdt),
            (self.p.uart.irq(), v.eusci_a0),
            (ta0, v.timer0_a0),
            (ta1, v.timer0_a1),
            (self.p.dma.irq(), v.dma),
        ];
        sources.iter().filter(|s| s.0).map(|s| s.1).max()
    }

    pub(crate) fn update_irq(&mut self) {
        self.irq_line = self.pending_vector().is_some();
    }

    /// Accepts the pending interrupt: pushes PC and SR (with PC[19:16] in SR[15:12], the
    /// CPUXv2 frame), clears SR but SCG0, jumps through the vector.
    pub(crate) fn interrupt(&mut self) -> bool {
        let Some(vector) = self.pending_vector() else {
            self.irq_line = false;
            return false;
        };
        // Asleep, the CPU first wakes (active cycles: the DCO and the CPU are starting).
        if let Some(lpm) = self.lpm() {
            self.cycles += self.platform.wakeup.cycles(lpm, self.clocks.mclk_hz);
        }
        let pc = self.r[0];
        let sr = self.r[2] as u16;
        let sp = (self.r[1].wrapping_sub(2)) & 0xFFFF;
        self.write_word(sp, pc as u16);
        let sp = sp.wrapping_sub(2) & 0xFFFF;
        self.write_word(sp, (sr & 0x0FFF) | (((pc >> 4) & 0xF000) as u16));
        self.r[1] = sp;
        self.r[2] = u32::from(sr & SR_SCG0);
        self.r[0] = u32::from(self.mem.word(u32::from(vector))) & !1;
        if vector == self.platform.vectors.timer0_a0 {
            self.p.timer.acknowledge_ccr0();
        }
        self.cycles += u64::from(self.lut.interrupt);
        self.update_irq();
        true
    }

    /// The low-power mode of the current SR (0..=4), if the CPU is off.
    pub(crate) fn lpm(&self) -> Option<usize> {
        let sr = self.r[2] as u16;
        if sr & SR_CPUOFF == 0 {
            return None;
        }
        Some(
            match (sr & SR_SCG0 != 0, sr & SR_SCG1 != 0, sr & SR_OSCOFF != 0) {
                (_, _, true) => 4,
                (true, true, false) => 3,
                (false, true, false) => 2,
                (true, false, false) => 1,
                (false, false, false) => 0,
            },
        )
    }

    // ---- the run loop ------------------------------------------------------------------

    /// Runs until `max_instructions` more instructions have executed, the cycle count reaches
    /// `cycle_budget`, a breakpoint is hit or the chip resets itself.
    pub fn run(&mut self, max_instructions: u64, cycle_budget: u64) -> Result<Stop, SimError> {
        let limit = self.instructions.saturating_add(max_instructions);
        self.cycle_budget = cycle_budget;
        self.next_event = self.cycles;
        loop {
            if let Some(e) = self.fault.take() {
                return Err(e);
            }
            if self.cycles >= self.next_event {
                if let Some(stop) = self.service()? {
                    return Ok(stop);
                }
            }
            let gie = self.r[2] as u16 & SR_GIE != 0;
            // A CPU asleep takes the interrupt at once, even right after the instruction that
            // set GIE and CPUOFF together (how firmware sleeps without missing a wake-up).
            let due = self.instructions >= self.gie_set_at + 2 || self.r[2] as u16 & SR_CPUOFF != 0;
            if self.irq_line && gie && due && self.interrupt() {
                continue;
            }
            if self.r[2] as u16 & SR_CPUOFF != 0 {
                let mode = self.lpm().unwrap_or(0);
                // Sleep until the next event; a pending interrupt with GIE set wakes the CPU.
                let wake = self.next_event.min(self.cycle_budget);
                if wake == u64::MAX {
                    return Err(SimError::SleepForever {
                        pc: self.r[0],
                        sr: self.r[2] as u16,
                    });
                }
                let slept = wake.saturating_sub(self.cycles);
                self.mode_cycles.lpm[mode] += slept;
                self.cycles = wake.max(self.cycles);
                continue;
            }
            if self.instructions >= limit {
                return Ok(Stop::InstructionLimit);
            }
            // An interrupt held back by the instruction that follows EINT is due after one.
            let end = if (self.irq_line && gie) || self.profiling {
                self.instructions + 1
            } else {
                limit
            };
            let (pc, before) = (self.r[0], self.cycles);
            let stop = self.execute(end)?;
            if self.profiling {
                if let Some(p) = self.profile.as_mut() {
                    *p.entry(pc).or_default() += self.cycles - before;
                }
            }
            if let Some(stop) = stop {
                return Ok(stop);
            }
        }
    }

    /// The fast path: instructions until the next event or the `end`th instruction.
    #[inline(always)]
    fn execute(&mut self, end: u64) -> Result<Option<Stop>, SimError> {
        while self.cycles < self.next_event && self.instructions < end {
            let pc = self.r[0];
            let mut insn = self.icache.get(pc);
            let exec = match insn.exec {
                Some(exec) => exec,
                None => {
                    insn = self.decode(pc)?;
                    self.icache.insert(pc, insn);
                    insn.exec.unwrap_or_else(|| unreachable!("decoded"))
                }
            };
            if insn.bp && self.pc_now != pc {
                self.pc_now = pc;
                return Ok(Some(Stop::Breakpoint(pc)));
            }
            self.pc_now = pc;
            exec(self, &insn);
            self.cycles += u64::from(insn.cycles);
            if self.wait_states != 0 {
                self.fram_wait(pc, insn.words);
            }
            self.instructions += 1;
        }
        Ok(None)
    }

    /// NWAITS wait states per FRAM instruction word (an upper bound: the FRAM cache is not
    /// modelled, every fetch is counted as a miss).
    #[cold]
    fn fram_wait(&mut self, pc: u32, words: u8) {
        if self.mem.page(pc) == Page::Fram {
            self.cycles += self.wait_states * u64::from(words);
        }
    }

    /// Records an error raised inside an instruction; `run` returns it before going on.
    #[cold]
    pub(crate) fn fail(&mut self, e: SimError) {
        self.fault = Some(e);
        self.next_event = self.cycles;
    }

    /// Executes exactly one instruction (or accepts one interrupt, or sleeps to the next
    /// event); peripherals are serviced first.
    pub fn single_step(&mut self) -> Result<Stop, SimError> {
        let before = self.instructions;
        let budget = self.cycle_budget;
        self.cycle_budget = u64::MAX;
        self.pc_now = u32::MAX;
        let r = self.run(1, u64::MAX);
        self.cycle_budget = budget;
        if r.is_ok() && self.instructions == before + 1 {
            return Ok(Stop::InstructionLimit);
        }
        r
    }

    // ---- the bus -----------------------------------------------------------------------

    #[inline(always)]
    pub(crate) fn read_word(&mut self, a: u32) -> u16 {
        if self.mem.page(a).is_memory() {
            self.mem.word(a)
        } else {
            self.read_slow(a & !1, false)
        }
    }

    #[inline(always)]
    pub(crate) fn read_byte(&mut self, a: u32) -> u8 {
        if self.mem.page(a).is_memory() {
            self.mem.byte(a)
        } else {
            self.read_slow(a, true) as u8
        }
    }

    #[inline(always)]
    pub(crate) fn write_word(&mut self, a: u32, v: u16) {
        if let Some(t) = &mut self.trace {
            t.push(MemWrite {
                addr: a & !1,
                byte: false,
            });
        }
        if self.mem.page(a) >= Page::Sram {
            self.mem.set_word(a, v);
            self.icache.written(a);
        } else {
            self.write_slow(a & !1, v, false)
        }
    }

    #[inline(always)]
    pub(crate) fn write_byte(&mut self, a: u32, v: u8) {
        if let Some(t) = &mut self.trace {
            t.push(MemWrite {
                addr: a,
                byte: true,
            });
        }
        if self.mem.page(a) >= Page::Sram {
            self.mem.set_byte(a, v);
            self.icache.written(a);
        } else {
            self.write_slow(a, u16::from(v), true)
        }
    }
}
