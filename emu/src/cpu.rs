//! The instruction set: what each decoded instruction does (see `decode` for decoding).
//!
//! The base ISA (27 instructions, 7 addressing modes, constant generators, byte and word) is
//! complete; of MSP430X, the address instructions (MOVA, CMPA, ADDA, SUBA; RETA is
//! `MOVA @SP+, PC`) and PUSHM/POPM are implemented because the board firmware hand-encodes
//! them. Other MSP430X opcodes (extension words, CALLA, RRxM) are reported as illegal, with
//! their address. Format I, Format II and jumps have one handler per opcode, operand kinds
//! and width (const generics), so a handler runs straight through with its operands' shapes
//! known; the rare address instructions decode their operands as they run.

use crate::decode::{Insn, D_ABS, D_IDX, D_REG, S_ABS, S_IDX, S_IMM, S_INC, S_IND, S_REG};
use crate::error::SimError;
use crate::machine::{Machine, SR_C, SR_CPUOFF, SR_GIE, SR_N, SR_V, SR_Z};

/// Executes a decoded instruction (the run loop adds its cycles and counts it).
pub(crate) type Handler = fn(&mut Machine, &Insn);

pub(crate) const MOV: u16 = 4;
pub(crate) const ADD: u16 = 5;
pub(crate) const ADDC: u16 = 6;
pub(crate) const SUBC: u16 = 7;
pub(crate) const SUB: u16 = 8;
pub(crate) const CMP: u16 = 9;
pub(crate) const DADD: u16 = 10;
pub(crate) const BIT: u16 = 11;
pub(crate) const BIC: u16 = 12;
pub(crate) const BIS: u16 = 13;
pub(crate) const XOR: u16 = 14;
pub(crate) const AND: u16 = 15;

/// The Format I handler for opcode `op`, source kind `s`, destination kind `d`, width.
pub(crate) fn format1_handler(op: u16, s: u8, d: u8, byte: bool) -> Handler {
    macro_rules! with_b {
        ($o:expr, $s:expr, $d:expr) => {
            if byte {
                format1::<{ $o }, { $s }, { $d }, true> as Handler
            } else {
                format1::<{ $o }, { $s }, { $d }, false> as Handler
            }
        };
    }
    macro_rules! with_d {
        ($o:expr, $s:expr) => {
            match d {
                D_REG => with_b!($o, $s, D_REG),
                D_IDX => with_b!($o, $s, D_IDX),
                _ => with_b!($o, $s, D_ABS),
            }
        };
    }
    macro_rules! with_s {
        ($o:expr) => {
            match s {
                S_REG => with_d!($o, S_REG),
                S_IMM => with_d!($o, S_IMM),
                S_IND => with_d!($o, S_IND),
                S_INC => with_d!($o, S_INC),
                S_IDX => with_d!($o, S_IDX),
                _ => with_d!($o, S_ABS),
            }
        };
    }
    match op {
        MOV => with_s!(MOV),
        ADD => with_s!(ADD),
        ADDC => with_s!(ADDC),
        SUBC => with_s!(SUBC),
        SUB => with_s!(SUB),
        CMP => with_s!(CMP),
        DADD => with_s!(DADD),
        BIT => with_s!(BIT),
        BIC => with_s!(BIC),
        BIS => with_s!(BIS),
        XOR => with_s!(XOR),
        _ => with_s!(AND),
    }
}

/// The Format II handler for `op` (RRC, SWPB, RRA, SXT, PUSH, CALL = 0..5), operand kind `s`.
pub(crate) fn format2_handler(op: u16, s: u8, byte: bool) -> Handler {
    macro_rules! with_b {
        ($o:expr, $s:expr) => {
            if byte {
                format2::<{ $o }, { $s }, true> as Handler
            } else {
                format2::<{ $o }, { $s }, false> as Handler
            }
        };
    }
    macro_rules! with_s {
        ($o:expr) => {
            match s {
                S_REG => with_b!($o, S_REG),
                S_IMM => with_b!($o, S_IMM),
                S_IND => with_b!($o, S_IND),
                S_INC => with_b!($o, S_INC),
                S_IDX => with_b!($o, S_IDX),
                _ => with_b!($o, S_ABS),
            }
        };
    }
    match op {
        0 => with_s!(0),
        1 => with_s!(1),
        2 => with_s!(2),
        3 => with_s!(3),
        4 => with_s!(4),
        _ => with_s!(5),
    }
}

