//! Typed errors a relay answers with.

use serde::{Deserialize, Serialize};

/// What went wrong, as a stable numeric code on the wire.
///
/// Unknown codes from a newer relay decode as [`ErrorCode::Other`], so adding a code is not a
/// breaking change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "u16", into = "u16")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame could not be decoded, or broke a protocol rule. The connection is closed.
    Malformed,
    /// The frame or the envelope is larger than allowed.
    TooLarge,
    /// A recipient's mailbox is full (count or bytes); nothing was stored.
    QuotaExceeded,
    /// A named mailbox does not exist on this relay.
    UnknownMailbox,
    /// Authentication failed, or the request needs an authenticated connection.
    Unauthorized,
    /// Too many requests on this connection; try again shortly.
    RateLimited,
    /// The relay cannot serve this now (overloaded, shutting down, storage failure).
    Unavailable,
    /// The acknowledged envelope is not in this mailbox's queue.
    UnknownEnvelope,
    /// An envelope with this id exists with different contents.
    Conflict,
    /// The username is taken by another mailbox.
    UsernameTaken,
    /// No mailbox has this username.
    UnknownUsername,
    /// The mailbox has published no prekeys.
    NoPrekeys,
    /// The request is well-formed but its values are not acceptable.
    InvalidRequest,
    /// The client speaks a protocol version this relay does not.
    UnsupportedVersion,
    /// No such blob for this mailbox: never created, expired, already released, or this
    /// mailbox is not one of its recipients (the relay does not say which).
    UnknownBlob,
    /// A code this build does not know.
    Other(u16),
}

impl From<u16> for ErrorCode {
    fn from(code: u16) -> Self {
        match code {
            1 => Self::Malformed,
            2 => Self::TooLarge,
            3 => Self::QuotaExceeded,
            4 => Self::UnknownMailbox,
            5 => Self::Unauthorized,
            6 => Self::RateLimited,
            7 => Self::Unavailable,
            8 => Self::UnknownEnvelope,
            9 => Self::Conflict,
            10 => Self::UsernameTaken,
            11 => Self::UnknownUsername,
            12 => Self::NoPrekeys,
            13 => Self::InvalidRequest,
            14 => Self::UnsupportedVersion,
            15 => Self::UnknownBlob,
            other => Self::Other(other),
        }
    }
}

impl From<ErrorCode> for u16 {
    fn from(code: ErrorCode) -> u16 {
        match code {
            ErrorCode::Malformed => 1,
            ErrorCode::TooLarge => 2,
            ErrorCode::QuotaExceeded => 3,
            ErrorCode::UnknownMailbox => 4,
            ErrorCode::Unauthorized => 5,
            ErrorCode::RateLimited => 6,
            ErrorCode::Unavailable => 7,
            ErrorCode::UnknownEnvelope => 8,
            ErrorCode::Conflict => 9,
            ErrorCode::UsernameTaken => 10,
            ErrorCode::UnknownUsername => 11,
            ErrorCode::NoPrekeys => 12,
            ErrorCode::InvalidRequest => 13,
            ErrorCode::UnsupportedVersion => 14,
            ErrorCode::UnknownBlob => 15,
            ErrorCode::Other(other) => other,
        }
    }
}

impl ErrorCode {
    /// The QUIC application close code used when this error ends a connection.
    pub fn close_code(self) -> u32 {
        u32::from(u16::from(self))
    }
}

/// A typed error with a short human-readable message (never containing user data).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFrame {
    /// What went wrong.
    pub code: ErrorCode,
    /// One line for humans, at most [`crate::limits::MAX_ERROR_MESSAGE_LEN`] bytes.
    pub message: String,
}

impl ErrorFrame {
    /// Builds an error frame, truncating the message to the protocol's limit.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > crate::limits::MAX_ERROR_MESSAGE_LEN {
            let mut cut = crate::limits::MAX_ERROR_MESSAGE_LEN;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        Self { code, message }
    }
}

impl std::fmt::Display for ErrorFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_u16() {
        for n in 0..40u16 {
            assert_eq!(u16::from(ErrorCode::from(n)), n);
        }
        assert_eq!(ErrorCode::from(9999), ErrorCode::Other(9999));
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let frame = ErrorFrame::new(ErrorCode::Malformed, "é".repeat(600));
        assert!(frame.message.len() <= crate::limits::MAX_ERROR_MESSAGE_LEN);
    }
}
