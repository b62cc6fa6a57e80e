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
//!   UCA0RXBUF 0x05CC, UCA0TXBUF 0x05CE, UCA0IE 0x05DA (UCRXIE), UCA0IFG 0x05DC (UCRXIFG,
//!   UCTXIFG); vector EUSCI_A0 at 0xFFF0, which only wakes the CPU from LPM0.
//! - Memory: SRAM and low FRAM, and HIFRAM 0x10000..0x44000, which only the DMA reaches.
//! - CPU: the base ISA plus two hand-encoded MSP430X instructions (LLVM assembles none):
//!   `MOVA @Rsrc+, Rdst` (0x0s1d) and `MOVA Rsrc, &abs20` (0x0s6h, abs20[15:0]).
//!
//! The crate root needs `#![feature(abi_msp430_interrupt)]` (the Timer_A0 handler) and
//! `#![feature(asm_experimental_arch)]` (`asm!`).

use core::arch::asm;
use core::ptr::{addr_of, addr_of_mut};

use inas_common::engine::{Block, Blocks, Mac, Nvm};
use inas_common::q15::MacTile;
use inas_common::session::Device;
use msp430fr5994 as pac;

/// MCLK = SMCLK. 8 MHz is the default: FRAM needs no wait state there, and per inference it
/// spends less energy than 16 MHz with one wait state (README, "Clock").
#[cfg(not(feature = "mclk-16mhz"))]
pub const MCLK_HZ: u32 = 8_000_000;
#[cfg(feature = "mclk-16mhz")]
pub const MCLK_HZ: u32 = 16_000_000;

/// The clock's settings: FRCTL0 (password, NWAITS), CSCTL1 (DCORSEL = 1 with DCOFSEL 3 for
/// 8 MHz, 4 for 16 MHz), and 115200 baud from SMCLK with UCOS16 (BRW, BRF, BRS from the SLAU367
/// table "Recommended Settings for Typical Crystals and Baud Rates": N = 69.44 at 8 MHz,
/// 138.89 at 16 MHz).
struct Clock {
    frctl0: u16,
    csctl1: u16,
    /// Passes of an 8-cycle loop at MCLK/4 that cover TI's 60-cycle DCO settling.
    settle: u16,
    brw: u16,
    brf: u8,
    brs: u8,
}

#[cfg(not(feature = "mclk-16mhz"))]
const CLOCK: Clock = Clock {
    frctl0: 0xA500,
    csctl1: 0x0046,
    settle: 8,
    brw: 4,
    brf: 5,
    brs: 0x55,
};
// FRAM above 8 MHz needs NWAITS = 1 (SLASE54), set before MCLK rises.
#[cfg(feature = "mclk-16mhz")]
const CLOCK: Clock = Clock {
    frctl0: 0xA510,
    csctl1: 0x0048,
    settle: 16,
    brw: 8,
    brf: 10,
    brs: 0xF7,
};
/// NVM words the engine may use: all of HIFRAM, 0x10000..0x44000.
pub const NVM_WORDS: u32 = (0x4_4000 - 0x1_0000) / 2;

const BAUD: u32 = 115_200;
/// One UART character (start, 8 data, stop) plus a spare bit, in ns.
const CHAR_NS: u32 = 11 * 1_000_000 / (BAUD / 1000);

/// Words per DMA block. The CPU, and with it the Timer_A0 overflow handler, is halted while a
/// block moves (at most 3 MCLK per word, SLAU367 "DMA Transfer Cycle Time"): 8192 words stay
/// under 2^15 cycles, so no overflow is lost and `cycles` always recognises a pending one.
const DMA_CHUNK_WORDS: u16 = 8192;

/// Timer_A0 overflows since `init`: the high half of `cycles`. Counted by `TIMER0_A1`, an
/// assembly handler that touches no register, so code that keeps a 20-bit value in a register
/// (the DMA routine) needs no critical section.
#[no_mangle]
static mut INAS_OVERFLOWS: u16 = 0;

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

/// The peripherals the engine and session use after boot (all zero-sized).
pub struct Board {
    ta0: pac::Ta0,
}

/// The back-channel UART (eUSCI_A0, 115200 8N1) as `embedded_io` `Read` and `Write`: what the
/// main loop is written against.
pub struct Serial {
    uart: pac::EUsciA0,
    /// Something was sent since boot (`flush` then waits for it to leave).
    sent: bool,
}

/// Waits measured on Timer_A0, the cycle counter (`embedded_hal` `DelayNs`). It spins: the
/// firmware only waits out the UART's last character (under 100 us) before a power-down.
pub struct Delay(());

/// Writes a 16-bit peripheral register.
///
/// # Safety
///
/// `addr` must be a peripheral register that takes `v` without breaking an invariant of the
/// firmware.
unsafe fn poke(addr: u16, v: u16) {
    // SAFETY: the caller vouches for the register; peripheral space is always mapped.
    unsafe { core::ptr::write_volatile(addr as usize as *mut u16, v) };
}