/// The handler of jump condition `cond` (JNE, JEQ, JNC, JC, JN, JGE, JL, JMP).
pub(crate) fn jump_handler(cond: u16) -> Handler {
    match cond {
        0 => jump::<0>,
        1 => jump::<1>,
        2 => jump::<2>,
        3 => jump::<3>,
        4 => jump::<4>,
        5 => jump::<5>,
        6 => jump::<6>,
        _ => jump::<7>,
    }
}

#[inline(always)]
fn mask<const B: bool>(v: u16) -> u16 {
    if B {
        v & 0xFF
    } else {
        v
    }
}

/// A source operand's value; for memory operands also its address (Format II writes back).
#[inline(always)]
fn source<const S: u8, const B: bool>(m: &mut Machine, i: &Insn) -> (u16, u32) {
    let r = usize::from(i.sreg & 15);
    let a = match S {
        S_REG => return (mask::<B>(m.r[r] as u16), 0),
        S_IMM => return (mask::<B>(i.sx), 0),
        S_IND => m.r[r] & 0xFFFF,
        S_INC => {
            let a = m.r[r] & 0xFFFF;
            // The stack pointer always moves by a word.
            let inc = if B && r != 1 { 1 } else { 2 };
            m.r[r] = (a + inc) & 0xFFFF;
            a
        }
        S_IDX => u32::from((m.r[r] as u16).wrapping_add(i.sx)),
        _ => u32::from(i.sx),
    };
    (m.read::<B>(a), a)
}

fn format1<const OP: u16, const S: u8, const D: u8, const B: bool>(m: &mut Machine, i: &Insn) {
    m.r[0] = i.next_pc;
    let (s, _) = source::<S, B>(m, i);
    let dr = usize::from(i.dreg & 15);
    let a = match D {
        D_IDX => u32::from((m.r[dr] as u16).wrapping_add(i.dx)),
        D_ABS => u32::from(i.dx),
        _ => 0,
    };
    let d = if OP == MOV {
        0
    } else if D == D_REG {
        mask::<B>(m.r[dr] as u16)
    } else {
        m.read::<B>(a)
    };
    let r = match OP {
        MOV => s,
        ADD => m.add_flags(s, d, 0, B),
        ADDC => {
            let c = m.carry();
            m.add_flags(s, d, c, B)
        }
        SUBC => {
            let c = m.carry();
            m.add_flags(!s, d, c, B)
        }
        SUB | CMP => m.add_flags(!s, d, 1, B),
        DADD => m.dadd(s, d, B),
        BIC => d & !s,
        BIS => d | s,
        XOR => {
            let r = s ^ d;
            let msb = if B { 0x80 } else { 0x8000 };
            m.logic_flags(r, B, s & d & msb != 0);
            r
        }
        // AND and BIT.
        _ => {
            let r = s & d;
            m.logic_flags(r, B, false);
            r
        }
    };
    if OP != CMP && OP != BIT {
        if D == D_REG {
            m.write_reg(dr, mask::<B>(r));
        } else {
            m.write::<B>(a, r);
        }
    }
}

fn format2<const OP: u16, const S: u8, const B: bool>(m: &mut Machine, i: &Insn) {
    m.r[0] = i.next_pc;
    let (v, a) = source::<S, B>(m, i);
    let msb = if B { 0x80 } else { 0x8000 };
    let r = match OP {
        0 => {
            // RRC
            let c = m.carry() != 0;
            let r = (v >> 1) | if c { msb } else { 0 };
            m.flags(v & 1 != 0, r == 0, r & msb != 0, false);
            r
        }
        1 => v.rotate_left(8),
        2 => {
            // RRA
            let r = (v >> 1) | (v & msb);
            m.flags(v & 1 != 0, r == 0, r & msb != 0, false);
            r
        }
        3 => {
            // SXT
            let r = v as u8 as i8 as i16 as u16;
            m.logic_flags(r, false, false);
            r
        }
        4 => {
            // PUSH
            let sp = m.r[1].wrapping_sub(2) & 0xFFFF;
            m.r[1] = sp;
            m.write::<B>(sp, v);
            return;
        }
        _ => {
            // CALL
            let sp = m.r[1].wrapping_sub(2) & 0xFFFF;
            m.r[1] = sp;
            let ret = m.r[0] as u16;
            m.write::<false>(sp, ret);
            m.r[0] = u32::from(v & !1);
            return;
        }
    };
    match S {
        S_REG => m.write_reg(usize::from(i.sreg & 15), mask::<B>(r)),
        // A constant generator operand is not written back.
        S_IMM => {}
        _ => m.write::<B>(a, r),
    }
}

