//! MPY32 (SLAU367P chapter 5): 8/16/24/32-bit multiply and multiply-accumulate, unsigned and
//! signed, with SUMEXT, the MPYC carry, the 64-bit result registers, saturation and fractional
//! mode, and when each result is ready.
//!
//! - **MPYC** is the result's carry: for signed operations the bit above the result (so the
//!   sign of the true, unwrapped value), for an unsigned MAC the carry out; "it can be considered
//!   as the 33rd or 65th bit of the result" (§5.3, MPY32CTL0).
//! - **Saturation** (§5.2.4.2): the result registers keep the unmodified result; when MPYC
//!   disagrees with the result's sign bit the value overflowed, and reads return the most
//!   positive (MPYC = 0) or most negative (MPYC = 1) value; "the adjusted result is also used for
//!   successive multiply-and-accumulate operations". With 16x16 operations it covers RES0/RES1.
//! - **Fractional mode** (§5.2.4.1): reads return the result shifted left by one; with
//!   saturation, "accumulated values are saturated as if MPYFRAC = 0; only during read accesses
//!   to the result registers the values are saturated taking the fractional mode into
//!   account".
//! - **Timing** (Table 5-5): a result register is ready a fixed number of MCLK cycles after the
//!   operand write that starts the operation. With MPYDLYWRTEN every write to the module waits
//!   until the 64-bit (MPYDLY32 = 0) or 32-bit (MPYDLY32 = 1) result is ready; without it, and
//!   for any read, an access before then is a timing violation the machine reports.

pub const BASE: u16 = 0x04C0;
pub const END: u16 = 0x04F0;
pub const MPY32CTL0: u16 = 0x04EC;

const MPYC: u16 = 0x0001;
const MPYFRAC: u16 = 0x0004;
const MPYSAT: u16 = 0x0008;
const MPYDLYWRTEN: u16 = 0x0100;
const MPYDLY32: u16 = 0x0200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Mpy,
    Mpys,
    Mac,
    Macs,
}

/// What an access needs from the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    /// In time.
    Ready,
    /// A delayed write (MPYDLYWRTEN): the CPU waits this many cycles first.
    Stall(u64),
    /// Before the result was ready: what the chip does then is undefined.
    Early,
}

#[derive(Clone, Debug)]
pub struct Mpy32 {
    op: Op,
    op1: u32,
    op1_32: bool,
    op2_lo: u16,
    res: u64,
    sumext: u16,
    ctl0: u16,
    /// The last operation had a 32-bit operand (64-bit result).
    wide: bool,
    /// Cycle at which RES0..RES3 of the operation in flight are ready.
    ready: [u64; 4],
}

impl Default for Mpy32 {
    fn default() -> Self {
        Mpy32::new()
    }
}

/// Result availability in MCLK cycles after the write that completes the operands, RES0..RES3
/// (SLAU367P Table 5-5): 16x16; 32x16 (OP2); 16x32 and 32x32 (OP2H: the operation is modelled
/// as starting when the second operand is whole).
const LAT_16X16: [u64; 4] = [3, 3, 4, 4];
const LAT_32X16: [u64; 4] = [3, 5, 6, 7];
const LAT_16X32_H: [u64; 4] = [3, 4, 4, 4];
const LAT_32X32_H: [u64; 4] = [3, 5, 6, 6];

impl Mpy32 {
    pub fn new() -> Mpy32 {
        Mpy32 {
            op: Op::Mpy,
            op1: 0,
            op1_32: false,
            op2_lo: 0,
            res: 0,
            sumext: 0,
            ctl0: 0,
            wide: false,
            ready: [0; 4],
        }
    }

    pub fn has(addr: u16) -> bool {
        (BASE..=MPY32CTL0).contains(&addr) && addr & 1 == 0
    }

    fn signed(&self) -> bool {
        matches!(self.op, Op::Mpys | Op::Macs)
    }

    fn width(&self) -> u32 {
        if self.wide {
            64
        } else {
            32
        }
    }

    /// The accumulator as the module uses it: the result sign-extended (signed) or as is
    /// (unsigned), adjusted to ±max when saturation is on and MPYC says it overflowed.
    fn value(&self) -> i128 {
        let w = self.width();
        let raw = u128::from(self.res) & mask(w);
        if !self.signed() {
            return raw as i128;
        }
        let negative = raw >> (w - 1) & 1 == 1;
        let carry = self.ctl0 & MPYC != 0;
        if self.ctl0 & MPYSAT != 0 && carry != negative {
            return if carry {
                -(1i128 << (w - 1))
            } else {
                (1i128 << (w - 1)) - 1
            };
        }
        sext128(raw, w)
    }

