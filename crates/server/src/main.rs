use std::process::ExitCode;

fn main() -> ExitCode {
    // One TLS provider for the whole process (PostgreSQL over TLS), chosen explicitly.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    tessera_server::cli::main()
}
