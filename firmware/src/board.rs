//! The MSP430FR5994 board (MSP-EXP430FR5994 LaunchPad): 8 MHz clocks, the back-channel UART, a
//! 32-bit cycle counter, and the engine's NVM (HIFRAM through DMA) and MAC (MPY32).
//!
//! Everything this module touches, so that a model of the board knows what to implement
//! (addresses from the msp430fr5994 0.2.0 PAC, semantics from SLAU367):
//! - FRCTL_A: FRCTL0 0x0140 (FRCTLPW 0xA5 in the high byte, NWAITS).
//! - PMM: PMMCTL0 0x0120 (PMMPW, PMMSWBOR), PM5CTL0 0x0130 (LOCKLPM5).
//! - CS: CSCTL0 0x0160 (CSKEY), CSCTL1 0x0162 (DCORSEL, DCOFSEL), CSCTL2 0x0164 (SELA, SELS,
//!   SELM), CSCTL3 0x0166 (DIVA, DIVS, DIVM).
//! - Digital I/O, byte registers (P2, P4, P6, P8 sit at the odd address after P1, P3, P5, P7):
//!   PxOUT/PxDIR of P1 0x0202/0x0204, P2 0x0203/0x0205, P3 0x0222/0x0224, P4 0x0223/0x0225,
//!   P5 0x0242/0x0244, P6 0x0243/0x0245, P7 0x0262/0x0264, P8 0x0263/0x0265; P2SEL0 0x020B,
//!   P2SEL1 0x020D; word registers PJOUT 0x0322, PJDIR 0x0324.
//! - Timer_A0: TA0CTL 0x0340 (TASSEL, ID, MC, TACLR, TAIE, TAIFG), TA0R 0x0350, TA0EX0 0x0360,
//!   TA0IV 0x036E (a read returns 0x0E for TAIFG and clears it); vector TIMER0_A1 at 0xFFE8.
//! - MPY32: MPYS 0x04C2, OP2 0x04C8, RESLO 0x04CA, RESHI 0x04CC, MPY32CTL0 0x04EC.
//! - DMA: DMACTL0 0x0500 (DMA0TSEL), DMACTL4 0x0508 (DMARMWDIS), DMA0CTL 0x0510 (DMADT,
//!   DMASRCINCR, DMADSTINCR, DMASRCBYTE, DMADSTBYTE, DMAEN, DMAIFG, DMAREQ), DMA0SA 0x0512 and
//!   DMA0DA 0x0516 (20-bit, two words each), DMA0SZ 0x051A. Channel 0, block mode, DMAREQ
//!   trigger; the CPU is halted while a block moves.
//! - eUSCI_A0: UCA0CTLW0 0x05C0 (UCSWRST, UCSSEL), UCA0BRW 0x05C6, UCA0MCTLW 0x05C8,
//!   UCA0RXBUF 0x05CC, UCA0TXBUF 0x05CE, UCA0IFG 0x05DC (UCRXIFG, UCTXIFG).
//! - Memory: SRAM and low FRAM, and HIFRAM 0x10000..0x44000, which only the DMA reaches.
//! - CPU: the base ISA plus two hand-encoded MSP430X instructions (LLVM assembles none):
//!   `MOVA @Rsrc+, Rdst` (0x0s1d) and `MOVA Rsrc, &abs20` (0x0s6h, abs20[15:0]).
//!
//! The crate root needs `#![feature(abi_msp430_interrupt)]` (the Timer_A0 handler) and
//! `#![feature(asm_experimental_arch)]` (`asm!`).

use core::arch::asm;
use core::cell::Cell;
use core::ptr::{addr_of, addr_of_mut};

use inas_common::engine::{Block, Mac, Nvm};
use inas_common::session::Device;
use msp430::interrupt::Mutex;
use msp430_rt::interrupt;
use msp430fr5994 as pac;
// `#[interrupt]` checks handler names against an `interrupt` enum in scope.
use pac::Interrupt as interrupt;

