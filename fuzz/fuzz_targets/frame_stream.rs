//! The UART stream decoder and the message decoders: any byte stream, never a panic; every
//! payload handed out passed its CRC.
#![no_main]

use inas_common::crc::crc32;
use inas_common::wire::{decode_message, DeviceMsg, FrameDecoder, HostMsg};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut d = FrameDecoder::new();
    for &b in data {
        if let Some(Ok(payload)) = d.push(b) {
            let _ = decode_message::<HostMsg>(payload);
            let _ = decode_message::<DeviceMsg>(payload);
        }
    }
    // Payloads straight from the fuzzer too, to reach deep into the message decoders.
    let _ = decode_message::<HostMsg>(data);
    let _ = decode_message::<DeviceMsg>(data);
    let _ = crc32(data);
});
