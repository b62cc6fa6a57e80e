//! Timer_A0 (SLAU367 chapter 25): the counter, its clock and dividers, stop/up/continuous/
//! up-down modes, three compare registers, TAIFG and the TA0IV vector register.
//!
//! The counter is advanced lazily: `sync` brings it to the current MCLK cycle, and
//! `next_event` tells the machine when the next flag will be set, so nothing runs per
//! instruction.

pub const BASE: u16 = 0x0340;
pub const END: u16 = 0x0370;

const TAIFG: u16 = 1 << 0;
const TAIE: u16 = 1 << 1;
const TACLR: u16 = 1 << 2;
const CCIFG: u16 = 1 << 0;
const CCIE: u16 = 1 << 4;
const CAP: u16 = 1 << 8;

#[derive(Clone, Debug)]
pub struct TimerA {
    ctl: u16,
    cctl: [u16; 3],
    ccr: [u16; 3],
    ex0: u16,
    tar: u16,
    /// Counting down (up/down mode).
    down: bool,
    /// MCLK cycle the counter was last brought up to date at.
    last: u64,
    /// Remainder of the MCLK-to-timer-tick conversion, in units of 1/(mclk * div) ticks.
    rem: u128,
}

impl TimerA {
    pub fn new(now: u64) -> TimerA {
        TimerA {
            ctl: 0,
            cctl: [0; 3],
            ccr: [0; 3],
            ex0: 0,
            tar: 0,
            down: false,
            last: now,
            rem: 0,
        }
    }

    fn mode(&self) -> u16 {
        self.ctl >> 4 & 3
    }

    /// Input clock in Hz (TASSEL) given SMCLK and ACLK; TACLK/INCLK pins are not driven.
    fn source_hz(&self, smclk: u32, aclk: u32) -> Option<u32> {
        match self.ctl >> 8 & 3 {
            1 => Some(aclk),
            2 => Some(smclk),
            _ => None,
        }
    }

    fn divider(&self) -> u64 {
        (1u64 << (self.ctl >> 6 & 3)) * u64::from((self.ex0 & 7) + 1)
    }

    /// Brings the counter to MCLK cycle `now`.
    pub fn sync(&mut self, now: u64, mclk: u32, smclk: u32, aclk: u32) {
        let elapsed = now.saturating_sub(self.last);
        self.last = now;
        let Some(src) = self.source_hz(smclk, aclk) else {
            return;
        };
        if self.mode() == 0 {
            return;
        }
        let den = u128::from(mclk) * u128::from(self.divider());
        let num = u128::from(elapsed) * u128::from(src) + self.rem;
        self.rem = num % den;
        self.advance(num / den);
    }

    /// The counter's top: CCR0 in up and up/down modes, 0xFFFF in continuous mode.
    fn top(&self) -> u16 {
        if self.mode() == 2 {
            0xFFFF
        } else {
            self.ccr[0]
        }
    }

    fn advance(&mut self, mut ticks: u128) {
        while ticks > 0 {
            let top = self.top();
            if self.mode() == 3 {
                // Up/down: one tick at a time is fine, the machine wakes at every flag.
                ticks -= 1;
                if self.down {
                    self.tar = self.tar.wrapping_sub(1);
                    if self.tar == 0 {
                        self.down = false;
                        self.ctl |= TAIFG;
                    }
                } else if self.tar >= top {
                    self.down = true;
                    self.tar = top.saturating_sub(1);
                    self.cctl[0] |= CCIFG;
                } else {
                    self.tar += 1;
                }
                self.compare_at(self.tar);
                continue;
            }
            if self.tar > top {
                // Up mode with TAR above CCR0 counts to 0 first (SLAU367 25.2.3.1).
                let to_zero = 0x1_0000 - u128::from(self.tar);
                let step = ticks.min(to_zero);
                self.tar = (u32::from(self.tar) + step as u32) as u16;
                ticks -= step;
                if self.tar == 0 {
                    self.ctl |= TAIFG;
                }
                continue;
            }
            // Positions tar+1 ..= tar+step; top+1 is the wrap to 0.
            let to_wrap = u128::from(top - self.tar) + 1;
            let step = ticks.min(to_wrap);
            let from = u32::from(self.tar);
            let to = from + step as u32;
            for n in 0..3 {
                if self.cctl[n] & CAP == 0 {
                    let v = u32::from(self.ccr[n]);
                    let reached = (v > from && v <= to) || (v == 0 && to == u32::from(top) + 1);
                    if reached {
                        self.cctl[n] |= CCIFG;
                    }
                }
            }
            if to > u32::from(top) {
                self.tar = 0;
                self.ctl |= TAIFG;
            } else {
                self.tar = to as u16;
            }
            ticks -= step;
        }
    }