fn jump<const C: u8>(m: &mut Machine, i: &Insn) {
    let sr = m.r[2] as u16;
    let n = sr & SR_N != 0;
    let v = sr & SR_V != 0;
    let taken = match C {
        0 => sr & SR_Z == 0,
        1 => sr & SR_Z != 0,
        2 => sr & SR_C == 0,
        3 => sr & SR_C != 0,
        4 => n,
        5 => n == v,
        6 => n != v,
        _ => true,
    };
    m.r[0] = if taken { u32::from(i.sx) } else { i.next_pc };
}

/// RETI: SR, then PC with its bits 19:16 from the saved SR's top nibble (the CPUXv2 frame).
pub(crate) fn reti(m: &mut Machine, _: &Insn) {
    let sp = m.r[1] & 0xFFFF;
    let sr = m.read_word(sp);
    let lo = m.read_word((sp + 2) & 0xFFFF);
    m.r[1] = (sp + 4) & 0xFFFF;
    m.set_sr(sr & 0x0FFF);
    m.r[0] = (u32::from(lo) | (u32::from(sr & 0xF000) << 4)) & !1;
}

/// PUSHM/POPM (the opcode is in `sx`, checked by `decode`): PUSHM pushes Rdst first, down to
/// Rdst − n + 1, so the lowest register ends on top; POPM pops the lowest first. `.W` moves the
/// low 16 bits and clears bits 19:16 on the way back; `.A` moves two words per register, low
/// word at the lower address (SLAU367 4.6.2, PUSHM and POPM).
pub(crate) fn multiple(m: &mut Machine, i: &Insn) {
    m.r[0] = i.next_pc;
    let w = i.sx;
    let n = u32::from((w >> 4) & 15) + 1;
    let first = u32::from(w & 15);
    let word = w & 0x0100 != 0;
    let size = if word { 2 } else { 4 };
    if w & 0x0200 == 0 {
        for r in (first + 1 - n..=first).rev() {
            let v = m.r[r as usize];
            let sp = (m.r[1].wrapping_sub(size)) & 0xF_FFFF;
            m.r[1] = sp;
            if word {
                m.write_word(sp, v as u16);
            } else {
                m.write20(sp, v);
            }
        }
    } else {
        for r in first..first + n {
            let sp = m.r[1];
            let v = if word {
                u32::from(m.read_word(sp))
            } else {
                m.read20(sp)
            };
            m.r[1] = (sp + size) & 0xF_FFFF;
            match r {
                0 => m.r[0] = v & 0xF_FFFE,
                2 => m.set_sr(v as u16),
                3 => {}
                _ => m.r[r as usize] = v & 0xF_FFFF,
            }
        }
    }
}

/// The MSP430X address instructions, decoded as they run (the opcode is in `sx`).
pub(crate) fn address(m: &mut Machine, i: &Insn) {
    let pc = m.pc_now;
    m.r[0] = (pc + 2) & 0xF_FFFF;
    match m.exec_address(i.sx, pc) {
        Ok(cycles) => m.cycles += u64::from(cycles),
        Err(e) => m.fail(e),
    }
}

impl Machine {
    #[inline(always)]
    fn read<const B: bool>(&mut self, a: u32) -> u16 {
        if B {
            u16::from(self.read_byte(a))
        } else {
            self.read_word(a)
        }
    }

    #[inline(always)]
    fn write<const B: bool>(&mut self, a: u32, v: u16) {
        if B {
            self.write_byte(a, v as u8)
        } else {
            self.write_word(a, v)
        }
    }

    fn fetch(&mut self) -> Result<u16, SimError> {
        let pc = self.r[0];
        if !self.mem.page(pc).is_memory() {
            return Err(SimError::UnmappedFetch { pc });
        }
        self.r[0] = (pc + 2) & 0xF_FFFF;
        Ok(self.mem.word(pc))
    }

