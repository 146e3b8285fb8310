//! The records the client keeps in its local store.

use hush_protocol::{EnvelopeId, IdentityKeys, MailboxId};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::content::MessageId;

/// The account: keys and where it lives. Secret fields are wiped on drop.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct AccountRecord {
    pub(crate) relay: String,
    pub(crate) mailbox: MailboxId,
    pub(crate) mailbox_key: [u8; 32],
    pub(crate) identity: Vec<u8>,
    pub(crate) prekeys: Vec<u8>,
    pub(crate) name: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) created_at_ms: u64,
}

impl Drop for AccountRecord {
    fn drop(&mut self) {
        self.mailbox_key.zeroize();
        self.identity.zeroize();
        self.prekeys.zeroize();
    }
}

/// A contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Their mailbox (the conversation id of the 1:1 chat).
    pub mailbox: MailboxId,
    /// What the user calls them (unique among contacts).
    pub alias: String,
    /// Their relay address.
    pub relay: String,
    /// The identity key trusted for them.
    pub identity: IdentityKeys,
    /// The user compared safety numbers and marked them verified.
    pub verified: bool,
    /// Their identity key changed since the user last looked; cleared by verifying.
    pub key_changed: bool,
    /// Their @username, if added by one.
    pub username: Option<String>,
    /// When they were added, in ms since the epoch.
    pub added_at_ms: u64,
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// Received.
    Incoming,
    /// Sent by this account.
    Outgoing,
}

/// Where an outgoing message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Status {
    /// Written locally, waiting in the outbox for the relay.
    Queued,
    /// The relay said `Stored`.
    Stored,
    /// The relay refused it for good (e.g. the recipient's mailbox no longer exists).
    Failed,
    /// A received message.
    Received,
}

/// One message in the local history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The sender's id for it.
    pub id: MessageId,
    /// The conversation (the contact's mailbox).
    pub conversation: MailboxId,
    /// Incoming or outgoing.
    pub direction: Direction,
    /// The text.
    pub text: String,
    /// The sender's clock when written (ms since the epoch).
    pub sent_at_ms: u64,
    /// When this device stored it (ms since the epoch).
    pub received_at_ms: u64,
    /// Delivery state.
    pub status: Status,
}

/// An outgoing message waiting for `Stored`.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct OutboxEntry {
    pub(crate) envelope: EnvelopeId,
    pub(crate) to: MailboxId,
    pub(crate) message_key: Vec<u8>,
    /// The encoded content, until it is encrypted.
    pub(crate) content: Vec<u8>,
    /// The envelope payload once encrypted; retries send exactly these bytes.
    pub(crate) payload: Option<Vec<u8>>,
}

impl Drop for OutboxEntry {
    fn drop(&mut self) {
        self.content.zeroize();
    }
}

/// The sessions with one contact: the current one first, then older ones kept for messages
/// still in flight (both sides may start a session at the same time).
#[derive(Clone, Default, Serialize, Deserialize)]
pub(crate) struct SessionRecord {
    pub(crate) pickles: Vec<Vec<u8>>,
}

impl Drop for SessionRecord {
    fn drop(&mut self) {
        for pickle in &mut self.pickles {
            pickle.zeroize();
        }
    }
}

/// How many sessions per contact are kept.
pub(crate) const MAX_SESSIONS_PER_CONTACT: usize = 4;

/// Key of a message in the `Messages` tree: conversation ‖ local sequence number.
pub(crate) fn message_key(conversation: &MailboxId, seq: u64) -> Vec<u8> {
    [conversation.as_bytes().as_slice(), &seq.to_be_bytes()].concat()
}
