//! DMA controller registers (SLAU367 chapter 11), channels 0..2. The transfers themselves
//! run in the machine, which owns the bus; this holds the registers and decides what a write
//! starts.

pub const BASE: u16 = 0x0500;
pub const END: u16 = 0x0540;
pub const CHANNELS: usize = 3;

pub const DMAREQ: u16 = 1 << 0;
pub const DMAABORT: u16 = 1 << 1;
pub const DMAIE: u16 = 1 << 2;
pub const DMAIFG: u16 = 1 << 3;
pub const DMAEN: u16 = 1 << 4;
pub const DMASRCBYTE: u16 = 1 << 6;
pub const DMADSTBYTE: u16 = 1 << 7;

#[derive(Clone, Copy, Debug, Default)]
pub struct Channel {
    pub ctl: u16,
    pub sa: u32,
    pub da: u32,
    pub sz: u16,
}

impl Channel {
    /// Transfer mode (DMADT): 0 single, 1 block, 2-3 burst-block, 4 repeated single,
    /// 5 repeated block, 6-7 repeated burst-block.
    pub fn mode(&self) -> u16 {
        self.ctl >> 12 & 7
    }

    /// Address step after each transfer for an increment field (DMASRCINCR/DMADSTINCR).
    pub fn step(incr: u16, byte: bool) -> i32 {
        let size = if byte { 1 } else { 2 };
        match incr & 3 {
            2 => -size,
            3 => size,
            _ => 0,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Dma {
    pub ctl: [u16; 5],
    pub ch: [Channel; CHANNELS],
}

/// What a register write asks the machine to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kick {
    None,
    /// Software request (DMAREQ with trigger 0) on this channel.
    Start(usize),
}

impl Dma {
    pub fn has(addr: u16) -> bool {
        matches!(addr - BASE, 0x00..=0x08 | 0x0E)
            || ((BASE + 0x10..END).contains(&addr) && (addr & 0xF) <= 0x0A)
    }

    /// The trigger select of channel `n` (DMAxTSEL).
    pub fn trigger(&self, n: usize) -> u16 {
        let reg = self.ctl[n / 2];
        if n.is_multiple_of(2) {
            reg & 0x1F
        } else {
            reg >> 8 & 0x1F
        }
    }

    pub fn irq(&self) -> bool {
        self.ch
            .iter()
            .any(|c| c.ctl & (DMAIE | DMAIFG) == (DMAIE | DMAIFG))
    }

    pub fn read(&mut self, addr: u16) -> u16 {
        let o = addr - BASE;
        if o < 0x10 {
            return match o {
                0x0E => {
                    // DMAIV: 2 * (channel + 1) for the lowest pending enabled channel; clears it.
                    for (i, c) in self.ch.iter_mut().enumerate() {
                        if c.ctl & (DMAIE | DMAIFG) == (DMAIE | DMAIFG) {
                            c.ctl &= !DMAIFG;
                            return 2 * (i as u16 + 1);
                        }
                    }
                    0
                }
                _ => self.ctl[usize::from(o / 2)],
            };
        }
        let c = &self.ch[usize::from(o / 0x10 - 1)];
        match o & 0xF {
            0x0 => c.ctl,
            0x2 => c.sa as u16,
            0x4 => (c.sa >> 16) as u16,
            0x6 => c.da as u16,
            0x8 => (c.da >> 16) as u16,
            0xA => c.sz,
            _ => 0,
        }
    }

    pub fn write(&mut self, addr: u16, v: u16) -> Kick {
        let o = addr - BASE;
        if o < 0x10 {
            if o <= 0x08 {
                self.ctl[usize::from(o / 2)] = v;
            }
            return Kick::None;
        }
        let n = usize::from(o / 0x10 - 1);
        let c = &mut self.ch[n];
        match o & 0xF {
            0x0 => {
                // DMAREQ and DMAABORT are write-to-act; DMAREQ self-clears.
                c.ctl = v & !DMAREQ;
                if v & DMAREQ != 0 && v & DMAEN != 0 {
                    return Kick::Start(n);
                }
            }
            // A word write to the low half clears bits 19:16 (SLAU367 11.3.2, DMAxSA).
            0x2 => c.sa = u32::from(v),
            0x4 => c.sa = (c.sa & 0xFFFF) | (u32::from(v & 0xF) << 16),
            0x6 => c.da = u32::from(v),
            0x8 => c.da = (c.da & 0xFFFF) | (u32::from(v & 0xF) << 16),
            0xA => c.sz = v,
            _ => {}
        }
        Kick::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_writes_clear_the_high_address_bits_and_high_writes_set_them() {
        let mut d = Dma::default();
        d.write(0x0512, 0x1234);
        d.write(0x0514, 0x0004);
        assert_eq!(d.ch[0].sa, 0x4_1234);
        d.write(0x0512, 0x5678);
        assert_eq!(d.ch[0].sa, 0x5678);
        assert_eq!(d.read(0x0514), 0);
    }

    #[test]
    fn dmareq_with_dmaen_starts_the_channel_and_reads_back_clear() {
        let mut d = Dma::default();
        assert_eq!(d.write(0x0510, 0x1000 | DMAEN), Kick::None);
        assert_eq!(d.write(0x0510, 0x1000 | DMAEN | DMAREQ), Kick::Start(0));
        assert_eq!(d.read(0x0510) & DMAREQ, 0);
        assert_eq!(d.ch[0].mode(), 1);
    }
}
