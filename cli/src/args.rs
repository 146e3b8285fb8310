//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Hush: end-to-end encrypted chat from the terminal.
#[derive(Debug, Parser)]
#[command(name = "hush", version, about, disable_help_subcommand = true)]
pub(crate) struct Cli {
    /// Where this account lives [env: HUSH_HOME; default: $XDG_DATA_HOME/hush].
    #[arg(long, global = true, env = "HUSH_HOME")]
    pub(crate) home: Option<PathBuf>,
    /// Machine output: one JSON object per line.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create an account on a relay.
    Init {
        /// The relay address (hush://HOST:PORT#PIN), as its operator gave it.
        #[arg(long)]
        relay: String,
        /// Your display name, shown to people you write to.
        #[arg(long)]
        name: Option<String>,
    },
    /// Show your fingerprint, relay, username and invite code.
    Whoami,
    /// Claim @USERNAME on your relay.
    Register {
        /// The name (3-32 of a-z, 0-9, _ and .).
        username: String,
    },
    /// Print your invite code on one line.
    Invite,
    /// Add a contact from an invite code or an @username.
    Add {
        /// An invite code (hush1:…) or @username.
        code: String,
        /// What to call them.
        #[arg(long = "as")]
        alias: Option<String>,
    },
    /// List contacts.
    Contacts,
    /// Send a message (exits 0 once the relay stored it, or once it is queued).
    Send {
        /// Contact alias, @username or mailbox id.
        to: String,
        /// The text; `-` reads it from standard input.
        text: String,
    },
    /// Receive pending messages and send queued ones.
    Sync {
        /// Keep receiving for up to this many seconds after the queue is empty.
        #[arg(long, default_value_t = 0)]
        wait: u64,
    },
    /// Stay connected and print messages as they arrive.
    Listen,
    /// Show a conversation, newest first.
    History {
        /// Contact alias, @username or mailbox id.
        to: String,
        /// How many messages.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only messages older than this message id (for paging).
        #[arg(long)]
        before: Option<String>,
    },
    /// Search all local history.
    Search {
        /// Text to look for (case-insensitive).
        text: String,
    },
    /// Chat interactively: type lines to send, see replies as they arrive.
    Chat {
        /// Contact alias, @username or mailbox id.
        to: String,
    },
    /// Show the safety number with a contact.
    Verify {
        /// Contact alias, @username or mailbox id.
        to: String,
        /// You compared the numbers and they match.
        #[arg(long)]
        mark_verified: bool,
    },
}