    /// What the result registers read: the value, shifted in fractional mode and saturated
    /// then again if saturation is on.
    fn view(&self) -> u64 {
        let w = self.width();
        let mut v = self.value();
        if self.ctl0 & MPYFRAC != 0 {
            v <<= 1;
            if self.ctl0 & MPYSAT != 0 && self.signed() {
                v = v.clamp(-(1i128 << (w - 1)), (1i128 << (w - 1)) - 1);
            }
        }
        (v as u128 & mask(w)) as u64
    }

    /// Runs the operation with the second operand `op2` (`bits` wide) at cycle `at`, its
    /// results ready `lat` cycles later.
    fn multiply(&mut self, op2: u32, op2_bits: u32, at: u64, lat: [u64; 4]) {
        let op1_bits = if self.op1_32 { 32 } else { 16 };
        let (a, b): (i128, i128) = if self.signed() {
            (sext(self.op1, op1_bits), sext(op2, op2_bits))
        } else {
            (i128::from(self.op1), i128::from(op2))
        };
        let product = a * b;
        // The accumulator is the previous result at the new operation's width.
        let acc = match self.op {
            Op::Mpy | Op::Mpys => 0,
            Op::Mac | Op::Macs => {
                self.wide = op1_bits == 32 || op2_bits == 32;
                self.value()
            }
        };
        self.wide = op1_bits == 32 || op2_bits == 32;
        let w = self.width();
        let sum = acc + product;
        self.res = (sum as u128 & mask(w)) as u64;
        let carry = if self.signed() {
            sum < 0
        } else {
            self.op == Op::Mac && sum as u128 > mask(w)
        };
        self.ctl0 = (self.ctl0 & !MPYC) | u16::from(carry);
        self.sumext = match self.op {
            Op::Mpy => 0,
            Op::Mac => u16::from(carry),
            Op::Mpys | Op::Macs => {
                if self.res >> (w - 1) & 1 == 1 {
                    0xFFFF
                } else {
                    0
                }
            }
        };
        if !self.wide {
            // 16x16: RES2/RES3 hold the extension of the 32-bit result.
            let lo = self.res & 0xFFFF_FFFF;
            let ext = if self.signed() && lo & 0x8000_0000 != 0 {
                0xFFFF_FFFF_0000_0000
            } else {
                0
            };
            self.res = lo | ext;
        }
        self.ready = lat.map(|l| at + l);
    }

    /// Whether a read at cycle `at` of the word at `addr` comes before its result is ready.
    pub fn read_early(&self, addr: u16, at: u64) -> bool {
        match addr - BASE {
            0x0A | 0x24 => at < self.ready[0],
            0x0C | 0x26 => at < self.ready[1],
            0x28 => at < self.ready[2],
            0x2A => at < self.ready[3],
            0x0E => at < self.ready[1],
            _ => false,
        }
    }

    /// How a write at cycle `at` fares against the operation in flight.
    pub fn write_timing(&self, at: u64) -> Timing {
        let done = if self.ctl0 & MPYDLY32 != 0 {
            self.ready[1]
        } else {
            self.ready[3]
        };
        if at >= done {
            Timing::Ready
        } else if self.ctl0 & MPYDLYWRTEN != 0 {
            Timing::Stall(done - at)
        } else {
            Timing::Early
        }
    }

    pub fn read(&self, addr: u16) -> u16 {
        match addr - BASE {
            0x00..=0x06 => self.op1 as u16,
            0x08 | 0x20 => self.op2_lo,
            // Saturation and fractional mode shape RES0/RES1 (all four for 64-bit results).
            0x0A | 0x24 => self.view() as u16,
            0x0C | 0x26 => (self.view() >> 16) as u16,
            0x0E => self.sumext,
            0x10..=0x1E => (self.op1 >> (8 * ((addr - BASE) & 2))) as u16,
            0x28 if self.wide => (self.view() >> 32) as u16,
            0x2A if self.wide => (self.view() >> 48) as u16,
            0x28 => (self.res >> 32) as u16,
            0x2A => (self.res >> 48) as u16,
            0x2C => self.ctl0,
            _ => 0,
        }
    }

