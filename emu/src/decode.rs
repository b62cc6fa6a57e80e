//! Predecoding: each instruction is decoded once per address into an [`Insn`] (its handler,
//! operands with constant addresses folded, length and cycle count) and kept in an
//! instruction cache indexed by PC. Every write that lands in a page holding decoded code
//! drops the entries that could cover the written word, so self-modifying code, code copied
//! into RAM and the loader's writes all take effect at the next fetch.

use crate::cpu::{self, Handler};
use crate::error::SimError;
use crate::machine::Machine;
use crate::platform::{ADDRESS_SPACE, PAGE};

// Source operand kinds, after folding: constant generators, `@PC+`, and a PC read as a source
// are immediates; symbolic, absolute and `@PC` operands have a fixed address.
pub(crate) const S_REG: u8 = 0;
pub(crate) const S_IMM: u8 = 1;
pub(crate) const S_IND: u8 = 2;
pub(crate) const S_INC: u8 = 3;
pub(crate) const S_IDX: u8 = 4;
pub(crate) const S_ABS: u8 = 5;
// Destination kinds: register, indexed, fixed address.
pub(crate) const D_REG: u8 = 0;
pub(crate) const D_IDX: u8 = 1;
pub(crate) const D_ABS: u8 = 2;

// Rows of the cycle tables (the addressing mode as written, before folding).
const M_REG: usize = 0;
const M_IND: usize = 1;
const M_INC: usize = 2;
const M_IMM: usize = 3;
const M_IDX: usize = 4;
const M_SYM: usize = 5;
const M_ABS: usize = 6;

/// One decoded instruction.
#[derive(Clone, Copy)]
pub(crate) struct Insn {
    /// `None`: not decoded yet.
    pub exec: Option<Handler>,
    /// The PC after the instruction's words.
    pub next_pc: u32,
    /// Source: immediate value, fixed address or index; for jumps, the target; for the
    /// MSP430X address instructions, the opcode word.
    pub sx: u16,
    /// Destination: fixed address or index.
    pub dx: u16,
    pub sreg: u8,
    pub dreg: u8,
    /// Cycles from the table (handlers that time themselves leave 0).
    pub cycles: u8,
    /// Length in words (for FRAM wait states).
    pub words: u8,
    /// A breakpoint is set at this address.
    pub bp: bool,
}

impl Insn {
    const EMPTY: Insn = Insn {
        exec: None,
        next_pc: 0,
        sx: 0,
        dx: 0,
        sreg: 0,
        dreg: 0,
        cycles: 0,
        words: 1,
        bp: false,
    };
}

const ENTRIES: usize = (ADDRESS_SPACE / 2) as usize;
const PAGES: usize = (ADDRESS_SPACE / PAGE) as usize;

/// Decoded instructions by PC / 2, and which pages hold any.
pub(crate) struct ICache {
    entries: Box<[Insn; ENTRIES]>,
    code_pages: Box<[bool; PAGES]>,
}

impl ICache {
    pub fn new() -> ICache {
        ICache {
            entries: vec![Insn::EMPTY; ENTRIES]
                .into_boxed_slice()
                .try_into()
                .unwrap_or_else(|_| unreachable!("one entry per word")),
            code_pages: vec![false; PAGES]
                .into_boxed_slice()
                .try_into()
                .unwrap_or_else(|_| unreachable!("one flag per page")),
        }
    }

    #[inline(always)]
    pub fn get(&self, pc: u32) -> Insn {
        self.entries[(pc >> 1) as usize & (ENTRIES - 1)]
    }

    pub fn insert(&mut self, pc: u32, insn: Insn) {
        self.entries[(pc >> 1) as usize & (ENTRIES - 1)] = insn;
        for w in 0..u32::from(insn.words) {
            self.code_pages[((pc + 2 * w) / PAGE) as usize & (PAGES - 1)] = true;
        }
    }

    /// A byte or word at `a` was written.
    #[inline(always)]
    pub fn written(&mut self, a: u32) {
        if self.code_pages[(a / PAGE) as usize & (PAGES - 1)] {
            self.invalidate(a);
        }
    }

