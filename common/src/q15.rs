//! Q15 fixed-point arithmetic: the single definition of the numbers the engine computes, on the
//! host and on the device alike.
//!
//! A tensor holds i16 values `q` with a per-tensor exponent `e`: the real value is
//! `q · 2^(e − 15)`, so `e = 0` is plain Q15 in [−1, 1). A convolution output element is
//! computed per input-channel tile: the products `x · w` of all its kernel taps (row-major) and
//! the tile's channels (ascending) are accumulated in an i32 that saturates at every step; the
//! sum is shifted right with rounding by the layer's `shift`, saturated to i16, and added with
//! saturation to the running partial sum (which starts at the bias). Devices may use any
//! hardware (MPY32, LEA) that gives exactly these results.

/// Saturates an i32 to the i16 range.
#[inline]
pub const fn sat16(x: i32) -> i16 {
    if x > i16::MAX as i32 {
        i16::MAX
    } else if x < i16::MIN as i32 {
        i16::MIN
    } else {
        x as i16
    }
}

/// Saturating i16 addition.
#[inline]
pub const fn add_sat(a: i16, b: i16) -> i16 {
    a.saturating_add(b)
}

/// Arithmetic right shift by `shift` (0..=31) with rounding half up, saturating in i32.
#[inline]
pub const fn shift_round(acc: i32, shift: u8) -> i32 {
    if shift == 0 {
        acc
    } else if shift >= 32 {
        0
    } else {
        acc.saturating_add(1 << (shift - 1)) >> shift
    }
}

/// Saturating i32 addition, the accumulator's step: out of line on the MSP430, where it is two
/// dozen instructions that every inlined MAC site would repeat.
#[cfg_attr(target_arch = "msp430", inline(never))]
#[cfg_attr(not(target_arch = "msp430"), inline)]
fn add_sat32(a: i32, b: i32) -> i32 {
    a.saturating_add(b)
}

/// An i32 accumulator of Q15 products that saturates at every step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Acc(pub i32);

impl Acc {
    #[inline]
    pub fn add_product(&mut self, x: i16, w: i16) {
        self.0 = add_sat32(self.0, i32::from(x) * i32::from(w));
    }

    /// Adds a dot product computed elsewhere (by a MAC unit), saturating.
    #[inline]
    pub fn add(&mut self, dot: i32) {
        self.0 = add_sat32(self.0, dot);
    }

    /// The accumulated value as an i16 contribution: shifted with rounding, saturated.
    #[inline]
    pub const fn quantize(self, shift: u8) -> i16 {
        sat16(shift_round(self.0, shift))
    }
}

/// The MAC primitive: dot product of two equal-length Q15 vectors, accumulated in an i32 that
/// saturates at every step. Extra elements of the longer slice are ignored.
#[inline]
pub fn dot(x: &[i16], w: &[i16]) -> i32 {
    let mut acc = Acc(0);
    for (&a, &b) in x.iter().zip(w) {
        acc.add_product(a, b);
    }
    acc.0
}

/// ReLU in Q15.
#[inline]
pub const fn relu(x: i16) -> i16 {
    if x < 0 {
        0
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    #[test]
    fn edge_values() {
        assert_eq!(sat16(40000), i16::MAX);
        assert_eq!(sat16(-40000), i16::MIN);
        assert_eq!(shift_round(3, 1), 2);
        assert_eq!(shift_round(-3, 1), -1);
        assert_eq!(shift_round(i32::MAX, 15), 65535);
        assert_eq!(shift_round(5, 40), 0);
        assert_eq!(dot(&[i16::MIN; 4], &[i16::MIN; 4]), i32::MAX);
        assert_eq!(dot(&[16384, -16384], &[16384, 16384]), 0);
        // 0.5 * 0.5 = 0.25 in Q15 after a shift of 15.
        assert_eq!(Acc(dot(&[16384], &[16384])).quantize(15), 8192);
    }

    proptest! {
        /// Without saturation the accumulator is exact integer arithmetic.
        #[test]
        fn dot_is_exact_when_small(v in prop::collection::vec((-2000i16..2000, -2000i16..2000), 0..64)) {
            let (x, w): (Vec<i16>, Vec<i16>) = v.into_iter().unzip();
            let exact: i64 = x.iter().zip(&w).map(|(&a, &b)| i64::from(a) * i64::from(b)).sum();
            prop_assert_eq!(i64::from(dot(&x, &w)), exact);
        }

        /// Rounding shift equals floor((x + 2^(s-1)) / 2^s) computed in i64, saturated.
        #[test]
        fn shift_round_matches_wide_arithmetic(x in any::<i32>(), s in 1u8..32) {
            let wide = (i64::from(x) + (1i64 << (s - 1))).min(i64::from(i32::MAX)) >> s;
            prop_assert_eq!(i64::from(shift_round(x, s)), wide);
        }
    }
}
