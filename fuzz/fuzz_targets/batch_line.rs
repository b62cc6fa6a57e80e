//! A batch line of `inas explore --batch`: decoding and validation never panic.
#![no_main]

use std::sync::OnceLock;

use inas_core::case::CaseSpec;
use inas_core::profile::Profile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    static PROFILE: OnceLock<Profile> = OnceLock::new();
    let profile = PROFILE.get_or_init(Profile::reference);
    if let Ok(spec) = serde_json::from_str::<CaseSpec>(text) {
        let _ = spec.validate(profile);
    }
});
