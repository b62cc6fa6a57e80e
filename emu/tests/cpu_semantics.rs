//! Cases where mspdebug departs from the MSP430 (so the differential tests leave them out),
//! and bad input: each is checked against SLAU367 here.

mod common;

use common::*;
use inas_emu::{Firmware, Machine, MachineConfig, Platform, SimError};

fn machine_with(code: &Asm) -> Machine {
    let mut m = Machine::new(Platform::fr5994(), MachineConfig::default());
    m.memory_mut()
        .write_bytes(u32::from(code.org), &code.bytes());
    m.memory_mut().write_bytes(0xFFFE, &code.org.to_le_bytes());
    m.power_on().expect("reset vector");
    m
}

#[test]
fn format2_symbolic_operands_are_relative_to_the_extension_word() {
    let mut a = Asm::new(0x4400);
    a.fmt1(MOV, false, Op::ImmLong(0x0010), Op::Abs(0x1C20));
    a.fmt2(RRA, false, Op::Sym(0x1C20));
    let mut m = machine_with(&a);
    m.single_step().unwrap();
    m.single_step().unwrap();
    assert_eq!(m.memory().word(0x1C20), 0x0008);
}

#[test]
fn byte_pops_move_the_stack_pointer_by_a_word() {
    let mut a = Asm::new(0x4400);
    a.fmt1(MOV, false, Op::ImmLong(0x2400), Op::R(1));
    a.fmt2(PUSH, false, Op::ImmLong(0x1234));
    a.fmt1(MOV, true, Op::Inc(1), Op::R(5));
    let mut m = machine_with(&a);
    for _ in 0..3 {
        m.single_step().unwrap();
    }
    assert_eq!(m.reg(5), 0x34);
    assert_eq!(m.reg(1), 0x2400);
}

