//! The board firmware boots in the emulator and answers a Hello frame on the in-process UART.

mod common;

use inas_common::wire::{
    decode_message, encode_message, DeviceMsg, FrameDecoder, HostMsg, MAX_FRAME,
};
use inas_emu::builds::Build;
use inas_emu::{Firmware, Machine, MachineConfig, Platform, Stop};

/// Runs the machine until a whole frame came back or `cycles` more cycles passed.
fn reply(m: &mut Machine, cycles: u64) -> Option<Vec<u8>> {
    let mut dec = FrameDecoder::new();
    let end = m.cycles() + cycles;
    while m.cycles() < end {
        let step = (m.cycles() + 100_000).min(end);
        match m.run(u64::MAX, step).expect("the firmware runs") {
            Stop::CycleBudget | Stop::InstructionLimit => {}
            other => panic!("unexpected stop {other:?}"),
        }
        for b in m.uart_take() {
            if let Some(frame) = dec.push(b) {
                return Some(frame.expect("a well-formed frame").to_vec());
            }
        }
    }
    None
}

#[test]
fn the_board_firmware_answers_hello_over_the_uart() {
    let fw = Firmware::from_path(&common::elf(Build::Board)).expect("the board ELF parses");
    let mut m = Machine::new(Platform::fr5994(), MachineConfig::default());
    fw.load_into(m.memory_mut()).expect("loads");
    m.power_on().expect("boots");
    // Boot: clocks, UART, timer; then the firmware polls the UART.
    m.run(2_000_000, u64::MAX).expect("boots without error");
    assert_eq!(
        m.clocks().mclk_hz,
        8_000_000,
        "the firmware sets MCLK to 8 MHz"
    );
    let mut frame = [0u8; MAX_FRAME];
    let n = encode_message(&HostMsg::Hello, &mut frame).expect("encodes");
    m.uart_send(&frame[..n]);
    let payload = reply(&mut m, 80_000_000).expect("a reply within 10 s of device time");
    let msg: DeviceMsg = decode_message(&payload).expect("a device message");
    let DeviceMsg::Hello(caps) = msg else {
        panic!("expected Hello, got {msg:?}");
    };
    assert_eq!(&caps.device[..12], b"MSP430FR5994");
    assert_eq!(caps.clock_hz, 8_000_000);
    // Nothing the firmware touched is outside the models.
    assert!(m.access_log().unmodelled.is_empty(), "{:?}", m.access_log());
}
