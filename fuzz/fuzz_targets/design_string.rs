//! Any text either parses as a design string or is refused; what parses prints back to itself.
#![no_main]

use inas_common::ExecDesign;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(d) = text.parse::<ExecDesign>() {
        assert_eq!(d.to_string().parse::<ExecDesign>(), Ok(d));
    }
});
