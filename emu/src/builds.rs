//! Where this checkout's firmware builds are: `cargo xtask firmware` (and `cargo xtask ci`,
//! in its sim-smoke step) leaves both ELFs in `firmware/target/`. Tests, benches and examples
//! find them here; `INAS_FIRMWARE_DIR` points at another folder holding the same file names.

use std::path::{Path, PathBuf};

use crate::error::SimError;

/// The environment variable that overrides the folder the ELFs are read from.
pub const FIRMWARE_DIR_ENV: &str = "INAS_FIRMWARE_DIR";

/// One of the two firmware builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Build {
    /// The smoke build: a plan and an input linked in, no peripherals; runs under `mspdebug
    /// sim` to `test_done`.
    Smoke,
    /// The LaunchPad build: UART, DMA, MPY32, timer; serves the host over the UART.
    Board,
}

impl Build {
    /// The ELF's file name in the build folder.
    pub fn file_name(self) -> &'static str {
        match self {
            Build::Smoke => "inas-firmware-smoke.elf",
            Build::Board => "inas-firmware.elf",
        }
    }
}

/// The folder holding the ELFs: `$INAS_FIRMWARE_DIR`, else this checkout's `firmware/target`.
pub fn firmware_dir() -> PathBuf {
    std::env::var_os(FIRMWARE_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../firmware/target"))
        })
}

/// The path of `build`'s ELF; an error that says how to make it when it is not there.
pub fn firmware_elf(build: Build) -> Result<PathBuf, SimError> {
    elf_in(&firmware_dir(), build)
}

/// `build`'s ELF in `dir`, if it is there.
pub fn elf_in(dir: &Path, build: Build) -> Result<PathBuf, SimError> {
    let path = dir.join(build.file_name());
    if path.is_file() {
        Ok(path)
    } else {
        Err(SimError::MissingBuild { path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_build_says_where_it_looked_and_how_to_make_it() {
        let dir = tempfile::tempdir().unwrap();
        let e = elf_in(dir.path(), Build::Board).unwrap_err().to_string();
        assert!(e.contains("inas-firmware.elf"), "{e}");
        assert!(e.contains(&dir.path().display().to_string()), "{e}");
        assert!(e.contains("cargo xtask firmware"), "{e}");
        std::fs::write(dir.path().join("inas-firmware-smoke.elf"), b"x").unwrap();
        assert_eq!(
            elf_in(dir.path(), Build::Smoke).unwrap(),
            dir.path().join("inas-firmware-smoke.elf")
        );
    }
}
