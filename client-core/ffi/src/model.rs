//! What crosses the boundary: plain records and enums, and one flat error.
//!
//! UniFFI passes these as generated classes; the C ABI serialises them as JSON (field names as
//! here, enums as snake_case strings, events tagged by `"type"`). Ids are lowercase hex, times
//! milliseconds since the Unix epoch.

use hush_client_core::client::AccountInfo;
use hush_client_core::client::groups::Role;
use hush_client_core::local_store::LocalStoreError;
use hush_client_core::service::{ConnectionState, ServiceError, ServiceEvent};
use hush_client_core::transport::TransportError;
use hush_client_core::{
    ClientError, Contact, ConversationId, Direction, Event, FileInfo, FileState, GroupInfo,
    Message, Preferences, SaveReport, Status, SyncReport,
};
use serde::{Deserialize, Serialize};

/// The own account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct HushAccount {
    /// The relay address (`hush://host:port#pin`).
    pub relay: String,
    /// The own mailbox id (hex).
    pub mailbox: String,
    /// The display name sent with messages.
    pub name: Option<String>,
    /// The claimed `@username`, without the `@`.
    pub username: Option<String>,
    /// SHA-256 of the identity key, in groups of four hex digits.
    pub fingerprint: String,
    /// The invite code to give to others (`hush1:…`).
    pub invite: String,
}

impl From<AccountInfo> for HushAccount {
    fn from(info: AccountInfo) -> Self {
        Self {
            relay: info.relay,
            mailbox: info.mailbox.to_string(),
            name: info.name,
            username: info.username,
            fingerprint: info.fingerprint,
            invite: info.invite,
        }
    }
}

/// A contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct HushContact {
    /// Their mailbox id (hex): also the id of the conversation with them.
    pub mailbox: String,
    /// The local name for them (unique among contacts).
    pub alias: String,
    /// Their relay address.
    pub relay: String,
    /// The user compared safety numbers and marked them verified.
    pub verified: bool,
    /// Their identity key changed since the user last verified: warn before trusting.
    pub key_changed: bool,
    /// Their `@username`, if added by one.
    pub username: Option<String>,
    /// When they were added.
    pub added_at_ms: u64,
}

impl From<Contact> for HushContact {
    fn from(contact: Contact) -> Self {
        Self {
            mailbox: contact.mailbox.to_string(),
            alias: contact.alias,
            relay: contact.relay,
            verified: contact.verified,
            key_changed: contact.key_changed,
            username: contact.username,
            added_at_ms: contact.added_at_ms,
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum HushDirection {
    /// Received.
    Incoming,
    /// Sent from this account.
    Outgoing,
}

impl From<Direction> for HushDirection {
    fn from(direction: Direction) -> Self {
        match direction {
            Direction::Incoming => Self::Incoming,
            Direction::Outgoing => Self::Outgoing,
        }
    }
}

/// Where a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HushStatus {
    /// Written locally, waiting in the outbox for the relay.
    Queued,
    /// The relay stored it for the recipient.
    Stored,
    /// The recipient's device has it.
    Delivered,
    /// The recipient opened the conversation.
    Read,
    /// The relay refused it for good (the recipient's mailbox no longer exists).
    Failed,
    /// A received message.
    Received,
    /// A status this version of the bindings does not know.
    Unknown,
}

/// One recipient of an outgoing message, and how far the message got with them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct HushRecipient {
    /// Their mailbox id (hex).
    pub mailbox: String,
    /// `Queued`, `Stored`, `Delivered` (their device has it) or `Read`; `Failed`.
    pub status: HushStatus,
}

/// One reaction to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct HushReaction {
    /// Who reacted: their mailbox id (hex); `None` for this account.
    pub sender: Option<String>,
    /// The emoji.
    pub emoji: String,
}

/// Where a shared file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HushFileState {
    /// Outgoing: recorded, being uploaded (or waiting to resume).
    Uploading,
    /// Outgoing: on the relay; the message sharing it is sent.
    Uploaded,
    /// Incoming: on the relay, not saved yet.
    Available,
    /// Incoming: a download started and did not finish; saving again resumes it.
    Partial,
    /// Incoming: saved and checked (`saved_to`).
    Saved,
    /// Incoming: a chunk or the hash was wrong; the file was refused.
    Corrupt,
    /// Incoming: the relay no longer has it.
    Expired,
    /// A state this version of the bindings does not know.
    Unknown,
}

