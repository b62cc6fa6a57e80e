fn main() {
    std::process::exit(inas::cli::main());
}
