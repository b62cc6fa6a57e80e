//! Plan bytes: decoding and validation are total. The CRC is fixed up half of the time so the
//! fuzzer also reaches the metadata decoder and the validator behind it.
#![no_main]

use inas_common::plan::{plan_crc, validate, Limits, Plan, PREAMBLE_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { vm_bytes: 2048, nvm_bytes: 256 * 1024 };
    if let Ok(p) = Plan::decode(data) {
        let _ = validate(&p, &limits);
    }
    if data.len() >= PREAMBLE_LEN {
        let mut fixed = data.to_vec();
        let crc = plan_crc(&fixed);
        fixed[16..20].copy_from_slice(&crc.to_le_bytes());
        if let Ok(p) = Plan::decode(&fixed) {
            let _ = validate(&p, &limits);
        }
    }
});
