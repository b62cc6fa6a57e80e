//! The instruction interpreter: decode and execute one MSP430 instruction per `step`.
//!
//! The base ISA (27 instructions, 7 addressing modes, constant generators, byte and word) is
//! complete; of MSP430X, the address instructions (MOVA, CMPA, ADDA, SUBA; RETA is
//! `MOVA @SP+, PC`) are implemented because the board firmware hand-encodes two of them. Other
//! MSP430X opcodes (extension words, CALLA, PUSHM/POPM, RRxM) are reported as illegal, with
//! their address. Decoding is a match on the opcode's top bits and operands resolve to a small
//! `Loc` value: no allocation and no table of closures, so the hot loop stays in registers.

use crate::error::SimError;
use crate::machine::{Machine, SR_C, SR_GIE, SR_N, SR_V, SR_Z};

/// Where an operand lives.
#[derive(Clone, Copy, Debug)]
enum Loc {
    Reg(usize),
    Mem(u32),
    Imm(u16),
}

// Rows of the cycle tables.
const M_REG: usize = 0;
const M_IND: usize = 1;
const M_INC: usize = 2;
const M_IMM: usize = 3;
const M_IDX: usize = 4;
const M_SYM: usize = 5;
const M_ABS: usize = 6;

const MOV: u16 = 4;
const ADD: u16 = 5;
const ADDC: u16 = 6;
const SUBC: u16 = 7;
const SUB: u16 = 8;
const CMP: u16 = 9;
const DADD: u16 = 10;
const BIT: u16 = 11;
const BIC: u16 = 12;
const BIS: u16 = 13;
const XOR: u16 = 14;

impl Machine {
    #[inline(always)]
    fn fetch(&mut self) -> Result<u16, SimError> {
        let pc = self.r[0];
        if !self.mem.page(pc).is_memory() {
            return Err(SimError::UnmappedFetch { pc });
        }
        self.r[0] = (pc + 2) & 0xF_FFFF;
        Ok(self.mem.word(pc))
    }

    /// Resolves a source (or Format II) operand: As and the register select the mode; the
    /// constant generators R2 (As 2, 3) and R3 give immediate values without a memory access.
    #[inline(always)]
    fn src_loc(&mut self, reg: usize, as_: u16, byte: bool) -> Result<(Loc, usize), SimError> {
        Ok(match as_ {
            0 => {
                if reg == 3 {
                    (Loc::Imm(0), M_REG)
                } else {
                    (Loc::Reg(reg), M_REG)
                }
            }
            1 => match reg {
                3 => (Loc::Imm(1), M_REG),
                2 => (Loc::Mem(u32::from(self.fetch()?)), M_ABS),
                0 => {
                    let at = self.r[0] as u16;
                    let x = self.fetch()?;
                    (Loc::Mem(u32::from(at.wrapping_add(x))), M_SYM)
                }
                _ => {
                    let x = self.fetch()?;
                    (
                        Loc::Mem(u32::from((self.r[reg] as u16).wrapping_add(x))),
                        M_IDX,
                    )
                }
            },
            2 => match reg {
                2 => (Loc::Imm(4), M_REG),
                3 => (Loc::Imm(2), M_REG),
                _ => (Loc::Mem(self.r[reg] & 0xFFFF), M_IND),
            },
            _ => match reg {
                2 => (Loc::Imm(8), M_REG),
                3 => (Loc::Imm(0xFFFF), M_REG),
                0 => (Loc::Imm(self.fetch()?), M_IMM),
                _ => {
                    let a = self.r[reg] & 0xFFFF;
                    // The stack pointer always moves by a word.
                    let inc = if byte && reg != 1 { 1 } else { 2 };
                    self.r[reg] = (a + inc) & 0xFFFF;
                    (Loc::Mem(a), M_INC)
                }
            },
        })
    }

    /// Resolves a Format I destination; the second value is the cycle table's column.
    #[inline(always)]
    fn dst_loc(&mut self, reg: usize, ad: bool) -> Result<(Loc, usize), SimError> {
        if !ad {
            return Ok((Loc::Reg(reg), usize::from(reg == 0)));
        }
        Ok(match reg {
            2 => (Loc::Mem(u32::from(self.fetch()?)), 4),
            0 => {
                let at = self.r[0] as u16;
                let x = self.fetch()?;
                (Loc::Mem(u32::from(at.wrapping_add(x))), 3)
            }
            3 => {
                let x = self.fetch()?;
                (Loc::Mem(u32::from(x)), 2)
            }
            _ => {
                let x = self.fetch()?;
                (Loc::Mem(u32::from((self.r[reg] as u16).wrapping_add(x))), 2)
            }
        })
    }

