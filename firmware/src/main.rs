//! inas firmware for the MSP430FR5994: the shared protocol session (`inas_common::session`)
//! over this board's FRAM, multiplier and UART.
//!
//! The board build speaks the wire protocol on eUSCI_A0 (the LaunchPad's back-channel UART,
//! 115200 8N1): it stores plans in the high FRAM through DMA, runs them intermittently and, after
//! a power failure, resumes a run from the engine's footprint before listening again.
//!
//! The `smoke` build is what `mspdebug sim` can execute (no UART, DMA, timer or multiplier
//! there): it installs a plan and an input embedded at build time through the same session
//! calls the wire uses, runs it and leaves the logits in `RESULT` for the debugger, resuming
//! across resets like the board build.
#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]
// Every unsafe block says why it is sound.
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(all(feature = "smoke", feature = "mpy32"))]
compile_error!("the smoke build runs under mspdebug sim, which has no MPY32: build it with --no-default-features");

#[cfg(not(feature = "smoke"))]
mod board;
#[cfg(feature = "smoke")]
mod smoke;
#[cfg(feature = "smoke")]
use smoke as board;
mod mem;
mod startup;

use core::ptr::addr_of_mut;

use inas_common::session::{Config, Session, Stepped};
use inas_common::wire::{DeviceMsg, ErrorCode};
use msp430_rt::entry;
// Links the interrupt vector table the runtime expects.
use msp430fr5994 as _;
// The __mspabi_* helpers LLVM calls for multiply, divide and variable shifts.
use inas_mspabi as _;
use panic_msp430 as _;

/// The board's session layout is defined once, in `common` (the flashing tool builds FRAM
/// images from it); the smoke build keeps its NVM in low FRAM and has no clock.
#[cfg(not(any(feature = "smoke", feature = "mclk-16mhz")))]
const CONFIG: Config = inas_common::session::LAUNCHPAD;
// The layout is the LaunchPad's; only the clock the host hears of differs.
#[cfg(all(not(feature = "smoke"), feature = "mclk-16mhz"))]
const CONFIG: Config = Config {
    clock_hz: board::MCLK_HZ,
    ..inas_common::session::LAUNCHPAD
};
#[cfg(feature = "smoke")]
const CONFIG: Config = Config {
    nvm_words: board::NVM_WORDS,
    clock_hz: board::MCLK_HZ,
    ..inas_common::session::LAUNCHPAD
};
#[cfg(not(feature = "smoke"))]
const _: () = assert!(
    CONFIG.nvm_words == board::NVM_WORDS && CONFIG.clock_hz == board::MCLK_HZ,
    "the board's NVM and clock must be the ones the session layout assumes"
);

/// Words of SRAM for the engine's tile buffers.
const VM_WORDS: usize = CONFIG.vm_words as usize;

/// Boots so far (the FRAM copy survives resets).
#[no_mangle]
#[link_section = ".persistent"]
static mut BOOTS: u16 = 0;
/// Batches committed over all boots (re-executed ones included).
#[no_mangle]
#[link_section = ".persistent"]
static mut COMMITS: u16 = 0;

/// The engine's tile buffers. The board build keeps them out of `.bss` (startup would clear them
/// at every boot, a third of its cost): after a reset they hold whatever SRAM holds, and nothing
/// reads a word of them before writing it — a batch fills every tile buffer word it uses from
/// NVM (IFM, weights, partial sums or biases) before computing, and the benchmarks fill what
/// they send.
#[cfg_attr(not(feature = "smoke"), link_section = ".uninit.vm")]
static mut VM: [i16; VM_WORDS] = [0; VM_WORDS];
/// The session lives in a static in FRAM: it holds the decoded plans and an upload's head
/// buffer, more than the stack should carry, and in FRAM the decoded plans survive a reset
/// (`Session::boot` checks them against the stored head instead of decoding it again).
#[link_section = ".persistent"]
static mut SESSION: Session = Session::new(CONFIG);

fn bump(counter: *mut u16) {
    // SAFETY: single-threaded; the counters are only touched here.
    unsafe { *counter = (*counter).wrapping_add(1) };
}

/// Recovers the session from FRAM, in place in its static.
fn boot(dev: &mut board::Board) -> Option<&'static mut Session> {
    // SAFETY: single-threaded; this is the only reference to SESSION, taken once per boot.
    let session = unsafe { &mut *addr_of_mut!(SESSION) };
    session.boot(dev).ok()?;
    Some(session)
}

/// Runs the run in progress to its end; returns the message to send.
/// `io` is flushed before each power-down, so a reply still leaving is not cut.
fn finish_run<W: embedded_io::Write>(
    session: &mut Session,
    dev: &mut board::Board,
    vm: &mut [i16],
    io: &mut W,
) -> Option<DeviceMsg> {
    while session.running() {
        match session.step(dev, vm) {
            Ok(Stepped::Committed { power_down }) => {
                bump(addr_of_mut!(COMMITS));
                if power_down {
                    let _ = io.flush();
                    board::power_down(dev);
                }
            }
            Ok(Stepped::Finished(msg)) => return Some(msg),
            Err(e) => {
                let detail = e.addr();
                let _ = session.abort(dev);
                return Some(DeviceMsg::Error {
                    code: ErrorCode::Engine,
                    detail,
                });
            }
        }
    }
    None
}

#[cfg(not(feature = "smoke"))]
mod serve {
    //! The board build: the wire protocol over any `embedded_io` byte stream (the board's
    //! UART, `board::Serial`).
    use super::*;
    use embedded_io::{Read, Write};
    use inas_common::wire::{encode_message, FrameDecoder, MAX_FRAME};

