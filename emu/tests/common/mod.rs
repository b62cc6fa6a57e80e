//! Shared test support: a tiny MSP430 encoder (no assembler exists here), Intel HEX images
//! and the `mspdebug sim` lockstep harness.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use inas_emu::builds::{firmware_elf, Build};
use inas_emu::{CpuModel, Machine, MachineConfig, Platform};
use std::path::PathBuf;

/// The smoke or board ELF of this checkout; fails the test saying how to build it.
pub fn elf(build: Build) -> PathBuf {
    firmware_elf(build).unwrap_or_else(|e| panic!("{e}"))
}

/// The machine configured as `mspdebug sim` starts: registers 0, memory 0xFF after `prog`,
/// the classic CPU's cycle table.
pub fn mspdebug_like() -> Machine {
    Machine::new(
        Platform::fr5994(),
        MachineConfig {
            cpu: CpuModel::Msp430,
            sram_fill: 0xFF,
            fram_fill: 0xFF,
            reg_fill: 0,
        },
    )
}

/// Fails the test with a clear message if mspdebug is not installed (CI installs it).
pub fn require_mspdebug() {
    let ok = Command::new("mspdebug")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        ok,
        "this differential test needs `mspdebug` (Debian package mspdebug, `apt-get install mspdebug`); it is not on PATH"
    );
}

// ---- encoder ---------------------------------------------------------------------------

/// An operand, as an assembler would write it.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    R(u8),
    Idx(i16, u8),
    Sym(u16),
    Abs(u16),
    Ind(u8),
    Inc(u8),
    /// Immediate; constant-generator values (0, 1, 2, 4, 8, -1) use R2/R3 like an assembler.
    Imm(u16),
    /// Immediate, always as @PC+ with an extension word.
    ImmLong(u16),
}

pub const MOV: u16 = 4;
pub const ADD: u16 = 5;
pub const ADDC: u16 = 6;
pub const SUBC: u16 = 7;
pub const SUB: u16 = 8;
pub const CMP: u16 = 9;
pub const DADD: u16 = 10;
pub const BIT: u16 = 11;
pub const BIC: u16 = 12;
pub const BIS: u16 = 13;
pub const XOR: u16 = 14;
pub const AND: u16 = 15;
pub const FORMAT1: [u16; 12] = [
    MOV, ADD, ADDC, SUBC, SUB, CMP, DADD, BIT, BIC, BIS, XOR, AND,
];

pub const RRC: u16 = 0;
pub const SWPB: u16 = 1;
pub const RRA: u16 = 2;
pub const SXT: u16 = 3;
pub const PUSH: u16 = 4;
pub const CALL: u16 = 5;

/// Machine code being laid out from `org`.
pub struct Asm {
    pub org: u16,
    pub words: Vec<u16>,
}

impl Asm {
    pub fn new(org: u16) -> Asm {
        Asm {
            org,
            words: Vec::new(),
        }
    }

    pub fn here(&self) -> u16 {
        self.org + 2 * self.words.len() as u16
    }

    /// (As or Ad, register, extension word) with `ext_at` the extension word's address.
    fn src_fields(op: Op, ext_at: u16) -> (u16, u16, Option<u16>) {
        match op {
            Op::R(n) => (0, u16::from(n), None),
            Op::Idx(x, n) => (1, u16::from(n), Some(x as u16)),
            Op::Sym(a) => (1, 0, Some(a.wrapping_sub(ext_at))),
            Op::Abs(a) => (1, 2, Some(a)),
            Op::Ind(n) => (2, u16::from(n), None),
            Op::Inc(n) => (3, u16::from(n), None),
            Op::Imm(v) => match v {
                0 => (0, 3, None),
                1 => (1, 3, None),
                2 => (2, 3, None),
                0xFFFF => (3, 3, None),
                4 => (2, 2, None),
                8 => (3, 2, None),
                _ => (3, 0, Some(v)),
            },
            Op::ImmLong(v) => (3, 0, Some(v)),
        }
    }

