//! Gives the `inas` binary, tests and benches an rpath to libtorch: torch-sys passes one only to
//! its own C++ compile, and `rustc-link-arg` does not propagate to dependents.
fn main() {
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