impl From<FileState> for HushFileState {
    fn from(state: FileState) -> Self {
        match state {
            FileState::Uploading => Self::Uploading,
            FileState::Uploaded => Self::Uploaded,
            FileState::Available => Self::Available,
            FileState::Partial => Self::Partial,
            FileState::Saved => Self::Saved,
            FileState::Corrupt => Self::Corrupt,
            FileState::Expired => Self::Expired,
            _ => Self::Unknown,
        }
    }
}

/// The file a message shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct HushFile {
    /// Its name (made safe to use as a file name).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its MIME type.
    pub mime: String,
    /// Its SHA-256 (hex), checked when it is saved.
    pub sha256: String,
    /// Where it is.
    pub state: HushFileState,
    /// For images: a small JPEG preview. C JSON: base64 (standard, padded), or null.
    #[serde(serialize_with = "base64_bytes")]
    pub thumbnail: Option<Vec<u8>>,
    /// Where it was saved on this device.
    pub saved_to: Option<String>,
}

fn base64_bytes<S: serde::Serializer>(
    bytes: &Option<Vec<u8>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use base64::Engine;
    match bytes {
        Some(bytes) => {
            serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        None => serializer.serialize_none(),
    }
}

impl From<FileInfo> for HushFile {
    fn from(file: FileInfo) -> Self {
        Self {
            name: file.name,
            size: file.size,
            mime: file.mime,
            sha256: file.sha256,
            state: file.state.into(),
            thumbnail: file.thumbnail,
            saved_to: file.saved_to,
        }
    }
}

/// A file saved by `save_file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct HushSavedFile {
    /// Where it is (absolute).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256 (hex), checked.
    pub sha256: String,
    /// Bytes an earlier, interrupted download had already saved.
    pub resumed_from: u64,
    /// Bytes downloaded this time (encrypted, so a little more than the file).
    pub downloaded_bytes: u64,
}

