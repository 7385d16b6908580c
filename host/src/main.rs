fn main() -> std::process::ExitCode {
    apirun::cli::main()
}