    /// A register write by an MSP430 instruction: 16 bits, clearing bits 19:16.
    #[inline(always)]
    fn write_reg(&mut self, r: usize, v: u16) {
        match r {
            // PC and SP bit 0 are hard-wired to 0 (SLAU367 4.3.1, 4.3.2).
            0 | 1 => self.r[r] = u32::from(v & !1),
            2 => self.set_sr(v),
            3 => {}
            _ => self.r[r & 15] = u32::from(v),
        }
    }

    /// An explicit SR write. The run loop's fast path assumes the CPU is on and no interrupt
    /// is due: a write that turns the CPU off, or enables interrupts while one is pending,
    /// ends the fast path at this instruction.
    pub(crate) fn set_sr(&mut self, v: u16) {
        let old = self.r[2] as u16;
        self.r[2] = u32::from(v);
        let enabled = old & SR_GIE == 0 && v & SR_GIE != 0;
        if enabled {
            // The instruction after the one that sets GIE runs before any interrupt.
            self.gie_set_at = self.instructions;
        }
        if v & SR_CPUOFF != 0 || (enabled && self.irq_line) {
            self.next_event = self.cycles;
        }
    }

    #[inline(always)]
    fn flags(&mut self, c: bool, z: bool, n: bool, v: bool) {
        let sr = self.r[2] as u16 & !(SR_C | SR_Z | SR_N | SR_V);
        self.r[2] = u32::from(
            sr | if c { SR_C } else { 0 }
                | if z { SR_Z } else { 0 }
                | if n { SR_N } else { 0 }
                | if v { SR_V } else { 0 },
        );
    }

    #[inline(always)]
    fn carry(&self) -> u32 {
        self.r[2] & u32::from(SR_C)
    }

    /// `a + b + c` with all four flags.
    #[inline(always)]
    fn add_flags(&mut self, a: u16, b: u16, c: u32, byte: bool) -> u16 {
        let (mask, msb) = if byte {
            (0xFFu32, 0x80u32)
        } else {
            (0xFFFF, 0x8000)
        };
        let (a, b) = (u32::from(a) & mask, u32::from(b) & mask);
        let sum = a + b + c;
        let r = sum & mask;
        self.flags(
            sum > mask,
            r == 0,
            r & msb != 0,
            (a ^ r) & (b ^ r) & msb != 0,
        );
        r as u16
    }

    /// Binary-coded decimal addition, digit by digit with decimal carry.
    fn dadd(&mut self, src: u16, dst: u16, byte: bool) -> u16 {
        let digits = if byte { 2 } else { 4 };
        let mut carry = self.carry();
        let mut r: u32 = 0;
        for i in 0..digits {
            let s = (u32::from(src) >> (4 * i)) & 0xF;
            let d = (u32::from(dst) >> (4 * i)) & 0xF;
            // A binary digit sum with decimal adjust: +6 above 9, the carry is what spills
            // over 4 bits. For valid BCD this is decimal addition; invalid digits (undefined
            // in SLAU367) then give what mspdebug gives.
            let mut x = s + d + carry;
            if x > 9 {
                x += 6;
            }
            carry = x >> 4;
            r |= (x & 0xF) << (4 * i);
        }
        let msb = if byte { 0x80 } else { 0x8000 };
        // SLAU367 leaves V undefined after DADD; it is cleared (as mspdebug does).
        self.flags(carry != 0, r == 0, r & msb != 0, false);
        r as u16
    }

    /// Flags of AND, BIT, XOR, SXT: N and Z from the result, C = not Z.
    #[inline(always)]
    fn logic_flags(&mut self, r: u16, byte: bool, v: bool) {
        let (mask, msb) = if byte { (0xFF, 0x80) } else { (0xFFFF, 0x8000) };
        let r = r & mask;
        self.flags(r != 0, r == 0, r & msb != 0, v);
    }

    pub(crate) fn read20(&mut self, a: u32) -> u32 {
        let lo = self.read_word(a);
        let hi = self.read_word((a + 2) & 0xF_FFFF);
        u32::from(lo) | (u32::from(hi & 0xF) << 16)
    }

    pub(crate) fn write20(&mut self, a: u32, v: u32) {
        self.write_word(a, v as u16);
        self.write_word((a + 2) & 0xF_FFFF, ((v >> 16) & 0xF) as u16);
    }

