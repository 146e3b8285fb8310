//! `hush-relay`: see [`hush_relay::cli`].

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = hush_relay::cli::Cli::parse();
    init_logging();
    match hush_relay::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hush-relay: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr (journald picks them up under systemd), plain text without colours when
/// stderr is not a terminal. `RUST_LOG` sets the level; the default is `info`.
fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
