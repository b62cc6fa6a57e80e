//! Errors: everything that stops the emulator names what was wrong and where.

use std::path::PathBuf;

/// Why the emulator could not load or run a firmware.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no firmware ELF at {path}: build it with `cargo xtask firmware` (or set INAS_FIRMWARE_DIR to a folder holding it)"
    )]
    MissingBuild { path: PathBuf },
    #[error("not a loadable ELF file: {0}")]
    Elf(String),
    #[error("the ELF is for machine {machine:#x}, not the MSP430 (EM_MSP430 = 0x69)")]
    NotMsp430 { machine: u16 },
    #[error(
        "ELF segment {addr:#07x}..{end:#07x} lies outside the device's memory (at {bad:#07x})"
    )]
    SegmentOutsideMemory { addr: u64, end: u64, bad: u64 },
    #[error("the reset vector at 0xFFFE points to {target:#07x}, which is not program memory")]
    BadResetVector { target: u32 },
    #[error("instruction fetch from unmapped memory at PC {pc:#07x}")]
    UnmappedFetch { pc: u32 },
    #[error("illegal instruction {word:#06x} at PC {pc:#07x}: {why}")]
    IllegalInstruction {
        pc: u32,
        word: u16,
        why: &'static str,
    },
    #[error("the CPU sleeps (SR {sr:#06x}) at PC {pc:#07x} with no interrupt that could wake it")]
    SleepForever { pc: u32, sr: u16 },
    #[error("platform data: {0}")]
    Platform(String),
    #[error("power: {0}")]
    Power(String),
    #[error("power trace {path}: {message}")]
    Trace { path: String, message: String },
    #[error("UART bridge: {0}")]
    Bridge(String),
}
