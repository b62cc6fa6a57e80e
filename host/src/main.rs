fn main() {
    std::process::exit(inas::cli::main_without_torch());
}
