//! The `__mspabi_*` helpers LLVM calls on the MSP430 for 16/32-bit multiply, divide, remainder
//! and variable shifts (libgcc provides them for msp430-gcc; Rust's compiler_builtins does
//! not). Each is written with additions, subtractions, comparisons and one-bit (or constant)
//! shifts only: `*`, `/`, `%` and variable shifts would lower back to these very helpers.
//!
//! On the MSP430 they are exported under their EABI names; on the host they are ordinary
//! functions, property-tested against Rust's own operators. Division by zero returns an
//! all-ones quotient and the dividend as remainder, as TI's runtime does.
#![no_std]

macro_rules! export {
    ($(#[$m:meta])* fn $name:ident($($a:ident: $t:ty),*) -> $r:ty $body:block) => {
        $(#[$m])*
        #[cfg_attr(target_arch = "msp430", no_mangle)]
        pub extern "C" fn $name($($a: $t),*) -> $r $body
    };
}

macro_rules! unsigned {
    ($mul:ident, $divmod:ident, $t:ty, $bits:expr) => {
        /// Shift-and-add multiply (wrapping).
        #[inline(always)]
        fn $mul(mut a: $t, mut b: $t) -> $t {
            let mut r: $t = 0;
            while b != 0 {
                if b & 1 != 0 {
                    r = r.wrapping_add(a);
                }
                a <<= 1;
                b >>= 1;
            }
            r
        }

        /// Restoring division, most significant bit first: (quotient, remainder).
        #[inline(always)]
        fn $divmod(n: $t, d: $t) -> ($t, $t) {
            if d == 0 {
                return (<$t>::MAX, n);
            }
            let (mut num, mut quo, mut rem): ($t, $t, $t) = (n, 0, 0);
            let mut i = 0;
            while i < $bits {
                rem = (rem << 1) | (num >> ($bits - 1));
                num <<= 1;
                quo <<= 1;
                if rem >= d {
                    rem = rem.wrapping_sub(d);
                    quo |= 1;
                }
                i += 1;
            }
            (quo, rem)
        }
    };
}

unsigned!(mul16, divmod16, u16, 16);
unsigned!(mul32, divmod32, u32, 32);

/// Signed division truncating toward zero, from the unsigned one.
macro_rules! signed_divmod {
    ($name:ident, $s:ty, $u:ty, $divmod:ident) => {
        #[inline(always)]
        fn $name(n: $s, d: $s) -> ($s, $s) {
            let (un, ud) = (n.unsigned_abs(), d.unsigned_abs());
            let (q, r) = $divmod(un, ud);
            let q = if (n < 0) != (d < 0) {
                (q as $s).wrapping_neg()
            } else {
                q as $s
            };
            let r = if n < 0 {
                (r as $s).wrapping_neg()
            } else {
                r as $s
            };
            (q, r)
        }
    };
}

signed_divmod!(idivmod16, i16, u16, divmod16);
signed_divmod!(idivmod32, i32, u32, divmod32);

export!(
    fn __mspabi_mpyi(a: i16, b: i16) -> i16 {
        mul16(a as u16, b as u16) as i16
    }
);
export!(
    fn __mspabi_mpyl(a: i32, b: i32) -> i32 {
        mul32(a as u32, b as u32) as i32
    }
);
export!(
    fn __mspabi_divu(a: u16, b: u16) -> u16 {
        divmod16(a, b).0
    }
);
export!(
    fn __mspabi_remu(a: u16, b: u16) -> u16 {
        divmod16(a, b).1
    }
);
export!(
    fn __mspabi_divi(a: i16, b: i16) -> i16 {
        idivmod16(a, b).0
    }
);
export!(
    fn __mspabi_remi(a: i16, b: i16) -> i16 {
        idivmod16(a, b).1
    }
);
export!(
    fn __mspabi_divul(a: u32, b: u32) -> u32 {
        divmod32(a, b).0
    }
);
export!(
    fn __mspabi_remul(a: u32, b: u32) -> u32 {
        divmod32(a, b).1
    }
);
export!(
    fn __mspabi_divli(a: i32, b: i32) -> i32 {
        idivmod32(a, b).0
    }
);
export!(
    fn __mspabi_remli(a: i32, b: i32) -> i32 {
        idivmod32(a, b).1
    }
);

/// Variable shifts: one bit per step (counts are taken modulo the width, as the hardware would).
macro_rules! shift {
    ($name:ident, $t:ty, $bits:expr, $op:tt) => {
        export!(
            // `$op` is a shift token; the compound form cannot be built from it.
            #[allow(clippy::assign_op_pattern)]
            fn $name(a: $t, n: i16) -> $t {
            let mut v = a;
            let mut k = (n as u16) & ($bits - 1);
            while k > 0 {
                v = v $op 1;
                k -= 1;
            }
            v
        });
    };
}

shift!(__mspabi_slli, u16, 16, <<);
shift!(__mspabi_srli, u16, 16, >>);
shift!(__mspabi_srai, i16, 16, >>);
shift!(__mspabi_slll, u32, 32, <<);
shift!(__mspabi_srll, u32, 32, >>);
shift!(__mspabi_sral, i32, 32, >>);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn multiply(a in any::<i32>(), b in any::<i32>()) {
            prop_assert_eq!(__mspabi_mpyl(a, b), a.wrapping_mul(b));
            let (a16, b16) = (a as i16, b as i16);
            prop_assert_eq!(__mspabi_mpyi(a16, b16), a16.wrapping_mul(b16));
        }

        #[test]
        fn divide(a in any::<i32>(), b in any::<i32>().prop_filter("nonzero", |b| *b != 0)) {
            let (ua, ub) = (a as u32, b as u32);
            prop_assert_eq!(__mspabi_divul(ua, ub), ua / ub);
            prop_assert_eq!(__mspabi_remul(ua, ub), ua % ub);
            prop_assert_eq!(__mspabi_divli(a, b), a.wrapping_div(b));
            prop_assert_eq!(__mspabi_remli(a, b), a.wrapping_rem(b));
            let (a16, b16) = (a as i16, if b as i16 == 0 { 1 } else { b as i16 });
            prop_assert_eq!(__mspabi_divi(a16, b16), a16.wrapping_div(b16));
            prop_assert_eq!(__mspabi_remi(a16, b16), a16.wrapping_rem(b16));
            prop_assert_eq!(__mspabi_divu(a16 as u16, b16 as u16), a16 as u16 / b16 as u16);
            prop_assert_eq!(__mspabi_remu(a16 as u16, b16 as u16), a16 as u16 % b16 as u16);
        }

        #[test]
        fn shift(a in any::<i32>(), n in 0i16..32) {
            prop_assert_eq!(__mspabi_slll(a as u32, n), (a as u32) << n);
            prop_assert_eq!(__mspabi_srll(a as u32, n), (a as u32) >> n);
            prop_assert_eq!(__mspabi_sral(a, n), a >> n);
            let (a16, n16) = (a as i16, n & 15);
            prop_assert_eq!(__mspabi_slli(a16 as u16, n16), (a16 as u16) << n16);
            prop_assert_eq!(__mspabi_srli(a16 as u16, n16), (a16 as u16) >> n16);
            prop_assert_eq!(__mspabi_srai(a16, n16), a16 >> n16);
        }
    }

    #[test]
    fn edges() {
        assert_eq!(__mspabi_divli(i32::MIN, -1), i32::MIN);
        assert_eq!(__mspabi_remli(i32::MIN, -1), 0);
        assert_eq!(__mspabi_divul(7, 0), u32::MAX);
        assert_eq!(__mspabi_remul(7, 0), 7);
        assert_eq!(__mspabi_mpyl(i32::MIN, -1), i32::MIN);
    }
}
