//! Envelopes: the opaque, encrypted unit the relay stores and forwards.

use serde::{Deserialize, Serialize};

use crate::ids::{EnvelopeId, MailboxId};

/// What a sender hands the relay: an opaque payload and the mailboxes it is for.
///
/// The relay never looks inside `payload`. One stored copy serves every recipient.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Chosen at random by the sender; a retry with the same id is stored once.
    pub id: EnvelopeId,
    /// The mailboxes to deliver to (at most [`crate::limits::MAX_RECIPIENTS`], no duplicates).
    pub recipients: Vec<MailboxId>,
    /// How long the relay keeps it for recipients who have not fetched it, in seconds.
    /// `0` means the relay's default; the relay caps it at its maximum.
    pub ttl_secs: u32,
    /// Ephemeral envelopes (typing, presence) go to connected recipients only and are never
    /// stored.
    pub ephemeral: bool,
    /// End-to-end encrypted bytes, opaque to the relay.
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("id", &self.id)
            .field("recipients", &self.recipients.len())
            .field("ttl_secs", &self.ttl_secs)
            .field("ephemeral", &self.ephemeral)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// What a recipient receives: the envelope's id, when the relay stored it, and the payload.
///
/// The relay does not say who sent it; that is inside the encrypted payload.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The sender-chosen id; acknowledge with it.
    pub id: EnvelopeId,
    /// When the relay stored it, in seconds since the Unix epoch (for ephemeral envelopes:
    /// when it was relayed).
    pub stored_at: u64,
    /// End-to-end encrypted bytes.
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("id", &self.id)
            .field("stored_at", &self.stored_at)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}
