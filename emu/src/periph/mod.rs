//! Peripheral models and the register file they sit in (0x0000..0x1000).
//!
//! Each model is a plain struct that knows its registers; `Peripherals` routes an address to
//! the model that owns it. Registers without a model (GPIO, which only stores what it is given)
//! are kept as plain bytes; accesses to addresses no model or plain range claims are stored as
//! well but logged, so a firmware touching something the emulator does not model is visible.

pub mod clock;
pub mod dma;
pub mod mpy;
pub mod sys;
pub mod timer;
pub mod uart;

use std::collections::BTreeMap;

/// Digital I/O ports P1..P8 and PJ: registers that only store what is written (no pins are
/// driven by the emulator). SLASE54 Table 6-47 "Port P1, P2 registers" and following.
fn is_plain(addr: u16) -> bool {
    (0x0200..0x0280).contains(&addr) || (0x0320..0x0340).contains(&addr)
}

/// How an access outside the models was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AccessCount {
    pub reads: u64,
    pub writes: u64,
    /// The PC of the instruction that made the first such access.
    pub first_pc: u32,
}

/// Accesses the emulator does not model, by address.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AccessLog {
    /// Peripheral addresses without a model.
    pub unmodelled: BTreeMap<u32, AccessCount>,
    /// Vacant memory (reads return 0x3FFF, writes are dropped).
    pub vacant: BTreeMap<u32, AccessCount>,
    /// Writes to read-only memory (dropped).
    pub rom_writes: BTreeMap<u32, AccessCount>,
    /// Accesses made too early for the chip: an MPY32 result read before it is ready, or an
    /// MPY32 write during an operation without MPYDLYWRTEN (SLAU367P Table 5-5). The emulator
    /// returns the finished result; the chip's would be undefined.
    pub timing: BTreeMap<u32, AccessCount>,
}

impl AccessLog {
    pub(crate) fn note(map: &mut BTreeMap<u32, AccessCount>, addr: u32, write: bool, pc: u32) {
        let e = map.entry(addr).or_insert(AccessCount {
            reads: 0,
            writes: 0,
            first_pc: pc,
        });
        if write {
            e.writes += 1;
        } else {
            e.reads += 1;
        }
    }

    /// Total number of logged accesses.
    pub fn total(&self) -> u64 {
        [
            &self.unmodelled,
            &self.vacant,
            &self.rom_writes,
            &self.timing,
        ]
        .iter()
        .flat_map(|m| m.values())
        .map(|c| c.reads + c.writes)
        .sum()
    }
}

/// Which part of the register file an address belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    Sys,
    Clock,
    Timer,
    Mpy,
    Dma,
    Uart,
    Plain,
    Unmodelled,
}

/// Routes an even peripheral address to its owner.
pub fn owner(addr: u16) -> Owner {
    let a = addr & !1;
    if sys::Sys::has(a) {
        Owner::Sys
    } else if (clock::CSCTL0..=clock::CSCTL6).contains(&a) {
        Owner::Clock
    } else if (timer::BASE..timer::END).contains(&a) && timer::TimerA::has(a) {
        Owner::Timer
    } else if (mpy::BASE..mpy::END).contains(&a) && mpy::Mpy32::has(a) {
        Owner::Mpy
    } else if (dma::BASE..dma::END).contains(&a) && dma::Dma::has(a) {
        Owner::Dma
    } else if (uart::BASE..uart::END).contains(&a) && uart::Uart::has(a) {
        Owner::Uart
    } else if is_plain(a) {
        Owner::Plain
    } else {
        Owner::Unmodelled
    }
}

/// All peripheral state.
#[derive(Clone, Debug)]
pub struct Peripherals {
    pub sys: sys::Sys,
    pub cs: clock::Cs,
    pub timer: timer::TimerA,
    pub mpy: mpy::Mpy32,
    pub dma: dma::Dma,
    pub uart: uart::Uart,
    /// Plain and unmodelled registers, byte-addressed.
    pub plain: Box<[u8; 0x1000]>,
}

impl Peripherals {
    pub fn new(now: u64) -> Peripherals {
        Peripherals {
            sys: sys::Sys::new(),
            cs: clock::Cs::new(),
            timer: timer::TimerA::new(now),
            mpy: mpy::Mpy32::new(),
            dma: dma::Dma::default(),
            uart: uart::Uart::new(),
            plain: Box::new([0; 0x1000]),
        }
    }

    /// Resets every model (a BOR or PUC); the UART keeps its host-side queues.
    pub fn reset(&mut self, now: u64, cause: sys::ResetCause) {
        self.sys.reset(cause);
        self.cs = clock::Cs::new();
        self.timer = timer::TimerA::new(now);
        self.mpy = mpy::Mpy32::new();
        self.dma = dma::Dma::default();
        self.uart.reset();
        self.plain.fill(0);
    }

    /// Whether UART pins P2.0/P2.1 reach the outside: unlocked (LOCKLPM5 = 0) and given to
    /// the eUSCI (P2SEL1 = 1, P2SEL0 = 0 for both).
    pub fn uart_pins(&self) -> bool {
        let sel0 = self.plain[0x020B];
        let sel1 = self.plain[0x020D];
        !self.sys.lock_lpm5 && sel1 & 3 == 3 && sel0 & 3 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_registers_have_owners() {
        assert_eq!(owner(0x015C), Owner::Sys); // WDTCTL
        assert_eq!(owner(0x0130), Owner::Sys); // PM5CTL0
        assert_eq!(owner(0x0140), Owner::Sys); // FRCTL0
        assert_eq!(owner(0x0162), Owner::Clock);
        assert_eq!(owner(0x0350), Owner::Timer); // TA0R
        assert_eq!(owner(0x036E), Owner::Timer); // TA0IV
        assert_eq!(owner(0x04C2), Owner::Mpy); // MPYS
        assert_eq!(owner(0x04EC), Owner::Mpy); // MPY32CTL0
        assert_eq!(owner(0x0516), Owner::Dma); // DMA0DA
        assert_eq!(owner(0x05CE), Owner::Uart); // UCA0TXBUF
        assert_eq!(owner(0x020D), Owner::Plain); // P2SEL1
        assert_eq!(owner(0x0324), Owner::Plain); // PJDIR
        assert_eq!(owner(0x0800), Owner::Unmodelled);
        assert_eq!(owner(0x0150), Owner::Unmodelled); // CRC16
    }
}
