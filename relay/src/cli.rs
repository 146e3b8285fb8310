//! The `hush-relay` command line.
//!
//! - `hush-relay serve [--data-dir DIR] [--listen ADDR] [--config FILE] [--metrics ADDR]
//!   [--public-host HOST]`
//! - `hush-relay address --data-dir DIR`
//! - `hush-relay check-config --config FILE`

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::server::{ADDRESS_FILE, Relay};

/// The Hush relay: stores and forwards end-to-end encrypted envelopes.
#[derive(Debug, Parser)]
#[command(name = "hush-relay", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the relay until SIGTERM or SIGINT.
    Serve {
        /// Data directory (store, TLS key, relay-address file) [default: ./hush-relay-data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// UDP address to listen on [default: 127.0.0.1:4433].
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// TOML configuration file; flags override it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Serve Prometheus metrics at http://ADDR/metrics [default: off].
        #[arg(long)]
        metrics: Option<SocketAddr>,
        /// Host name to put in the relay address [default: the listen IP].
        #[arg(long)]
        public_host: Option<String>,
    },
    /// Print the relay address written by the last `serve` of this data dir.
    Address {
        /// Data directory.
        #[arg(long, default_value = crate::config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Validate a configuration file; exits non-zero with the reason when it is wrong.
    CheckConfig {
        /// The file.
        #[arg(long)]
        config: PathBuf,
    },
}

/// Errors that end the command, printed as one line on stderr.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The configuration is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The relay could not start.
    #[error(transparent)]
    Start(#[from] crate::server::StartError),
    /// Anything else, with context.
    #[error("{0}")]
    Other(String),
}

/// Runs a parsed command.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve {
            data_dir,
            listen,
            config,
            metrics,
            public_host,
        } => {
            let mut settings = match &config {
                Some(path) => Config::load(path)?,
                None => Config::default(),
            };
            if let Some(data_dir) = data_dir {
                settings.server.data_dir = data_dir;
            }
            if let Some(listen) = listen {
                settings.server.listen = listen;
            }
            if let Some(metrics) = metrics {
                settings.server.metrics = Some(metrics);
            }
            if let Some(host) = public_host {
                settings.server.public_host = Some(host);
            }
            settings.validate()?;
            serve(settings)
        }
        Command::Address { data_dir } => {
            let path = data_dir.join(ADDRESS_FILE);
            let address = std::fs::read_to_string(&path).map_err(|e| {
                CliError::Other(format!(
                    "cannot read {}: {e} (run `hush-relay serve --data-dir {}` once first)",
                    path.display(),
                    data_dir.display()
                ))
            })?;
            println!("{}", address.trim());
            Ok(())
        }
        Command::CheckConfig { config } => {
            Config::load(&config)?;
            println!("{}: ok", config.display());
            Ok(())
        }
    }
}

fn serve(config: Config) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hush-relay")
        .build()
        .map_err(|e| CliError::Other(format!("starting the runtime: {e}")))?;
    runtime.block_on(async move {
        let data_dir = config.server.data_dir.clone();
        let metrics_address = config.server.metrics;
        if config.server.public_host.is_none() && config.server.listen.ip().is_unspecified() {
            tracing::warn!(
                "listening on an unspecified address: set server.public_host (or --public-host) \
                 so the relay address names a host clients can reach"
            );
        }
        let exporter = match metrics_address {
            Some(address) => Some(
                crate::metrics::install_exporter(address)
                    .map_err(|e| CliError::Other(format!("metrics endpoint on {address}: {e}")))?,
            ),
            None => None,
        };
        let relay = Relay::bind(config)?;
        relay.write_address_file(&data_dir)?;
        // The signal handlers exist before the address line and READY=1: a SIGTERM right after
        // either stops the relay gracefully.
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        println!("relay address: {}", relay.address());
        use std::io::Write;
        let _ = std::io::stdout().flush();
        if let Some(exporter) = exporter {
            tokio::spawn(exporter);
        }
        #[cfg(unix)]
        crate::notify::ready(&format!("relay address: {}", relay.address()));
        relay.run(shutdown).await;
        Ok(())
    })
}

/// Installs the SIGTERM and SIGINT handlers now (inside the runtime) and returns the task that
/// cancels `shutdown` on the first of them.
fn stop_on_signal(shutdown: CancellationToken) -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        )
    };
    async move {
        #[cfg(unix)]
        {
            match handlers {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => tracing::info!("SIGTERM received"),
                        _ = int.recv() => tracing::info!("SIGINT received"),
                    }
                    crate::notify::stopping();
                }
                _ => {
                    tracing::error!("cannot install signal handlers; stopping on Ctrl-C only");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        shutdown.cancel();
    }
}