impl From<SaveReport> for HushSavedFile {
    fn from(report: SaveReport) -> Self {
        let file = report.message.file;
        Self {
            path: report.path.to_string_lossy().into_owned(),
            size: file.as_ref().map_or(0, |file| file.size),
            sha256: file.map(|file| file.sha256).unwrap_or_default(),
            resumed_from: report.resumed_from,
            downloaded_bytes: report.downloaded_bytes,
        }
    }
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct HushMessage {
    /// The message id (hex); pass it as `before` to page history, or to reply, edit, delete
    /// or react.
    pub id: String,
    /// The conversation: the contact's mailbox id (hex) for a 1:1 chat, `group:` and the
    /// group id (hex) for a group.
    pub conversation: String,
    /// Incoming or outgoing.
    pub direction: HushDirection,
    /// Who wrote it: their mailbox id (hex); `None` for this account.
    pub sender: Option<String>,
    /// The text.
    pub text: String,
    /// The id of the message this one replies to (quotes), if any.
    pub reply_to: Option<String>,
    /// The sender's clock when written.
    pub sent_at_ms: u64,
    /// When this device stored it.
    pub received_at_ms: u64,
    /// When its author last edited it; `None` if never.
    pub edited_at_ms: Option<u64>,
    /// When it disappears from this device (the conversation's timer); `None`: it stays.
    pub expires_at_ms: Option<u64>,
    /// Delivery state; for an outgoing message, that of the recipient it got least far with.
    pub status: HushStatus,
    /// Outgoing: each recipient's state (delivery and read receipts update it). Empty for
    /// incoming messages.
    pub recipients: Vec<HushRecipient>,
    /// Reactions, one per person at most.
    pub reactions: Vec<HushReaction>,
    /// The file it shares, if any (`text` is then its caption).
    pub file: Option<HushFile>,
}

fn status(status: Status) -> HushStatus {
    match status {
        Status::Queued => HushStatus::Queued,
        Status::Stored => HushStatus::Stored,
        Status::Delivered => HushStatus::Delivered,
        Status::Read => HushStatus::Read,
        Status::Failed => HushStatus::Failed,
        Status::Received => HushStatus::Received,
        _ => HushStatus::Unknown,
    }
}

impl From<Message> for HushMessage {
    fn from(message: Message) -> Self {
        Self {
            id: message.id.to_string(),
            conversation: conversation_id(&message.conversation),
            direction: message.direction.into(),
            sender: message.sender.map(|mailbox| mailbox.to_string()),
            text: message.text,
            reply_to: message.reply_to.map(|id| id.to_string()),
            sent_at_ms: message.sent_at_ms,
            received_at_ms: message.received_at_ms,
            edited_at_ms: message.edited_at_ms,
            expires_at_ms: message.expires_at_ms,
            status: status(message.status),
            recipients: message
                .recipients
                .into_iter()
                .map(|(mailbox, state)| HushRecipient {
                    mailbox: mailbox.to_string(),
                    status: status(state),
                })
                .collect(),
            reactions: message
                .reactions
                .into_iter()
                .map(|(sender, emoji)| HushReaction {
                    sender: sender.map(|mailbox| mailbox.to_string()),
                    emoji,
                })
                .collect(),
            file: message.file.map(Into::into),
        }
    }
}

/// The string form of a conversation id (see [`HushMessage::conversation`]).
pub(crate) fn conversation_id(id: &ConversationId) -> String {
    match id {
        ConversationId::Direct(mailbox) => mailbox.to_string(),
        ConversationId::Group(group) => format!("group:{group}"),
    }
}

/// A conversation and its newest message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct HushConversation {
    /// The conversation id (as in [`HushMessage::conversation`]); every call that names a
    /// conversation accepts it.
    pub conversation: String,
    /// Its display name: the contact's alias, or `#group`.
    pub name: String,
    /// A group (`conversation` is `group:<hex>`), not a 1:1 chat.
    pub is_group: bool,
    /// The newest message, if any.
    pub last_message: Option<HushMessage>,
}

/// A member's role in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum HushRole {
    /// Created the group (or inherited it): can do everything.
    Owner,
    /// Can add, remove (except owners), rename, promote, and delete any message.
    Admin,
    /// Can write and leave.
    Member,
}

impl From<Role> for HushRole {
    fn from(role: Role) -> Self {
        match role {
            Role::Owner => Self::Owner,
            Role::Admin => Self::Admin,
            Role::Member => Self::Member,
        }
    }
}

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct HushGroupMember {
    /// The local alias of the member (`me` for this account); members who were not contacts
    /// are added as (unverified) contacts.
    pub alias: String,
    /// Their role.
    pub role: HushRole,
}

/// A group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct HushGroup {
    /// Its conversation id, `group:<hex>` (as in [`HushMessage::conversation`]).
    pub conversation: String,
    /// Its name, without the `#`.
    pub name: String,
    /// Its members, in the order they were added.
    pub members: Vec<HushGroupMember>,
    /// This account's role; `None` once it left or was removed.
    pub my_role: Option<HushRole>,
}

impl From<GroupInfo> for HushGroup {
    fn from(info: GroupInfo) -> Self {
        Self {
            conversation: conversation_id(&ConversationId::Group(info.id)),
            name: info.name,
            members: info
                .members
                .into_iter()
                .map(|(alias, role)| HushGroupMember {
                    alias,
                    role: role.into(),
                })
                .collect(),
            my_role: info.my_role.map(Into::into),
        }
    }
}

/// The account's preferences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct HushPreferences {
    /// Send delivery and read receipts (on by default).
    pub receipts: bool,
    /// Tell contacts when this account is online (off by default).
    pub presence: bool,
    /// Groups with more members than this send no receipts.
    pub receipts_group_limit: u64,
    /// The largest group this client creates or accepts.
    pub max_group_size: u64,
}

impl From<Preferences> for HushPreferences {
    fn from(preferences: Preferences) -> Self {
        Self {
            receipts: preferences.receipts,
            presence: preferences.presence,
            receipts_group_limit: u64::try_from(preferences.receipts_group_limit)
                .unwrap_or(u64::MAX),
            max_group_size: u64::try_from(preferences.max_group_size).unwrap_or(u64::MAX),
        }
    }
}

