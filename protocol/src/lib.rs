//! The Hush wire protocol, `hush/1`: the data that crosses between a client and a relay, and
//! the codec that turns it into bytes.
//!
//! This crate is data and codec only: no I/O, no async, no crypto. Both the relay and
//! client-core depend on it, so a frame means exactly the same thing on both sides.
//!
//! Every frame on a QUIC stream is a `u32` big-endian length followed by that many bytes of a
//! bincode-encoded [`ClientFrame`] (client → relay) or [`RelayFrame`] (relay → client). Sizes
//! are bounded by the constants in [`limits`]; the decoder refuses anything larger before it
//! allocates.
//!
//! ```
//! use hush_protocol::{codec, ClientFrame, EnvelopeId, Envelope, MailboxId};
//!
//! let frame = ClientFrame::Send(Envelope {
//!     id: EnvelopeId::from_bytes([7; 16]),
//!     recipients: vec![MailboxId::from_bytes([1; 16])],
//!     ttl_secs: 3600,
//!     ephemeral: false,
//!     payload: b"opaque ciphertext".to_vec(),
//! });
//! let bytes = codec::encode_frame(&frame)?;
//! let (decoded, used) = codec::decode_frame::<ClientFrame>(&bytes)?.expect("a whole frame");
//! assert_eq!(decoded, frame);
//! assert_eq!(used, bytes.len());
//! # Ok::<(), hush_protocol::CodecError>(())
//! ```
//!
//! # Layout
//! - [`ids`]: [`MailboxId`], [`EnvelopeId`], [`BlobId`] — 128-bit opaque identifiers.
//! - [`envelope`]: [`Envelope`] (what a sender hands the relay) and [`Delivery`] (what a
//!   recipient gets).
//! - [`directory`]: prekey bundles and usernames, the shapes of the relay's directories.
//! - [`frame`]: [`ClientFrame`] and [`RelayFrame`], one enum per direction.
//! - [`error`]: [`ErrorCode`] and [`ErrorFrame`], the typed errors a relay answers with.
//! - [`auth`]: the byte string a client signs to prove it holds a mailbox key.
//! - [`address`]: [`RelayAddress`], the one pasteable token naming a relay and its key pin.
//! - [`limits`]: every size bound, as named constants.
//! - [`codec`]: length-prefixed framing over bincode (the only module that knows bincode).
//! - [`version`]: the ALPN string and protocol version.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![forbid(unsafe_code)]

pub mod address;
pub mod auth;
pub mod codec;
pub mod directory;
pub mod envelope;
pub mod error;
pub mod frame;
pub mod ids;
pub mod limits;
mod serde_bytes_array;
pub mod version;

pub use address::{AddressError, RelayAddress};
pub use codec::CodecError;
pub use directory::{
    IdentityKeys, OneTimePrekey, PrekeyBundle, PrekeyUpload, Signature, SignedPrekey,
    UsernameRecord,
};
pub use envelope::{Delivery, Envelope};
pub use error::{ErrorCode, ErrorFrame};
pub use frame::{ClientFrame, RelayFrame};
pub use ids::{BlobId, EnvelopeId, MailboxId};
