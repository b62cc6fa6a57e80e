//! The board firmware's hand-written routines, called one by one on the emulator and compared
//! with Rust's own operators: the division and multiply helpers of `inas-mspabi` and the
//! firmware's `memcpy`/`memset`. (The MAC and DMA routines are checked end to end: random plans
//! with every shift and saturating data give the host engine's logits, in host/tests.)

mod common;

use inas_emu::builds::Build;
use inas_emu::{Emulator, Firmware, Machine, MachineConfig, Stop};
use proptest::prelude::*;

/// Where calls return to: a breakpoint at the reset routine, which a call never reaches.
struct Harness {
    m: Machine,
    fw: Firmware,
    back: u32,
}

/// A free SRAM stack for the calls (the firmware's own data sits below it), and buffers.
const STACK: u32 = 0x3B00;
const BUF_A: u32 = 0x2800;
const BUF_B: u32 = 0x2A00;

impl Harness {
    fn new() -> Harness {
        let fw = Firmware::from_path(&common::elf(Build::Board)).expect("parses");
        let mut emu = Emulator::new(fw.clone(), MachineConfig::default()).expect("loads");
        let back = fw.symbol("Reset").expect("Reset");
        emu.machine.add_breakpoint(back);
        Harness {
            m: emu.machine,
            fw,
            back,
        }
    }

    /// Calls `func` with r12..r15 = `args`; returns r12..r15 after it returns.
    fn call(&mut self, func: &str, args: [u16; 4]) -> [u16; 4] {
        let pc = self
            .fw
            .symbol(func)
            .unwrap_or_else(|| panic!("{func} is not in the firmware"));
        let sp = STACK - 2;
        self.m.memory_mut().set_word(sp, self.back as u16);
        self.m.set_reg(1, sp);
        for (i, &a) in args.iter().enumerate() {
            self.m.set_reg(12 + i, u32::from(a));
        }
        self.m.set_reg(0, pc);
        match self.m.run(1_000_000, u64::MAX).expect("runs") {
            Stop::Breakpoint(at) => assert_eq!(at, self.back),
            other => panic!("{func} did not return: {other:?}"),
        }
        assert_eq!(self.m.reg(1), STACK, "{func} left the stack unbalanced");
        std::array::from_fn(|i| self.m.reg(12 + i) as u16)
    }
}

fn split(v: u32) -> (u16, u16) {
    (v as u16, (v >> 16) as u16)
}

fn join(lo: u16, hi: u16) -> u32 {
    u32::from(lo) | (u32::from(hi) << 16)
}

/// TI's runtime: division by zero gives all ones and leaves the dividend as remainder.
fn udiv32(a: u32, b: u32) -> (u32, u32) {
    match (a.checked_div(b), a.checked_rem(b)) {
        (Some(q), Some(r)) => (q, r),
        _ => (u32::MAX, a),
    }
}

fn divisors() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1u32),
        1u32..0x1_0000,
        0x8000u32..0x1_0000,
        any::<u32>()
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn divisions_match_rusts_operators(a in any::<u32>(), b in divisors(), small in any::<bool>()) {
        let mut h = Harness::new();
        let (a, b) = if small { (a & 0xFFFF, b & 0xFFFF) } else { (a, b) };
        let (q, r) = udiv32(a, b);
        let ((al, ah), (bl, bh)) = (split(a), split(b));
        let got = h.call("__mspabi_divul", [al, ah, bl, bh]);
        prop_assert_eq!(join(got[0], got[1]), q, "{} / {}", a, b);
        let got = h.call("__mspabi_remul", [al, ah, bl, bh]);
        prop_assert_eq!(join(got[0], got[1]), r, "{} % {}", a, b);
        let q16 = al.checked_div(bl).unwrap_or(u16::MAX);
        let r16 = al.checked_rem(bl).unwrap_or(al);
        prop_assert_eq!(h.call("__mspabi_divu", [al, bl, 0, 0])[0], q16);
        prop_assert_eq!(h.call("__mspabi_remu", [al, bl, 0, 0])[0], r16);
    }

    #[test]
    fn multiplies_match_rusts_operators(a in any::<u32>(), b in any::<u32>()) {
        let mut h = Harness::new();
        let ((al, ah), (bl, bh)) = (split(a), split(b));
        let got = h.call("__mspabi_mpyl", [al, ah, bl, bh]);
        prop_assert_eq!(join(got[0], got[1]), a.wrapping_mul(b));
        prop_assert_eq!(h.call("__mspabi_mpyi", [al, bl, 0, 0])[0], al.wrapping_mul(bl));
        prop_assert_eq!(h.m.access_log().total(), 0, "{:?}", h.m.access_log());
    }

    #[test]
    fn memcpy_and_memset_match(
        data in prop::collection::vec(any::<u8>(), 0..300),
        src_odd in any::<bool>(),
        dst_odd in any::<bool>(),
        fill in any::<u8>(),
    ) {
        let mut h = Harness::new();
        let (src, dst) = (BUF_A + u32::from(src_odd), BUF_B + u32::from(dst_odd));
        h.m.memory_mut().write_bytes(src, &data);
        h.m.memory_mut().write_bytes(dst - 1, &vec![0xEE; data.len() + 2]);
        let n = data.len() as u16;
        let got = h.call("memcpy", [dst as u16, src as u16, n, 0]);
        prop_assert_eq!(u32::from(got[0]), dst);
        prop_assert_eq!(h.m.memory().read_bytes(dst, data.len()), data.clone());
        // Nothing either side was touched.
        prop_assert_eq!(h.m.memory().byte(dst - 1), 0xEE);
        prop_assert_eq!(h.m.memory().byte(dst + u32::from(n)), 0xEE);
        let got = h.call("memset", [dst as u16, u16::from(fill), n, 0]);
        prop_assert_eq!(u32::from(got[0]), dst);
        prop_assert_eq!(h.m.memory().read_bytes(dst, data.len()), vec![fill; data.len()]);
        prop_assert_eq!(h.m.memory().byte(dst - 1), 0xEE);
        prop_assert_eq!(h.m.memory().byte(dst + u32::from(n)), 0xEE);
    }
}
