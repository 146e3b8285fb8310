//! The frames: one enum per direction.
//!
//! # Streams
//! - **Control stream**: the first bidirectional stream a client opens. It carries the
//!   handshake (`Hello` → `Challenge` → `Authenticate`/`CreateMailbox` → `Authenticated`), then
//!   `Subscribe`, after which the relay pushes `Deliver`, `Ephemeral` and `Drained`, and the
//!   client sends `Ack`.
//! - **Request streams**: every other request opens its own bidirectional stream, sends one
//!   request frame and reads one response frame.
//!
//! See `docs/protocol.md` for the full flows.

use serde::{Deserialize, Serialize};

use crate::directory::{PrekeyBundle, PrekeyUpload, Signature, UsernameRecord};
use crate::envelope::{Delivery, Envelope};
use crate::error::ErrorFrame;
use crate::ids::{EnvelopeId, MailboxId};

/// Client → relay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ClientFrame {
    /// Control stream, first frame: the protocol version the client speaks.
    Hello {
        /// [`crate::version::PROTOCOL_VERSION`] of the client.
        version: u16,
    },
    /// Control stream: authenticate as an existing mailbox.
    Authenticate {
        /// The mailbox to act as.
        mailbox: MailboxId,
        /// Ed25519 signature by the mailbox key over [`crate::auth::auth_message`].
        signature: Signature,
    },
    /// Control stream: create a mailbox for `key` (or find the one it already has) and
    /// authenticate as it.
    CreateMailbox {
        /// The Ed25519 public key that will own the mailbox.
        key: [u8; 32],
        /// Ed25519 signature by `key` over [`crate::auth::auth_message`].
        signature: Signature,
    },
    /// Control stream: start receiving this mailbox's envelopes on this connection. A newer
    /// subscription of the same mailbox replaces this one.
    Subscribe,
    /// Control stream: these deliveries are stored by the client; remove them from the queue.
    Ack {
        /// At most [`crate::limits::MAX_ACK_BATCH`] ids.
        ids: Vec<EnvelopeId>,
    },
    /// Request: store (or, if ephemeral, relay) an envelope.
    Send(Envelope),
    /// Request: publish identity, signed prekey and one-time prekeys for the own mailbox.
    PublishPrekeys(PrekeyUpload),
    /// Request: how many one-time prekeys the own mailbox has left.
    PrekeyCount,
    /// Request: fetch a mailbox's prekey bundle, taking one one-time prekey.
    FetchPrekeys {
        /// Whose bundle.
        mailbox: MailboxId,
    },
    /// Request: claim a username for the own mailbox (replacing any it had).
    ClaimUsername {
        /// The wanted name; normalised by [`crate::directory::normalize_username`].
        username: String,
        /// The Ed25519 identity key to publish with it.
        identity_key: [u8; 32],
    },
    /// Request: resolve a username.
    LookupUsername {
        /// The name to look up.
        username: String,
    },
}

/// Relay → client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RelayFrame {
    /// Control stream: answer to `Hello`; sign this to authenticate.
    Challenge {
        /// The relay's protocol version.
        version: u16,
        /// Fresh random bytes for this connection.
        nonce: [u8; 32],
    },
    /// Control stream: authentication succeeded.
    Authenticated {
        /// The mailbox this connection now acts as.
        mailbox: MailboxId,
    },
    /// Control stream: a stored envelope for the subscribed mailbox. Acknowledge it.
    Deliver(Delivery),
    /// Control stream: an ephemeral envelope. Never stored; needs no acknowledgement.
    Ephemeral(Delivery),
    /// Control stream: everything queued has been delivered and acknowledged.
    Drained,
    /// Control stream: another connection subscribed the same mailbox; this one no longer
    /// receives deliveries.
    Unsubscribed,
    /// Response to `Send`: the envelope is durable on the relay.
    Stored {
        /// The envelope's id.
        id: EnvelopeId,
    },
    /// Response to an ephemeral `Send`: pushed to whichever recipients are connected.
    Relayed {
        /// The envelope's id.
        id: EnvelopeId,
    },
    /// Response to `PublishPrekeys` and `PrekeyCount`.
    PrekeyCount {
        /// One-time prekeys the mailbox has left.
        one_time_remaining: u32,
    },
    /// Response to `FetchPrekeys`.
    PrekeyBundle(Box<PrekeyBundle>),
    /// Response to `ClaimUsername`.
    UsernameClaimed {
        /// The normalised name now owned.
        username: String,
    },
    /// Response to `LookupUsername`.
    UsernameFound(UsernameRecord),
    /// Any failure. On the control stream before authentication, or for a malformed frame,
    /// the relay closes the connection after sending it.
    Error(ErrorFrame),
}
