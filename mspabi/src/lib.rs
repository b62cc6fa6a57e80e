//! The `__mspabi_*` helpers LLVM calls on the MSP430 for 16/32-bit multiply, divide, remainder
//! and variable shifts (libgcc provides them for msp430-gcc; Rust's compiler_builtins does
//! not). Each is written with additions, subtractions, comparisons and one-bit (or constant)
//! shifts only: `*`, `/`, `%` and variable shifts would lower back to these very helpers.
//!
//! On the MSP430 they are exported under their EABI names; on the host they are ordinary
//! functions, property-tested against Rust's own operators. Division by zero returns an
//! all-ones quotient and the dividend as remainder, as TI's runtime does.
//!
//! With the `mpy32` feature (the LaunchPad build) the 16- and 32-bit multiplies use the MPY32
//! hardware multiplier instead: 20-odd cycles where shift-and-add takes hundreds. They set
//! MPY32CTL0 to 0 (plain products) themselves, so they may follow code that left the
//! multiplier in another mode; nothing may multiply from an interrupt handler (the firmware's
//! handlers do not), and code that keeps a sum in MPY32 across instructions must not call
//! them meanwhile (the firmware's MAC keeps it within one asm block).
#![no_std]
#![cfg_attr(target_arch = "msp430", feature(asm_experimental_arch))]
// Every unsafe block says why it is sound.
#![deny(clippy::undocumented_unsafe_blocks)]

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
        #[cfg_attr(all(target_arch = "msp430", feature = "mpy32"), allow(dead_code))]
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

#[cfg(not(all(target_arch = "msp430", feature = "mpy32")))]
export!(
    fn __mspabi_mpyi(a: i16, b: i16) -> i16 {
        mul16(a as u16, b as u16) as i16
    }
);
#[cfg(not(all(target_arch = "msp430", feature = "mpy32")))]
export!(
    fn __mspabi_mpyl(a: i32, b: i32) -> i32 {
        mul32(a as u32, b as u32) as i32
    }
);

/// The multiplies on MPY32 (SLAU367P chapter 5). Unsigned products: their low 16 or 32 bits
/// are the wrapping product of either signedness.
#[cfg(all(target_arch = "msp430", feature = "mpy32"))]
mod hw {
    use core::arch::asm;

    const MPY: u16 = 0x04C0;
    const OP2: u16 = 0x04C8;
    const RESLO: u16 = 0x04CA;
    const MPY32L: u16 = 0x04D0;
    const MPY32H: u16 = 0x04D2;
    const OP2L: u16 = 0x04E0;
    const OP2H: u16 = 0x04E2;
    const RES0: u16 = 0x04E4;
    const RES1: u16 = 0x04E6;
    const MPY32CTL0: u16 = 0x04EC;

    #[no_mangle]
    pub extern "C" fn __mspabi_mpyi(a: i16, b: i16) -> i16 {
        let r: i16;
        // SAFETY: only MPY32 registers are touched. RESLO is read by the instruction after the
        // OP2 write, 3 cycles later: when a 16x16 result is ready (Table 5-5).
        unsafe {
            asm!(
                "clr &{ctl}",
                "mov {a}, &{mpy}",
                "mov {b}, &{op2}",
                "mov &{reslo}, {r}",
                a = in(reg) a,
                b = in(reg) b,
                r = lateout(reg) r,
                ctl = const MPY32CTL0,
                mpy = const MPY,
                op2 = const OP2,
                reslo = const RESLO,
                options(nostack),
            )
        };
        r
    }