    fn compare_at(&mut self, v: u16) {
        for n in 1..3 {
            if self.cctl[n] & CAP == 0 && self.ccr[n] == v {
                self.cctl[n] |= CCIFG;
            }
        }
    }

    /// MCLK cycle at which the next flag is set, if the timer runs.
    pub fn next_event(&self, mclk: u32, smclk: u32, aclk: u32) -> Option<u64> {
        let src = self.source_hz(smclk, aclk)?;
        if self.mode() == 0 {
            return None;
        }
        let top = u32::from(self.top());
        let tar = u32::from(self.tar);
        let mut ticks = if tar > top || self.mode() == 3 {
            1
        } else {
            top - tar + 1
        };
        for n in 0..3 {
            let v = u32::from(self.ccr[n]);
            if self.cctl[n] & CAP == 0 && v > tar && v <= top {
                ticks = ticks.min(v - tar);
            }
        }
        // Cycles c with (c * src + rem) / den >= ticks.
        let den = u128::from(mclk) * u128::from(self.divider());
        let need = (u128::from(ticks) * den).saturating_sub(self.rem);
        let cycles = need.div_ceil(u128::from(src)).max(1);
        Some(self.last + cycles.min(u128::from(u64::MAX / 2)) as u64)
    }

    /// Pending interrupt lines: (TIMER0_A0: CCIFG0, TIMER0_A1: CCIFG1/2 or TAIFG).
    pub fn irq(&self) -> (bool, bool) {
        let cc = |n: usize| self.cctl[n] & (CCIFG | CCIE) == (CCIFG | CCIE);
        let a0 = cc(0);
        let a1 = cc(1) || cc(2) || self.ctl & (TAIFG | TAIE) == (TAIFG | TAIE);
        (a0, a1)
    }

    /// Accepting the TIMER0_A0 interrupt clears CCIFG0 (a single-source vector).
    pub fn acknowledge_ccr0(&mut self) {
        self.cctl[0] &= !CCIFG;
    }

    /// Register read (word offset within the module); `sync` must have run.
    pub fn read(&mut self, addr: u16) -> u16 {
        match addr - BASE {
            0x00 => self.ctl,
            o @ 0x02..=0x06 => self.cctl[usize::from(o / 2 - 1)],
            0x10 => self.tar,
            o @ 0x12..=0x16 => self.ccr[usize::from((o - 0x12) / 2)],
            0x20 => self.ex0,
            0x2E => {
                // TA0IV: highest pending of CCIFG1, CCIFG2, TAIFG; reading clears it.
                if self.cctl[1] & CCIFG != 0 {
                    self.cctl[1] &= !CCIFG;
                    0x02
                } else if self.cctl[2] & CCIFG != 0 {
                    self.cctl[2] &= !CCIFG;
                    0x04
                } else if self.ctl & TAIFG != 0 {
                    self.ctl &= !TAIFG;
                    0x0E
                } else {
                    0
                }
            }
            _ => 0,
        }
    }

    /// Whether `addr` is a register of this model.
    pub fn has(addr: u16) -> bool {
        matches!(addr - BASE, 0x00..=0x06 | 0x10..=0x16 | 0x20 | 0x2E)
    }

