//! The address space: one flat byte array over the 20-bit space and a page table saying what
//! each 256-byte page holds.
//!
//! Peripheral pages are only marked here; the machine dispatches their accesses to the models.

use crate::platform::{Platform, RegionKind, ADDRESS_SPACE, PAGE};

/// What a page holds, ordered so that plain memory compares greater than [`Page::Peripherals`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Page {
    Vacant = 0,
    Peripherals = 1,
    Rom = 2,
    Sram = 3,
    Fram = 4,
}

impl Page {
    /// Readable as plain bytes (ROM, SRAM, FRAM).
    #[inline(always)]
    pub fn is_memory(self) -> bool {
        self >= Page::Rom
    }
}

/// The device's memories.
#[derive(Clone)]
pub struct Memory {
    // Fixed-size arrays: indices are masked to their length, so accesses need no bounds check.
    bytes: Box<[u8; ADDRESS_SPACE as usize]>,
    pages: Box<[Page; (ADDRESS_SPACE / PAGE) as usize]>,
}

impl Memory {
    /// Memory laid out as `platform` says, SRAM filled with `sram_fill` and FRAM and ROM with
    /// `fram_fill` (what a blank device reads before programming).
    pub fn new(platform: &Platform, sram_fill: u8, fram_fill: u8) -> Memory {
        let mut pages = vec![Page::Vacant; (ADDRESS_SPACE / PAGE) as usize];
        for r in &platform.memory {
            let kind = match r.kind {
                RegionKind::Peripherals => Page::Peripherals,
                RegionKind::Rom => Page::Rom,
                RegionKind::Sram => Page::Sram,
                RegionKind::Fram => Page::Fram,
            };
            for p in (r.start / PAGE)..(r.end / PAGE) {
                pages[p as usize] = kind;
            }
        }
        let bytes = vec![0u8; ADDRESS_SPACE as usize].into_boxed_slice();
        let mut m = Memory {
            bytes: bytes
                .try_into()
                .unwrap_or_else(|_| unreachable!("the length is ADDRESS_SPACE")),
            pages: pages
                .into_boxed_slice()
                .try_into()
                .unwrap_or_else(|_| unreachable!("one entry per page")),
        };
        m.fill(Page::Sram, sram_fill);
        m.fill(Page::Fram, fram_fill);
        m.fill(Page::Rom, fram_fill);
        m
    }

    /// The kind of page `addr` (any u32; bits above 19 are ignored) lies in.
    #[inline(always)]
    pub fn page(&self, addr: u32) -> Page {
        self.pages[((addr & (ADDRESS_SPACE - 1)) / PAGE) as usize]
    }

    /// Fills every page of `kind` with `value` (used to poison SRAM at a power failure).
    pub fn fill(&mut self, kind: Page, value: u8) {
        for (i, &p) in self.pages.iter().enumerate() {
            if p == kind {
                let start = i * PAGE as usize;
                self.bytes[start..start + PAGE as usize].fill(value);
            }
        }
    }

    /// Whether every byte of `addr..addr + len` is loadable memory (ROM, SRAM or FRAM); the
    /// first address that is not, otherwise.
    pub fn check_loadable(&self, addr: u64, len: u64) -> Result<(), u64> {
        for a in addr..addr.saturating_add(len) {
            if a >= u64::from(ADDRESS_SPACE) || !self.page(a as u32).is_memory() {
                return Err(a);
            }
        }
        Ok(())
    }

    /// Raw byte read (no side effects; any address).
    #[inline(always)]
    pub fn byte(&self, addr: u32) -> u8 {
        self.bytes[(addr & (ADDRESS_SPACE - 1)) as usize]
    }

    /// Raw little-endian word read at `addr & !1`.
    #[inline(always)]
    pub fn word(&self, addr: u32) -> u16 {
        let a = (addr & (ADDRESS_SPACE - 2)) as usize;
        u16::from_le_bytes([self.bytes[a], self.bytes[a + 1]])
    }

    /// Raw byte write (no side effects; any address).
    #[inline(always)]
    pub fn set_byte(&mut self, addr: u32, v: u8) {
        self.bytes[(addr & (ADDRESS_SPACE - 1)) as usize] = v;
    }

    /// Raw word write at `addr & !1`.
    #[inline(always)]
    pub fn set_word(&mut self, addr: u32, v: u16) {
        let a = (addr & (ADDRESS_SPACE - 2)) as usize;
        let [lo, hi] = v.to_le_bytes();
        self.bytes[a] = lo;
        self.bytes[a + 1] = hi;
    }

    /// A copy of `len` bytes from `addr` (wrapping at 1 MB).
    pub fn read_bytes(&self, addr: u32, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| self.byte(addr.wrapping_add(i as u32)))
            .collect()
    }

    /// Writes `data` at `addr` regardless of page kind (the loader and tests).
    pub fn write_bytes(&mut self, addr: u32, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            self.set_byte(addr.wrapping_add(i as u32), b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fr5994_map_matches_the_datasheet() {
        let m = Memory::new(&Platform::fr5994(), 0xA5, 0xFF);
        assert_eq!(m.page(0x0FFF), Page::Peripherals);
        assert_eq!(m.page(0x1000), Page::Rom);
        assert_eq!(m.page(0x1800), Page::Fram);
        assert_eq!(m.page(0x1B00), Page::Vacant);
        assert_eq!(m.page(0x1C00), Page::Sram);
        assert_eq!(m.page(0x3BFF), Page::Sram);
        assert_eq!(m.page(0x3C00), Page::Vacant);
        assert_eq!(m.page(0x4000), Page::Fram);
        assert_eq!(m.page(0x43FFF), Page::Fram);
        assert_eq!(m.page(0x44000), Page::Vacant);
        assert_eq!(m.byte(0x1C00), 0xA5);
        assert_eq!(m.byte(0x4000), 0xFF);
    }

    #[test]
    fn words_are_little_endian_and_ignore_bit_0() {
        let mut m = Memory::new(&Platform::fr5994(), 0, 0);
        m.set_word(0x2001, 0x1234);
        assert_eq!(m.byte(0x2000), 0x34);
        assert_eq!(m.byte(0x2001), 0x12);
        assert_eq!(m.word(0x2000), 0x1234);
        assert_eq!(m.word(0x2001), 0x1234);
    }
}