    fn send<W: Write>(io: &mut W, msg: &DeviceMsg) {
        let mut frame = [0u8; MAX_FRAME];
        if let Ok(n) = encode_message(msg, &mut frame) {
            // A frame the line loses is the host's to ask for again.
            let _ = io.write_all(&frame[..n]);
        }
    }

    pub fn serve<S: Read + Write>(
        session: &mut Session,
        dev: &mut board::Board,
        vm: &mut [i16],
        io: &mut S,
    ) -> ! {
        let mut decoder = FrameDecoder::new();
        let mut byte = [0u8; 1];
        // A result that a brown-out may have cut as it was sent goes out again first, now that
        // the capacitor is full.
        if !session.running() {
            resend_result(session, dev, io);
        }
        loop {
            // A run (armed at boot or by a frame) goes to its end before the UART is read
            // again; either way at most one reply, sent from one place. UCA0RXBUF holds one
            // byte: each must be taken within a character time (694 cycles at 8 MHz and
            // 115200 baud), so nothing large moves per byte here (a `DeviceMsg` kept across
            // iterations once made every frame arrive broken).
            let reply = if session.running() {
                finish_run(session, dev, vm, io)
            } else {
                if !matches!(io.read(&mut byte), Ok(1)) {
                    continue;
                }
                let Some(frame) = decoder.push(byte[0]) else {
                    continue;
                };
                match session.on_frame(dev, vm, frame) {
                    Ok(reply) => reply,
                    Err(e) => Some(DeviceMsg::Error {
                        code: ErrorCode::Engine,
                        detail: e.addr(),
                    }),
                }
            };
            if let Some(msg) = reply {
                send(io, &msg);
                if matches!(msg, DeviceMsg::Result(_)) {
                    // Out of the UART whole: not sent again at the next boot.
                    let _ = io.flush();
                    let _ = session.result_sent(dev);
                }
            }
        }
    }

    #[inline(never)]
    fn resend_result<S: Write>(session: &mut Session, dev: &mut board::Board, io: &mut S) {
        if let Ok(Some(msg)) = session.pending_result(dev) {
            // A delimiter first: it ends the cut copy in the host's decoder.
            let _ = io.write_all(&[0]);
            send(io, &msg);
            let _ = io.flush();
            let _ = session.result_sent(dev);
        }
    }
}

#[cfg(feature = "smoke")]
mod serve {
    //! The smoke build: an embedded plan and input through the session's own calls; results
    //! in statics a debugger reads at `test_done`.
    use super::*;
    use inas_common::wire::{HostMsg, RunMode, MAX_CHUNK};

    static PLAN: &[u8] = include_bytes!(env!("INAS_SMOKE_PLAN"));
    static INPUT: &[u8] = include_bytes!(env!("INAS_SMOKE_INPUT"));

    const OK: u16 = 0x600D;
    const BAD_PLAN: u16 = 0xBAD1;
    const ENGINE_ERROR: u16 = 0xBAD2;
    const BAD_INPUT: u16 = 0xBAD3;

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

    fn finish(status: u16) -> ! {
        // SAFETY: single-threaded; the debugger reads STATUS after test_done.
        unsafe { *addr_of_mut!(STATUS) = status };
        test_done();
        loop {
            core::hint::spin_loop();
        }
    }

    /// Installs the plan (unless a previous boot did) and the input, and arms a run, all as
    /// the wire would.
    #[inline(never)]
    fn start(session: &mut Session, dev: &mut board::Board, vm: &mut [i16]) {
        if session.plan_id().is_none() && session.install(dev, PLAN).is_err() {
            finish(BAD_PLAN);
        }
        for (i, data) in INPUT.chunks(MAX_CHUNK).enumerate() {
            let offset = (i * MAX_CHUNK / 2) as u32;
            let msg = HostMsg::WriteInput { offset, data };
            if !matches!(
                session.handle(dev, vm, msg),
                Ok(Some(DeviceMsg::Ack { .. }))
            ) {
                finish(BAD_INPUT);
            }
        }
        let run = HostMsg::Run {
            mode: RunMode::Continuous,
        };
        if !matches!(session.handle(dev, vm, run), Ok(None)) {
            finish(BAD_INPUT);
        }
    }

    pub fn serve(
        session: &mut Session,
        dev: &mut board::Board,
        vm: &mut [i16],
        io: &mut board::Serial,
    ) -> ! {
        if !session.running() {
            start(session, dev, vm);
        }
        match finish_run(session, dev, vm, io) {
            Some(DeviceMsg::Result(r)) => {
                for (i, &v) in r.logits.iter().enumerate() {
                    // SAFETY: single-threaded; at most 32 logits (MAX_LOGITS).
                    unsafe { (*addr_of_mut!(RESULT))[i] = v };
                }
                finish(OK)
            }
            _ => finish(ENGINE_ERROR),
        }
    }
}

/// Where every panic ends (the build's panic strategy is `immediate-abort`, which lowers a
/// panic to a call of this): as panic-msp430's handler does, interrupts off and a halt, with
/// no panic machinery linked.
#[no_mangle]
pub extern "C" fn abort() -> ! {
    msp430::interrupt::disable();
    loop {
        core::hint::spin_loop();
    }
}

#[entry]
fn main() -> ! {
    let (mut dev, mut serial) = board::init();
    bump(addr_of_mut!(BOOTS));
    // SAFETY: VM is only used from here on, by this one borrow.
    let vm = unsafe { &mut *addr_of_mut!(VM) };
    let Some(session) = boot(&mut dev) else {
        // FRAM refused the session's own control words: nothing sensible is left to do.
        loop {
            core::hint::spin_loop();
        }
    };
    serve::serve(session, &mut dev, vm, &mut serial)
}