    /// Drops the entries of instructions that could contain the word at `a`: instructions
    /// are at most three words long.
    #[cold]
    fn invalidate(&mut self, a: u32) {
        let w = (a >> 1) as usize;
        for back in 0..3 {
            self.entries[w.wrapping_sub(back) & (ENTRIES - 1)] = Insn::EMPTY;
        }
    }

    /// Drops everything (memory changed behind the CPU's back, or a breakpoint was set).
    pub fn clear(&mut self) {
        let per_page = (PAGE / 2) as usize;
        for (p, used) in self.code_pages.iter_mut().enumerate() {
            if std::mem::take(used) {
                self.entries[p * per_page..(p + 1) * per_page].fill(Insn::EMPTY);
            }
        }
    }
}

/// Reads instruction words from the address after the opcode on.
struct Words<'a> {
    m: &'a Machine,
    at: u32,
}

impl Words<'_> {
    fn next(&mut self) -> Result<u16, SimError> {
        let at = self.at;
        if !self.m.mem.page(at).is_memory() {
            return Err(SimError::UnmappedFetch { pc: at });
        }
        self.at = (at + 2) & 0xF_FFFF;
        Ok(self.m.mem.word(at))
    }
}

impl Machine {
    /// Decodes the instruction at `pc`; illegal or unfetchable instructions are errors.
    pub(crate) fn decode(&self, pc: u32) -> Result<Insn, SimError> {
        if !self.mem.page(pc).is_memory() {
            return Err(SimError::UnmappedFetch { pc });
        }
        let w = self.mem.word(pc);
        let after_opcode = (pc + 2) & 0xF_FFFF;
        let mut words = Words {
            m: self,
            at: after_opcode,
        };
        let illegal = |why| SimError::IllegalInstruction { pc, word: w, why };
        let mut insn = Insn {
            bp: self.breakpoints.contains(&pc),
            ..Insn::EMPTY
        };
        let lut = &self.lut;
        match w >> 12 {
            0 => {
                let op = (w >> 4) & 15;
                if matches!(op, 4 | 5) {
                    return Err(illegal(
                        "MSP430X rotate-multiple (RRCM/RRAM/RLAM/RRUM) is not modelled",
                    ));
                }
                insn.exec = Some(cpu::address);
                insn.sx = w;
                insn.words = if matches!(op, 2 | 3 | 6..=11) { 2 } else { 1 };
            }
            1 => {
                let op = (w >> 7) & 7;
                let byte = w & 0x40 != 0;
                let as_ = (w >> 4) & 3;
                let reg = (w & 15) as u8;
                if w >= 0x1800 {
                    return Err(illegal("MSP430X extension words are not modelled"));
                }
                if w >= 0x1400 {
                    // PUSHM/POPM (SLAU367 4.6.1): bit 9 pops, bit 8 clear means .A; n − 1 in
                    // bits 7:4. The register field is the first pushed (the highest) or the
                    // first popped (the lowest).
                    let n = u8::try_from((w >> 4) & 15).unwrap_or(0) + 1;
                    let first = w & 15;
                    let pop = w & 0x0200 != 0;
                    let (lowest, highest) = if pop {
                        (first, first + u16::from(n) - 1)
                    } else {
                        (first.wrapping_sub(u16::from(n) - 1), first)
                    };
                    if lowest > highest || highest > 15 {
                        return Err(illegal("PUSHM/POPM reaches past R15 or below R0"));
                    }
                    let words = if w & 0x0100 != 0 { n } else { 2 * n };
                    insn.exec = Some(cpu::multiple);
                    insn.sx = w;
                    insn.cycles = lut.t.multiple_base + lut.t.multiple_per_word * words;
                    insn.words = 1;
                    insn.next_pc = after_opcode;
                    return Ok(insn);
                }
                match op {
                    6 if w == 0x1300 => {
                        insn.exec = Some(cpu::reti);
                        insn.cycles = lut.reti;
                    }
                    6 | 7 => return Err(illegal("CALLA (MSP430X) is not modelled")),
                    1 | 3 | 5 if byte => {
                        return Err(illegal("SWPB, SXT and CALL have no byte form"))
                    }
                    0..=3 if as_ == 3 && reg == 0 => {
                        return Err(illegal(
                            "RRC, SWPB, RRA and SXT cannot take an immediate operand",
                        ))
                    }
                    _ => {
                        // Format II writes back to its operand, so a register operand
                        // (the PC too) stays a register.
                        let (kind, x, row) = if as_ == 0 && reg != 3 {
                            (S_REG, 0, M_REG)
                        } else {
                            source(&mut words, as_, reg, after_opcode)?
                        };
                        insn.exec = Some(cpu::format2_handler(op, kind, byte));
                        insn.sreg = reg;
                        insn.sx = x;
                        insn.cycles = lut.f2[row][match op {
                            4 => 1,
                            5 => 2,
                            _ => 0,
                        }];
                    }
                }
            }
            2 | 3 => {
                let off = (((w & 0x3FF) << 6) as i16 >> 5) as i32;
                insn.exec = Some(cpu::jump_handler((w >> 10) & 7));
                insn.sx = (after_opcode as i32).wrapping_add(off) as u16;
                insn.cycles = lut.jump;
            }
            op => {
                let sreg = ((w >> 8) & 15) as u8;
                let ad = w & 0x80 != 0;
                let byte = w & 0x40 != 0;
                let as_ = (w >> 4) & 3;
                let dreg = (w & 15) as u8;
                let (skind, sx, row) = if as_ == 0 && sreg == 0 {
                    // The PC read as a source holds the address after the opcode.
                    (S_IMM, after_opcode as u16, M_REG)
                } else {
                    source(&mut words, as_, sreg, after_opcode)?
                };
                let (dkind, dx, col) = if !ad {
                    (D_REG, 0, usize::from(dreg == 0))
                } else {
                    let at = words.at as u16;
                    let x = words.next()?;
                    match dreg {
                        2 => (D_ABS, x, 4),
                        0 => (D_ABS, at.wrapping_add(x), 3),
                        3 => (D_ABS, x, 2),
                        _ => (D_IDX, x, 2),
                    }
                };
                let mut cycles = lut.f1[row][col];
                if col >= 2 && matches!(op, cpu::MOV | cpu::BIT | cpu::CMP) {
                    cycles -= lut.f1_saving;
                }
                insn.exec = Some(cpu::format1_handler(op, skind, dkind, byte));
                insn.sreg = sreg;
                insn.dreg = dreg;
                insn.sx = sx;
                insn.dx = dx;
                insn.cycles = cycles;
            }
        }
        if insn.exec.is_some() && w >> 12 != 0 {
            insn.words = ((words.at.wrapping_sub(pc) & 0xF_FFFF) / 2) as u8;
        }
        insn.next_pc = (pc + 2 * u32::from(insn.words)) & 0xF_FFFF;
        Ok(insn)
    }
}

