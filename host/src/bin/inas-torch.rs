//! `inas-torch`: the commands that need libtorch (`search`, `trial`), and every other one. The
//! `inas` executable hands `search` and `trial` to it, so that it alone loads libtorch.
fn main() {
    std::process::exit(inas::cli::main());
}
