//! What travels inside an envelope.
//!
//! The envelope payload the relay stores is a [`SealedPayload`]: the sender's mailbox (a
//! routing hint that tells the recipient which session to use — the relay knows it anyway
//! from the authenticated connection) and a Double Ratchet [`crate::SessionMessage`]. The
//! plaintext inside the ratchet is a [`Content`].

use hush_protocol::MailboxId;
use hush_protocol::codec::{decode_value, encode_value};
use serde::{Deserialize, Serialize};

/// Version of the payload format.
pub const PAYLOAD_VERSION: u8 = 1;

/// A 128-bit message id, chosen at random by the sender; the same on every device.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MessageId(pub [u8; 16]);

impl MessageId {
    /// A fresh random id.
    pub fn random() -> Option<Self> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).ok()?;
        Some(Self(bytes))
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MessageId({self})")
    }
}

impl std::str::FromStr for MessageId {
    type Err = hex::FromHexError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(s, &mut bytes)?;
        Ok(Self(bytes))
    }
}

/// A group's id: 16 random bytes chosen by its creator (also the Sender Keys distribution id).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupId(pub [u8; 16]);

impl std::fmt::Display for GroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for GroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GroupId({self})")
    }
}

/// The envelope payload.
#[derive(Serialize, Deserialize)]
pub(crate) struct SealedPayload {
    pub(crate) version: u8,
    /// The sending mailbox: a routing hint for which session or sender key to use.
    pub(crate) sender: MailboxId,
    /// `None`: `message` is a 1:1 Double Ratchet message. `Some`: a Sender Keys message of
    /// this group, one ciphertext for all members.
    pub(crate) group: Option<GroupId>,
    pub(crate) message: Vec<u8>,
}

impl SealedPayload {
    pub(crate) fn to_bytes(&self) -> Option<Vec<u8>> {
        encode_value(self).ok()
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        decode_value::<Self>(bytes)
            .ok()
            .filter(|p| p.version == PAYLOAD_VERSION)
    }
}

/// The plaintext of one message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// The sender's id for this message.
    pub message_id: MessageId,
    /// The sender's clock when it was written, in milliseconds since the Unix epoch.
    pub sent_at_ms: u64,
    /// The sender's display name (so a first message from a new contact has a name).
    pub sender_name: Option<String>,
    /// What it says.
    pub body: Body,
}

/// The kinds of content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Body {
    /// A text message, maybe replying to (quoting) another message.
    Text {
        /// The text.
        text: String,
        /// The message it replies to.
        reply_to: Option<MessageId>,
    },
    /// The author replaces the text of one of their messages.
    Edit {
        /// The message edited.
        target: MessageId,
        /// Its new text.
        text: String,
    },
    /// Delete a message for everyone (its author, or a group admin).
    Delete {
        /// The message deleted.
        target: MessageId,
    },
    /// A reaction to a message (an empty emoji removes the sender's reaction).
    Reaction {
        /// The message reacted to.
        target: MessageId,
        /// The emoji.
        emoji: String,
    },
    /// Delivery or read receipts for the recipient's messages (sent pairwise).
    Receipt {
        /// Read (`true`) or only delivered.
        read: bool,
        /// The messages.
        targets: Vec<MessageId>,
    },
    /// Typing started or stopped (ephemeral).
    Typing {
        /// Typing now.
        active: bool,
    },
    /// Online or going offline (ephemeral, opt-in).
    Presence {
        /// Online now.
        online: bool,
    },
    /// The conversation's disappearing-message timer changed.
    Timer {
        /// Seconds after which messages disappear; `None` turns it off.
        seconds: Option<u64>,
    },
    /// A group change and/or a sender key (sent pairwise).
    Group(crate::client::groups::GroupUpdate),
    /// A file: where its encrypted blob is and how to open it, with an optional caption.
    File {
        /// Blob id, key, size, hash, name, MIME type, thumbnail.
        file: crate::attachment::FileAttachment,
        /// Text shown with it.
        caption: Option<String>,
    },
}

impl Content {
    pub(crate) fn to_bytes(&self) -> Option<Vec<u8>> {
        encode_value(self).ok()
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        decode_value(bytes).ok()
    }
}