    #[inline(always)]
    fn read_loc(&mut self, loc: Loc, byte: bool) -> u16 {
        match loc {
            Loc::Reg(r) => {
                let v = self.r[r] as u16;
                if byte {
                    v & 0xFF
                } else {
                    v
                }
            }
            Loc::Mem(a) => {
                if byte {
                    u16::from(self.read_byte(a))
                } else {
                    self.read_word(a)
                }
            }
            Loc::Imm(v) => {
                if byte {
                    v & 0xFF
                } else {
                    v
                }
            }
        }
    }

    #[inline(always)]
    fn write_loc(&mut self, loc: Loc, byte: bool, v: u16) {
        match loc {
            Loc::Reg(r) => self.write_reg(r, if byte { v & 0xFF } else { v }),
            Loc::Mem(a) => {
                if byte {
                    self.write_byte(a, v as u8)
                } else {
                    self.write_word(a, v)
                }
            }
            Loc::Imm(_) => {}
        }
    }

    /// A register write by an MSP430 instruction: 16 bits, clearing bits 19:16.
    #[inline(always)]
    fn write_reg(&mut self, r: usize, v: u16) {
        match r {
            // PC and SP bit 0 are hard-wired to 0 (SLAU367 4.3.1, 4.3.2).
            0 | 1 => self.r[r] = u32::from(v & !1),
            2 => self.set_sr(v),
            3 => {}
            _ => self.r[r] = u32::from(v),
        }
    }