pub const MCLK_HZ: u32 = 8_000_000;
/// NVM words the engine may use: all of HIFRAM, 0x10000..0x44000.
pub const NVM_WORDS: u32 = (0x4_4000 - 0x1_0000) / 2;

const HIFRAM_BASE: u32 = 0x1_0000;
const BAUD: u32 = 115_200;
/// One UART character (start, 8 data, stop) plus a spare bit, in MCLK cycles.
const CHAR_CYCLES: u16 = (11 * MCLK_HZ / BAUD) as u16;

/// Words per DMA block. The CPU, and with it the Timer_A0 overflow handler, is halted while a
/// block moves (at most 3 MCLK per word, SLAU367 "DMA Transfer Cycle Time"): 8192 words stay
/// under 2^15 cycles, so no overflow is lost and `cycles` always recognises a pending one.
const DMA_CHUNK_WORDS: u32 = 8192;

/// DMA0SA and DMA0DA: 20-bit registers the PAC types as their low words only.
const DMA0SA_ADDR: u16 = 0x0512;
const DMA0DA_ADDR: u16 = 0x0516;

/// Timer_A0 overflows since `init`: the high half of `cycles`.
static OVERFLOWS: Mutex<Cell<u16>> = Mutex::new(Cell::new(0));

/// An NVM access outside `0..NVM_WORDS`. Zero-sized, with its address kept in
/// `REFUSED_ADDR`: every `Result` the engine and the session pass up then stays in registers,
/// where a 4-byte payload made each of them a stack copy (about 1 KB of code in all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NvmError(());

/// Word address of the last refused NVM access (what `NvmError::addr` reports).
static mut REFUSED_ADDR: u32 = 0;

impl NvmError {
    fn at(addr: u32) -> NvmError {
        // SAFETY: single-threaded, and no interrupt handler touches NVM or this static.
        unsafe { *addr_of_mut!(REFUSED_ADDR) = addr };
        NvmError(())
    }

    /// Start of the refused access. An error is reported before any other NVM access is
    /// made, so it is always this error's.
    pub fn addr(&self) -> u32 {
        // SAFETY: as in `at`.
        unsafe { *addr_of!(REFUSED_ADDR) }
    }
}

/// The peripherals the firmware uses after boot (all zero-sized).
pub struct Board {
    dma: pac::Dma,
    mpy: pac::Mpy32,
    ta0: pac::Ta0,
    uart: pac::EUsciA0,
}

