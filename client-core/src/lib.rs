//! Hush client core: end-to-end encryption for the Hush messenger.
//!
//! This crate holds the client's cryptography and nothing that touches the outside world: no
//! sockets, files or clocks. Time (unix seconds) and randomness (`&mut impl CryptoRng`) are
//! inputs, and all state is handed back to the caller as [`Pickle`]s to store. It follows
//! Signal's public specifications: X3DH to start a 1:1 session, the Double Ratchet for its
//! messages, Sender Keys for groups. The exact constructions, labels and limits are in
//! `docs/crypto.md`.
//!
//! The API is built to be hard to misuse: prekey bundles must be verified into a
//! [`VerifiedPreKeyBundle`] before X3DH accepts them, state transitions that replace keys
//! consume the old value, nonces are drawn by the crate from the RNG passed in (never chosen
//! by callers), every decryption
//! failure is one opaque error, and secrets are wiped on drop and redacted in `Debug`.
//! The public surface uses owned types without lifetimes or generics (other than the RNG
//! parameter), so the FFI crate can wrap it directly.
//!
//! # Example
//!
//! ```
//! use hush_client_core::{
//!     IdentityKeyPair, LocalPreKeys, PreKeyBundle, Session, SessionMessage,
//! };
//! use rand::SeedableRng;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = rand::rngs::StdRng::seed_from_u64(7); // use the OS RNG in an app
//! let now = 1_700_000_000; // unix seconds, from the app's clock
//!
//! // Bob publishes his identity and prekeys.
//! let bob = IdentityKeyPair::generate(&mut rng);
//! let mut bob_prekeys = LocalPreKeys::new(&bob, &mut rng, now);
//! let one_time = bob_prekeys.generate_one_time_prekeys(&mut rng, 10)?;
//! let bundle = PreKeyBundle {
//!     identity: bob.public(),
//!     signed_prekey: bob_prekeys.signed_prekey(),
//!     one_time_prekey: one_time.first().cloned(),
//! };
//!
//! // Alice fetches the bundle, verifies it, and starts a session.
//! let alice = IdentityKeyPair::generate(&mut rng);
//! let mut alice_session = Session::new_outbound(&alice, &bundle.verify()?, &mut rng)?;
//! let wire = alice_session.encrypt(&mut rng, b"hello Bob")?.to_bytes();
//!
//! // Bob receives the initial message and accepts the session.
//! let SessionMessage::PreKey(initial) = SessionMessage::from_bytes(&wire)? else {
//!     panic!("the first message carries X3DH");
//! };
//! let inbound = Session::new_inbound(&bob, &mut bob_prekeys, &initial, &mut rng)?;
//! assert_eq!(inbound.plaintext, b"hello Bob");
//! let mut bob_session = inbound.session;
//!
//! // Bob replies; Alice decrypts.
//! let reply = bob_session.encrypt(&mut rng, b"hi Alice")?.to_bytes();
//! let reply = SessionMessage::from_bytes(&reply)?;
//! assert_eq!(alice_session.decrypt(&mut rng, &reply)?, b"hi Alice");
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! - [`identity`]: Ed25519 identity key with a signed X25519 key; proof type
//!   [`VerifiedIdentity`].
//! - [`prekey`]: signed and one-time prekeys, bundles ([`PreKeyBundle`] →
//!   [`VerifiedPreKeyBundle`]) and the local secrets with rotation ([`LocalPreKeys`]).
//! - `x3dh`: the X3DH key agreement (internal).
//! - `ratchet`, `chain`, `skipped_keys`: the Double Ratchet, its symmetric chains and the
//!   bounded store of skipped message keys (internal).
//! - [`session`]: the 1:1 [`Session`] built from those.
//! - [`message`]: the 1:1 wire messages ([`SessionMessage`]).
//! - [`sender_key`]: Sender Keys for groups ([`GroupSession`], [`GroupMessage`],
//!   [`SenderKeyDistribution`]).
//! - [`padding`]: size buckets that hide plaintext lengths.
//! - [`safety_number`]: human-comparable fingerprints ([`SafetyNumber`]).
//! - [`trust`]: trust on first use and the [`IdentityKeyChanged`] event.
//! - [`pickle`]: the byte form of secret state ([`Pickle`]).
//! - [`limits`]: every named bound (skip window, sizes, rotation period).
//! - [`attachment`]: files sealed in chunks under a fresh key ([`attachment::ChunkCipher`]),
//!   MIME types and thumbnails.
//!
//! The client around the cryptography (the only part that does I/O):
//! - [`client`]: [`Client`] — account, contacts, outbox, sync, history, search.
//! - [`service`]: a task that owns a `Client`, keeps one relay connection and serves
//!   commands and events (what the FFI bindings drive).
//! - [`transport`]: the QUIC connection to a relay, with key pinning (the only sockets).
//! - [`local_store`]: the sled store with every value sealed under the [`StorageKey`].
//! - [`storage_key`]: Argon2id passphrase derivation and the store's AEAD.
//! - [`content`]: what an envelope and a message contain.
//! - [`invite`]: one-line invite codes.
//! - [`directory`]: conversions to the relay directory's wire shapes.
//! - `kdf`, `cipher`, `secret`, `codec`: labels and KDFs, the AEAD, secret wrappers and the
//!   byte codec (internal).
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod attachment;
mod chain;
mod cipher;
pub mod client;
mod codec;
pub mod content;
pub mod directory;
pub mod identity;
pub mod invite;
mod kdf;
pub mod limits;
pub mod local_store;
pub mod message;
pub mod padding;
pub mod pickle;
pub mod prekey;
mod ratchet;
pub mod safety_number;
mod secret;
pub mod sender_key;
pub mod service;
pub mod session;
mod skipped_keys;
pub mod storage_key;
pub mod transport;
pub mod trust;
mod x3dh;

pub use client::{
    AccountInfo, Client, ClientError, Contact, ConversationId, Direction, ErrorKind, Event,
    FileDraft, FileInfo, FileSendOutcome, FileState, GroupInfo, Message, Preferences, PreparedFile,
    ReleaseJob, SaveDone, SaveJob, SaveReport, SendOutcome, Status, SyncReport, TransferProgress,
    UploadJob, UploadReport,
};
pub use content::{GroupId, MessageId};
pub use identity::{IdentityError, IdentityKeyPair, PublicIdentity, VerifiedIdentity};
pub use message::{PreKeyMessage, RatchetMessage, SessionMessage};
pub use pickle::{Pickle, PickleError};
pub use prekey::{
    LocalPreKeys, OneTimePreKey, PreKeyBundle, PreKeyError, SignedPreKey, VerifiedPreKeyBundle,
};
pub use safety_number::{SafetyNumber, SafetyNumberError};
pub use sender_key::{
    GroupError, GroupMessage, GroupPlaintext, GroupSession, InboundSenderKey, OutboundSenderKey,
    SenderKeyDistribution,
};
pub use session::{InboundSession, Session, SessionError};
pub use storage_key::{KdfParams, StorageKey};
pub use trust::{IdentityCheck, IdentityKeyChanged, TrustError, TrustedIdentity};

/// The random number generator trait every function here takes (rand_core 0.10).
pub use rand_core::CryptoRng;