/// The clocks, first thing after reset (`Reset` calls it before RAM is initialised, so it
/// touches no static): the chip comes out of reset at MCLK = 1 MHz, where zeroing RAM and
/// copying `.data` took most of a boot. DCO at `MCLK_HZ` with MCLK = SMCLK = DCO/1 and ACLK =
/// VLO, FRAM wait states as that clock needs.
#[no_mangle]
pub extern "C" fn PreInit() {
    // SAFETY: each write is a documented configuration of FRCTL_A or CS (SLAU367P chapters 3
    // and 7), with its password, done before anything depends on the clocks.
    unsafe {
        // FRAM needs no wait state up to 8 MHz, one above (SLASE54). Set explicitly: a
        // previous image may have left another value, and more would skew the cycle counts.
        poke(FRCTL0, CLOCK.frctl0);
        // CSCTL0: the CS password unlocks CSCTL1..6 until relocked below.
        poke(CSCTL0, 0xA500);
        // Erratum CS12: a DCO frequency change may overshoot, so divide by 4 while it settles
        // (CSCTL3: DIVA = DIVS = DIVM = /4).
        poke(CSCTL3, 0x0222);
        poke(CSCTL1, CLOCK.csctl1);
    }
    // TI's examples wait 60 cycles for the DCO to settle; a pass of this loop takes 8, at
    // the divided MCLK (every boot runs this: 30 us rather than 100 at 8 MHz).
    for _ in 0..CLOCK.settle {
        nop();
    }
    // SAFETY: as above. ACLK clocks nothing here: the VLO needs no crystal start-up or
    // fault handling (CSCTL2: SELA = VLO, SELS = SELM = DCO); then /1, and relock.
    unsafe {
        poke(CSCTL2, 0x0133);
        poke(CSCTL3, 0x0000);
        poke(CSCTL0, 0x0000);
    }
}

const FRCTL0: u16 = 0x0140;
const CSCTL0: u16 = 0x0160;
const CSCTL1: u16 = 0x0162;
const CSCTL2: u16 = 0x0164;
const CSCTL3: u16 = 0x0166;