/// Brings the board up: DCO 8 MHz with MCLK = SMCLK = DCO/1 and ACLK = VLO, FRAM without wait
/// states, unused pins parked, the UART at 115200 8N1, the cycle counter, the DMA, the
/// multiplier; then enables interrupts. Call once at boot; Reset already holds the watchdog.
pub fn init() -> Board {
    // SAFETY: `init` runs once, at boot, before anything else touches a peripheral; the
    // returned `Board` owns the ones used later, the rest are only configured here.
    let p = unsafe { pac::Peripherals::steal() };

    // FRAM needs no wait state up to 8 MHz (SLASE54). Set explicitly: a previous image may
    // have left another value, and more wait states would skew the cycle counts.
    p.frctl_a.frctl0().write(|w| {
        // SAFETY: 0xA5 is the FRCTL password; any other value would cause a PUC.
        unsafe { w.frctlpw().bits(0xA5) };
        w.nwaits().nwaits_0()
    });

    // SAFETY: 0xA5 is the CS password; it unlocks CSCTL1..6 until relocked below.
    p.cs.csctl0().write(|w| unsafe { w.cskey().bits(0xA5) });
    // Erratum CS12: a DCO frequency change may overshoot, so divide by 4 while it settles.
    p.cs.csctl3()
        .write(|w| w.diva()._4().divs()._4().divm()._4());
    p.cs.csctl1()
        .write(|w| w.dcorsel().set_bit().dcofsel().dcofsel_3());
    // About 10 us at 2 MHz (TI's examples wait 60 cycles); each pass takes at least 3 cycles.
    for _ in 0..24u16 {
        nop();
    }
    // ACLK clocks nothing here: the VLO needs no crystal start-up or fault handling.
    p.cs.csctl2()
        .write(|w| w.sela().vloclk().sels().dcoclk().selm().dcoclk());
    p.cs.csctl3()
        .write(|w| w.diva()._1().divs()._1().divm()._1());
    // SAFETY: any value other than the password relocks the CS registers (no reset).
    p.cs.csctl0().write(|w| unsafe { w.cskey().bits(0) });

    // Floating inputs draw current; unused pins are driven low instead. LOCKLPM5 keeps the
    // pins as they were until all of this is set, so nothing glitches.
    macro_rules! park {
        ($($port:ident: $out:ident, $dir:ident;)*) => {$(
            // SAFETY: every bit pattern is valid in a port's output and direction registers.
            p.$port.$out().write(|w| unsafe { w.bits(0) });
            // SAFETY: as above.
            p.$port.$dir().write(|w| unsafe { w.bits(0xFF) });
        )*};
    }
    park! {
        p1: p1out, p1dir;
        p3: p3out, p3dir;
        p4: p4out, p4dir;
        p5: p5out, p5dir;
        p6: p6out, p6dir;
        p7: p7out, p7dir;
        p8: p8out, p8dir;
    }
    // SAFETY: every bit pattern is valid in PJOUT.
    p.pj.pjout().write(|w| unsafe { w.bits(0) });
    // SAFETY: PJ has 8 pins; the upper byte of PJDIR is unused.
    p.pj.pjdir().write(|w| unsafe { w.bits(0x00FF) });
    // P2.0 = UCA0TXD, P2.1 = UCA0RXD (SEL1 = 1, SEL0 = 0); the eUSCI drives their direction,
    // so they stay inputs and never fight the eZ-FET's TX line.
    const UART_PINS: u8 = 0b0000_0011;
    // SAFETY: every bit pattern is valid in P2OUT.
    p.p2.p2out().write(|w| unsafe { w.bits(0) });
    // SAFETY: as above, for P2DIR.
    p.p2.p2dir().write(|w| unsafe { w.bits(!UART_PINS) });
    // SAFETY: as above, for P2SEL0.
    p.p2.p2sel0().write(|w| unsafe { w.bits(0) });
    // SAFETY: as above, for P2SEL1.
    p.p2.p2sel1().write(|w| unsafe { w.bits(UART_PINS) });

    // 115200 8N1 from SMCLK = 8 MHz: N = 69.44, so UCOS16 with BRW = 4, BRF = 5, BRS = 0x55
    // (SLAU367 table "Recommended Settings for Typical Crystals and Baud Rates").
    let uart = p.e_usci_a0;
    uart.uca0ctlw0()
        .write(|w| w.ucswrst().enable().ucssel().smclk());
    // SAFETY: any 16-bit prescaler is valid.
    uart.uca0brw().write(|w| unsafe { w.bits(4) });
    uart.uca0mctlw().write(|w| {
        w.ucos16().set_bit();
        // SAFETY: 5 fits UCBRF's 4 bits and 0x55 UCBRS's 8 bits.
        unsafe { w.ucbrf().bits(5).ucbrs().bits(0x55) }
    });
    uart.uca0ctlw0().modify(|_, w| w.ucswrst().disable());

    // The UART is configured (TXD idles high) before the pins go live.
    p.pmm.pm5ctl0().modify(|_, w| w.locklpm5().clear_bit());

    // SMCLK = MCLK, so TA0R counts CPU cycles; the overflow interrupt extends it to 32 bits.
    let ta0 = p.ta0;
    ta0.ta0ex0().write(|w| w.taidex()._1());
    ta0.ta0ctl().write(|w| {
        w.tassel()
            .smclk()
            .id()
            ._1()
            .mc()
            .continuous()
            .taclr()
            .set_bit()
            .taie()
            .set_bit()
    });
    msp430::critical_section::with(|cs| OVERFLOWS.borrow(cs).set(0));

    let dma = p.dma;
    // Trigger 0 is DMAREQ (software).
    dma.dmactl0().write(|w| w.dma0tsel().dma0trig0());
    // A block then never starts in the middle of a CPU read-modify-write.
    dma.dmactl4().write(|w| w.dmarmwdis().set_bit());
    dma.dma0ctl().write(|w| w.dmaen().disable());

    // `dot` relies on plain 16x16 products: no saturation or fractional mode.
    let mpy = p.mpy32;
    mpy.mpy32ctl0()
        .write(|w| w.mpysat().clear_bit().mpyfrac().clear_bit());

    // SAFETY: the only handler (TIMER0_A1) and its state are set up, and no critical-section
    // token is alive here.
    unsafe { msp430::interrupt::enable() };

    Board {
        dma,
        mpy,
        ta0,
        uart,
    }
}

