//! The bus: memory pages, peripheral registers and who owns them, FRAM wait states, and the
//! access log of what no model covers.

use super::*;

impl Machine {
    #[cold]
    pub(super) fn read_slow(&mut self, a: u32, byte: bool) -> u16 {
        match self.mem.page(a) {
            Page::Peripherals => {
                let w = self.periph_read(a as u16 & !1, byte);
                if byte {
                    if a & 1 != 0 {
                        w >> 8
                    } else {
                        w & 0xFF
                    }
                } else {
                    w
                }
            }
            Page::Vacant => {
                AccessLog::note(&mut self.log.vacant, a, false, self.pc_now);
                // SLAU367 1.17.1: vacant memory reads as 0x3FFF (JMP $).
                if byte {
                    if a & 1 != 0 {
                        0x3F
                    } else {
                        0xFF
                    }
                } else {
                    0x3FFF
                }
            }
            _ => self.mem.word(a),
        }
    }

    #[cold]
    pub(super) fn write_slow(&mut self, a: u32, v: u16, byte: bool) {
        match self.mem.page(a) {
            Page::Peripherals => self.periph_write(a as u16, v, byte),
            Page::Vacant => AccessLog::note(&mut self.log.vacant, a, true, self.pc_now),
            Page::Rom => AccessLog::note(&mut self.log.rom_writes, a, true, self.pc_now),
            _ => {}
        }
    }

    /// A peripheral word read at even address `a` (bytes are cut out by the caller).
    pub(super) fn periph_read(&mut self, a: u16, byte: bool) -> u16 {
        let c = self.clocks;
        let v = match periph::owner(a) {
            Owner::Sys => self.p.sys.read(a),
            Owner::Clock => self.p.cs.read(a),
            Owner::Timer => {
                self.p
                    .timer
                    .sync(self.cycles, c.mclk_hz, c.smclk_hz, c.aclk_hz);
                let v = self.p.timer.read(a);
                self.next_event = self.cycles;
                v
            }
            Owner::Mpy => {
                if self.p.mpy.read_early(a, self.access_time()) {
                    AccessLog::note(&mut self.log.timing, u32::from(a), false, self.pc_now);
                }
                self.p.mpy.read(a)
            }
            Owner::Dma => self.p.dma.read(a),
            Owner::Uart => {
                let cc = self.uart_char_cycles();
                let pins = self.p.uart_pins();
                self.p.uart.sync(self.cycles, cc, pins);
                let v = self.p.uart.read(a);
                self.next_event = self.cycles;
                v
            }
            Owner::Plain => u16::from_le_bytes([
                self.p.plain[usize::from(a)],
                self.p.plain[usize::from(a) + 1],
            ]),
            Owner::Unmodelled => {
                AccessLog::note(&mut self.log.unmodelled, u32::from(a), false, self.pc_now);
                u16::from_le_bytes([
                    self.p.plain[usize::from(a)],
                    self.p.plain[usize::from(a) + 1],
                ])
            }
        };
        let _ = byte;
        self.update_irq();
        v
    }

    /// When the instruction executing now makes its bus access: its last cycle (the MPY32's
    /// result timing is counted from there; SLAU367P Table 5-5).
    pub(super) fn access_time(&self) -> u64 {
        self.cycles + u64::from(self.icache.get(self.pc_now).cycles)
    }

    /// A side-effect-free view of a word register, for merging byte writes.
    pub(super) fn periph_peek(&mut self, a: u16) -> u16 {
        let side_effects = matches!(a, 0x019E | 0x036E | 0x050E | 0x05CC | 0x05DE);
        if side_effects {
            0
        } else {
            match periph::owner(a) {
                Owner::Sys => self.p.sys.read(a),
                Owner::Clock => self.p.cs.read(a),
                Owner::Timer => {
                    let c = self.clocks;
                    self.p
                        .timer
                        .sync(self.cycles, c.mclk_hz, c.smclk_hz, c.aclk_hz);
                    self.p.timer.read(a)
                }
                Owner::Mpy => self.p.mpy.read(a),
                Owner::Dma => self.p.dma.read(a),
                Owner::Uart => self.p.uart.read(a),
                Owner::Plain | Owner::Unmodelled => u16::from_le_bytes([
                    self.p.plain[usize::from(a)],
                    self.p.plain[usize::from(a) + 1],
                ]),
            }
        }
    }

    pub(super) fn periph_write(&mut self, addr: u16, v: u16, byte: bool) {
        let a = addr & !1;
        let owner = periph::owner(a);
        if matches!(owner, Owner::Plain | Owner::Unmodelled) {
            if owner == Owner::Unmodelled {
                AccessLog::note(&mut self.log.unmodelled, u32::from(addr), true, self.pc_now);
            }
            if byte {
                self.p.plain[usize::from(addr)] = v as u8;
            } else {
                let [lo, hi] = v.to_le_bytes();
                self.p.plain[usize::from(a)] = lo;
                self.p.plain[usize::from(a) + 1] = hi;
            }
            return;
        }
        // Byte writes reach word registers as a word with the other half unchanged; the
        // password registers need to know which half was written.
        let hi_half = byte && addr & 1 != 0;
        let lo_half = byte && addr & 1 == 0;
        let word = if byte && owner != Owner::Sys {
            let old = self.periph_peek(a);
            if hi_half {
                (old & 0x00FF) | (v << 8)
            } else {
                (old & 0xFF00) | (v & 0xFF)
            }
        } else if hi_half {
            v << 8
        } else {
            v
        };
        let c = self.clocks;
        match owner {
            Owner::Sys => {
                if let Some(cause) = self.p.sys.write(a, word, lo_half, hi_half) {
                    self.reset_request = Some(cause);
                }
                if a == periph::sys::WDTCTL {
                    if self.p.sys.take_wdt_clear() {
                        self.wdt_restart();
                    } else {
                        self.wdt_restart_keep();
                    }
                }
                if a == periph::sys::FRCTL0 {
                    self.update_wait_states();
                }
            }
            Owner::Clock => {
                if self.p.cs.write(a, word) {
                    self.clock_changed();
                }
            }
            Owner::Timer => {
                self.p
                    .timer
                    .sync(self.cycles, c.mclk_hz, c.smclk_hz, c.aclk_hz);
                self.p.timer.write(a, word);
            }
            Owner::Mpy => {
                match self.p.mpy.write_timing(self.access_time()) {
                    mpy::Timing::Ready => {}
                    // MPYDLYWRTEN holds the write, and the CPU with it, until the result is in.
                    mpy::Timing::Stall(n) => self.cycles += n,
                    mpy::Timing::Early => {
                        AccessLog::note(&mut self.log.timing, u32::from(a), true, self.pc_now)
                    }
                }
                let at = self.access_time();
                self.p.mpy.write(a, word, lo_half, at);
            }
            Owner::Dma => {
                if let dma::Kick::Start(n) = self.p.dma.write(a, word) {
                    self.dma_start(n);
                }
            }
            Owner::Uart => {
                let cc = self.uart_char_cycles();
                let pins = self.p.uart_pins();
                self.p.uart.sync(self.cycles, cc, pins);
                self.p.uart.write(a, word, self.cycles, cc);
            }
            Owner::Plain | Owner::Unmodelled => {}
        }
        self.update_irq();
        self.next_event = self.cycles;
    }
}
