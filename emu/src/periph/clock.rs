//! CS (clock system, SLAU367 chapter 3): which oscillator drives MCLK, SMCLK and ACLK, and how
//! fast. The password-protected registers CSCTL1..6 change only while CSCTL0 is unlocked.

use crate::platform::Clock;

pub const CSCTL0: u16 = 0x0160;
pub const CSCTL6: u16 = 0x016C;
const CSKEY: u16 = 0xA5;
/// CSCTL0's high byte reads as 0x96 (SLAU367 3.3.1).
const CSKEY_READ: u16 = 0x96;

/// The three clock frequencies in Hz.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clocks {
    pub mclk_hz: u32,
    pub smclk_hz: u32,
    pub aclk_hz: u32,
}

/// CS registers.
#[derive(Clone, Debug)]
pub struct Cs {
    unlocked: bool,
    /// CSCTL1..CSCTL6.
    ctl: [u16; 6],
    /// Set when a selected source does not exist on the board (logged by the machine).
    pub missing_source: bool,
}

impl Default for Cs {
    fn default() -> Self {
        Cs::new()
    }
}

impl Cs {
    /// Reset values (SLAU367 3.3): DCO 8 MHz (DCORSEL 0, DCOFSEL 6), MCLK = SMCLK = DCO/8,
    /// ACLK = LFXT.
    pub fn new() -> Cs {
        Cs {
            unlocked: false,
            ctl: [0x000C, 0x0033, 0x0033, 0xCDC9, 0x0000, 0x0007],
            missing_source: false,
        }
    }

    pub fn read(&self, addr: u16) -> u16 {
        match addr {
            CSCTL0 => CSKEY_READ << 8,
            _ => self.ctl[usize::from((addr - CSCTL0) / 2 - 1)],
        }
    }

    /// A word write; returns true if the clocks may have changed.
    pub fn write(&mut self, addr: u16, v: u16) -> bool {
        if addr == CSCTL0 {
            self.unlocked = v >> 8 == CSKEY;
            return false;
        }
        if !self.unlocked {
            return false;
        }
        let i = usize::from((addr - CSCTL0) / 2 - 1);
        self.ctl[i] = v;
        i <= 2
    }

    /// The DCO frequency.
    pub fn dco_hz(&self, data: &Clock) -> u32 {
        let dcorsel = usize::from(self.ctl[0] >> 6 & 1);
        let dcofsel = usize::from(self.ctl[0] >> 1 & 7);
        data.dco_hz[dcorsel][dcofsel]
    }

    fn source_hz(&mut self, sel: u16, data: &Clock) -> u32 {
        match sel {
            0 => data.lfxt_hz,
            1 => data.vlo_hz,
            2 => data.modosc_hz / 128,
            3 => self.dco_hz(data),
            4 => data.modosc_hz,
            // HFXT: no high-frequency crystal on the LaunchPad; the CS falls back to MODOSC
            // (SLAU367 3.2.12, oscillator fault fail-safe).
            _ => {
                self.missing_source = true;
                data.modosc_hz
            }
        }
    }

    pub fn clocks(&mut self, data: &Clock) -> Clocks {
        let sel = self.ctl[1];
        let div = self.ctl[2];
        let divide = |hz: u32, d: u16| hz >> (d & 7).min(5);
        let m = self.source_hz(sel & 7, data);
        let s = self.source_hz(sel >> 4 & 7, data);
        let a = self.source_hz(sel >> 8 & 7, data);
        Clocks {
            mclk_hz: divide(m, div).max(1),
            smclk_hz: divide(s, div >> 4).max(1),
            aclk_hz: divide(a, div >> 8).max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::Platform;

    #[test]
    fn reset_clocks_are_1_mhz_and_the_board_setup_gives_8_mhz() {
        let p = Platform::fr5994();
        let mut cs = Cs::new();
        let c = cs.clocks(&p.clock);
        assert_eq!((c.mclk_hz, c.smclk_hz), (1_000_000, 1_000_000));
        // Locked: ignored.
        assert!(!cs.write(0x0162, 0x0046));
        assert_eq!(cs.clocks(&p.clock).mclk_hz, 1_000_000);
        cs.write(CSCTL0, 0xA500);
        cs.write(0x0162, 0x0046); // DCORSEL | DCOFSEL_3
        cs.write(0x0164, 0x0133); // SELA = VLO, SELS = SELM = DCO
        cs.write(0x0166, 0x0000); // all /1
        cs.write(CSCTL0, 0x0000);
        let c = cs.clocks(&p.clock);
        assert_eq!(
            c,
            Clocks {
                mclk_hz: 8_000_000,
                smclk_hz: 8_000_000,
                aclk_hz: 9_400
            }
        );
        assert_eq!(cs.read(CSCTL0) >> 8, 0x96);
        assert_eq!(cs.read(0x0162), 0x0046);
    }
}