/// Resets the whole chip (a software brownout reset), as a power failure would, after the
/// UART has sent what it holds. Used to give every batch a power cycle of its own.
pub fn power_down() -> ! {
    // SAFETY: only reads registers without side effects; the Board that owns them is not
    // used again.
    let (uart, ta0) = unsafe { (&*pac::EUsciA0::ptr(), &*pac::Ta0::ptr()) };
    while uart.uca0ifg().read().uctxifg().bit_is_clear() {}
    // UCBUSY also counts reception, so wait out the character in the shift register instead.
    let start = ta0.ta0r().read().bits();
    while ta0.ta0r().read().bits().wrapping_sub(start) < CHAR_CYCLES {}
    // SAFETY: nothing else touches the PMM after `init`.
    let pmm = unsafe { &*pac::Pmm::ptr() };
    // SAFETY: 0xA5 is the PMM password; the modify keeps SVSHE as it is.
    pmm.pmmctl0()
        .modify(|_, w| unsafe { w.pmmpw().bits(0xA5) }.pmmswbor().set_bit());
    // The BOR takes effect at once; this only satisfies the type.
    loop {
        nop();
    }
}

fn nop() {
    // SAFETY: `nop` has no effect; without `nomem` it also keeps memory accesses in order.
    unsafe { asm!("nop", options(nostack, preserves_flags)) };
}

impl Board {
    /// Blocking write of all bytes to the UART (returns once the last one is in TXBUF).
    pub fn uart_write(&mut self, bytes: &[u8]) {
        let uart = &self.uart;
        for &b in bytes {
            while uart.uca0ifg().read().uctxifg().bit_is_clear() {}
            // SAFETY: UCA0TXBUF takes any byte.
            uart.uca0txbuf().write(|w| unsafe { w.bits(u16::from(b)) });
        }
    }

    /// A received byte if one is waiting. Reading UCA0RXBUF also clears UCOE, UCFE and UCPE
    /// (SLAU367 forbids clearing UCOE by software); a lost byte is caught by the frame CRC.
    pub fn uart_read(&mut self) -> Option<u8> {
        let uart = &self.uart;
        if uart.uca0ifg().read().ucrxifg().bit_is_set() {
            Some(uart.uca0rxbuf().read().ucrxbuf().bits())
        } else {
            None
        }
    }

    /// Wrapping count of MCLK cycles since `init`.
    pub fn cycles(&mut self) -> u32 {
        let ta0 = &self.ta0;
        msp430::critical_section::with(|cs| {
            let mut high = OVERFLOWS.borrow(cs).get();
            // TA0R counts SMCLK, synchronous to MCLK, so a single read is exact.
            let low = ta0.ta0r().read().bits();
            // A pending overflow that the handler has not counted yet belongs to this reading
            // only if TA0R wrapped before it was read. This module masks interrupts only
            // briefly and a DMA block stalls the CPU for under 2^15 cycles, so a pending flag
            // is never older than that: a small `low` means the wrap came first.
            if ta0.ta0ctl().read().taifg().bit_is_set() && low < 0x8000 {
                high = high.wrapping_add(1);
            }
            (u32::from(high) << 16) | u32::from(low)
        })
    }