    pub fn fmt1(&mut self, opc: u16, byte: bool, src: Op, dst: Op) {
        let at = self.here();
        let (as_, sreg, sext) = Asm::src_fields(src, at + 2);
        let dext_at = at + 2 + if sext.is_some() { 2 } else { 0 };
        let (ad, dreg, dext) = match dst {
            Op::R(n) => (0, u16::from(n), None),
            Op::Idx(x, n) => (1, u16::from(n), Some(x as u16)),
            Op::Sym(a) => (1, 0, Some(a.wrapping_sub(dext_at))),
            Op::Abs(a) => (1, 2, Some(a)),
            other => panic!("{other:?} is not a destination"),
        };
        self.words
            .push(opc << 12 | sreg << 8 | ad << 7 | u16::from(byte) << 6 | as_ << 4 | dreg);
        self.words.extend(sext);
        self.words.extend(dext);
    }

    pub fn fmt2(&mut self, opc: u16, byte: bool, op: Op) {
        let at = self.here();
        let (as_, reg, ext) = Asm::src_fields(op, at + 2);
        self.words
            .push(0x1000 | opc << 7 | u16::from(byte) << 6 | as_ << 4 | reg);
        self.words.extend(ext);
    }

    pub fn reti(&mut self) {
        self.words.push(0x1300);
    }

    /// A jump with condition 0..7 (JNE, JEQ, JNC, JC, JN, JGE, JL, JMP) to `target`.
    pub fn jump(&mut self, cond: u16, target: u16) {
        let off = (i32::from(target) - i32::from(self.here()) - 2) / 2;
        assert!((-512..512).contains(&off), "jump out of range");
        self.words.push(0x2000 | cond << 10 | (off as u16 & 0x3FF));
    }

    pub fn word(&mut self, w: u16) {
        self.words.push(w);
    }

    /// `JMP $`: the end of a program.
    pub fn halt(&mut self) {
        self.words.push(0x3FFF);
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
}

/// A memory image: byte chunks at addresses.
#[derive(Default)]
pub struct Image {
    pub chunks: Vec<(u32, Vec<u8>)>,
}

impl Image {
    pub fn add(&mut self, addr: u32, bytes: Vec<u8>) {
        self.chunks.push((addr, bytes));
    }

    /// Intel HEX (16-byte data records, 16-bit addresses).
    pub fn to_ihex(&self) -> String {
        let mut s = String::new();
        for (addr, bytes) in &self.chunks {
            for (i, chunk) in bytes.chunks(16).enumerate() {
                let a = *addr as usize + 16 * i;
                let mut rec = vec![chunk.len() as u8, (a >> 8) as u8, a as u8, 0];
                rec.extend_from_slice(chunk);
                let sum = rec.iter().fold(0u8, |s, &b| s.wrapping_add(b));
                s.push(':');
                for b in rec {
                    let _ = write!(s, "{b:02X}");
                }
                let _ = writeln!(s, "{:02X}", sum.wrapping_neg());
            }
        }
        s.push_str(":00000001FF\n");
        s
    }

