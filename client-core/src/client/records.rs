//! The records the client keeps in its local store.

use hush_protocol::{EnvelopeId, IdentityKeys, MailboxId};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::content::{GroupId, MessageId};

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
    /// When they were last seen online (presence or a message), in ms since the epoch.
    #[serde(default)]
    pub last_seen_ms: Option<u64>,
    /// Their last presence said online (and it is recent).
    #[serde(default)]
    pub online: bool,
}

/// Which conversation a message belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConversationId {
    /// The 1:1 conversation with this contact.
    Direct(MailboxId),
    /// A group.
    Group(GroupId),
}

impl ConversationId {
    /// The prefix of this conversation's keys in the message tree.
    pub(crate) fn key_prefix(&self) -> Vec<u8> {
        match self {
            Self::Direct(mailbox) => [&[0u8][..], mailbox.as_bytes()].concat(),
            Self::Group(group) => [&[1u8][..], &group.0].concat(),
        }
    }
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// Received.
    Incoming,
    /// Sent by this account.
    Outgoing,
}

/// Where an outgoing message is, for one recipient (later states include earlier ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Status {
    /// Written locally, waiting in the outbox for the relay.
    Queued,
    /// The relay refused it for good (e.g. the recipient's mailbox no longer exists).
    Failed,
    /// The relay said `Stored`.
    Stored,
    /// The recipient's device has it.
    Delivered,
    /// The recipient opened the conversation.
    Read,
    /// A received message.
    Received,
}

/// One message in the local history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The sender's id for it.
    pub id: MessageId,
    /// The conversation.
    pub conversation: ConversationId,
    /// Incoming or outgoing.
    pub direction: Direction,
    /// Who wrote it (`None`: this account).
    pub sender: Option<MailboxId>,
    /// The text.
    pub text: String,
    /// The message this one replies to.
    pub reply_to: Option<MessageId>,
    /// The sender's clock when written (ms since the epoch).
    pub sent_at_ms: u64,
    /// When this device stored it (ms since the epoch).
    pub received_at_ms: u64,
    /// When it was last edited by its author (ms since the epoch).
    pub edited_at_ms: Option<u64>,
    /// When it disappears from this device (ms since the epoch), if the conversation has a
    /// timer.
    pub expires_at_ms: Option<u64>,
    /// Overall state: for outgoing messages the least advanced recipient's.
    pub status: Status,
    /// Outgoing: each recipient's state.
    pub recipients: Vec<(MailboxId, Status)>,
    /// Reactions: who reacted with what.
    pub reactions: Vec<(Option<MailboxId>, String)>,
    /// The file it shares (its `text` is then the caption).
    pub file: Option<FileInfo>,
}

/// A file shared by a message: what the user sees of it (its key stays in the store).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// The sender's name for it.
    pub name: String,
    /// Plaintext bytes.
    pub size: u64,
    /// MIME type.
    pub mime: String,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// Where it is.
    pub state: FileState,
    /// For images: a small JPEG preview.
    pub thumbnail: Option<Vec<u8>>,
    /// Where it was saved on this device.
    pub saved_to: Option<String>,
}

/// Where a shared file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FileState {
    /// Outgoing: being uploaded (or waiting to resume).
    Uploading,
    /// Outgoing: on the relay; the message sharing it is sent.
    Uploaded,
    /// Incoming: on the relay, not downloaded yet.
    Available,
    /// Incoming: partly downloaded; `hush save` resumes.
    Partial,
    /// Incoming: downloaded, checked and saved.
    Saved,
    /// Incoming: refused: it failed authentication or its hash did not match.
    Corrupt,
    /// Incoming: no longer on the relay (expired).
    Expired,
}

impl FileState {
    /// The name used in JSON and listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uploading => "uploading",
            Self::Uploaded => "uploaded",
            Self::Available => "available",
            Self::Partial => "partial",
            Self::Saved => "saved",
            Self::Corrupt => "corrupt",
            Self::Expired => "expired",
        }
    }
}

/// A file being uploaded, kept until the message sharing it is in the outbox.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct UploadRecord {
    /// The history entry (key in `Messages`).
    pub(crate) message_key: Vec<u8>,
    pub(crate) conversation: ConversationId,
    pub(crate) path: String,
    pub(crate) attachment: crate::attachment::FileAttachment,
    pub(crate) caption: Option<String>,
    pub(crate) recipients: Vec<MailboxId>,
    pub(crate) sent_at_ms: u64,
}

/// A received file's secrets and download state.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct FileRecord {
    pub(crate) attachment: crate::attachment::FileAttachment,
    /// The partial download in progress (`<destination>.hush-part`) and its destination.
    pub(crate) partial: Option<(String, String)>,
    /// Saved, but the relay was not told yet (`BlobFetched`).
    pub(crate) release_pending: bool,
}

impl Message {
    /// Recomputes `status` from the recipients' states.
    pub(crate) fn settle_status(&mut self) {
        if let Some(least) = self.recipients.iter().map(|(_, s)| *s).min() {
            self.status = least;
        }
    }
}

/// Per-conversation settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ConversationSettings {
    /// Disappearing-message timer in seconds.
    pub(crate) timer_secs: Option<u64>,
}

/// Account-wide preferences.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    /// Send delivery and read receipts.
    pub receipts: bool,
    /// Tell contacts when this account is online.
    pub presence: bool,
    /// Groups larger than this send no receipts by default.
    pub receipts_group_limit: usize,
    /// Largest group this client will create or accept.
    pub max_group_size: usize,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            receipts: true,
            presence: false,
            receipts_group_limit: 32,
            max_group_size: 2000,
        }
    }
}

/// How an outbox entry is encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Channel {
    /// With the 1:1 session of the single recipient.
    Pairwise,
    /// With our sender key of this group, one ciphertext for all recipients.
    Group(GroupId),
}

/// An envelope waiting for `Stored`.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct OutboxEntry {
    pub(crate) envelope: EnvelopeId,
    pub(crate) recipients: Vec<MailboxId>,
    pub(crate) channel: Channel,
    /// The history entry it belongs to (none for receipts and group updates).
    pub(crate) message_key: Option<Vec<u8>>,
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
pub(crate) fn message_key(conversation: &ConversationId, seq: u64) -> Vec<u8> {
    [conversation.key_prefix().as_slice(), &seq.to_be_bytes()].concat()
}