    /// Word write at cycle `at` (the end of the writing instruction). Byte writes reach here
    /// zero-extended with `byte` set: an 8-bit operand is sign-extended for the signed
    /// operations (SLAU367P 5.2.1).
    pub fn write(&mut self, addr: u16, v: u16, byte: bool, at: u64) {
        let sign_byte = |v: u16, signed: bool| {
            if byte && signed {
                v as u8 as i8 as i16 as u16
            } else {
                v
            }
        };
        match addr - BASE {
            o @ 0x00..=0x06 => {
                self.op = [Op::Mpy, Op::Mpys, Op::Mac, Op::Macs][usize::from(o / 2)];
                self.op1 = u32::from(sign_byte(v, self.signed()));
                self.op1_32 = false;
            }
            0x08 => {
                let v = sign_byte(v, self.signed());
                self.op2_lo = v;
                let lat = if self.op1_32 { LAT_32X16 } else { LAT_16X16 };
                self.multiply(u32::from(v), 16, at, lat);
            }
            0x0A | 0x24 => self.res = (self.res & !0xFFFF) | u64::from(v),
            0x0C | 0x26 => self.res = (self.res & !0xFFFF_0000) | (u64::from(v) << 16),
            0x28 => self.res = (self.res & !0xFFFF_0000_0000) | (u64::from(v) << 32),
            0x2A => self.res = (self.res & 0xFFFF_FFFF_FFFF) | (u64::from(v) << 48),
            o @ 0x10..=0x1E => {
                let op = [Op::Mpy, Op::Mpys, Op::Mac, Op::Macs][usize::from((o - 0x10) / 4)];
                if o & 2 == 0 {
                    self.op = op;
                    self.op1 = u32::from(v);
                    // Until the high word comes, the operand is a sign-extended 16-bit one.
                    self.op1_32 = false;
                } else {
                    self.op1 = (self.op1 & 0xFFFF) | (u32::from(sign_byte(v, self.signed())) << 16);
                    self.op1_32 = true;
                }
            }
            0x20 => self.op2_lo = v,
            0x22 => {
                let hi = u32::from(sign_byte(v, self.signed()));
                let op2 = u32::from(self.op2_lo) | (hi << 16);
                let lat = if self.op1_32 {
                    LAT_32X32_H
                } else {
                    LAT_16X32_H
                };
                self.multiply(op2, 32, at, lat);
            }
            0x2C => self.ctl0 = v & 0x03CD,
            _ => {}
        }
    }
}

fn mask(bits: u32) -> u128 {
    (1u128 << bits) - 1
}

fn sext(v: u32, bits: u32) -> i128 {
    sext128(u128::from(v), bits)
}

