//! inas firmware for the MSP430FR5994.
//!
//! This build is the smoke configuration: it runs an embedded plan on an embedded input with
//! the shared engine, NVM in `.persistent` FRAM, and resumes across resets from the engine's
//! footprint. Results go to `RESULT`/`STATUS` and the run ends in `test_done`, where a
//! debugger or simulator reads them.
#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

mod startup;

use core::mem::MaybeUninit;
use core::ptr::{addr_of, addr_of_mut};

use inas_common::engine::{Block, Engine, Mac, Nvm, Step};
use inas_common::plan::{validate, Limits, Plan, ValidPlan};
use inas_common::q15;
use msp430_rt::entry;
// Links the interrupt vector table the runtime expects.
use msp430fr5994 as _;
// The __mspabi_* helpers LLVM calls for multiply, divide and variable shifts.
use inas_mspabi as _;
use panic_msp430 as _;

/// Words of FRAM the engine may use as NVM (tensors, feature maps, footprint).
const NVM_WORDS: usize = 6144;
/// Words of SRAM for the tile buffers.
const VM_WORDS: usize = 1024;
/// Marks that `start` completed for the embedded plan: later boots resume instead.
const STARTED_MAGIC: u16 = 0x5157;

/// Status codes left in `STATUS`.
const OK: u16 = 0x600D;
const BAD_PLAN: u16 = 0xBAD1;
const ENGINE_ERROR: u16 = 0xBAD2;

#[cfg(feature = "smoke")]
static PLAN: &[u8] = include_bytes!(env!("INAS_SMOKE_PLAN"));
#[cfg(feature = "smoke")]
static INPUT: &[u8] = include_bytes!(env!("INAS_SMOKE_INPUT"));

#[link_section = ".persistent"]
static mut NVM: [i16; NVM_WORDS] = [0; NVM_WORDS];
#[link_section = ".persistent"]
static mut STARTED: u16 = 0;
#[no_mangle]
#[link_section = ".persistent"]
static mut BOOTS: u16 = 0;
/// Batches committed over all boots (re-executed ones included).
#[no_mangle]
#[link_section = ".persistent"]
static mut COMMITS: u16 = 0;

static mut VM: [i16; VM_WORDS] = [0; VM_WORDS];
/// The decoded plan, kept out of `main`'s stack frame.
static mut VALID_PLAN: MaybeUninit<ValidPlan> = MaybeUninit::uninit();
#[no_mangle]
static mut RESULT: [i16; 32] = [0; 32];
#[no_mangle]
static mut STATUS: u16 = 0;

/// Where a debugger stops to read the results.
#[no_mangle]
#[inline(never)]
pub extern "C" fn test_done() {
    // SAFETY: a lone `nop` has no effect beyond keeping the function from being merged.
    unsafe { core::arch::asm!("nop") };
}

/// FRAM as the engine's NVM, with CPU copies (DMA comes with the board build).
struct Fram;

fn nvm() -> &'static mut [i16; NVM_WORDS] {
    // SAFETY: single-threaded firmware, no interrupt touches NVM, one borrow at a time.
    unsafe { &mut *addr_of_mut!(NVM) }
}

impl Nvm for Fram {
    type Error = core::convert::Infallible;

    fn read(&mut self, _block: Block, addr: u32, buf: &mut [i16]) -> Result<(), Self::Error> {
        let a = addr as usize;
        buf.copy_from_slice(&nvm()[a..a + buf.len()]);
        Ok(())
    }

    fn write(&mut self, _block: Block, addr: u32, data: &[i16]) -> Result<(), Self::Error> {
        let a = addr as usize;
        nvm()[a..a + data.len()].copy_from_slice(data);
        Ok(())
    }
}

impl Mac for Fram {
    type Error = core::convert::Infallible;
    fn dot(&mut self, x: &[i16], w: &[i16]) -> Result<i32, Self::Error> {
        Ok(q15::dot(x, w))
    }
}

fn finish(status: u16) -> ! {
    // SAFETY: single-threaded; the debugger reads STATUS after test_done.
    unsafe { *addr_of_mut!(STATUS) = status };
    test_done();
    loop {}
}

/// Decodes and validates the stored plan into a static; on the first boot of a run, also puts
/// its tensors and the input into NVM and resets the footprint. Not inlined: its temporaries
/// (the metadata is about 0.5 KB, copied while decoding) live in a frame that is gone before
/// the engine runs.
#[inline(never)]
fn load_plan(bytes: &'static [u8], limits: &Limits) -> Option<&'static ValidPlan> {
    let source = Plan::decode(bytes).ok()?;
    let plan = validate(&source, limits).ok()?;
    // SAFETY: single-threaded; written once per boot, before any reader.
    let plan: &'static ValidPlan = unsafe { (*addr_of_mut!(VALID_PLAN)).write(plan) };
    // SAFETY: single-threaded; STARTED lives in FRAM and survives resets.
    if unsafe { *addr_of!(STARTED) } != STARTED_MAGIC {
        let layout = plan.layout();
        for i in 0..source.tensor_elements() {
            nvm()[(layout.tensors + i) as usize] = source.tensor_value(i);
        }
        let engine = Engine::new(plan);
        let (at, len) = engine.input();
        for (i, pair) in INPUT.chunks_exact(2).take(len as usize).enumerate() {
            nvm()[at as usize + i] = i16::from_le_bytes([pair[0], pair[1]]);
        }
        let _ = engine.restart(&mut Fram);
        // SAFETY: as above. Set last: a reset before this point starts the run over.
        unsafe { *addr_of_mut!(STARTED) = STARTED_MAGIC };
    }
    Some(plan)
}

#[entry]
fn main() -> ! {
    // SAFETY: single-threaded start-up.
    unsafe { *addr_of_mut!(BOOTS) = (*addr_of!(BOOTS)).wrapping_add(1) };
    let limits = Limits {
        vm_bytes: (VM_WORDS * 2) as u32,
        nvm_bytes: (NVM_WORDS * 2) as u32,
    };
    let Some(plan) = load_plan(PLAN, &limits) else {
        finish(BAD_PLAN);
    };
    let engine = Engine::new(plan);
    let mut fram = Fram;
    // SAFETY: VM is only used here.
    let vm = unsafe { &mut *addr_of_mut!(VM) };
    loop {
        match engine.step(&mut fram, vm) {
            // SAFETY: single-threaded.
            Ok(Step::Committed { .. }) => unsafe {
                *addr_of_mut!(COMMITS) = (*addr_of!(COMMITS)).wrapping_add(1)
            },
            Ok(Step::Done) => break,
            Err(_) => finish(ENGINE_ERROR),
        }
    }
    let (at, len) = engine.output();
    for i in 0..(len as usize).min(32) {
        // SAFETY: single-threaded.
        unsafe { (*addr_of_mut!(RESULT))[i] = nvm()[at as usize + i] };
    }
    finish(OK)
}