impl HushPreferences {
    /// Writes these settings into the client's preferences (keeping any this version of the
    /// bindings does not know). The numbers saturate on 32-bit targets.
    pub(crate) fn apply_to(&self, preferences: &mut Preferences) {
        preferences.receipts = self.receipts;
        preferences.presence = self.presence;
        preferences.receipts_group_limit =
            usize::try_from(self.receipts_group_limit).unwrap_or(usize::MAX);
        preferences.max_group_size = usize::try_from(self.max_group_size).unwrap_or(usize::MAX);
    }
}

/// The safety number with a contact: the same 60 digits on both sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct HushSafetyNumber {
    /// The contact.
    pub contact: HushContact,
    /// Twelve groups of five digits, separated by spaces.
    pub digits: String,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct HushSyncReport {
    /// New messages stored.
    pub received: u64,
    /// Deliveries already seen.
    pub duplicates: u64,
    /// Deliveries that could not be decrypted.
    pub undecryptable: u64,
    /// Outbox messages the relay stored.
    pub sent: u64,
    /// Messages still in the outbox.
    pub queued: u64,
    /// Why the outbox could not be emptied, if it could not.
    pub send_error: Option<String>,
}

impl From<SyncReport> for HushSyncReport {
    fn from(report: SyncReport) -> Self {
        Self {
            received: report.received as u64,
            duplicates: report.duplicates as u64,
            undecryptable: report.undecryptable as u64,
            sent: report.sent as u64,
            queued: report.queued as u64,
            send_error: report.send_error,
        }
    }
}

/// The state of the relay connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Enum)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HushConnectionState {
    /// Not connected and not trying (offline by request, or stopped by an error that
    /// reconnecting cannot fix: `reason`).
    Offline {
        /// Why it stopped, if it was not asked to.
        reason: Option<String>,
    },
    /// Connecting.
    Connecting,
    /// Connected: messages arrive as they are sent, and queued ones go out.
    Connected,
    /// Disconnected by a network problem; retrying in `retry_in_ms`.
    Retrying {
        /// What went wrong.
        error: String,
        /// Delay before the next attempt.
        retry_in_ms: u64,
    },
}

impl From<ConnectionState> for HushConnectionState {
    fn from(state: ConnectionState) -> Self {
        match state {
            ConnectionState::Offline { reason } => Self::Offline { reason },
            ConnectionState::Connecting => Self::Connecting,
            ConnectionState::Connected => Self::Connected,
            ConnectionState::Retrying { error, retry_in } => Self::Retrying {
                error,
                retry_in_ms: u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
            },
            _ => Self::Offline { reason: None },
        }
    }
}

