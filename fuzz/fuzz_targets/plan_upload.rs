//! The device side of a plan upload: arbitrary bytes in fuzzer-chosen chunks (with the
//! announced CRC taken from the bytes so uploads can reach commit), never a panic, never an
//! NVM write outside the staging area.
#![no_main]

use inas_common::engine::{Block, Nvm};
use inas_common::plan::Limits;
use inas_common::upload::PlanReceiver;
use libfuzzer_sys::fuzz_target;

struct Words(Vec<i16>);

impl Nvm for Words {
    type Error = ();
    fn read(&mut self, _: Block, _: u32, _: &mut [i16]) -> Result<(), ()> {
        Err(())
    }
    fn write(&mut self, _: Block, addr: u32, data: &[i16]) -> Result<(), ()> {
        let a = addr as usize;
        assert!(a >= 16 && a + data.len() <= self.0.len(), "write outside staging: {a}");
        self.0[a..a + data.len()].copy_from_slice(data);
        Ok(())
    }
}

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (sizes, bytes) = input;
    let crc = bytes.get(16..20).map_or(0, |c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
    let mut nvm = Words(vec![0; 16 + bytes.len() / 2 + 1]);
    let mut rx = PlanReceiver::new();
    if rx.begin(bytes.len() as u32, crc, 1 << 16, 16).is_err() {
        return;
    }
    let mut at = 0usize;
    for &n in sizes.iter().chain(std::iter::repeat(&64)) {
        if at >= bytes.len() {
            break;
        }
        let end = (at + usize::from(n).max(1)).min(bytes.len());
        if rx.chunk(&mut nvm, at as u32, &bytes[at..end]).is_err() {
            return;
        }
        at = end;
    }
    let _ = rx.commit(&Limits { vm_bytes: 2048, nvm_bytes: 256 * 1024 });
});