/// A source (or Format II) operand other than a plain register: its kind, its constant
/// (immediate, fixed address or index) and the cycle table's row.
fn source(
    words: &mut Words,
    as_: u16,
    reg: u8,
    after_opcode: u32,
) -> Result<(u8, u16, usize), SimError> {
    Ok(match (as_, reg) {
        (0, 3) => (S_IMM, 0, M_REG),
        (0, _) => (S_REG, 0, M_REG),
        (1, 3) => (S_IMM, 1, M_REG),
        (1, 2) => (S_ABS, words.next()?, M_ABS),
        (1, 0) => {
            let at = words.at as u16;
            (S_ABS, at.wrapping_add(words.next()?), M_SYM)
        }
        (1, _) => (S_IDX, words.next()?, M_IDX),
        (2, 2) => (S_IMM, 4, M_REG),
        (2, 3) => (S_IMM, 2, M_REG),
        // `@PC` reads the word after the opcode.
        (2, 0) => (S_ABS, after_opcode as u16, M_IND),
        (2, _) => (S_IND, 0, M_IND),
        (3, 2) => (S_IMM, 8, M_REG),
        (3, 3) => (S_IMM, 0xFFFF, M_REG),
        (3, 0) => (S_IMM, words.next()?, M_IMM),
        _ => (S_INC, 0, M_INC),
    })
}