    #[inline(always)]
    fn set_sr(&mut self, v: u16) {
        let old = self.r[2] as u16;
        self.r[2] = u32::from(v);
        if old & SR_GIE == 0 && v & SR_GIE != 0 {
            // The instruction after the one that sets GIE runs before any interrupt.
            self.gie_set_at = self.instructions;
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

    /// Executes one instruction.
    pub(crate) fn step(&mut self) -> Result<(), SimError> {
        let pc = self.r[0];
        self.pc_now = pc;
        let w = self.fetch()?;
        let cycles = match w >> 12 {
            0 => self.exec_address(w, pc)?,
            1 => self.exec_format2(w, pc)?,
            2 | 3 => self.exec_jump(w),
            _ => self.exec_format1(w)?,
        };
        self.cycles += u64::from(cycles);
        if self.wait_states != 0 {
            self.fram_wait(pc);
        }
        self.instructions += 1;
        Ok(())
    }

    /// NWAITS wait states per FRAM instruction word (an upper bound: the FRAM cache is not
    /// modelled, every fetch is counted as a miss).
    #[cold]
    fn fram_wait(&mut self, pc: u32) {
        if self.mem.page(pc) == crate::memory::Page::Fram {
            let words = u64::from((self.r[0].wrapping_sub(pc) & 0xFFFF) / 2).clamp(1, 3);
            self.cycles += self.wait_states * words;
        }
    }

    #[inline(always)]
    fn exec_jump(&mut self, w: u16) -> u8 {
        let sr = self.r[2] as u16;
        let n = sr & SR_N != 0;
        let v = sr & SR_V != 0;
        let taken = match (w >> 10) & 7 {
            0 => sr & SR_Z == 0,
            1 => sr & SR_Z != 0,
            2 => sr & SR_C == 0,
            3 => sr & SR_C != 0,
            4 => n,
            5 => n == v,
            6 => n != v,
            _ => true,
        };
        if taken {
            let off = (((w & 0x3FF) << 6) as i16 >> 5) as i32;
            self.r[0] = (self.r[0] as i32).wrapping_add(off) as u32 & 0xFFFF;
        }
        self.lut.jump
    }

    #[inline(always)]
    fn exec_format1(&mut self, w: u16) -> Result<u8, SimError> {
        let op = w >> 12;
        let src = usize::from((w >> 8) & 15);
        let ad = w & 0x80 != 0;
        let byte = w & 0x40 != 0;
        let as_ = (w >> 4) & 3;
        let dst = usize::from(w & 15);
        let (sloc, smode) = self.src_loc(src, as_, byte)?;
        let s = self.read_loc(sloc, byte);
        let (dloc, dcol) = self.dst_loc(dst, ad)?;
        let mut cycles = self.lut.f1[smode][dcol];
        match op {
            MOV => {
                self.write_loc(dloc, byte, s);
            }
            BIT | CMP => {
                let d = self.read_loc(dloc, byte);
                if op == BIT {
                    self.logic_flags(s & d, byte, false);
                } else {
                    self.add_flags(!s, d, 1, byte);
                }
            }
            _ => {
                let d = self.read_loc(dloc, byte);
                let r = match op {
                    ADD => self.add_flags(s, d, 0, byte),
                    ADDC => {
                        let c = self.carry();
                        self.add_flags(s, d, c, byte)
                    }
                    SUBC => {
                        let c = self.carry();
                        self.add_flags(!s, d, c, byte)
                    }
                    SUB => self.add_flags(!s, d, 1, byte),
                    DADD => self.dadd(s, d, byte),
                    BIC => d & !s,
                    BIS => d | s,
                    XOR => {
                        let r = s ^ d;
                        let msb = if byte { 0x80 } else { 0x8000 };
                        self.logic_flags(r, byte, s & d & msb != 0);
                        r
                    }
                    // AND (opcode 15), the only one left.
                    _ => {
                        let r = s & d;
                        self.logic_flags(r, byte, false);
                        r
                    }
                };
                self.write_loc(dloc, byte, r);
            }
        }
        if dcol >= 2 && matches!(op, MOV | BIT | CMP) {
            cycles -= self.lut.f1_saving;
        }
        Ok(cycles)
    }

    /// Flags of AND, BIT, XOR, SXT: N and Z from the result, C = not Z.
    #[inline(always)]
    fn logic_flags(&mut self, r: u16, byte: bool, v: bool) {
        let (mask, msb) = if byte { (0xFF, 0x80) } else { (0xFFFF, 0x8000) };
        let r = r & mask;
        self.flags(r != 0, r == 0, r & msb != 0, v);
    }

    fn exec_format2(&mut self, w: u16, pc: u32) -> Result<u8, SimError> {
        let op = (w >> 7) & 7;
        let byte = w & 0x40 != 0;
        let as_ = (w >> 4) & 3;
        let reg = usize::from(w & 15);
        let illegal = |why| SimError::IllegalInstruction { pc, word: w, why };
        if w >= 0x1800 {
            return Err(illegal("MSP430X extension words are not modelled"));
        }
        if w >= 0x1400 {
            return Err(illegal("PUSHM/POPM (MSP430X) are not modelled"));
        }
        match op {
            6 => {
                if w != 0x1300 {
                    return Err(illegal("CALLA (MSP430X) is not modelled"));
                }
                let sp = self.r[1] & 0xFFFF;
                let sr = self.read_word(sp);
                let lo = self.read_word((sp + 2) & 0xFFFF);
                self.r[1] = (sp + 4) & 0xFFFF;
                self.set_sr(sr & 0x0FFF);
                self.r[0] = (u32::from(lo) | (u32::from(sr & 0xF000) << 4)) & !1;
                return Ok(self.lut.reti);
            }
            7 => return Err(illegal("CALLA (MSP430X) is not modelled")),
            1 | 3 | 5 if byte => return Err(illegal("SWPB, SXT and CALL have no byte form")),
            0..=3 if as_ == 3 && reg == 0 => {
                return Err(illegal(
                    "RRC, SWPB, RRA and SXT cannot take an immediate operand",
                ))
            }
            _ => {}
        }
        let (loc, mode) = self.src_loc(reg, as_, byte)?;
        let v = self.read_loc(loc, byte);
        let row = self.lut.f2[mode];
        let msb = if byte { 0x80 } else { 0x8000 };
        match op {
            0 => {
                // RRC
                let c = self.carry() != 0;
                let r = (v >> 1) | if c { msb } else { 0 };
                self.flags(v & 1 != 0, r == 0, r & msb != 0, false);
                self.write_loc(loc, byte, r);
                Ok(row[0])
            }
            1 => {
                self.write_loc(loc, false, v.rotate_left(8));
                Ok(row[0])
            }
            2 => {
                // RRA
                let r = (v >> 1) | (v & msb);
                self.flags(v & 1 != 0, r == 0, r & msb != 0, false);
                self.write_loc(loc, byte, r);
                Ok(row[0])
            }
            3 => {
                let r = v as u8 as i8 as i16 as u16;
                self.logic_flags(r, false, false);
                self.write_loc(loc, false, r);
                Ok(row[0])
            }
            4 => {
                let sp = self.r[1].wrapping_sub(2) & 0xFFFF;
                self.r[1] = sp;
                if byte {
                    self.write_byte(sp, v as u8);
                } else {
                    self.write_word(sp, v);
                }
                Ok(row[1])
            }
            _ => {
                // CALL
                let sp = self.r[1].wrapping_sub(2) & 0xFFFF;
                self.r[1] = sp;
                let ret = self.r[0] as u16;
                self.write_word(sp, ret);
                self.r[0] = u32::from(v & !1);
                Ok(row[2])
            }
        }
    }

    fn read20(&mut self, a: u32) -> u32 {
        let lo = self.read_word(a);
        let hi = self.read_word((a + 2) & 0xF_FFFF);
        u32::from(lo) | (u32::from(hi & 0xF) << 16)
    }

    fn write20(&mut self, a: u32, v: u32) {
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
        let set = |m: &mut Machine, r: usize, v: u32| {
            if r == 0 {
                m.r[0] = v & 0xF_FFFE;
            } else if r != 3 {
                m.r[r] = v & 0xF_FFFF;
            }
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
