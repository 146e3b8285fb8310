//! Every size bound of the wire protocol, as named constants.
//!
//! The relay may configure tighter limits (for example its maximum envelope size), never looser.

/// Largest encoded frame body (after the 4-byte length prefix) either side accepts.
pub const MAX_FRAME_LEN: usize = 1024 * 1024 + 64 * 1024;

/// Largest envelope payload the protocol can carry. A relay's own limit is at most this.
pub const MAX_PAYLOAD_LEN: usize = 1024 * 1024;

/// Default largest envelope payload a relay accepts (larger text goes as an attachment).
pub const DEFAULT_MAX_ENVELOPE_LEN: usize = 256 * 1024;

/// Most recipients one envelope may name (a group of this many members is one envelope).
pub const MAX_RECIPIENTS: usize = 4096;

/// Most envelope ids one [`crate::ClientFrame::Ack`] may carry.
pub const MAX_ACK_BATCH: usize = 512;

/// Most one-time prekeys one upload may carry.
pub const MAX_PREKEYS_PER_UPLOAD: usize = 200;

/// Most one-time prekeys the relay holds for one mailbox.
pub const MAX_PREKEYS_STORED: usize = 1000;

/// Shortest username, in characters.
pub const MIN_USERNAME_LEN: usize = 3;

/// Longest username, in characters.
pub const MAX_USERNAME_LEN: usize = 32;

/// Longest human-readable message in an [`crate::ErrorFrame`], in bytes.
pub const MAX_ERROR_MESSAGE_LEN: usize = 512;

/// Length of the random challenge a relay sends before authentication.
pub const CHALLENGE_LEN: usize = 32;