    /// Register write; `sync` must have run.
    pub fn write(&mut self, addr: u16, v: u16) {
        match addr - BASE {
            0x00 => {
                if v & TACLR != 0 {
                    self.tar = 0;
                    self.down = false;
                    self.rem = 0;
                }
                // TACLR also resets the divider logic; it always reads 0.
                self.ctl = v & !TACLR;
            }
            o @ 0x02..=0x06 => self.cctl[usize::from(o / 2 - 1)] = v,
            0x10 => self.tar = v,
            o @ 0x12..=0x16 => self.ccr[usize::from((o - 0x12) / 2)] = v,
            0x20 => self.ex0 = v & 7,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MHZ8: u32 = 8_000_000;

    fn continuous_smclk() -> TimerA {
        let mut t = TimerA::new(0);
        // TASSEL = SMCLK, ID /1, MC continuous, TACLR, TAIE (the board's setup).
        t.write(BASE, 0x0200 | 0x0020 | TACLR | TAIE);
        t
    }

    #[test]
    fn continuous_mode_counts_mclk_and_overflows_at_65536() {
        let mut t = continuous_smclk();
        t.sync(1000, MHZ8, MHZ8, 9400);
        assert_eq!(t.read(BASE + 0x10), 1000);
        assert_eq!(t.next_event(MHZ8, MHZ8, 9400), Some(65536));
        t.sync(65535, MHZ8, MHZ8, 9400);
        assert_eq!(t.irq(), (false, false));
        t.sync(65536, MHZ8, MHZ8, 9400);
        assert_eq!(t.read(BASE + 0x10), 0);
        assert_eq!(t.irq(), (false, true));
        // CCR1 and CCR2 hold 0 and compare at the wrap too: TA0IV reports them first
        // (0x02, 0x04), then TAIFG (0x0E), clearing each.
        assert_eq!(t.read(BASE + 0x2E), 0x02);
        assert_eq!(t.read(BASE + 0x2E), 0x04);
        assert_eq!(t.read(BASE + 0x2E), 0x0E);
        assert_eq!(t.read(BASE + 0x2E), 0);
        assert_eq!(t.irq(), (false, false));
    }

    #[test]
    fn dividers_slow_the_count() {
        let mut t = TimerA::new(0);
        t.write(BASE + 0x20, 1); // TAIDEX /2
        t.write(BASE, 0x0200 | 0x0080 | 0x0020 | TACLR); // ID /4
        t.sync(800, MHZ8, MHZ8, 9400);
        assert_eq!(t.read(BASE + 0x10), 100);
        t.sync(807, MHZ8, MHZ8, 9400);
        assert_eq!(t.read(BASE + 0x10), 100);
        t.sync(808, MHZ8, MHZ8, 9400);
        assert_eq!(t.read(BASE + 0x10), 101);
    }

    #[test]
    fn up_mode_sets_ccifg0_at_ccr0_and_taifg_at_the_wrap() {
        let mut t = TimerA::new(0);
        t.write(BASE + 0x12, 99); // CCR0
        t.write(BASE + 0x02, CCIE);
        t.write(BASE, 0x0200 | 0x0010 | TACLR);
        assert_eq!(t.next_event(MHZ8, MHZ8, 9400), Some(99));
        t.sync(99, MHZ8, MHZ8, 9400);
        assert_eq!(t.irq(), (true, false));
        t.acknowledge_ccr0();
        t.sync(100, MHZ8, MHZ8, 9400);
        assert_eq!(t.read(BASE + 0x10), 0);
        assert_eq!(t.read(BASE) & TAIFG, TAIFG);
        t.sync(350, MHZ8, MHZ8, 9400);
        assert_eq!(t.read(BASE + 0x10), 50);
    }

    #[test]
    fn a_stopped_timer_does_not_count() {
        let mut t = TimerA::new(0);
        t.write(BASE, 0x0200);
        t.sync(5000, MHZ8, MHZ8, 9400);
        assert_eq!(t.read(BASE + 0x10), 0);
        assert_eq!(t.next_event(MHZ8, MHZ8, 9400), None);
    }
}
