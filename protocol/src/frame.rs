//! The frames: one enum per direction.
//!
//! # Streams
//! - **Control stream**: the first bidirectional stream a client opens. It carries the
//!   handshake (`Hello` → `Challenge` → `Authenticate`/`CreateMailbox` → `Authenticated`), then
//!   `Subscribe`, after which the relay pushes `Deliver`, `Ephemeral` and `Drained`, and the
//!   client sends `Ack`.
//! - **Request streams**: every other request opens its own bidirectional stream, sends one
//!   request frame and reads one response frame.
//! - **Blob streams**: an upload (`UploadBlob`, then `BlobChunk`s) or a download
//!   (`DownloadBlob`, answered by `BlobStatus` and `BlobChunk`s) has a stream of its own, so
//!   chat never waits behind a file.
//!
//! See `docs/protocol.md` for the full flows.

use serde::{Deserialize, Serialize};

use crate::directory::{PrekeyBundle, PrekeyUpload, Signature, UsernameRecord};
use crate::envelope::{Delivery, Envelope};
use crate::error::ErrorFrame;
use crate::ids::{BlobId, EnvelopeId, MailboxId};

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
    /// Request: announce a blob to be uploaded (or ask how far an upload got). Answered by
    /// `BlobStatus`. Repeating it with the same values is how an uploader resumes.
    CreateBlob {
        /// Chosen at random by the uploader.
        id: BlobId,
        /// Total ciphertext bytes (see [`crate::limits::blob_chunk_count`]).
        size: u64,
        /// The mailboxes that may download it; once each has confirmed with `BlobFetched`
        /// the relay deletes it. 1 to [`crate::limits::MAX_RECIPIENTS`], no duplicates.
        recipients: Vec<MailboxId>,
        /// How long the relay keeps it, in seconds; `0` means the relay's default, larger
        /// values are capped at its maximum.
        ttl_secs: u32,
    },
    /// Blob stream, first frame: the uploader sends chunks `first_chunk..` as `BlobChunk`
    /// frames, in order, then finishes the stream. `first_chunk` is at most the
    /// `chunks_stored` of the last `BlobStatus`.
    UploadBlob {
        /// The blob, as created with `CreateBlob`.
        id: BlobId,
        /// Index of the first chunk that follows.
        first_chunk: u32,
    },
    /// Blob stream: one chunk of a blob (upload: client → relay).
    BlobChunk {
        /// Exactly [`crate::limits::BLOB_CHUNK_LEN`] bytes, except for the blob's last chunk.
        data: Vec<u8>,
    },
    /// Blob stream, only frame: download chunks `first_chunk..` of a blob this mailbox is a
    /// recipient of. The relay answers `BlobStatus`, then the chunks, then finishes.
    DownloadBlob {
        /// The blob.
        id: BlobId,
        /// Index of the first chunk wanted.
        first_chunk: u32,
    },
    /// Request: this mailbox has the whole blob; the relay may forget it for this recipient
    /// (and deletes it after the last one). Answered by `BlobReleased`.
    BlobFetched {
        /// The blob.
        id: BlobId,
    },
    /// Request, uploader only: the file will not be sent after all; delete the blob (complete
    /// or not) and give back its quota. Answered by `BlobReleased`.
    AbandonBlob {
        /// The blob.
        id: BlobId,
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
    /// Response to `CreateBlob` and to the end of an upload; first frame of a download.
    BlobStatus {
        /// The blob.
        id: BlobId,
        /// Total ciphertext bytes.
        size: u64,
        /// How many chunks, from the first, the relay holds durably.
        chunks_stored: u32,
        /// Every chunk is stored: recipients can download it.
        complete: bool,
    },
    /// Blob stream: one chunk of a blob (download: relay → client).
    BlobChunk {
        /// Exactly [`crate::limits::BLOB_CHUNK_LEN`] bytes, except for the blob's last chunk.
        data: Vec<u8>,
    },
    /// Response to `BlobFetched` and `AbandonBlob`.
    BlobReleased {
        /// The blob.
        id: BlobId,
    },
}