fn sext128(v: u128, bits: u32) -> i128 {
    let shift = 128 - bits;
    ((v << shift) as i128) >> shift
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MACS: u16 = BASE + 0x06;
    const MPYS: u16 = BASE + 0x02;
    const OP2: u16 = BASE + 0x08;
    const RESLO: u16 = BASE + 0x0A;
    const RESHI: u16 = BASE + 0x0C;
    const RES2: u16 = BASE + 0x28;
    const RES3: u16 = BASE + 0x2A;

    fn res32(m: &Mpy32) -> i32 {
        ((u32::from(m.read(RESHI)) << 16) | u32::from(m.read(RESLO))) as i32
    }

    proptest! {
        #[test]
        fn mpys_gives_the_signed_32_bit_product(a: i16, b: i16) {
            let mut m = Mpy32::new();
            m.write(MPYS, a as u16, false, 0);
            m.write(OP2, b as u16, false, 0);
            prop_assert_eq!(res32(&m), i32::from(a) * i32::from(b));
            prop_assert_eq!(m.read(BASE + 0x0E), if i32::from(a) * i32::from(b) < 0 { 0xFFFF } else { 0 });
        }

        #[test]
        fn mpy_gives_the_unsigned_product(a: u16, b: u16) {
            let mut m = Mpy32::new();
            m.write(BASE, a, false, 0);
            m.write(OP2, b, false, 0);
            let r = (u32::from(m.read(RESHI)) << 16) | u32::from(m.read(RESLO));
            prop_assert_eq!(r, u32::from(a) * u32::from(b));
        }

        #[test]
        fn macs_accumulates_signed_products(a: i16, b: i16, c: i16, d: i16) {
            let mut m = Mpy32::new();
            m.write(MPYS, a as u16, false, 0);
            m.write(OP2, b as u16, false, 0);
            m.write(MACS, c as u16, false, 0);
            m.write(OP2, d as u16, false, 0);
            let want = (i32::from(a) * i32::from(b)).wrapping_add(i32::from(c) * i32::from(d));
            prop_assert_eq!(res32(&m), want);
        }

        #[test]
        fn mpys32_gives_the_64_bit_product(a: i32, b: i32) {
            let mut m = Mpy32::new();
            m.write(BASE + 0x14, a as u16, false, 0);
            m.write(BASE + 0x16, (a >> 16) as u16, false, 0);
            m.write(BASE + 0x20, b as u16, false, 0);
            m.write(BASE + 0x22, (b >> 16) as u16, false, 0);
            let r = (0..4).fold(0u64, |acc, i| acc | (u64::from(m.read(BASE + 0x24 + 2 * i)) << (16 * i)));
            prop_assert_eq!(r as i64, i64::from(a) * i64::from(b));
        }

        /// With MPYSAT a MACS sequence from a preload (MPYC = the preload's sign) is an i32
        /// accumulator that saturates at every step: what `inas_common::q15` defines.
        #[test]
        fn saturating_macs_clamp_at_every_step(pre: i32, v in prop::collection::vec((any::<i16>(), any::<i16>()), 1..24)) {
            let mut m = Mpy32::new();
            m.write(RESLO, pre as u16, false, 0);
            m.write(RESHI, (pre >> 16) as u16, false, 0);
            m.write(MPY32CTL0, MPYSAT | u16::from(pre < 0), false, 0);
            let mut want = i64::from(pre);
            for &(a, b) in &v {
                m.write(MACS, a as u16, false, 0);
                m.write(OP2, b as u16, false, 0);
                want = (want + i64::from(a) * i64::from(b)).clamp(i64::from(i32::MIN), i64::from(i32::MAX));
                prop_assert_eq!(i64::from(res32(&m)), want);
            }
        }

        /// Fractional reads of a saturated 16x16 sum are sat32(2·sum): RESHI is
        /// sat16(sum >> 15), the Q15 result.
        #[test]
        fn fractional_reads_are_the_doubled_sum_saturated(v in prop::collection::vec((any::<i16>(), any::<i16>()), 1..8)) {
            let mut m = Mpy32::new();
            m.write(MPY32CTL0, MPYSAT | MPYFRAC, false, 0);
            m.write(RESLO, 0, false, 0);
            m.write(RESHI, 0, false, 0);
            let mut sum = 0i64;
            for &(a, b) in &v {
                m.write(MACS, a as u16, false, 0);
                m.write(OP2, b as u16, false, 0);
                sum = (sum + i64::from(a) * i64::from(b)).clamp(i64::from(i32::MIN), i64::from(i32::MAX));
            }
            let frac = (2 * sum).clamp(i64::from(i32::MIN), i64::from(i32::MAX));
            prop_assert_eq!(i64::from(res32(&m)), frac);
            prop_assert_eq!(i64::from(m.read(RESHI) as i16), (sum >> 15).clamp(-32768, 32767));
        }
    }

    #[test]
    fn byte_operands_are_sign_extended_for_signed_multiplies() {
        let mut m = Mpy32::new();
        m.write(MPYS, 0x00FF, true, 0); // -1
        m.write(OP2, 3, false, 0);
        assert_eq!(m.read(RESLO), (-3i16) as u16);
        assert_eq!(m.read(RESHI), 0xFFFF);
    }

    /// SLAU367P §5.2.4.2, the example "special case showing the saturation function in
    /// fractional mode": RES = 0000 0000 7FFF FA60h preloaded, MPYC = 0, then an 8-bit signed
    /// MAC of 50h · 12h overflows past 7FFF FFFFh and reads saturated: R6 = FFFFh, R7 = 7FFFh.
    #[test]
    fn user_guide_saturation_in_fractional_mode() {
        let mut m = Mpy32::new();
        m.write(MPY32CTL0, MPYSAT | MPYFRAC, false, 0);
        m.write(RES3, 0, false, 0);
        m.write(RES2, 0, false, 0);
        m.write(RESHI, 0x7FFF, false, 0);
        m.write(RESLO, 0xFA60, false, 0);
        m.write(MACS, 0x50, true, 0);
        m.write(OP2, 0x12, true, 0);
        assert_eq!(m.read(RESLO), 0xFFFF);
        assert_eq!(m.read(RESHI), 0x7FFF);
        // The result registers themselves are unmodified: with saturation off they read the
        // wrapped sum (doubled in fractional mode).
        m.write(MPY32CTL0, m.read(MPY32CTL0) & !(MPYSAT | MPYFRAC), false, 0);
        assert_eq!(res32(&m) as u32, 0x8000_0000);
    }

    /// SLAU367P §5.2.4.2: a 32x24 unsigned multiply leaves 000D 4F06 A6EA 0E97h with MPYC = 0;
    /// a 16x16 MACS under saturation then starts from RES1:RES0 = A6EA 0E97h, whose set MSB
    /// with MPYC = 0 reads as an overflow, and gives FFFFh / 7FFFh.
    #[test]
    fn user_guide_mixing_a_64_bit_result_with_16x16_macs() {
        let mut m = Mpy32::new();
        m.write(MPY32CTL0, MPYSAT, false, 0);
        m.write(BASE + 0x10, 0x52C5, false, 0); // MPY32L
        m.write(BASE + 0x12, 0x6153, false, 0); // MPY32H
        m.write(BASE + 0x20, 0x01AB, false, 0); // OP2L
        m.write(BASE + 0x22, 0x23, true, 0); // OP2H_B
        let words: Vec<u16> = (0..4).map(|i| m.read(BASE + 0x24 + 2 * i)).collect();
        assert_eq!(words, [0x0E97, 0xA6EA, 0x4F06, 0x000D]);
        assert_eq!(m.read(MPY32CTL0) & MPYC, 0);
        m.write(MACS, 0xCCC3, false, 0);
        m.write(OP2, 0xFFB6, false, 0);
        assert_eq!(m.read(RESLO), 0xFFFF);
        assert_eq!(m.read(RESHI), 0x7FFF);
    }

    /// SLAU367P §5.2.4.2: with RES cleared but MPYC set, saturation takes the zero for an
    /// underflow: an 8-bit MACS of 82h · 4Fh reads 0000h / 8000h. (Why a preload needs MPYC
    /// to carry its sign.)
    #[test]
    fn user_guide_preload_without_its_sign_in_mpyc() {
        let mut m = Mpy32::new();
        for r in [RES3, RES2, RESHI, RESLO] {
            m.write(r, 0, false, 0);
        }
        m.write(MPY32CTL0, MPYSAT | MPYC, false, 0);
        m.write(MACS, 0x82, true, 0);
        m.write(OP2, 0x4F, true, 0);
        assert_eq!(m.read(RESLO), 0x0000);
        assert_eq!(m.read(RESHI), 0x8000);
    }

    /// SLAU367P §5.2.4.1: −1.0 × −1.0 in fractional mode is out of range and saturates to
    /// the most positive result.
    #[test]
    fn user_guide_fractional_minus_one_squared() {
        let mut m = Mpy32::new();
        m.write(MPY32CTL0, MPYSAT | MPYFRAC, false, 0);
        m.write(MPYS, 0x8000, false, 0);
        m.write(OP2, 0x8000, false, 0);
        assert_eq!(m.read(RESHI), 0x7FFF);
        assert_eq!(m.read(RESLO), 0xFFFF);
        // Without saturation the doubled product wraps.
        m.write(MPY32CTL0, MPYFRAC, false, 0);
        m.write(MPYS, 0x8000, false, 0);
        m.write(OP2, 0x8000, false, 0);
        assert_eq!(m.read(RESHI), 0x8000);
    }

    /// Table 5-5: a 16x16 result is ready 3 cycles after OP2 (RES0/RES1) and 4 (RES2/RES3);
    /// a delayed write waits for the whole result, a plain one is early.
    #[test]
    fn results_are_ready_after_the_user_guide_latency() {
        let mut m = Mpy32::new();
        m.write(MPYS, 3, false, 100);
        m.write(OP2, 4, false, 100);
        assert!(m.read_early(RESLO, 102));
        assert!(!m.read_early(RESLO, 103));
        assert!(!m.read_early(RESHI, 103));
        assert!(m.read_early(RES3, 103));
        assert!(!m.read_early(RES3, 104));
        assert_eq!(m.write_timing(102), Timing::Early);
        m.write(MPY32CTL0, MPYDLYWRTEN, false, 0);
        assert_eq!(m.write_timing(102), Timing::Stall(2));
        assert_eq!(m.write_timing(104), Timing::Ready);
        m.write(MPY32CTL0, MPYDLYWRTEN | MPYDLY32, false, 0);
        assert_eq!(m.write_timing(102), Timing::Stall(1));
    }
}
