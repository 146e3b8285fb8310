//! `hush`: the command-line Hush client.
//!
//! Exit codes: 0 success, 1 usage error, 2 relay or network error, 3 crypto or verification
//! error (wrong passphrase, wrong relay key, a contact's key that does not verify). Every
//! failure prints one line on stderr.
//!
//! # Layout
//! - `args`: the command line (clap).
//! - `bench`: `hush bench`, the load generator (against a relay or NATS JetStream).
//! - `commands`: one function per subcommand.
//! - `files`: `send-file`, `files` and `save`, with progress bars.
//! - `chat`: the interactive chat loop.
//! - `output`: human and JSON rendering.
//! - `secrets`: the passphrase (environment or prompt).

mod args;
mod bench;
mod chat;
mod commands;
mod files;
mod output;
mod secrets;

use std::process::ExitCode;

use clap::Parser;
use hush_client_core::{ClientError, ErrorKind};

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = match error.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 1,
            };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("hush: cannot start: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let code = match error.downcast_ref::<ClientError>().map(ClientError::kind) {
                Some(ErrorKind::Network) => 2,
                Some(ErrorKind::Crypto) => 3,
                _ => 1,
            };
            eprintln!("hush: {error:#}");
            ExitCode::from(code)
        }
    }
}
