//! Puts memory.x and device.x where the linker script of msp430-rt looks for them.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for f in ["memory.x", "device.x"] {
        fs::copy(f, out.join(f)).expect("copy linker fragment");
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-env-changed=INAS_SMOKE_PLAN");
    println!("cargo:rerun-if-env-changed=INAS_SMOKE_INPUT");
}