    /// Copies `words` 16-bit words with DMA channel 0 from 20-bit address `src` to `dst`, in
    /// ascending order: a copy cut by a power failure has written a prefix.
    ///
    /// # Safety
    ///
    /// Both ranges must be even-aligned, lie in SRAM or FRAM, and not overlap; `dst..dst +
    /// 2 * words` must be memory nothing else reads or writes meanwhile (no live Rust reference
    /// other than one the caller holds exclusively, no code, no stack).
    pub unsafe fn dma_copy(&mut self, mut src: u32, mut dst: u32, mut words: u32) {
        while words > 0 {
            let n = words.min(DMA_CHUNK_WORDS);
            // SAFETY: a sub-range of what the caller vouched for; n <= 8192 fits DMA0SZ.
            unsafe { self.dma_block(src, dst, n as u16) };
            src += 2 * n;
            dst += 2 * n;
            words -= n;
        }
    }

    /// One block transfer of `words` (1..=65535) words.
    ///
    /// # Safety
    ///
    /// As for `dma_copy`.
    unsafe fn dma_block(&mut self, src: u32, dst: u32, words: u16) {
        let ch = &self.dma;
        // DMAEN = 0 first: the addresses and size may only change while the channel is off.
        ch.dma0ctl().write(|w| {
            w.dmadt()
                .dmadt_1()
                .dmasrcincr()
                .dmasrcincr_3()
                .dmadstincr()
                .dmadstincr_3()
                .dmasrcbyte()
                .word()
                .dmadstbyte()
                .word()
        });
        set_dma0_addresses(src, dst);
        // SAFETY: any nonzero size is valid; the caller's range covers it.
        ch.dma0sz().write(|w| unsafe { w.bits(words) });
        ch.dma0ctl().modify(|_, w| w.dmaen().enable());
        // Whatever the source holds must be in memory before the DMA reads it.
        barrier();
        ch.dma0ctl().modify(|_, w| w.dmareq().dmareq_1());
        // The CPU is halted while the block moves, but the trigger takes a cycle or two to
        // synchronise: wait for the end-of-block flag rather than assume it.
        while ch.dma0ctl().read().dmaifg().bit_is_clear() {}
        ch.dma0ctl().modify(|_, w| w.dmaifg().clear_bit());
        // Reads of the destination must not be served from values loaded before the copy.
        barrier();
    }
}

/// Writes all 20 bits of DMA0SA and DMA0DA. Word writes clear bits 19:16 (SLAU367, DMAxSA
/// and DMAxDA), so this takes `MOVA`, which LLVM cannot assemble: it is hand-encoded.
fn set_dma0_addresses(src: u32, dst: u32) {
    // Little-endian words: low half first, then bits 19:16, as MOVA reads an address word.
    let addrs = [src, dst];
    // An interrupt between the two MOVAs would save and restore r13 with 16-bit PUSH/POP and
    // drop bits 19:16.
    msp430::critical_section::with(|_| {
        // SAFETY: r12 points at `addrs` (two u32, alive across the asm); the MOVAs only read
        // it and write DMA0SA/DMA0DA, and both clobbered registers are declared. MOVA leaves
        // the status flags alone.
        unsafe {
            asm!(
                ".word 0x0c1d",          // MOVA @r12+, r13
                ".word 0x0d60, {sa}",    // MOVA r13, &DMA0SA (bits 19:16 of 0x00512 are 0)
                ".word 0x0c1d",          // MOVA @r12+, r13
                ".word 0x0d60, {da}",    // MOVA r13, &DMA0DA
                sa = const DMA0SA_ADDR,
                da = const DMA0DA_ADDR,
                inout("r12") addrs.as_ptr() => _,
                out("r13") _,
                options(nostack, preserves_flags),
            )
        };
    });
}

