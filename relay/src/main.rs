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

/// Logs go to stderr, plain text without colours when stderr is not a terminal. `RUST_LOG` sets
/// the level; the default is `info`.
///
/// Under journald (`JOURNAL_STREAM` is set by systemd 231+; the unit also sets
/// `HUSH_LOG_FORMAT=journal` for systemd 219, which has no `JOURNAL_STREAM`), each line starts
/// with its syslog priority (`<3>` error … `<7>` debug) and carries no timestamp, so
/// `journalctl -p warning` works and times are not doubled.
fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let journal = std::env::var_os("JOURNAL_STREAM").is_some()
        || std::env::var("HUSH_LOG_FORMAT").is_ok_and(|v| v == "journal");
    if journal {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .event_format(journal::PriorityPrefix)
            .init();
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

mod journal {
    use std::fmt;

    use tracing::{Event, Level, Subscriber};
    use tracing_subscriber::fmt::format::Writer;
    use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
    use tracing_subscriber::registry::LookupSpan;

    /// `<priority>fields` — the line format journald's stdout/stderr stream parser understands.
    pub(super) struct PriorityPrefix;

    impl<S, N> FormatEvent<S, N> for PriorityPrefix
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
    {
        fn format_event(
            &self,
            ctx: &FmtContext<'_, S, N>,
            mut writer: Writer<'_>,
            event: &Event<'_>,
        ) -> fmt::Result {
            let priority = match *event.metadata().level() {
                Level::ERROR => 3,
                Level::WARN => 4,
                Level::INFO => 6,
                _ => 7,
            };
            write!(writer, "<{priority}>")?;
            ctx.field_format().format_fields(writer.by_ref(), event)?;
            writeln!(writer)
        }
    }
}
