//! Loading a firmware ELF: its PT_LOAD segments go to their physical (load) addresses, as a
//! programmer flashes them, and the symbol table is kept for breakpoints and tests.

use std::collections::HashMap;
use std::path::Path;

use object::elf::{FileHeader32, PT_LOAD};
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Endianness, Object, ObjectSymbol};

use crate::error::SimError;
use crate::memory::Memory;

/// EM_MSP430.
const EM_MSP430: u16 = 0x69;

/// A parsed firmware image.
#[derive(Clone, Debug)]
pub struct Firmware {
    /// (load address, bytes) of every non-empty loadable segment.
    pub segments: Vec<(u32, Vec<u8>)>,
    /// Symbol name -> address.
    pub symbols: HashMap<String, u32>,
    pub entry: u32,
}

impl Firmware {
    /// Reads and parses an ELF file.
    pub fn from_path(path: &Path) -> Result<Firmware, SimError> {
        let data = std::fs::read(path).map_err(|source| SimError::Io {
            path: path.to_owned(),
            source,
        })?;
        Firmware::parse(&data)
    }

    /// Parses ELF bytes: a 32-bit little-endian MSP430 executable.
    pub fn parse(data: &[u8]) -> Result<Firmware, SimError> {
        let elf_err = |e: object::Error| SimError::Elf(e.to_string());
        let header = FileHeader32::<Endianness>::parse(data).map_err(elf_err)?;
        let endian = header.endian().map_err(elf_err)?;
        let machine = header.e_machine(endian);
        if machine != EM_MSP430 {
            return Err(SimError::NotMsp430 { machine });
        }
        let mut segments = Vec::new();
        for ph in header.program_headers(endian, data).map_err(elf_err)? {
            if ph.p_type(endian) != PT_LOAD || ph.p_filesz(endian) == 0 {
                continue;
            }
            let bytes = ph.data(endian, data).map_err(|()| {
                SimError::Elf("a loadable segment runs past the end of the file".into())
            })?;
            segments.push((ph.p_paddr(endian), bytes.to_vec()));
        }
        if segments.is_empty() {
            return Err(SimError::Elf("no loadable segments".into()));
        }
        let file = object::File::parse(data).map_err(elf_err)?;
        let symbols = file
            .symbols()
            .filter_map(|s| Some((s.name().ok()?.to_owned(), s.address() as u32)))
            .filter(|(n, _)| !n.is_empty())
            .collect();
        Ok(Firmware {
            segments,
            symbols,
            entry: header.e_entry(endian),
        })
    }

    /// Writes the segments into memory; every byte must land in ROM, SRAM or FRAM.
    pub fn load_into(&self, mem: &mut Memory) -> Result<(), SimError> {
        for (addr, bytes) in &self.segments {
            let (a, len) = (u64::from(*addr), bytes.len() as u64);
            mem.check_loadable(a, len)
                .map_err(|bad| SimError::SegmentOutsideMemory {
                    addr: a,
                    end: a + len,
                    bad,
                })?;
            mem.write_bytes(*addr, bytes);
        }
        Ok(())
    }

    /// A symbol's address.
    pub fn symbol(&self, name: &str) -> Option<u32> {
        self.symbols.get(name).copied()
    }
}
