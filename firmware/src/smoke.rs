//! The smoke configuration's board: what `mspdebug sim` can execute. NVM is an array in low
//! FRAM (the simulator has no address space above 64 KB and no DMA), the MAC is the CPU's
//! `q15::tile` and `q15::pool` and there is no cycle counter.

use core::ptr::addr_of_mut;

use inas_common::engine::{Block, Mac, Nvm};
use inas_common::q15::{self, MacTile};
use inas_common::session::Device;

/// Words of low FRAM the session owns: the 64 control words, two 327-word heads and the smoke
/// plan's 1,551-word layout (its tensors stored twice would fit too).
pub const NVM_WORDS: u32 = 2560;
pub const MCLK_HZ: u32 = 1_000_000;

#[link_section = ".persistent"]
static mut NVM: [i16; NVM_WORDS as usize] = [0; NVM_WORDS as usize];

/// An access outside the NVM array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NvmError {
    pub addr: u32,
    pub words: u32,
}

pub struct Board;

/// No UART under `mspdebug sim`: writes go nowhere.
pub struct Serial;

impl embedded_io::ErrorType for Serial {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for Serial {
    fn write(&mut self, bytes: &[u8]) -> Result<usize, Self::Error> {
        Ok(bytes.len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

pub fn init() -> (Board, Serial) {
    (Board, Serial)
}

fn nvm() -> &'static mut [i16; NVM_WORDS as usize] {
    // SAFETY: single-threaded firmware, no interrupt touches NVM, one borrow at a time.
    unsafe { &mut *addr_of_mut!(NVM) }
}

fn range(addr: u32, len: usize) -> Result<core::ops::Range<usize>, NvmError> {
    let err = NvmError {
        addr,
        words: len as u32,
    };
    let start = addr as usize;
    let end = start.checked_add(len).ok_or(err)?;
    if end > NVM_WORDS as usize {
        return Err(err);
    }
    Ok(start..end)
}

impl NvmError {
    /// Start of the refused access (the board build's interface).
    pub fn addr(&self) -> u32 {
        self.addr
    }
}

impl Nvm for Board {
    type Error = NvmError;

    fn read(&mut self, _block: Block, addr: u32, buf: &mut [i16]) -> Result<(), NvmError> {
        let r = range(addr, buf.len())?;
        buf.copy_from_slice(&nvm()[r]);
        Ok(())
    }

    fn write(&mut self, _block: Block, addr: u32, data: &[i16]) -> Result<(), NvmError> {
        let r = range(addr, data.len())?;
        nvm()[r].copy_from_slice(data);
        Ok(())
    }
}

impl Mac for Board {
    type Error = NvmError;
    fn mac(
        &mut self,
        x: &[i16],
        w: &[i16],
        out: &mut [i16],
        tile: &MacTile,
        relu: bool,
    ) -> Result<(), NvmError> {
        q15::tile(x, w, out, tile, relu).ok_or(NvmError { addr: 0, words: 0 })
    }
    fn pool(
        &mut self,
        x: &[i16],
        w: i16,
        out: &mut [i16],
        pixels: u16,
        shift: u8,
        relu: bool,
    ) -> Result<(), NvmError> {
        q15::pool(x, w, out, pixels, shift, relu).ok_or(NvmError { addr: 0, words: 0 })
    }
}

impl Device for Board {
    fn cycles(&mut self) -> u32 {
        0
    }

    /// The session lives in FRAM (`.persistent`).
    fn persist_barrier(&mut self) {
        // SAFETY: an empty asm block; without `nomem` it orders all memory accesses around it.
        unsafe { core::arch::asm!("", options(nostack, preserves_flags)) };
    }
}

/// The simulator cannot reset itself; the smoke run uses continuous mode and never asks to.
pub fn power_down(_board: &Board) {}
