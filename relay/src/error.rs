//! The relay's typed errors, as clients see them.

use hush_protocol::{ErrorCode, ErrorFrame};

use crate::blob::QuotaHolder;
use crate::store::StoreError;

/// Why a request was refused. Every variant maps to one wire [`ErrorCode`]; messages never
/// contain mailbox ids, usernames or addresses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// A frame that could not be decoded or broke a protocol rule.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A frame or envelope over the size limit.
    #[error("{0}")]
    TooLarge(String),
    /// A recipient's mailbox is full.
    #[error("a recipient's mailbox is full; try again later")]
    QuotaExceeded,
    /// A named mailbox does not exist.
    #[error("no such mailbox on this relay")]
    UnknownMailbox,
    /// Not authenticated, or a bad signature.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Over the connection's request rate.
    #[error("too many requests; slow down")]
    RateLimited,
    /// Storage failed or the relay is shutting down.
    #[error("relay unavailable: {0}")]
    Unavailable(String),
    /// An ack for an envelope that is not in the mailbox's queue.
    #[error("envelope not in this mailbox's queue")]
    UnknownEnvelope,
    /// The envelope id is in use with other contents.
    #[error("envelope id already used for different contents")]
    Conflict,
    /// The username is taken.
    #[error("username is taken")]
    UsernameTaken,
    /// No such username.
    #[error("no such username")]
    UnknownUsername,
    /// The mailbox has no prekeys.
    #[error("that mailbox has published no prekeys")]
    NoPrekeys,
    /// A well-formed request with unacceptable values.
    #[error("{0}")]
    InvalidRequest(String),
    /// A protocol version this relay does not speak.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u16),
    /// A blob quota (the sender's or a recipient's) has no room for the blob.
    #[error("{}", blob_quota_message(*.0))]
    BlobQuotaExceeded(QuotaHolder),
    /// No such blob for this mailbox (never created, expired, released, not a recipient, or
    /// not complete yet) — the relay does not say which.
    #[error("no such blob for this mailbox")]
    UnknownBlob,
}

fn blob_quota_message(holder: QuotaHolder) -> &'static str {
    match holder {
        QuotaHolder::Sender => {
            "your blob quota on this relay is full: wait until recipients fetch your files or they expire"
        }
        QuotaHolder::Recipient => "a recipient's blob quota on this relay is full; try again later",
    }
}

impl RelayError {
    /// The wire code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Malformed(_) => ErrorCode::Malformed,
            Self::TooLarge(_) => ErrorCode::TooLarge,
            Self::QuotaExceeded => ErrorCode::QuotaExceeded,
            Self::UnknownMailbox => ErrorCode::UnknownMailbox,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::RateLimited => ErrorCode::RateLimited,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::UnknownEnvelope => ErrorCode::UnknownEnvelope,
            Self::Conflict => ErrorCode::Conflict,
            Self::UsernameTaken => ErrorCode::UsernameTaken,
            Self::UnknownUsername => ErrorCode::UnknownUsername,
            Self::NoPrekeys => ErrorCode::NoPrekeys,
            Self::InvalidRequest(_) => ErrorCode::InvalidRequest,
            Self::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            Self::BlobQuotaExceeded(_) => ErrorCode::QuotaExceeded,
            Self::UnknownBlob => ErrorCode::UnknownBlob,
        }
    }

    /// The frame sent to the client.
    pub fn to_frame(&self) -> ErrorFrame {
        ErrorFrame::new(self.code(), self.to_string())
    }

    /// Whether the connection must be closed after reporting this error (the stream can no
    /// longer be trusted to be in sync, or the peer broke the protocol).
    pub fn closes_connection(&self) -> bool {
        matches!(self, Self::Malformed(_) | Self::UnsupportedVersion(_))
    }
}

impl From<StoreError> for RelayError {
    fn from(error: StoreError) -> Self {
        // The detail goes to the operator's log, not to the client.
        tracing::error!(%error, "storage failure");
        Self::Unavailable("storage failure".into())
    }
}