/// A compiler barrier: memory a DMA may touch is not cached in registers across it.
fn barrier() {
    // SAFETY: an empty asm block; without `nomem` it orders all memory accesses around it.
    unsafe { asm!("", options(nostack, preserves_flags)) };
}

/// The NVM word range `addr..addr + words` as a HIFRAM byte address, if it is in range.
fn hifram(addr: u32, words: usize) -> Result<u32, NvmError> {
    // usize is 16 bits here, so the length converts losslessly.
    let words = words as u32;
    match addr.checked_add(words) {
        Some(end) if end <= NVM_WORDS => Ok(HIFRAM_BASE + 2 * addr),
        _ => Err(NvmError::at(addr)),
    }
}

/// The engine's NVM on this board: word address a is at byte address 0x10000 + 2a.
impl Nvm for Board {
    type Error = NvmError;

    fn read(&mut self, _block: Block, addr: u32, buf: &mut [i16]) -> Result<(), NvmError> {
        if buf.is_empty() {
            return Ok(());
        }
        let src = hifram(addr, buf.len())?;
        let dst = buf.as_mut_ptr() as usize as u32;
        // SAFETY: the source is inside HIFRAM, the destination is exactly the buffer this
        // call borrows exclusively, and HIFRAM (unaddressable by the CPU) cannot overlap it.
        unsafe { self.dma_copy(src, dst, buf.len() as u32) };
        Ok(())
    }

    fn write(&mut self, _block: Block, addr: u32, data: &[i16]) -> Result<(), NvmError> {
        if data.is_empty() {
            return Ok(());
        }
        let dst = hifram(addr, data.len())?;
        let src = data.as_ptr() as usize as u32;
        // SAFETY: the destination is inside HIFRAM, which no Rust reference can point into,
        // and the source is a live slice that the DMA only reads.
        unsafe { self.dma_copy(src, dst, data.len() as u32) };
        Ok(())
    }
}

/// The MAC on MPY32: exactly `q15::dot`, i.e. signed 16x16 products added with i32
/// saturation at every step, over the shorter of the two slices.
impl Mac for Board {
    type Error = NvmError;

    fn dot(&mut self, x: &[i16], w: &[i16]) -> Result<i32, NvmError> {
        let mpy = &self.mpy;
        let mut acc: i32 = 0;
        // No interrupt handler uses MPY32 (LLVM's multiplies are the __mspabi software
        // helpers in this build), so an interrupt between operands and result is harmless.
        // Two slice iterators rather than `zip`: they step pointers themselves, where zip's
        // indexing needs loop strength reduction, which this build turns off for size.
        let mut w = w.iter();
        for &a in x {
            let Some(&b) = w.next() else { break };
            // SAFETY: MPYS takes any 16-bit operand; writing it selects a signed multiply.
            mpy.mpys().write(|r| unsafe { r.bits(a as u16) });
            // SAFETY: as above, for OP2; the write starts the multiplication.
            mpy.op2().write(|r| unsafe { r.bits(b as u16) });
            // The result needs one more cycle when it is read indirectly (SLAU367, MPY32).
            nop();
            let lo = mpy.reslo().read().bits();
            let hi = mpy.reshi().read().bits();
            acc = acc.saturating_add(((u32::from(hi) << 16) | u32::from(lo)) as i32);
        }
        Ok(acc)
    }
}

impl Device for Board {
    fn cycles(&mut self) -> u32 {
        Board::cycles(self)
    }
}

// The macro supplies `CriticalSection` (msp430::interrupt's): handlers run with GIE clear.
#[interrupt]
fn TIMER0_A1(cs: CriticalSection) {
    // SAFETY: TA0IV is read only here; reading it clears the flag it reports.
    let ta0 = unsafe { &*pac::Ta0::ptr() };
    if ta0.ta0iv().read().taiv().is_taifg() {
        let overflows = OVERFLOWS.borrow(cs);
        overflows.set(overflows.get().wrapping_add(1));
    }
}