/// Something the app should know about, from the listener or `poll_event`.
///
/// More kinds will come: handle unknown ones with a default branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Enum)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HushEvent {
    /// A new message, already stored.
    Message {
        /// The message.
        message: HushMessage,
    },
    /// An outgoing message changed status (stored by the relay, or failed).
    MessageStatus {
        /// The message, with its new status.
        message: HushMessage,
    },
    /// Someone not in the contacts wrote; they were added (unverified).
    NewContact {
        /// The new contact.
        contact: HushContact,
    },
    /// A contact's identity key changed: a reinstall, or an attack. Compare safety numbers.
    IdentityChanged {
        /// The contact, flagged `key_changed`.
        contact: HushContact,
    },
    /// A message arrived that could not be decrypted; it was dropped.
    Undecryptable,
    /// The relay connection changed state.
    Connection {
        /// The new state.
        state: HushConnectionState,
    },
    /// Everything the relay held for this account has been received.
    CaughtUp,
    /// The outbox could not be sent; it is retried on the next connection.
    SendFailed {
        /// Why.
        reason: String,
    },
    /// Events were dropped because the app read too slowly (messages are in the history).
    Lagged {
        /// How many.
        missed: u64,
    },
    /// A message was edited by its author.
    Edited {
        /// The message, with its new text and `edited_at_ms`.
        message: HushMessage,
    },
    /// A message was deleted for everyone (by its author or a group admin); it is gone from
    /// the history.
    Deleted {
        /// Its conversation.
        conversation: String,
        /// Its id.
        message_id: String,
    },
    /// Someone reacted to a message (or took their reaction back).
    Reacted {
        /// The message, with its reactions.
        message: HushMessage,
    },
    /// A delivery or read receipt for one of this account's messages.
    Receipt {
        /// The message, with each recipient's state.
        message: HushMessage,
        /// Who sent the receipt: their mailbox id (hex).
        contact: String,
        /// Read (`true`), or only delivered to their device.
        read: bool,
    },
    /// A group changed: someone joined, left or was removed, it was renamed, someone became
    /// an admin, this account was added or removed.
    GroupChanged {
        /// `#name` (after the change).
        group: String,
        /// What happened, for people.
        change: String,
    },
    /// A change to a group was refused by the group rules (not made by an admin, made at the
    /// same time as another, …): it did not happen.
    GroupChangeRefused {
        /// `#name`, or the group id.
        group: String,
        /// Why.
        reason: String,
    },
    /// A conversation's disappearing-message timer changed.
    TimerChanged {
        /// The conversation.
        conversation: String,
        /// Seconds after which messages disappear; `None`: off.
        seconds: Option<u64>,
    },
    /// A contact started or stopped typing in a conversation.
    Typing {
        /// Who: their mailbox id (hex).
        contact: String,
        /// Where.
        conversation: String,
        /// Typing now.
        active: bool,
    },
    /// A contact came online or went offline (only contacts who share their presence).
    Presence {
        /// Who: their mailbox id (hex).
        contact: String,
        /// Online now.
        online: bool,
    },
    /// A file transfer made progress (a few reports a second at most, and always the last one,
    /// with `done == total`).
    Transfer {
        /// The message sharing the file.
        message_id: String,
        /// The file's name.
        name: String,
        /// `Outgoing`: an upload; `Incoming`: a download.
        direction: HushDirection,
        /// Bytes done, including those done before a resume.
        done: u64,
        /// Bytes in all.
        total: u64,
    },
    /// A file transfer stopped before it was complete. A recorded upload resumes after the
    /// next connection (one whose source file changed is given up: its message is `Failed`);
    /// a download resumes when the file is saved again.
    TransferFailed {
        /// The message sharing the file.
        message_id: String,
        /// Why.
        error: String,
    },
    /// An event this version of the bindings does not know (`kind` names it): a newer
    /// client-core. Ignore it.
    Unsupported {
        /// The kind of event.
        kind: String,
    },
}

impl From<ServiceEvent> for HushEvent {
    fn from(event: ServiceEvent) -> Self {
        match event {
            ServiceEvent::Received(Event::Message(message)) => Self::Message {
                message: message.into(),
            },
            ServiceEvent::Received(Event::NewContact(contact)) => Self::NewContact {
                contact: contact.into(),
            },
            ServiceEvent::Received(Event::IdentityChanged(contact)) => Self::IdentityChanged {
                contact: contact.into(),
            },
            ServiceEvent::Received(Event::Undecryptable) => Self::Undecryptable,
            ServiceEvent::Received(Event::Edited(message)) => Self::Edited {
                message: message.into(),
            },
            ServiceEvent::Received(Event::Deleted { conversation, id }) => Self::Deleted {
                conversation: conversation_id(&conversation),
                message_id: id.to_string(),
            },
            ServiceEvent::Received(Event::Reacted(message)) => Self::Reacted {
                message: message.into(),
            },
            ServiceEvent::Received(Event::Receipt {
                message,
                from,
                read,
            }) => Self::Receipt {
                message: message.into(),
                contact: from.to_string(),
                read,
            },
            ServiceEvent::Received(Event::GroupChanged { group, change }) => {
                Self::GroupChanged { group, change }
            }
            ServiceEvent::Received(Event::GroupChangeRefused { group, reason }) => {
                Self::GroupChangeRefused { group, reason }
            }
            ServiceEvent::Received(Event::TimerChanged {
                conversation,
                seconds,
            }) => Self::TimerChanged {
                conversation: conversation_id(&conversation),
                seconds,
            },
            ServiceEvent::Received(Event::Typing {
                contact,
                conversation,
                active,
            }) => Self::Typing {
                contact: contact.to_string(),
                conversation: conversation_id(&conversation),
                active,
            },
            ServiceEvent::Received(Event::Presence { contact, online }) => Self::Presence {
                contact: contact.to_string(),
                online,
            },
            ServiceEvent::MessageStatus(message) => Self::MessageStatus {
                message: message.into(),
            },
            ServiceEvent::Connection(state) => Self::Connection {
                state: state.into(),
            },
            ServiceEvent::CaughtUp => Self::CaughtUp,
            ServiceEvent::SendFailed { reason } => Self::SendFailed { reason },
            ServiceEvent::Lagged { missed } => Self::Lagged { missed },
            ServiceEvent::Transfer {
                message_id,
                name,
                direction,
                done,
                total,
            } => Self::Transfer {
                message_id: message_id.to_string(),
                name,
                direction: direction.into(),
                done,
                total,
            },
            ServiceEvent::TransferFailed { message_id, error } => Self::TransferFailed {
                message_id: message_id.to_string(),
                error,
            },
            ServiceEvent::Received(other) => Self::Unsupported {
                kind: kind_of(&other),
            },
            _ => Self::Unsupported {
                kind: "Unknown".into(),
            },
        }
    }
}

