//! MPY32 (SLAU367 chapter 8): 16x16, 16x32, 32x16 and 32x32 multiply and multiply-accumulate,
//! unsigned and signed, with SUMEXT, the carry flag and the 64-bit result registers.
//! Saturation and fractional modes are not modelled: writes that enable them are reported
//! by the machine as unmodelled accesses.

pub const BASE: u16 = 0x04C0;
pub const END: u16 = 0x04F0;
pub const MPY32CTL0: u16 = 0x04EC;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Mpy,
    Mpys,
    Mac,
    Macs,
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
}

impl Default for Mpy32 {
    fn default() -> Self {
        Mpy32::new()
    }
}

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
        }
    }

    pub fn has(addr: u16) -> bool {
        (BASE..=MPY32CTL0).contains(&addr) && addr & 1 == 0
    }

    /// Whether saturation or fractional mode is on (not modelled).
    pub fn unmodelled_mode(&self) -> bool {
        self.ctl0 & 0x000C != 0
    }

    fn signed(&self) -> bool {
        matches!(self.op, Op::Mpys | Op::Macs)
    }

    /// Runs the operation with the second operand `op2` (`bits` wide).
    fn multiply(&mut self, op2: u32, op2_bits: u32) {
        let op1_bits = if self.op1_32 { 32 } else { 16 };
        let (a, b): (i128, i128) = if self.signed() {
            (sext(self.op1, op1_bits), sext(op2, op2_bits))
        } else {
            (i128::from(self.op1), i128::from(op2))
        };
        let product = a * b;
        let wide = op1_bits == 32 || op2_bits == 32;
        let (width, mask): (u32, u128) = if wide {
            (64, u128::from(u64::MAX))
        } else {
            (32, 0xFFFF_FFFF)
        };
        match self.op {
            Op::Mpy | Op::Mpys => {
                self.res = (product as u128 & mask) as u64;
                self.sumext = if product < 0 { 0xFFFF } else { 0 };
                self.ctl0 &= !1;
            }
            Op::Mac | Op::Macs => {
                let acc = if self.op == Op::Macs {
                    sext128(u128::from(self.res), width)
                } else {
                    i128::from(self.res & mask as u64)
                };
                let sum = acc + product;
                let r = (sum as u128 & mask) as u64;
                if self.op == Op::Macs {
                    self.sumext = if sext128(u128::from(r), width) < 0 {
                        0xFFFF
                    } else {
                        0
                    };
                } else {
                    let carry = sum as u128 > mask;
                    self.sumext = u16::from(carry);
                    self.ctl0 = (self.ctl0 & !1) | u16::from(carry);
                }
                self.res = r;
            }
        }
        if !wide {
            // 16x16: RES2/RES3 hold the extension of the 32-bit result.
            let lo = self.res & 0xFFFF_FFFF;
            let ext = if self.signed() && lo & 0x8000_0000 != 0 {
                0xFFFF_FFFF_0000_0000
            } else {
                0
            };
            self.res = lo | ext;
        }
    }

    pub fn read(&self, addr: u16) -> u16 {
        match addr - BASE {
            0x00..=0x06 => self.op1 as u16,
            0x08 | 0x20 => self.op2_lo,
            0x0A | 0x24 => self.res as u16,
            0x0C | 0x26 => (self.res >> 16) as u16,
            0x0E => self.sumext,
            0x10..=0x1E => (self.op1 >> (8 * ((addr - BASE) & 2))) as u16,
            0x28 => (self.res >> 32) as u16,
            0x2A => (self.res >> 48) as u16,
            0x2C => self.ctl0,
            _ => 0,
        }
    }

    /// Word write. Byte writes reach here zero-extended with `byte` set: an 8-bit operand
    /// is sign-extended for the signed operations (SLAU367 8.2.1).
    pub fn write(&mut self, addr: u16, v: u16, byte: bool) {
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
                self.multiply(u32::from(v), 16);
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
                    self.op1 = (self.op1 & 0xFFFF) | (u32::from(v) << 16);
                    self.op1_32 = true;
                }
            }
            0x20 => self.op2_lo = v,
            0x22 => {
                let op2 = u32::from(self.op2_lo) | (u32::from(v) << 16);
                self.multiply(op2, 32);
            }
            0x2C => self.ctl0 = v & 0x03CD,
            _ => {}
        }
    }
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

    proptest! {
        #[test]
        fn mpys_gives_the_signed_32_bit_product(a: i16, b: i16) {
            let mut m = Mpy32::new();
            m.write(BASE + 0x02, a as u16, false);
            m.write(BASE + 0x08, b as u16, false);
            let r = (u32::from(m.read(BASE + 0x0C)) << 16) | u32::from(m.read(BASE + 0x0A));
            prop_assert_eq!(r as i32, i32::from(a) * i32::from(b));
            prop_assert_eq!(m.read(BASE + 0x0E), if i32::from(a) * i32::from(b) < 0 { 0xFFFF } else { 0 });
        }

        #[test]
        fn mpy_gives_the_unsigned_product(a: u16, b: u16) {
            let mut m = Mpy32::new();
            m.write(BASE, a, false);
            m.write(BASE + 0x08, b, false);
            let r = (u32::from(m.read(BASE + 0x0C)) << 16) | u32::from(m.read(BASE + 0x0A));
            prop_assert_eq!(r, u32::from(a) * u32::from(b));
        }

        #[test]
        fn macs_accumulates_signed_products(a: i16, b: i16, c: i16, d: i16) {
            let mut m = Mpy32::new();
            m.write(BASE + 0x02, a as u16, false);
            m.write(BASE + 0x08, b as u16, false);
            m.write(BASE + 0x06, c as u16, false);
            m.write(BASE + 0x08, d as u16, false);
            let r = (u32::from(m.read(BASE + 0x0C)) << 16) | u32::from(m.read(BASE + 0x0A));
            let want = (i32::from(a) * i32::from(b)).wrapping_add(i32::from(c) * i32::from(d));
            prop_assert_eq!(r as i32, want);
        }

        #[test]
        fn mpys32_gives_the_64_bit_product(a: i32, b: i32) {
            let mut m = Mpy32::new();
            m.write(BASE + 0x14, a as u16, false);
            m.write(BASE + 0x16, (a >> 16) as u16, false);
            m.write(BASE + 0x20, b as u16, false);
            m.write(BASE + 0x22, (b >> 16) as u16, false);
            let r = (0..4).fold(0u64, |acc, i| acc | (u64::from(m.read(BASE + 0x24 + 2 * i)) << (16 * i)));
            prop_assert_eq!(r as i64, i64::from(a) * i64::from(b));
        }
    }

    #[test]
    fn byte_operands_are_sign_extended_for_signed_multiplies() {
        let mut m = Mpy32::new();
        m.write(BASE + 0x02, 0x00FF, true); // -1
        m.write(BASE + 0x08, 3, false);
        assert_eq!(m.read(BASE + 0x0A), (-3i16) as u16);
        assert_eq!(m.read(BASE + 0x0C), 0xFFFF);
    }
}
