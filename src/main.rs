fn main() -> std::process::ExitCode {
    crit_fs::cli::main()
}
