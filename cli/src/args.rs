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
        /// Contact alias, @username, mailbox id, or #group.
        to: String,
        /// The text; `-` reads it from standard input.
        text: String,
        /// Reply to (quote) this message id.
        #[arg(long)]
        reply: Option<String>,
    },
    /// Receive pending messages and send queued ones.
    Sync {
        /// Keep receiving for up to this many seconds after the queue is empty.
        #[arg(long, default_value_t = 0)]
        wait: u64,
        /// Resume uploads at most this fast, in bytes per second (suffixes K, M, G).
        #[arg(long, value_parser = parse_rate)]
        limit_rate: Option<u64>,
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
    /// Groups: create, add, remove, leave, rename, promote, info.
    #[command(subcommand)]
    Group(GroupCommand),
    /// List your groups.
    Groups,
    /// Delete a message (here, or with --for-everyone on every device).
    Delete {
        /// The message id.
        id: String,
        /// Delete it for everyone (your own messages; any message if you are a group admin).
        #[arg(long)]
        for_everyone: bool,
    },
    /// Replace the text of one of your messages, everywhere.
    Edit {
        /// The message id.
        id: String,
        /// The new text.
        text: String,
    },
    /// React to a message with an emoji (an empty string removes your reaction).
    React {
        /// The message id.
        id: String,
        /// The emoji.
        emoji: String,
    },
    /// Make messages in a conversation disappear after DURATION (e.g. 30s, 10m, 1h, 7d), or off.
    Disappear {
        /// Contact or #group.
        to: String,
        /// How long messages stay, or `off`.
        duration: String,
    },
    /// Turn delivery/read receipts on or off.
    Receipts {
        /// `on` or `off`.
        setting: String,
    },
    /// Turn telling contacts when you are online on or off.
    Presence {
        /// `on` or `off`.
        setting: String,
    },
    /// Send a file (up to the relay's limit, 1 GiB by default) to a contact or #group.
    SendFile {
        /// Contact alias, @username, mailbox id, or #group.
        to: String,
        /// The file.
        path: PathBuf,
        /// Text shown with it.
        #[arg(long)]
        caption: Option<String>,
        /// Upload at most this fast, in bytes per second (suffixes K, M, G: 500K, 2M).
        #[arg(long, value_parser = parse_rate)]
        limit_rate: Option<u64>,
    },
    /// List received files: id, name, size, state.
    Files {
        /// Only files from this contact or #group.
        to: Option<String>,
    },
    /// Download, check and save a received file (resuming an interrupted download).
    Save {
        /// The file's id (from `hush files`; a unique prefix is enough).
        id: String,
        /// Where to save it: a file path, or a directory (default: the current directory).
        path: Option<PathBuf>,
        /// Download at most this fast, in bytes per second (suffixes K, M, G: 500K, 2M).
        #[arg(long, value_parser = parse_rate)]
        limit_rate: Option<u64>,
    },
    /// Show the safety number with a contact.
    Verify {
        /// Contact alias, @username or mailbox id.
        to: String,
        /// You compared the numbers and they match.
        #[arg(long)]
        mark_verified: bool,
    },
    /// Measure a relay (or NATS JetStream) under load.
    Bench(crate::bench::BenchArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum GroupCommand {
    /// Create a group.
    Create {
        /// Its name.
        name: String,
        /// Contacts to add, comma-separated.
        #[arg(long, value_delimiter = ',')]
        members: Vec<String>,
    },
    /// Add a contact (admins).
    Add {
        /// The group.
        name: String,
        /// The contact.
        member: String,
    },
    /// Remove a member (admins); everyone's keys rotate.
    Remove {
        /// The group.
        name: String,
        /// The member.
        member: String,
    },
    /// Leave a group.
    Leave {
        /// The group.
        name: String,
    },
    /// Rename a group (admins).
    Rename {
        /// The group.
        name: String,
        /// Its new name.
        new: String,
    },
    /// Make a member an admin (admins).
    Promote {
        /// The group.
        name: String,
        /// The member.
        member: String,
    },
    /// Members and their roles.
    Info {
        /// The group.
        name: String,
    },
}

/// A rate like `500K`, `2M`, `1G` or `65536` (bytes per second; K = 1024).
pub(crate) fn parse_rate(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last() {
        Some((at, c)) if c.is_ascii_alphabetic() => (&text[..at], c.to_ascii_uppercase()),
        _ => (text, 'B'),
    };
    let factor: u64 = match unit {
        'B' => 1,
        'K' => 1024,
        'M' => 1024 * 1024,
        'G' => 1024 * 1024 * 1024,
        _ => return Err(format!("{text:?}: use a number with K, M or G")),
    };
    let value: f64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a rate like 500K or 2M"))?;
    if !(value.is_finite() && value > 0.0) {
        return Err(format!("{text:?} must be more than zero"));
    }
    Ok((value * factor as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_rate;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("2M"), Ok(2 * 1024 * 1024));
        assert_eq!(parse_rate("500k"), Ok(500 * 1024));
        assert_eq!(parse_rate("1.5K"), Ok(1536));
        assert_eq!(parse_rate("4096"), Ok(4096));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("3X").is_err());
    }
}