#[test]
fn an_illegal_opcode_is_an_error_with_its_address() {
    let mut a = Asm::new(0x4400);
    a.word(0x1800); // an MSP430X extension word
    let mut m = machine_with(&a);
    match m.single_step() {
        Err(SimError::IllegalInstruction { pc, word, .. }) => {
            assert_eq!((pc, word), (0x4400, 0x1800))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_pc_in_unmapped_memory_is_an_error_with_the_address() {
    let mut a = Asm::new(0x4400);
    a.fmt1(MOV, false, Op::ImmLong(0x3C00), Op::R(0)); // BR #0x3C00: vacant
    let mut m = machine_with(&a);
    m.single_step().unwrap();
    let e = m.single_step().unwrap_err();
    assert!(matches!(e, SimError::UnmappedFetch { pc: 0x3C00 }), "{e}");
    assert!(e.to_string().contains("0x03c00"), "{e}");
}

#[test]
fn vacant_reads_return_0x3fff_and_are_logged() {
    let mut a = Asm::new(0x4400);
    a.fmt1(MOV, false, Op::Abs(0x3C10), Op::R(5));
    let mut m = machine_with(&a);
    m.single_step().unwrap();
    assert_eq!(m.reg(5), 0x3FFF);
    assert_eq!(m.access_log().vacant.get(&0x3C10).map(|c| c.reads), Some(1));
}

#[test]
fn bad_elf_files_are_errors_not_panics() {
    let path = elf(inas_emu::builds::Build::Smoke);
    let elf = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for len in [0, 10, 52, 200, 4096] {
        assert!(
            Firmware::parse(&elf[..len.min(elf.len())]).is_err(),
            "truncated to {len}"
        );
    }
    let mut other = elf.clone();
    other[18] = 0x28; // EM_ARM
    assert!(matches!(
        Firmware::parse(&other),
        Err(SimError::NotMsp430 { machine: 0x28 })
    ));
    assert!(Firmware::parse(b"not an elf at all").is_err());
}

#[test]
fn code_the_program_overwrites_runs_as_written_next_time() {
    // 0x4400: MOV #2, R5; MOV #(MOV #1, R5), &0x4400; JMP 0x4400
    let mut a = Asm::new(0x4400);
    a.fmt1(MOV, false, Op::Imm(2), Op::R(5));
    let mut patch = Asm::new(0x4400);
    patch.fmt1(MOV, false, Op::Imm(1), Op::R(5));
    let new_word = patch.words[0];
    a.fmt1(MOV, false, Op::ImmLong(new_word), Op::Abs(0x4400));
    a.jump(7, 0x4400);
    let mut m = machine_with(&a);
    m.single_step().unwrap();
    assert_eq!(m.reg(5), 2);
    m.single_step().unwrap();
    m.single_step().unwrap();
    assert_eq!(m.pc(), 0x4400);
    m.single_step().unwrap();
    assert_eq!(m.reg(5), 1, "the instruction decoded before the write ran");
    // Memory changed from outside (a loader, a debugger) is seen too.
    let mut other = Asm::new(0x4400);
    other.fmt1(MOV, false, Op::Imm(4), Op::R(5));
    m.memory_mut().write_bytes(0x4400, &other.bytes());
    m.set_reg(0, 0x4400);
    m.single_step().unwrap();
    assert_eq!(m.reg(5), 4);
}

/// Firmware sleeps with one instruction that sets GIE and CPUOFF together, so that an
/// interrupt raised just before cannot slip between enabling and sleeping. The CPU must then
/// wake for an interrupt that is already pending: the one-instruction delay after EINT does
/// not hold a sleeping CPU (it once did, and the board slept through the host's bytes).
#[test]
fn an_interrupt_pending_as_the_cpu_sleeps_wakes_it() {
    const UCA0IE: u16 = 0x05DA;
    const UCTXIE: u16 = 2;
    let mut a = Asm::new(0x4400);
    a.fmt1(MOV, false, Op::ImmLong(0x2400), Op::R(1));
    a.fmt1(MOV, false, Op::Imm(0), Op::R(6));
    // UCTXIFG is set out of reset: enabling its interrupt makes one pending at once.
    a.fmt1(MOV, false, Op::Imm(UCTXIE), Op::Abs(UCA0IE));
    a.fmt1(BIS, false, Op::ImmLong(0x0018), Op::R(2)); // GIE | CPUOFF
    a.fmt1(MOV, false, Op::ImmLong(0x1234), Op::R(5));
    a.halt();
    // The handler: interrupt off, wake on return.
    let mut isr = Asm::new(0x4500);
    isr.fmt1(BIC, false, Op::Imm(UCTXIE), Op::Abs(UCA0IE));
    isr.fmt1(BIC, false, Op::ImmLong(0x0010), Op::Idx(0, 1));
    isr.fmt1(ADD, false, Op::Imm(1), Op::R(6));
    isr.reti();
    let mut m = machine_with(&a);
    m.memory_mut().write_bytes(0x4500, &isr.bytes());
    m.memory_mut().write_bytes(0xFFF0, &0x4500u16.to_le_bytes());
    let cycles = m.cycles();
    m.run(50, cycles + 10_000).unwrap();
    assert_eq!(m.reg(6), 1, "the handler ran once");
    // Waking from LPM0 at the 1 MHz reset clock: 400 ns + 1.5 DCO periods, 2 cycles.
    assert_eq!(m.platform().wakeup.cycles(0, 1_000_000), 2);
    assert_eq!(m.platform().wakeup.cycles(3, 8_000_000), 55);
    assert_eq!(m.reg(5), 0x1234, "the CPU woke and went on after the sleep");
    assert!(!m.sleeping());
}

/// PUSHM/POPM as SLAU367 4.6.2 describes them: PUSHM.W #n, Rdst stores Rdst first, so the
/// lowest register ends on top; POPM.W #n, Rdst (encoded with the lowest register) restores them
/// in order; .A keeps bits 19:16; 2 + n cycles for .W and 2 + 2n for .A (Table 4-17a).
#[test]
fn push_and_pop_multiple_follow_the_user_guide() {
    let mut a = Asm::new(0x4400);
    a.fmt1(MOV, false, Op::ImmLong(0x2400), Op::R(1));
    a.word(0x152a); // PUSHM.W #3, R10
    a.fmt1(MOV, false, Op::ImmLong(0), Op::R(8)); // clobber what was saved
    a.fmt1(MOV, false, Op::ImmLong(0), Op::R(9));
    a.fmt1(MOV, false, Op::ImmLong(0), Op::R(10));
    a.word(0x1728); // POPM.W #3, R10 (the field holds R10 − 3 + 1 = R8)
    a.word(0x140f); // PUSHM.A #1, R15
    a.word(0x160e); // POPM.A #1, R14
    let mut m = machine_with(&a);
    m.single_step().unwrap();
    m.set_reg(8, 0x1_0008);
    m.set_reg(9, 0x0009);
    m.set_reg(10, 0x000A);
    let before = m.cycles();
    m.single_step().unwrap();
    assert_eq!(m.cycles() - before, 5);
    assert_eq!(m.reg(1), 0x2400 - 6);
    // R8 on top, R10 deepest; .W stores the low word only.
    assert_eq!(m.memory().word(0x2400 - 6), 0x0008);
    assert_eq!(m.memory().word(0x2400 - 4), 0x0009);
    assert_eq!(m.memory().word(0x2400 - 2), 0x000A);
    for _ in 0..3 {
        m.single_step().unwrap();
    }
    let before = m.cycles();
    m.single_step().unwrap();
    assert_eq!(m.cycles() - before, 5);
    assert_eq!((m.reg(8), m.reg(9), m.reg(10)), (0x0008, 0x0009, 0x000A));
    assert_eq!(m.reg(1), 0x2400);
    m.set_reg(15, 0xA_BCDE);
    let before = m.cycles();
    m.single_step().unwrap();
    assert_eq!(m.cycles() - before, 4);
    assert_eq!(m.reg(1), 0x2400 - 4);
    m.single_step().unwrap();
    assert_eq!(m.reg(14), 0xA_BCDE);
    assert_eq!(m.reg(1), 0x2400);
}

#[test]
fn a_push_multiple_below_r0_is_an_error() {
    let mut a = Asm::new(0x4400);
    a.word(0x1532); // PUSHM.W #4, R2: R2 down to R(−1)
    let mut m = machine_with(&a);
    assert!(matches!(
        m.single_step(),
        Err(SimError::IllegalInstruction { pc: 0x4400, .. })
    ));
}