    /// 20-bit arithmetic flags for ADDA/SUBA/CMPA.
    fn add20(&mut self, a: u32, b: u32, c: u32) -> u32 {
        let (a, b) = (a & 0xF_FFFF, b & 0xF_FFFF);
        let sum = a + b + c;
        let r = sum & 0xF_FFFF;
        let msb = 0x8_0000;
        self.flags(
            sum > 0xF_FFFF,
            r == 0,
            r & msb != 0,
            (a ^ r) & (b ^ r) & msb != 0,
        );
        r
    }

    /// MSP430X address instructions (opcode 0x0xxx): MOVA, CMPA, ADDA, SUBA (SLAU367 4.5.2.5).
    fn exec_address(&mut self, w: u16, pc: u32) -> Result<u8, SimError> {
        let src = usize::from((w >> 8) & 15);
        let dst = usize::from(w & 15);
        let t = &self.lut.t;
        let (mova_ind, mova_abs_s, mova_idx_s, mova_abs_d, mova_idx_d, mova_imm, adda_imm, rr) = (
            t.mova_indirect,
            t.mova_absolute_src,
            t.mova_indexed_src,
            t.mova_absolute_dst,
            t.mova_indexed_dst,
            t.mova_immediate,
            t.adda_immediate,
            t.mova_reg_reg,
        );
        let reta = t.reta;
        let set = |m: &mut Machine, r: usize, v: u32| match r {
            0 => m.r[0] = v & 0xF_FFFE,
            2 => m.set_sr(v as u16),
            3 => {}
            _ => m.r[r] = v & 0xF_FFFF,
        };
        let cycles = match (w >> 4) & 15 {
            0 => {
                let v = self.read20(self.r[src]);
                set(self, dst, v);
                mova_ind
            }
            1 => {
                let a = self.r[src];
                let v = self.read20(a);
                self.r[src] = (a + 4) & 0xF_FFFF;
                set(self, dst, v);
                if src == 1 && dst == 0 {
                    reta
                } else {
                    mova_ind
                }
            }
            2 => {
                let a = ((src as u32) << 16) | u32::from(self.fetch()?);
                let v = self.read20(a);
                set(self, dst, v);
                mova_abs_s
            }
            3 => {
                let x = self.fetch()? as i16 as i32;
                let a = (self.r[src] as i32).wrapping_add(x) as u32 & 0xF_FFFF;
                let v = self.read20(a);
                set(self, dst, v);
                mova_idx_s
            }
            6 => {
                let a = ((dst as u32) << 16) | u32::from(self.fetch()?);
                let v = self.r[src];
                self.write20(a, v);
                mova_abs_d
            }
            7 => {
                let x = self.fetch()? as i16 as i32;
                let a = (self.r[dst] as i32).wrapping_add(x) as u32 & 0xF_FFFF;
                let v = self.r[src];
                self.write20(a, v);
                mova_idx_d
            }
            8 => {
                let v = ((src as u32) << 16) | u32::from(self.fetch()?);
                set(self, dst, v);
                mova_imm
            }
            op @ 9..=11 => {
                let imm = ((src as u32) << 16) | u32::from(self.fetch()?);
                let d = self.r[dst];
                match op {
                    9 => {
                        self.add20(!imm, d, 1);
                    }
                    10 => {
                        let r = self.add20(imm, d, 0);
                        set(self, dst, r);
                    }
                    _ => {
                        let r = self.add20(!imm, d, 1);
                        set(self, dst, r);
                    }
                }
                adda_imm
            }
            12 => {
                let v = self.r[src];
                set(self, dst, v);
                rr
            }
            op @ 13..=15 => {
                let (s, d) = (self.r[src], self.r[dst]);
                match op {
                    13 => {
                        self.add20(!s, d, 1);
                    }
                    14 => {
                        let r = self.add20(s, d, 0);
                        set(self, dst, r);
                    }
                    _ => {
                        let r = self.add20(!s, d, 1);
                        set(self, dst, r);
                    }
                }
                rr
            }
            _ => {
                return Err(SimError::IllegalInstruction {
                    pc,
                    word: w,
                    why: "MSP430X rotate-multiple (RRCM/RRAM/RLAM/RRUM) is not modelled",
                })
            }
        };
        Ok(cycles)
    }
}
