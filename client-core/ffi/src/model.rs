//! What crosses the boundary: plain records and enums, and one flat error.
//!
//! UniFFI passes these as generated classes; the C ABI serialises them as JSON (field names as
//! here, enums as snake_case strings, events tagged by `"type"`). Ids are lowercase hex, times
//! milliseconds since the Unix epoch.

use hush_client_core::client::AccountInfo;
use hush_client_core::local_store::LocalStoreError;
use hush_client_core::service::{ConnectionState, ServiceError, ServiceEvent};
use hush_client_core::transport::TransportError;
use hush_client_core::{
    ClientError, Contact, ConversationId, Direction, Event, Message, Status, SyncReport,
};
use serde::Serialize;

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

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct HushMessage {
    /// The message id (hex); pass it as `before` to page history.
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
    /// The sender's clock when written.
    pub sent_at_ms: u64,
    /// When this device stored it.
    pub received_at_ms: u64,
    /// Delivery state.
    pub status: HushStatus,
}

impl From<Message> for HushMessage {
    fn from(message: Message) -> Self {
        Self {
            id: message.id.to_string(),
            conversation: conversation_id(&message.conversation),
            direction: match message.direction {
                Direction::Incoming => HushDirection::Incoming,
                Direction::Outgoing => HushDirection::Outgoing,
            },
            sender: message.sender.map(|mailbox| mailbox.to_string()),
            text: message.text,
            sent_at_ms: message.sent_at_ms,
            received_at_ms: message.received_at_ms,
            status: match message.status {
                Status::Queued => HushStatus::Queued,
                Status::Stored => HushStatus::Stored,
                Status::Delivered => HushStatus::Delivered,
                Status::Read => HushStatus::Read,
                Status::Failed => HushStatus::Failed,
                Status::Received => HushStatus::Received,
                _ => HushStatus::Unknown,
            },
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
    /// The conversation id (as in [`HushMessage::conversation`]).
    pub conversation: String,
    /// Its display name: the contact's alias, or `#group`.
    pub name: String,
    /// The newest message, if any.
    pub last_message: Option<HushMessage>,
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
/// More kinds will come (groups, receipts, presence, files): handle unknown ones with a
/// default branch.
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
    /// An event this version of the bindings does not pass on yet (`kind` names it, e.g.
    /// `Receipt`, `Presence`, `GroupChanged`).
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
            ServiceEvent::MessageStatus(message) => Self::MessageStatus {
                message: message.into(),
            },
            ServiceEvent::Connection(state) => Self::Connection {
                state: state.into(),
            },
            ServiceEvent::CaughtUp => Self::CaughtUp,
            ServiceEvent::SendFailed { reason } => Self::SendFailed { reason },
            ServiceEvent::Lagged { missed } => Self::Lagged { missed },
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
