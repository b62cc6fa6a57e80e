//! The password-protected system registers: PMM (PMMCTL0, PMMIFG, PM5CTL0), FRCTL_A (FRCTL0)
//! and WDT_A (WDTCTL), plus the reset-cause register SYSRSTIV. A write with a wrong password
//! resets the chip, as on the device (SLAU367 1.2.3, 2.2, 6.3, 24.2).

pub const PMMCTL0: u16 = 0x0120;
pub const PMMIFG: u16 = 0x012A;
pub const PM5CTL0: u16 = 0x0130;
pub const FRCTL0: u16 = 0x0140;
pub const GCCTL0: u16 = 0x0144;
pub const GCCTL1: u16 = 0x0146;
pub const WDTCTL: u16 = 0x015C;
pub const SFRIE1: u16 = 0x0100;
pub const SFRIFG1: u16 = 0x0102;
pub const SYSRSTIV: u16 = 0x019E;

/// A reset the registers ask for, with its SYSRSTIV code (SLAU367 Table 1-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ResetCause {
    /// Power-up or brown-out (0x02).
    Brownout,
    /// PMMSWBOR (0x06).
    SoftwareBor,
    /// PMMSWPOR (0x14).
    SoftwarePor,
    /// Watchdog expired (0x16).
    Watchdog,
    /// WDTCTL written without 0x5A (0x18).
    WatchdogPassword,
    /// FRCTL0 written without 0xA5 (0x1A).
    FramPassword,
    /// PMMCTL0 written without 0xA5 (0x20).
    PmmPassword,
}

impl ResetCause {
    pub fn code(self) -> u16 {
        match self {
            ResetCause::Brownout => 0x02,
            ResetCause::SoftwareBor => 0x06,
            ResetCause::SoftwarePor => 0x14,
            ResetCause::Watchdog => 0x16,
            ResetCause::WatchdogPassword => 0x18,
            ResetCause::FramPassword => 0x1A,
            ResetCause::PmmPassword => 0x20,
        }
    }

    /// A brown-out-class reset (BOR): everything restarts, as after power-up. The others are
    /// PUCs, which keep PMM and some other state.
    pub fn is_bor(self) -> bool {
        matches!(
            self,
            ResetCause::Brownout | ResetCause::SoftwareBor | ResetCause::SoftwarePor
        )
    }
}

#[derive(Clone, Debug)]
pub struct Sys {
    pub pmmctl0_lo: u8,
    pmm_unlocked: bool,
    pub pmmifg: u16,
    pub lock_lpm5: bool,
    pub nwaits: u8,
    gcctl: [u16; 2],
    pub wdtctl_lo: u8,
    pub sfrie1: u16,
    pub sfrifg1: u16,
    /// Pending SYSRSTIV codes (bit n = code 2n).
    rstiv: u64,
}

impl Default for Sys {
    fn default() -> Self {
        Sys::new()
    }
}

impl Sys {
    /// State after a brown-out reset.
    pub fn new() -> Sys {
        Sys {
            pmmctl0_lo: 0x40,
            pmm_unlocked: false,
            pmmifg: 0,
            lock_lpm5: true,
            nwaits: 0,
            gcctl: [0; 2],
            wdtctl_lo: 0x04,
            sfrie1: 0,
            sfrifg1: 0,
            rstiv: 0,
        }
    }

    /// Applies a reset: a BOR restores everything but keeps the reset causes; a PUC resets
    /// the watchdog and SFRs only (SLAU367 1.2.1).
    pub fn reset(&mut self, cause: ResetCause) {
        let rstiv = self.rstiv | 1 << (cause.code() / 2);
        let pmmifg = self.pmmifg;
        if cause.is_bor() {
            *self = Sys::new();
            self.pmmifg = pmmifg
                | if cause == ResetCause::SoftwareBor {
                    1 << 8
                } else {
                    0
                };
        } else {
            self.wdtctl_lo = 0x04;
            self.sfrie1 = 0;
        }
        self.rstiv = rstiv;
    }

    pub fn has(addr: u16) -> bool {
        matches!(
            addr,
            PMMCTL0
                | PMMIFG
                | PM5CTL0
                | FRCTL0
                | GCCTL0
                | GCCTL1
                | WDTCTL
                | SFRIE1
                | SFRIFG1
                | SYSRSTIV
        )
    }

    pub fn read(&mut self, addr: u16) -> u16 {
        match addr {
            PMMCTL0 => 0x9600 | u16::from(self.pmmctl0_lo),
            PMMIFG => self.pmmifg,
            PM5CTL0 => u16::from(self.lock_lpm5),
            FRCTL0 => 0x9600 | (u16::from(self.nwaits) << 4),
            GCCTL0 => self.gcctl[0],
            GCCTL1 => self.gcctl[1],
            WDTCTL => 0x6900 | u16::from(self.wdtctl_lo),
            SFRIE1 => self.sfrie1,
            SFRIFG1 => self.sfrifg1,
            SYSRSTIV => {
                // The highest-priority (lowest) pending cause; reading clears it.
                if self.rstiv == 0 {
                    return 0;
                }
                let n = self.rstiv.trailing_zeros();
                self.rstiv &= !(1 << n);
                (2 * n) as u16
            }
            _ => 0,
        }
    }