/// The name of an event's variant, and nothing of its content.
fn kind_of(event: &Event) -> String {
    format!("{event:?}")
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

/// Every error of the bindings. The message says what happened and what to do.
///
/// C: each variant is an error code (`HUSH_ERR_…` in `hush.h`); the message is
/// `hush_last_error_message()`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
#[non_exhaustive]
pub enum HushError {
    /// An argument is not acceptable (empty text, bad relay address or invite code, a name too
    /// long, a null pointer or non-UTF-8 string from C, …).
    #[error("{0}")]
    InvalidInput(String),
    /// No contact by that name.
    #[error("{0}")]
    UnknownContact(String),
    /// The home has no account yet: call `init_account`.
    #[error("{0}")]
    NoAccount(String),
    /// The home already has an account (or a store, when creating one).
    #[error("{0}")]
    AccountExists(String),
    /// The passphrase or storage key does not open this home.
    #[error("{0}")]
    WrongPassphrase(String),
    /// Another process (or another open client) is using this home.
    #[error("{0}")]
    Busy(String),
    /// The local store is missing, damaged, or the disk failed.
    #[error("{0}")]
    Storage(String),
    /// The relay could not be reached, or it refused the request.
    #[error("{0}")]
    Network(String),
    /// The relay presented a key other than the one pinned in its address.
    #[error("{0}")]
    RelayKeyMismatch(String),
    /// A contact's keys did not verify (or changed and must be verified again).
    #[error("{0}")]
    Verification(String),
    /// The client was closed.
    #[error("{0}")]
    Closed(String),
    /// A bug: the library panicked. The call did nothing it could report; the client may still
    /// work.
    #[error("{0}")]
    Panic(String),
}

impl From<ClientError> for HushError {
    fn from(error: ClientError) -> Self {
        let message = error.to_string();
        match error {
            ClientError::Store(LocalStoreError::WrongPassphrase) => Self::WrongPassphrase(message),
            ClientError::Store(LocalStoreError::Busy) => Self::Busy(message),
            ClientError::Store(LocalStoreError::Exists) | ClientError::AccountExists => {
                Self::AccountExists(message)
            }
            ClientError::Store(_) => Self::Storage(message),
            ClientError::Transport(TransportError::PinMismatch) => Self::RelayKeyMismatch(message),
            ClientError::Transport(_) => Self::Network(message),
            ClientError::UnknownContact(_) => Self::UnknownContact(message),
            ClientError::NoAccount => Self::NoAccount(message),
            ClientError::Verification(_) => Self::Verification(message),
            ClientError::Invite(hush_client_core::invite::InviteError::Identity) => {
                Self::Verification(message)
            }
            _ => Self::InvalidInput(message),
        }
    }
}

impl From<ServiceError> for HushError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Client(error) => error.into(),
            other => Self::Closed(other.to_string()),
        }
    }
}
