//! Loading a firmware ELF: its PT_LOAD segments go to their physical (load) addresses, as a
//! programmer flashes them, and the symbol table is kept for breakpoints and tests.

use std::collections::HashMap;
use std::path::Path;

use object::elf::{FileHeader32, PT_LOAD};
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Endianness, Object, ObjectSymbol, SymbolKind};

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
    /// Functions (code symbols with a size): (address, size, name), by address.
    pub functions: Vec<(u32, u32, String)>,
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
        let mut functions: Vec<(u32, u32, String)> = file
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
            .filter_map(|s| {
                Some((
                    s.address() as u32,
                    s.size() as u32,
                    s.name().ok()?.to_owned(),
                ))
            })
            .collect();
        functions.sort();
        Ok(Firmware {
            segments,
            symbols,
            functions,
            entry: header.e_entry(endian),
        })
    }

    /// The function holding `pc`, if the symbol table says.
    pub fn function_at(&self, pc: u32) -> Option<&str> {
        let i = self
            .functions
            .partition_point(|f| f.0 <= pc)
            .checked_sub(1)?;
        let (start, size, name) = &self.functions[i];
        (pc < start + size).then_some(name.as_str())
    }

    /// Cycles by function, largest first, from a per-address profile
    /// ([`crate::Machine::profile`]); addresses outside every function count as `?`.
    pub fn cycles_by_function(&self, profile: &HashMap<u32, u64>) -> Vec<(String, u64)> {
        let mut by: HashMap<&str, u64> = HashMap::new();
        for (&pc, &c) in profile {
            *by.entry(self.function_at(pc).unwrap_or("?")).or_default() += c;
        }
        let mut out: Vec<(String, u64)> = by.into_iter().map(|(n, c)| (n.to_owned(), c)).collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
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
