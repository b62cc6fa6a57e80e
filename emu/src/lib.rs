//! inas-emu: the virtual LaunchPad. An MSP430FR5994 emulator that runs the inas firmware ELF,
//! optionally under a harvested power supply that browns the chip out and recharges it.
//!
//! - [`Machine`]: CPU (base ISA + the MSP430X address instructions), memory map and the
//!   peripherals the firmware uses, in MCLK cycles.
//! - [`Firmware`]: ELF loading; [`builds`]: where this checkout's firmware ELFs are.
//! - [`Platform`]: every chip constant, from `fr5994.toml`.
//! - [`power`] and [`emulate`]: the supply model and a whole run with its report.
//! - [`bridge`]: the UART's host side, in-process or as a pseudo-terminal.

pub mod bridge;
pub mod builds;
mod cpu;
mod decode;
pub mod elf;
pub mod emulate;
pub mod error;
pub mod machine;
pub mod memory;
pub mod periph;
pub mod platform;
pub mod power;

pub use elf::Firmware;
pub use emulate::{Emulator, Report, RunConfig};
pub use error::SimError;
pub use machine::{CpuModel, Machine, MachineConfig, Stop};
pub use platform::Platform;