    pub fn load(&self, m: &mut Machine) {
        for (a, b) in &self.chunks {
            m.memory_mut().write_bytes(*a, b);
        }
    }
}

// ---- mspdebug ----------------------------------------------------------------------------

/// Runs `mspdebug sim` with `commands` on stdin; returns each command's output, in order.
pub fn mspdebug(commands: &[String]) -> Vec<String> {
    let mut child = Command::new("mspdebug")
        .args(["-q", "sim"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mspdebug starts");
    let mut input = String::new();
    for c in commands {
        input.push_str(c);
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().expect("mspdebug runs");
    writer.join().expect("writer thread");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // Every command's output follows a "(mspdebug) " prompt.
    let mut segments: Vec<String> = text
        .split("(mspdebug) ")
        .skip(1)
        .map(str::to_owned)
        .collect();
    segments.truncate(commands.len());
    assert_eq!(
        segments.len(),
        commands.len(),
        "mspdebug answered {} of {} commands; stderr: {}",
        segments.len(),
        commands.len(),
        String::from_utf8_lossy(&out.stderr)
    );
    segments
}

/// The 16 registers from a `step`/`regs` output.
pub fn parse_regs(out: &str) -> Option<[u32; 16]> {
    let mut regs = [u32::MAX; 16];
    for part in out.split('(').skip(1) {
        let Some((name, rest)) = part.split_once(':') else {
            continue;
        };
        let Some(val) = rest.split(')').next() else {
            continue;
        };
        let n = match name.trim() {
            "PC" => 0,
            "SP" => 1,
            "SR" => 2,
            r => match r.strip_prefix('R').and_then(|d| d.parse::<usize>().ok()) {
                Some(n) if n < 16 => n,
                _ => continue,
            },
        };
        regs[n] = u32::from_str_radix(val.trim(), 16).ok()?;
    }
    regs.iter().all(|&r| r != u32::MAX).then_some(regs)
}

/// The bytes an `md` output shows.
pub fn parse_md(out: &str) -> Vec<u8> {
    out.lines()
        .filter(|l| l.contains('|'))
        .flat_map(|l| {
            let hex = l.split_once(':').map(|x| x.1).unwrap_or("");
            let hex = hex.split('|').next().unwrap_or("");
            hex.split_whitespace()
                .filter_map(|h| u8::from_str_radix(h, 16).ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// MCLK from `simio info` of a tracer.
pub fn parse_mclk(out: &str) -> Option<u64> {
    out.lines().find_map(|l| {
        l.trim()
            .strip_prefix("MCLK:")
            .map(|v| v.trim().parse().ok())
    })?
}

/// What a lockstep comparison found.
#[derive(Debug, Default)]
pub struct Lockstep {
    pub steps: usize,
    /// Register or memory differences: (step, PC before the step, description).
    pub divergences: Vec<(usize, u32, String)>,
    /// Steps whose cycle count differs: (step, PC, opcode word, ours, mspdebug's).
    pub cycle_diffs: Vec<(usize, u32, u16, u64, u64)>,
}

/// Steps `m` and `mspdebug sim` (with `program` loaded) `steps` times from reset, comparing
/// all registers and every byte the instruction wrote after each step; with `cycles`, also
/// each step's cycle count.
pub fn lockstep(m: &mut Machine, program: &Path, steps: usize, cycles: bool) -> Lockstep {
    m.trace_writes(true);
    let mut ours = Vec::with_capacity(steps);
    for _ in 0..steps {
        let pc = m.pc();
        let word = m.memory().word(pc);
        let c0 = m.cycles();
        if let Err(e) = m.single_step() {
            panic!("our emulator failed at {pc:#x}: {e}");
        }
        // Peripheral registers (below 0x1000) are not memory in mspdebug's generic model.
        let mut writes: Vec<(u32, bool)> = m
            .take_writes()
            .into_iter()
            .filter(|w| w.addr >= 0x1000)
            .map(|w| (w.addr, w.byte))
            .collect();
        writes.sort_unstable();
        writes.dedup();
        let regs: [u32; 16] = std::array::from_fn(|i| m.reg(i));
        let mem: Vec<Vec<u8>> = writes
            .iter()
            .map(|&(a, b)| m.memory().read_bytes(a, if b { 1 } else { 2 }))
            .collect();
        ours.push((pc, word, regs, writes, mem, m.cycles() - c0));
    }
    let mut cmds = vec![
        format!("prog {}", program.display()),
        "simio add tracer t".to_owned(),
    ];
    for (_, _, _, writes, _, _) in &ours {
        cmds.push("step".into());
        for &(a, b) in writes {
            cmds.push(format!("md {a:#x} {}", if b { 1 } else { 2 }));
        }
        if cycles {
            cmds.push("simio info t".into());
        }
    }
    let out = mspdebug(&cmds);
    let mut it = out.iter().skip(2);
    let mut report = Lockstep {
        steps,
        ..Lockstep::default()
    };
    let mut last_mclk = 0;
    for (i, (pc, word, regs, writes, mem, cyc)) in ours.iter().enumerate() {
        let step_out = it.next().expect("a step output");
        match parse_regs(step_out) {
            Some(theirs) => {
                // R3 is skipped: every read of it yields a constant, so what it "holds" is
                // unobservable; mspdebug shows the last value written to it, we keep 0.
                for r in (0..16).filter(|&r| r != 3) {
                    if theirs[r] != regs[r] {
                        report.divergences.push((
                            i,
                            *pc,
                            format!(
                                "op {word:#06x}: R{r} = {:#07x}, mspdebug {:#07x}",
                                regs[r], theirs[r]
                            ),
                        ));
                    }
                }
            }
            None => report
                .divergences
                .push((i, *pc, format!("no registers in {step_out:?}"))),
        }
        for ((a, _), bytes) in writes.iter().zip(mem) {
            let theirs = parse_md(it.next().expect("an md output"));
            if &theirs != bytes {
                report.divergences.push((
                    i,
                    *pc,
                    format!("op {word:#06x}: [{a:#x}] = {bytes:02x?}, mspdebug {theirs:02x?}"),
                ));
            }
        }
        if cycles {
            let mclk = parse_mclk(it.next().expect("a simio output")).expect("MCLK");
            let theirs = mclk - last_mclk;
            last_mclk = mclk;
            if theirs != *cyc {
                report.cycle_diffs.push((i, *pc, *word, *cyc, theirs));
            }
        }
    }
    report
}

/// Checkpoints: after every `every` instructions up to `total`, all registers, the whole SRAM
/// and `extra` memory ranges must agree with mspdebug's. Returns (checkpoints, divergences).
pub fn checkpoints(
    m: &mut Machine,
    program: &Path,
    every: u64,
    total: u64,
    extra: &[(u32, usize)],
) -> (usize, Vec<String>) {
    const SRAM: (u32, usize) = (0x1C00, 0x2000);
    let ranges: Vec<(u32, usize)> = std::iter::once(SRAM).chain(extra.iter().copied()).collect();
    let mut ours = Vec::new();
    let mut done = 0;
    while done < total {
        let n = every.min(total - done);
        let target = m.instructions() + n;
        while m.instructions() < target {
            let left = target - m.instructions();
            match m.run(left, u64::MAX) {
                Ok(inas_emu::Stop::InstructionLimit) => {}
                Ok(other) => panic!("our emulator stopped: {other:?}"),
                Err(e) => panic!("our emulator failed: {e}"),
            }
        }
        done += n;
        let regs: [u32; 16] = std::array::from_fn(|i| m.reg(i));
        let mem: Vec<Vec<u8>> = ranges
            .iter()
            .map(|&(a, l)| m.memory().read_bytes(a, l))
            .collect();
        ours.push((done, regs, mem));
    }
    let mut cmds = vec![format!("prog {}", program.display())];
    let mut last = 0;
    for (at, _, _) in &ours {
        cmds.push(format!("step {}", at - last));
        last = *at;
        for &(a, l) in &ranges {
            cmds.push(format!("md {a:#x} {l}"));
        }
    }
    let out = mspdebug(&cmds);
    let mut it = out.iter().skip(1);
    let mut diffs = Vec::new();
    for (at, regs, mem) in &ours {
        let theirs = parse_regs(it.next().expect("step output")).expect("registers");
        for r in (0..16).filter(|&r| r != 3) {
            if theirs[r] != regs[r] {
                diffs.push(format!(
                    "after {at}: R{r} = {:#x}, mspdebug {:#x}",
                    regs[r], theirs[r]
                ));
            }
        }
        for ((a, _), bytes) in ranges.iter().zip(mem) {
            let theirs = parse_md(it.next().expect("md output"));
            if let Some(i) = (0..bytes.len()).find(|&i| theirs.get(i) != Some(&bytes[i])) {
                diffs.push(format!(
                    "after {at}: [{:#x}] = {:#04x}, mspdebug {:?}",
                    *a as usize + i,
                    bytes[i],
                    theirs.get(i)
                ));
            }
        }
    }
    (ours.len(), diffs)
}