    /// A write; `Some(cause)` if it resets the chip. `byte_hi` marks a byte write to the high
    /// byte (the password byte) and `byte_lo` one to the low byte.
    pub fn write(&mut self, addr: u16, v: u16, byte_lo: bool, byte_hi: bool) -> Option<ResetCause> {
        let password_ok = |pw: u16| (v >> 8) == pw;
        match addr {
            PMMCTL0 => {
                if byte_lo {
                    if !self.pmm_unlocked {
                        return None;
                    }
                } else {
                    self.pmm_unlocked = password_ok(0xA5);
                    if !self.pmm_unlocked {
                        return Some(ResetCause::PmmPassword);
                    }
                    if byte_hi {
                        return None;
                    }
                }
                let lo = v as u8;
                if lo & (1 << 2) != 0 {
                    return Some(ResetCause::SoftwareBor);
                }
                if lo & (1 << 3) != 0 {
                    return Some(ResetCause::SoftwarePor);
                }
                self.pmmctl0_lo = lo & 0x50;
            }
            PMMIFG => self.pmmifg = v,
            // LOCKLPM5 can only be cleared by software (SLAU367 2.3.4).
            PM5CTL0 if v & 1 == 0 => self.lock_lpm5 = false,
            FRCTL0 => {
                if !password_ok(0xA5) && !byte_lo {
                    return Some(ResetCause::FramPassword);
                }
                if !byte_hi {
                    self.nwaits = (v >> 4 & 7) as u8;
                }
            }
            GCCTL0 => self.gcctl[0] = v,
            GCCTL1 => self.gcctl[1] = v,
            WDTCTL => {
                if byte_lo || !password_ok(0x5A) {
                    // Byte writes to WDTCTL cannot carry the password: a PUC (SLAU367 24.2).
                    return Some(ResetCause::WatchdogPassword);
                }
                self.wdtctl_lo = v as u8;
            }
            SFRIE1 => self.sfrie1 = v,
            SFRIFG1 => self.sfrifg1 = v,
            _ => {}
        }
        None
    }

    /// WDTHOLD.
    pub fn wdt_held(&self) -> bool {
        self.wdtctl_lo & 0x80 != 0
    }

    /// Watchdog interval in its clock's ticks (WDTIS), and its clock (WDTSSEL).
    pub fn wdt_interval(&self) -> (u64, u8) {
        let is = self.wdtctl_lo & 7;
        let bits = [31, 27, 23, 19, 15, 13, 9, 6][usize::from(is)];
        (1 << bits, self.wdtctl_lo >> 5 & 3)
    }

    /// WDTTMSEL: interval-timer mode (an interrupt instead of a reset).
    pub fn wdt_interval_mode(&self) -> bool {
        self.wdtctl_lo & 0x10 != 0
    }

    /// WDTCNTCL was written (self-clearing); returns whether it was set and clears it.
    pub fn take_wdt_clear(&mut self) -> bool {
        let c = self.wdtctl_lo & 0x08 != 0;
        self.wdtctl_lo &= !0x08;
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_passwords_reset_the_chip() {
        let mut s = Sys::new();
        assert_eq!(
            s.write(WDTCTL, 0x0080, false, false),
            Some(ResetCause::WatchdogPassword)
        );
        assert_eq!(
            s.write(FRCTL0, 0x0010, false, false),
            Some(ResetCause::FramPassword)
        );
        assert_eq!(
            s.write(PMMCTL0, 0x0004, false, false),
            Some(ResetCause::PmmPassword)
        );
        assert_eq!(s.write(WDTCTL, 0x5A80, false, false), None);
        assert!(s.wdt_held());
        assert_eq!(s.read(WDTCTL), 0x6980);
    }

    #[test]
    fn pmmswbor_is_a_software_bor_recorded_in_sysrstiv() {
        let mut s = Sys::new();
        assert_eq!(
            s.write(PMMCTL0, 0xA544, false, false),
            Some(ResetCause::SoftwareBor)
        );
        s.reset(ResetCause::SoftwareBor);
        assert!(s.lock_lpm5);
        assert_eq!(s.read(PMMIFG) & (1 << 8), 1 << 8);
        assert_eq!(s.read(SYSRSTIV), 0x06);
        assert_eq!(s.read(SYSRSTIV), 0);
    }

    #[test]
    fn locklpm5_clears_only_by_software_and_frctl_sets_wait_states() {
        let mut s = Sys::new();
        assert_eq!(s.read(PM5CTL0), 1);
        s.write(PM5CTL0, 0, false, false);
        assert_eq!(s.read(PM5CTL0), 0);
        s.write(PM5CTL0, 1, false, false);
        assert_eq!(s.read(PM5CTL0), 0);
        assert_eq!(s.write(FRCTL0, 0xA510, false, false), None);
        assert_eq!(s.nwaits, 1);
        assert_eq!(s.read(FRCTL0), 0x9610);
    }
}