    #[no_mangle]
    pub extern "C" fn __mspabi_mpyl(a: i32, b: i32) -> i32 {
        let (lo, hi): (u16, u16);
        // SAFETY: only MPY32 registers are touched. After the OP2H write RES0 is ready in 3
        // cycles and RES1 in 5 (Table 5-5): the two reads end 3 and 6 cycles later.
        unsafe {
            asm!(
                "clr &{ctl}",
                "mov {al}, &{mpy32l}",
                "mov {ah}, &{mpy32h}",
                "mov {bl}, &{op2l}",
                "mov {bh}, &{op2h}",
                "mov &{res0}, {lo}",
                "mov &{res1}, {hi}",
                al = in(reg) a as u16,
                ah = in(reg) (a >> 16) as u16,
                bl = in(reg) b as u16,
                bh = in(reg) (b >> 16) as u16,
                lo = lateout(reg) lo,
                hi = lateout(reg) hi,
                ctl = const MPY32CTL0,
                mpy32l = const MPY32L,
                mpy32h = const MPY32H,
                op2l = const OP2L,
                op2h = const OP2H,
                res0 = const RES0,
                res1 = const RES1,
                options(nostack),
            )
        };
        ((u32::from(hi) << 16) | u32::from(lo)) as i32
    }
}
#[cfg(not(target_arch = "msp430"))]
export!(
    fn __mspabi_divu(a: u16, b: u16) -> u16 {
        divmod16(a, b).0
    }
);
#[cfg(not(target_arch = "msp430"))]
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
#[cfg(not(target_arch = "msp430"))]
export!(
    fn __mspabi_divul(a: u32, b: u32) -> u32 {
        divmod32(a, b).0
    }
);
#[cfg(not(target_arch = "msp430"))]
export!(
    fn __mspabi_remul(a: u32, b: u32) -> u32 {
        divmod32(a, b).1
    }
);

// The unsigned divisions on the MSP430, where they run once per batch at least: restoring
// division a bit per step in registers (about 11 cycles a bit; the Rust loop above compiled to
// some 50), and u32 operands that both fit 16 bits (tile numbers and counts) take the 16-bit
// loop. Division by zero gives an all-ones quotient and the dividend as remainder, as the
// steps do by themselves (a zero divisor is always subtracted). The emulator's tests call them
// in the firmware against Rust's operators.
#[cfg(target_arch = "msp430")]
core::arch::global_asm!(
    ".section .text.mspabi_div,\"ax\",@progbits",
    ".p2align 1",
    // r12 / r13 -> quotient r12, remainder r14; clobbers r15.
    ".type inas_udivmod16,@function",
    "inas_udivmod16:",
    "    clr r14",
    "    mov #16, r15",
    "1:  rla r12",
    "    rlc r14",
    // A remainder past 16 bits is past the divisor too.
    "    jc 3f",
    "    cmp r13, r14",
    "    jlo 2f",
    "3:  sub r13, r14",
    "    bis #1, r12",
    "2:  dec r15",
    "    jne 1b",
    "    ret",
    // r12:r13 / r14:r15 -> quotient r12:r13, remainder r14:r15.
    ".size inas_udivmod16, .-inas_udivmod16",
    ".type inas_udivmod32,@function",
    "inas_udivmod32:",
    "    tst r13",
    "    jne 10f",
    "    tst r15",
    "    jne 10f",
    "    tst r14",
    "    jeq 10f",
    "    mov r14, r13",
    "    call #inas_udivmod16",
    "    clr r13",
    "    clr r15",
    "    ret",
    "10: push r10",
    "    push r9",
    "    clr r10",
    "    clr r11",
    "    mov #32, r9",
    "11: rla r12",
    "    rlc r13",
    "    rlc r10",
    "    rlc r11",
    "    jc 13f",
    "    cmp r15, r11",
    "    jlo 12f",
    "    jne 13f",
    "    cmp r14, r10",
    "    jlo 12f",
    "13: sub r14, r10",
    "    subc r15, r11",
    "    bis #1, r12",
    "12: dec r9",
    "    jne 11b",
    "    mov r10, r14",
    "    mov r11, r15",
    "    pop r9",
    "    pop r10",
    "    ret",
    ".size inas_udivmod32, .-inas_udivmod32",
    ".global __mspabi_divu",
    "__mspabi_divu:",
    "    br #inas_udivmod16",
    ".global __mspabi_remu",
    "__mspabi_remu:",
    "    call #inas_udivmod16",
    "    mov r14, r12",
    "    ret",
    ".global __mspabi_divul",
    "__mspabi_divul:",
    "    br #inas_udivmod32",
    ".global __mspabi_remul",
    "__mspabi_remul:",
    "    call #inas_udivmod32",
    "    mov r14, r12",
    "    mov r15, r13",
    "    ret",
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
        fn divide_small(a in any::<u16>(), b in 1u16..) {
            let (ua, ub) = (u32::from(a), u32::from(b));
            prop_assert_eq!(__mspabi_divul(ua, ub), ua / ub);
            prop_assert_eq!(__mspabi_remul(ua, ub), ua % ub);
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