/// Brings the rest of the board up (`PreInit` set the clocks): unused pins parked, the UART at
/// 115200 8N1, the cycle counter, the DMA, the multiplier; then enables interrupts. Call once
/// at boot; Reset already holds the watchdog.
pub fn init() -> (Board, Serial) {
    // SAFETY: `init` runs once, at boot, before anything else touches a peripheral; the
    // returned `Board` owns the ones used later, the rest are only configured here.
    let p = unsafe { pac::Peripherals::steal() };

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

    // 115200 8N1 from SMCLK (`CLOCK`).
    let uart = p.e_usci_a0;
    uart.uca0ctlw0()
        .write(|w| w.ucswrst().enable().ucssel().smclk());
    // SAFETY: any 16-bit prescaler is valid.
    uart.uca0brw().write(|w| unsafe { w.bits(CLOCK.brw) });
    uart.uca0mctlw().write(|w| {
        w.ucos16().set_bit();
        // SAFETY: BRF fits UCBRF's 4 bits (both are below 16) and BRS UCBRS's 8 bits.
        unsafe { w.ucbrf().bits(CLOCK.brf).ucbrs().bits(CLOCK.brs) }
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
    // SAFETY: interrupts are still off (enabled at the end of init); the handler is the only
    // other user.
    unsafe { core::ptr::write_volatile(addr_of_mut!(INAS_OVERFLOWS), 0) };

    let dma = p.dma;
    // Trigger 0 is DMAREQ (software).
    dma.dmactl0().write(|w| w.dma0tsel().dma0trig0());
    // A block then never starts in the middle of a CPU read-modify-write.
    dma.dmactl4().write(|w| w.dmarmwdis().set_bit());
    dma.dma0ctl().write(|w| w.dmaen().disable());

    // The MAC sets its own mode at every call; the multiply helpers expect plain products.
    let mpy = p.mpy32;
    // SAFETY: 0 is plain unsigned/signed products: no saturation, fractional or delay.
    mpy.mpy32ctl0().write(|w| unsafe { w.bits(0) });

    // SAFETY: the only handler (TIMER0_A1) and its state are set up, and no critical-section
    // token is alive here.
    unsafe { msp430::interrupt::enable() };

    (
        Board { ta0 },
        Serial { uart, sent: false },
    )
}

/// Resets the whole chip (a software brownout reset), as a power failure would. Used to give
/// every batch a power cycle of its own; flush the UART first.
pub fn power_down(_board: &Board) -> ! {
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

impl embedded_io::ErrorType for Serial {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for Serial {
    /// Blocking: returns once the last byte is in TXBUF.
    fn write(&mut self, bytes: &[u8]) -> Result<usize, Self::Error> {
        self.sent = true;
        let uart = &self.uart;
        for &b in bytes {
            while uart.uca0ifg().read().uctxifg().bit_is_clear() {}
            // SAFETY: UCA0TXBUF takes any byte.
            uart.uca0txbuf().write(|w| unsafe { w.bits(u16::from(b)) });
        }
        Ok(bytes.len())
    }

    /// Returns once what was written has left the shift register.
    fn flush(&mut self) -> Result<(), Self::Error> {
        if self.sent {
            while self.uart.uca0ifg().read().uctxifg().bit_is_clear() {}
            // UCBUSY also counts reception, so wait out the character in the shift register.
            embedded_hal::delay::DelayNs::delay_ns(&mut Delay(()), CHAR_NS);
        }
        Ok(())
    }
}

impl embedded_io::Read for Serial {
    /// The next received byte (one per call), asleep in LPM0 until it comes. Reading
    /// UCA0RXBUF also clears UCOE, UCFE and UCPE (SLAU367 forbids clearing UCOE by software);
    /// a lost byte is caught by the frame CRC.
    ///
    /// LPM0 stops the CPU and MCLK but keeps SMCLK, the UART's baud clock and the cycle
    /// counter's: an idle board on a harvester draws 280 uA instead of 944 uA at 8 MHz
    /// (SLASE54 5.7, 5.8), so on a weak supply it stays powered to hear the host instead of
    /// browning out every few tens of milliseconds.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let Some(slot) = buf.first_mut() else {
            return Ok(0);
        };
        let uart = &self.uart;
        loop {
            // Interrupts stay off from the check to the sleep: a byte that lands in between
            // raises UCRXIFG with UCRXIE set, and the instruction that sleeps also sets GIE, so
            // the interrupt is taken at once and the CPU wakes instead of missing it.
            msp430::interrupt::disable();
            if uart.uca0ifg().read().ucrxifg().bit_is_set() {
                *slot = uart.uca0rxbuf().read().ucrxbuf().bits();
                // SAFETY: the handlers (TIMER0_A1, EUSCI_A0) and their state are set up by
                // `init`, and no critical-section token is alive here.
                unsafe { msp430::interrupt::enable() };
                return Ok(1);
            }
            uart.uca0ie().modify(|_, w| w.ucrxie().set_bit());
            // SAFETY: GIE | CPUOFF: enables interrupts and sleeps until EUSCI_A0 clears CPUOFF
            // in the stacked SR (TIMER0_A1 returns to sleep). The `nop` follows a GIE set, as
            // SLAU367 asks.
            unsafe { asm!("bis.w #0x18, r2", "nop", options(nostack)) };
        }
    }
}

impl embedded_hal::delay::DelayNs for Delay {
    /// At least `ns` (rounded up to MCLK cycles), counted on TA0R in steps of at most 2^15
    /// cycles so that its 16-bit wrap is never missed.
    fn delay_ns(&mut self, ns: u32) {
        // SAFETY: only TA0R is read, which the cycle counter reads too; reads change nothing.
        let ta0 = unsafe { &*pac::Ta0::ptr() };
        // ns * MCLK / 1e9 without 64-bit maths: MCLK is a whole number of MHz.
        let mut left = ns.div_ceil(1000).saturating_mul(MCLK_HZ / 1_000_000);
        while left > 0 {
            let step = left.min(0x8000) as u16;
            let start = ta0.ta0r().read().bits();
            while ta0.ta0r().read().bits().wrapping_sub(start) < step {}
            left -= u32::from(step);
        }
    }
}

impl Board {
    /// Wrapping count of MCLK cycles since `init`.
    pub fn cycles(&mut self) -> u32 {
        let ta0 = &self.ta0;
        msp430::critical_section::with(|_| {
            // SAFETY: the handler, the only writer, cannot run inside the critical section.
            let mut high = unsafe { core::ptr::read_volatile(addr_of!(INAS_OVERFLOWS)) };
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

    /// Moves `tile`'s blocks between NVM word `addr` and the buffer at `ram` (`ram_len` words) by
    /// DMA channel 0, in order, each block in ascending addresses: a transfer cut by a power
    /// failure has done a prefix. Every block is checked to lie in HIFRAM and in the buffer.
    ///
    /// # Safety
    ///
    /// `ram..ram + ram_len` must be a buffer in SRAM or FRAM below 64 KB that the caller holds
    /// exclusively (for a read: written by the DMA) or that nothing writes meanwhile (for a
    /// write: only read).
    unsafe fn transfer(
        &mut self,
        addr: u32,
        tile: &Blocks,
        ram: *const i16,
        ram_len: usize,
        write: bool,
    ) -> Result<(), NvmError> {
        let (rows, cols, run) = (tile.rows(), tile.cols(), tile.run());
        if rows == 0 || cols == 0 || run == 0 {
            return Ok(());
        }
        // `Blocks::new` made the extents agree with the shape: they bound every block. (As few
        // 32-bit operations as can say it: an `Option` chain here cost a hundred cycles.)
        if run > DMA_CHUNK_WORDS || tile.buf_extent() > ram_len || !nvm_holds(addr, tile.nvm_extent())
        {
            return Err(NvmError::at(addr));
        }
        // Whatever a write's source holds must be in memory before the DMA reads it.
        barrier();
        // SAFETY: every block lies in HIFRAM and in the caller's buffer (checked above), which
        // the caller vouched for; HIFRAM is unaddressable by the CPU, so nothing overlaps it.
        // The strides a transfer uses are below NVM_WORDS (the extent says so), so twice them
        // fits the routine's 20-bit arithmetic.
        unsafe {
            if write {
                inas_dma_write(tile, addr, ram);
            } else {
                inas_dma_read(tile, addr, ram);
            }
        }
        // Reads of the destination must not be served from values loaded before the copy.
        barrier();
        Ok(())
    }

    /// One block of `len` words between NVM word `addr` and `ram` (the single-transfer path:
    /// footprints, counters, biases, plan heads, uploads).
    ///
    /// # Safety
    ///
    /// As for `transfer`.
    #[inline(always)]
    unsafe fn block(
        &mut self,
        addr: u32,
        ram: *const i16,
        len: usize,
        write: bool,
    ) -> Result<(), NvmError> {
        let words = len as u32;
        if words > u32::from(DMA_CHUNK_WORDS) {
            // SAFETY: as the caller vouched.
            return unsafe { self.blocks_of(addr, ram, len, write) };
        }
        if addr > NVM_WORDS - words {
            return Err(NvmError::at(addr));
        }
        if len != 0 {
            barrier();
            // SAFETY: the block lies in HIFRAM (checked) and is the caller's buffer.
            unsafe {
                if write {
                    inas_dma_write1(addr, ram, len as u16);
                } else {
                    inas_dma_read1(addr, ram, len as u16);
                }
            }
            barrier();
        }
        Ok(())
    }

    /// `block` for more words than one DMA block moves (cold: this firmware's buffers are at
    /// most 1 K words).
    ///
    /// # Safety
    ///
    /// As for `transfer`.
    #[inline(never)]
    unsafe fn blocks_of(
        &mut self,
        addr: u32,
        ram: *const i16,
        len: usize,
        write: bool,
    ) -> Result<(), NvmError> {
        let chunk = usize::from(DMA_CHUNK_WORDS);
        let mut done = 0;
        while done < len {
            let n = (len - done).min(chunk);
            // SAFETY: a sub-range of what the caller vouched for.
            unsafe { self.block(addr + done as u32, ram.add(done), n, write)? };
            done += n;
        }
        Ok(())
    }
}

// The field offsets `inas_dma_read`/`inas_dma_write` use.
const _: () = {
    let o = Blocks::FIELD_OFFSETS;
    assert!(o[0] == 0 && o[1] == 2 && o[2] == 4 && o[3] == 6 && o[4] == 10);
    assert!(o[5] == 14 && o[6] == 16);
};

extern "C" {
    fn inas_dma_read(tile: *const Blocks, addr: u32, ram: *const i16);
    fn inas_dma_write(tile: *const Blocks, addr: u32, ram: *const i16);
    fn inas_dma_read1(addr: u32, ram: *const i16, words: u16);
    fn inas_dma_write1(addr: u32, ram: *const i16, words: u16);
}

// Moves a tile's blocks with DMA channel 0, one block transfer each (DMA0CTL = 0x1F00: block
// mode, words, both addresses incremented; the CPU halts while a block moves and DMAEN clears
// itself after it). r12 = the `Blocks` (rows 0, cols 2, run 4, nvm_row 6, nvm_col 10, buf_row
// 14, buf_col 16: `repr(C)`), r13:r14 = the NVM word address, r15 = the buffer. The HIFRAM side's
// 20-bit byte address lives in r7 (row start r10) and its doubled strides in r8/r9 across the
// loop; the timer handler touches no register, so no critical section is needed. A word write
// to DMAxSA/DMAxDA clears bits 19:16 (SLAU367P 11.3.2), right for the buffer side; the HIFRAM
// side takes MOVA, which LLVM does not assemble: hand-encoded as `MOVA @Rs, Rd` 0x0s0d,
// `MOVA x(Rs), Rd` 0x0s3d, `MOVA Rs, Rd` 0x0sCd, `ADDA Rs, Rd` 0x0sEd, `MOVA Rs, &abs` 0x0s60;
// r4–r10 are saved with PUSHM.W #7, r10 (0x156a) and restored with POPM.W #7, r10 (0x1764).
core::arch::global_asm!(
    ".section .text.inas_dma,\"ax\",@progbits",
    ".global inas_dma_read",
    ".global inas_dma_write",
    ".global inas_dma_read1",
    ".global inas_dma_write1",
    ".p2align 1",
    ".type inas_dma_write,@function",
    "inas_dma_write:",
    "    .word 0x156a",
    "    mov #1, r4",
    "    jmp 10f",
    ".size inas_dma_write, .-inas_dma_write",
    ".type inas_dma_read,@function",
    "inas_dma_read:",
    "    .word 0x156a",
    "    clr r4",
    // 0x10000 + 2·addr, through the stack into r10.
    "10: rla r13",
    "    rlc r14",
    "    inc r14",
    "    push r14",
    "    push r13",
    "    .word 0x010a",
    "    add #4, r1",
    "    .word 0x0c39, 6",
    "    .word 0x09e9",
    "    .word 0x0c38, 10",
    "    .word 0x08e8",
    "    mov 16(r12), r6",
    "    rla r6",
    "    mov r15, r13",
    "    mov @r12, r11",
    "    tst r4",
    "    jne 5f",
    "1:  .word 0x0ac7",
    "    mov r13, r14",
    "    mov 2(r12), r15",
    "2:  .word 0x0760, {sa}",
    "    mov r14, &{da}",
    "    mov 4(r12), &{sz}",
    "    mov #{go}, &{ctl}",
    "    mov #{req}, &{ctl}",
    "3:  bit #8, &{ctl}",
    "    jeq 3b",
    "    .word 0x08e7",
    "    add r6, r14",
    "    dec r15",
    "    jne 2b",
    "    .word 0x09ea",
    "    add 14(r12), r13",
    "    add 14(r12), r13",
    "    dec r11",
    "    jne 1b",
    "    jmp 9f",
    "5:  .word 0x0ac7",
    "    mov r13, r14",
    "    mov 2(r12), r15",
    "6:  mov r14, &{sa}",
    "    .word 0x0760, {da}",
    "    mov 4(r12), &{sz}",
    "    mov #{go}, &{ctl}",
    "    mov #{req}, &{ctl}",
    "7:  bit #8, &{ctl}",
    "    jeq 7b",
    "    .word 0x08e7",
    "    add r6, r14",
    "    dec r15",
    "    jne 6b",
    "    .word 0x09ea",
    "    add 14(r12), r13",
    "    add 14(r12), r13",
    "    dec r11",
    "    jne 5b",
    "9:  mov #{copy}, &{ctl}",
    "    .word 0x1764",
    "    ret",
    // One block: r12:r13 = the NVM word address, r14 = the buffer, r15 = words (1..=8192).
    ".size inas_dma_read, .-inas_dma_read",
    ".type inas_dma_read1,@function",
    "inas_dma_read1:",
    "    rla r12",
    "    rlc r13",
    "    inc r13",
    "    push r13",
    "    push r12",
    "    .word 0x010d",
    "    add #4, r1",
    "    .word 0x0d60, {sa}",
    "    mov r14, &{da}",
    "    jmp 12f",
    ".size inas_dma_read1, .-inas_dma_read1",
    ".type inas_dma_write1,@function",
    "inas_dma_write1:",
    "    rla r12",
    "    rlc r13",
    "    inc r13",
    "    push r13",
    "    push r12",
    "    .word 0x010d",
    "    add #4, r1",
    "    .word 0x0d60, {da}",
    "    mov r14, &{sa}",
    "12: mov r15, &{sz}",
    "    mov #{go}, &{ctl}",
    "    mov #{req}, &{ctl}",
    "13: bit #8, &{ctl}",
    "    jeq 13b",
    "    mov #{copy}, &{ctl}",
    "    ret",
    ".size inas_dma_write1, .-inas_dma_write1",
    ctl = const 0x0510,
    sa = const 0x0512,
    da = const 0x0516,
    sz = const 0x051A,
    copy = const DMA_COPY,
    go = const DMA_COPY | DMAEN,
    req = const DMA_COPY | DMAEN | DMAREQ,
);

/// DMA0CTL (SLAU367P 11.3.1): block transfer (DMADT = 1), word to word, both addresses
/// incremented; enable; request.
const DMA_COPY: u16 = (1 << 12) | (3 << 10) | (3 << 8);
const DMAEN: u16 = 0x0010;
const DMAREQ: u16 = 0x0001;

/// A compiler barrier: memory a DMA may touch is not cached in registers across it.
fn barrier() {
    // SAFETY: an empty asm block; without `nomem` it orders all memory accesses around it.
    unsafe { asm!("", options(nostack, preserves_flags)) };
}

/// The engine's NVM on this board: word address a is at byte address 0x10000 + 2a (HIFRAM,
/// which only the DMA reaches: `inas_dma_read`/`inas_dma_write` form the address).
impl Nvm for Board {
    type Error = NvmError;

    fn read(&mut self, _block: Block, addr: u32, buf: &mut [i16]) -> Result<(), NvmError> {
        // SAFETY: the buffer is borrowed exclusively for the call.
        unsafe { self.block(addr, buf.as_mut_ptr(), buf.len(), false) }
    }

    fn write(&mut self, _block: Block, addr: u32, data: &[i16]) -> Result<(), NvmError> {
        // SAFETY: the DMA only reads the slice.
        unsafe { self.block(addr, data.as_ptr(), data.len(), true) }
    }

    fn read_blocks(
        &mut self,
        _block: Block,
        addr: u32,
        tile: &Blocks,
        buf: &mut [i16],
    ) -> Result<(), NvmError> {
        // SAFETY: as `read`.
        unsafe { self.transfer(addr, tile, buf.as_mut_ptr(), buf.len(), false) }
    }

    fn write_blocks(
        &mut self,
        _block: Block,
        addr: u32,
        tile: &Blocks,
        data: &[i16],
    ) -> Result<(), NvmError> {
        // SAFETY: as `write`.
        unsafe { self.transfer(addr, tile, data.as_ptr(), data.len(), true) }
    }
}

/// Whether NVM words `addr..addr + words` exist. Both below 2^17 (NVM_WORDS is), their sum
/// cannot wrap: a test of the high words and one 32-bit add and compare (the two-sided 32-bit
/// form cost about 40 cycles a transfer).
#[inline(always)]
fn nvm_holds(addr: u32, words: u32) -> bool {
    const _: () = assert!(NVM_WORDS < 1 << 17);
    ((addr | words) >> 17) == 0 && addr + words <= NVM_WORDS
}

/// MPY32 registers the MAC drives (SLAU367P Table 5-6).
const MACS: u16 = 0x04C6;
const OP2: u16 = 0x04C8;
const RES0: u16 = 0x04CA;
const RES1: u16 = 0x04CC;
const MPY32CTL0: u16 = 0x04EC;
/// Saturation on (the accumulator is `q15::Acc`: i32, saturating at every step, SLAU367P
/// §5.2.4.2), writes held until a result is ready (MPYDLYWRTEN), MPYC = 0: the preload, the
/// rounding constant, is never negative, and MPYC must carry its sign.
const MAC_CTL: u16 = 0x0008 | 0x0100;
/// Fractional mode: result reads return the sum doubled (SLAU367P §5.2.4.1).
const MPYFRAC: u16 = 0x0004;

/// The MAC on MPY32: exactly `q15::tile` and `q15::pool`. For each output the rounding
/// constant is preloaded into RES1:RES0, every product accumulates with MACS under
/// saturation, and the sum is read once; a whole output tile is one call, handed the
/// `MacTile` itself (its `walk` strides are what the routine adds). Each call sets MPY32CTL0
/// itself: the multiply helpers of `inas-mspabi` (hardware build) leave it at 0. No interrupt
/// handler multiplies, so nothing else touches MPY32 between a preload and its read.
impl Mac for Board {
    type Error = NvmError;

    #[inline(always)]
    fn mac(
        &mut self,
        x: &[i16],
        w: &[i16],
        out: &mut [i16],
        tile: &MacTile,
        relu: bool,
    ) -> Result<(), NvmError> {
        // The window's validity, the tile's emptiness and the shift, tested as one word
        // (`MacTile::new` made it): a bad window is an error, an empty tile done.
        let status = tile.status();
        if status >= MacTile::NOTHING {
            return if status >= MacTile::BAD_WINDOW {
                Err(NvmError::at(u32::MAX))
            } else {
                Ok(())
            };
        }
        // `MacTile::new` made the extents agree with the shape, so they bound every access. A
        // slice here holds at most 32 K bytes, so an extent past 16 bits fits none: each check
        // is a word test and a word compare (a 32-bit `&` chain cost about 60 cycles a call).
        let fits = |len: usize, extent: u32| (extent >> 16) == 0 && len as u16 >= extent as u16;
        if !(fits(x.len(), tile.x_extent())
            && fits(w.len(), tile.w_extent())
            && fits(out.len(), tile.o_extent()))
        {
            return Err(NvmError::at(u32::MAX));
        }
        // Below `NOTHING` the status is the shift.
        self.finish_key(status | u16::from(relu) << 8);
        // SAFETY: the extents bound every read of x and w and every write of out (checked
        // above), and the tile's counts are all at least 1. The routine touches only MPY32
        // registers, those buffers, `INAS_JOB` and the registers it saves or may clobber.
        unsafe { inas_mac_tile(x.as_ptr(), w.as_ptr(), out.as_mut_ptr(), tile) };
        Ok(())
    }

    #[inline(always)]
    fn pool(
        &mut self,
        x: &[i16],
        w: i16,
        out: &mut [i16],
        pixels: u16,
        shift: u8,
        relu: bool,
    ) -> Result<(), NvmError> {
        let channels = out.len() as u16;
        if pixels == 0 || shift > 31 || u32::from(pixels) * u32::from(channels) > x.len() as u32 {
            return Err(NvmError::at(u32::MAX));
        }
        if channels == 0 {
            return Ok(());
        }
        self.finish_key(u16::from(shift) | u16::from(relu) << 8);
        // A channel is `pixels` products, `channels` words apart (`skip` counts from the end
        // of one).
        // SAFETY: only `Board`'s methods touch the job, and a `Board` is the only one (`init`
        // makes it once); no handler reads it.
        let job = unsafe { &mut *addr_of_mut!(INAS_JOB) };
        job.rows = pixels;
        job.skip = (channels - 1).wrapping_mul(2);
        job.tm = channels;
        // SAFETY: pixels · channels words of x are read (checked above) and `channels` of out
        // written; the job's counts are at least 1. As for `mac`, the routine touches only
        // MPY32 registers, those buffers, the job and the registers it saves or may clobber.
        unsafe { inas_pool_tile(x.as_ptr(), w, out.as_mut_ptr()) };
        Ok(())
    }
}

impl Board {
    /// Sets what finishing an output takes, unless it is set already (per layer at most):
    /// `key` is `shift | relu << 8`, shift 0..=31.
    #[inline(always)]
    fn finish_key(&mut self, key: u16) {
        // SAFETY: as in `pool`.
        if key != unsafe { (*addr_of!(INAS_JOB)).finish_key } {
            refinish(key);
        }
    }
}

/// What the MAC routines read besides the tile: how to finish an output (`inas_finish`), a GAP
/// tile's geometry and the MAC's note of the weights' start. One static, read by absolute
/// address: the MAC routine needs all twelve registers for the tile's walk. Offsets are the
/// assembly's operands (`offset_of!`).
#[repr(C)]
struct Job {
    /// The accumulator's preload, 2^(shift − 1), low and high word.
    pre: [u16; 2],
    ctl: u16,
    /// 1: v = RES1 >> k (shift ≥ 16); 0: fractional read, k = 15 − shift more bits to take.
    high: u16,
    k: u16,
    /// ±2^shift: the range of RES1 (fractional) whose shifted value fits i16.
    bound: u16,
    nbound: u16,
    relu: u16,
    /// `shift | relu << 8` of the finishing fields, or `NO_FINISH`.
    finish_key: u16,
    /// GAP: pixels per channel, bytes between a channel's pixels, channels.
    rows: u16,
    skip: u16,
    tm: u16,
    /// The weights of output channel 0 (the MAC routine's own note).
    w0: u16,
}

/// A `finish_key` no (shift, relu) has.
const NO_FINISH: u16 = u16::MAX;

/// In `.data`: a boot starts with no finishing set (a zeroed job would claim shift 0).
#[no_mangle]
static mut INAS_JOB: Job = Job {
    pre: [0; 2],
    ctl: 0,
    high: 0,
    k: 0,
    bound: 0,
    nbound: 0,
    relu: 0,
    finish_key: NO_FINISH,
    rows: 0,
    skip: 0,
    tm: 0,
    w0: 0,
};

#[inline(never)]
fn refinish(key: u16) {
    let shift = (key & 31) as u8;
    let relu = key >> 8 != 0;
    let high = shift >= 16;
    // Fractional reads return the sum doubled (SLAU367P §5.2.4.1): with shift ≤ 15 the
    // result is sat16(read >> (shift + 1)), so RES1 directly for shift 15.
    let (ctl, k) = if high {
        (MAC_CTL, u16::from(shift - 16))
    } else {
        (MAC_CTL | MPYFRAC, 15 - u16::from(shift))
    };
    // The rounding constant 2^(shift − 1) and 2^shift from a table: a variable shift is a
    // loop on this CPU.
    let round = ROUND[usize::from(shift)];
    let bound = if high { 0 } else { (2 * round).max(1) as u16 };
    // SAFETY: as in `Board::pool`.
    let job = unsafe { &mut *addr_of_mut!(INAS_JOB) };
    job.pre = [round as u16, (round >> 16) as u16];
    job.ctl = ctl;
    job.high = u16::from(high);
    job.k = k;
    job.bound = bound;
    job.nbound = bound.wrapping_neg();
    job.relu = u16::from(relu);
    job.finish_key = key;
}

/// 2^(shift − 1) for shift 0..=31 (0 for shift 0): the accumulator's rounding preload. A
/// `static`, so an index reads it in place (a `const` array is copied to the stack first).
static ROUND: [u32; 32] = {
    let mut t = [0u32; 32];
    let mut s = 1;
    while s < 32 {
        t[s] = 1 << (s - 1);
        s += 1;
    }
    t
};

// The window's row count is the tile's first word: the routine reads it as @r15 (2 cycles, not
// the 3 of an indexed read, once per output).
const _: () = assert!(MacTile::FIELD_OFFSETS[0] == 0);

extern "C" {
    fn inas_mac_tile(x: *const i16, w: *const i16, out: *mut i16, tile: *const MacTile);
    fn inas_pool_tile(x: *const i16, w: i16, out: *mut i16);
}

// One output tile: r12 = x (pixel (0, 0)'s window), r13 = w (output channel 0's weights; the
// next channel's follow, and every pixel uses the same), r14 = out, r15 = the `MacTile` (its
// field offsets are the t_* operands; the window's rows at 0), the finishing in `INAS_JOB`
// (j_* offsets).
// Per output: preload RES1:RES0 and MPY32CTL0 (MPYC = 0, the preload's sign), MACS/OP2 pairs
// (LLVM assembles no `@Rn+ -> &abs`: `.word 0x4cb2` is MOV @r12+, &MACS and `.word 0x4db2` MOV
// @r13+, &OP2), then `inas_finish`. A MACS write follows its OP2 by 4 cycles and RES is read
// at least 6 after the last OP2, beyond the 3-cycle 16x16 latency (SLAU367P Table 5-5).
// Registers are saved with PUSHM.W #7, r10 (0x156a) and restored with POPM.W #7, r10 (0x1764):
// 9 cycles each way against 21 and 14 for single pushes and pops (SLAU367P Table 4-17a).
core::arch::global_asm!(
    ".section .text.inas_mac_tile,\"ax\",@progbits",
    ".global inas_mac_tile",
    ".p2align 1",
    ".type inas_mac_tile,@function",
    "inas_mac_tile:",
    "    .word 0x156a",
    "    mov r13, &{job}+{j_w0}",
    "    mov r12, r10",
    "    mov r14, r9",
    "    mov {t_out_rows}(r15), r8",
    // A row of pixels: r10 = its first window, r9 = its first outputs.
    "1:  mov r10, r5",
    "    mov r9, r14",
    "    mov {t_out_cols}(r15), r4",
    // A pixel: r5 = its window, r14 = its outputs.
    "2:  mov &{job}+{j_w0}, r13",
    "    mov {t_tm}(r15), r6",
    // An output.
    "3:  mov r5, r12",
    "    mov &{job}+{j_pre0}, &{res0}",
    "    mov &{job}+{j_pre1}, &{res1}",
    "    mov &{job}+{j_ctl}, &{ctl0}",
    "    mov @r15, r7",
    "4:  mov {t_row}(r15), r11",
    "    bit #1, r11",
    "    jeq 5f",
    "    .word 0x4cb2, {macs}",
    "    .word 0x4db2, {op2}",
    "    dec r11",
    "    jeq 6f",
    "5:  .word 0x4cb2, {macs}",
    "    .word 0x4db2, {op2}",
    "    .word 0x4cb2, {macs}",
    "    .word 0x4db2, {op2}",
    "    sub #2, r11",
    "    jne 5b",
    "6:  add {t_skip}(r15), r12",
    "    dec r7",
    "    jne 4b",
    "    call #inas_finish",
    "    dec r6",
    "    jne 3b",
    "    add {t_x_col}(r15), r5",
    "    add {t_o_skip}(r15), r14",
    "    dec r4",
    "    jne 2b",
    "    add {t_x_row}(r15), r10",
    "    add {t_o_row}(r15), r9",
    "    dec r8",
    "    jne 1b",
    "    .word 0x1764",
    "    ret",
    // One GAP tile: r12 = x (channel 0 of pixel 0), r13 = the pooling weight, r14 = out; the
    // job's `tm` channels of `rows` pixels each, `skip` bytes apart after each. MOV @r12+,
    // &OP2 is hand-encoded (0x4cb2), as above.
    ".size inas_mac_tile, .-inas_mac_tile",
    ".global inas_pool_tile",
    ".type inas_pool_tile,@function",
    "inas_pool_tile:",
    "    push r9",
    "    push r8",
    "    push r7",
    "    push r6",
    "    push r5",
    "    mov &{job}+{j_skip}, r9",
    "    mov &{job}+{j_tm}, r6",
    "    mov r12, r5",
    "20: mov r5, r12",
    "    mov &{job}+{j_pre0}, &{res0}",
    "    mov &{job}+{j_pre1}, &{res1}",
    "    mov &{job}+{j_ctl}, &{ctl0}",
    "    mov &{job}+{j_rows}, r8",
    // The weight is OP1 of every product: written once, each OP2 write then multiplies it
    // and accumulates again (SLAU367P §5.2.1: OP1 and the operation stay until rewritten).
    "    mov r13, &{macs}",
    "21: .word 0x4cb2, {op2}",
    "    add r9, r12",
    "    dec r8",
    "    jne 21b",
    "    call #inas_finish",
    "    incd r5",
    "    dec r6",
    "    jne 20b",
    "    pop r5",
    "    pop r6",
    "    pop r7",
    "    pop r8",
    "    pop r9",
    "    ret",
    // An output's end, for both routines: the sum in MPY32 finished as the job says
    // (`q15::Acc::finish`), added with saturation to *r14 (V is SR bit 8), ReLU if asked, stored;
    // r14 moves to the next output. Clobbers r7, r11, r12. RES is read at least 6 cycles after
    // the caller's last OP2 write.
    ".size inas_pool_tile, .-inas_pool_tile",
    ".type inas_finish,@function",
    "inas_finish:",
    "    mov &{res1}, r11",
    "    mov &{job}+{j_k}, r7",
    "    tst r7",
    "    jeq 38f",
    "    tst &{job}+{j_high}",
    "    jeq 31f",
    "30: rra r11",
    "    dec r7",
    "    jne 30b",
    "    jmp 38f",
    "31: cmp &{job}+{j_bound}, r11",
    "    jge 32f",
    "    cmp &{job}+{j_nbound}, r11",
    "    jl 33f",
    "    mov &{res0}, r12",
    "34: rla r12",
    "    rlc r11",
    "    dec r7",
    "    jne 34b",
    "    jmp 38f",
    "32: mov #0x7fff, r11",
    "    jmp 38f",
    "33: mov #0x8000, r11",
    "38: mov @r14, r7",
    "    add r11, r7",
    "    mov r2, r12",
    "    bit #0x100, r12",
    "    jeq 39f",
    "    mov #0x7fff, r7",
    "    tst r11",
    "    jge 39f",
    "    mov #0x8000, r7",
    "39: tst &{job}+{j_relu}",
    "    jeq 40f",
    "    tst r7",
    "    jge 40f",
    "    clr r7",
    "40: mov r7, 0(r14)",
    "    incd r14",
    "    ret",
    ".size inas_finish, .-inas_finish",
    job = sym INAS_JOB,
    j_pre0 = const core::mem::offset_of!(Job, pre),
    j_pre1 = const core::mem::offset_of!(Job, pre) + 2,
    j_ctl = const core::mem::offset_of!(Job, ctl),
    j_high = const core::mem::offset_of!(Job, high),
    j_k = const core::mem::offset_of!(Job, k),
    j_bound = const core::mem::offset_of!(Job, bound),
    j_nbound = const core::mem::offset_of!(Job, nbound),
    j_relu = const core::mem::offset_of!(Job, relu),
    j_rows = const core::mem::offset_of!(Job, rows),
    j_skip = const core::mem::offset_of!(Job, skip),
    j_tm = const core::mem::offset_of!(Job, tm),
    j_w0 = const core::mem::offset_of!(Job, w0),
    t_row = const MacTile::FIELD_OFFSETS[1],
    t_tm = const MacTile::FIELD_OFFSETS[2],
    t_out_rows = const MacTile::FIELD_OFFSETS[3],
    t_out_cols = const MacTile::FIELD_OFFSETS[4],
    t_skip = const MacTile::FIELD_OFFSETS[5],
    t_x_col = const MacTile::FIELD_OFFSETS[6],
    t_x_row = const MacTile::FIELD_OFFSETS[7],
    t_o_skip = const MacTile::FIELD_OFFSETS[8],
    t_o_row = const MacTile::FIELD_OFFSETS[9],
    res0 = const RES0,
    res1 = const RES1,
    ctl0 = const MPY32CTL0,
    macs = const MACS,
    op2 = const OP2,
);

impl Device for Board {
    fn cycles(&mut self) -> u32 {
        Board::cycles(self)
    }

    /// The session lives in FRAM (`.persistent`).
    fn persist_barrier(&mut self) {
        barrier();
    }
}

// Timer_A0 overflow: TA0IV reads 0x0E for TAIFG, and the read clears it. Written in assembly so
// that it touches no register: the DMA routine keeps 20-bit addresses in registers, which a
// handler's 16-bit PUSH/POP would cut to 16 bits.
core::arch::global_asm!(
    ".section .text.TIMER0_A1,\"ax\",@progbits",
    ".global TIMER0_A1",
    ".p2align 1",
    ".type TIMER0_A1,@function",
    "TIMER0_A1:",
    "    cmp #14, &{ta0iv}",
    "    jne 1f",
    "    inc &INAS_OVERFLOWS",
    "1:  reti",
    ".size TIMER0_A1, .-TIMER0_A1",
    ta0iv = const 0x036E,
);

// eUSCI_A0 receive: wakes the CPU that `Serial::read` put to sleep. UCRXIE goes off (the
// byte stays in UCA0RXBUF with UCRXIFG set for the main loop to read) and the SR pushed at entry
// loses CPUOFF, so `reti` returns awake. Assembly, like TIMER0_A1, touches no register.
core::arch::global_asm!(
    ".section .text.EUSCI_A0,\"ax\",@progbits",
    ".global EUSCI_A0",
    ".p2align 1",
    ".type EUSCI_A0,@function",
    "EUSCI_A0:",
    "    bic #1, &{uca0ie}",
    "    bic #0x10, 0(r1)",
    "    reti",
    ".size EUSCI_A0, .-EUSCI_A0",
    uca0ie = const 0x05DA,
);
