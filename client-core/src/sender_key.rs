//! Group messaging with Sender Keys.
//!
//! Each member has its own sending chain (a chain key ratcheted with HMAC-SHA256, as in the
//! Double Ratchet's symmetric chains) and a per-chain Ed25519 signing key, *not* the identity
//! key, so group messages are not signed with anything that proves authorship to outsiders.
//! A member sends its [`SenderKeyDistribution`] to every other member over their pairwise
//! [`crate::Session`]s; after that one [`GroupMessage`] (one ciphertext, one signature) is
//! readable by all of them. Members are added explicitly ([`GroupSession::add_member`]) before
//! their distributions are accepted, and a group message is decrypted only with the chains of
//! the member the transport says sent it. When a member leaves or is removed, every remaining
//! member calls [`GroupSession::remove_member`], which drops the member's chains and rotates
//! its own chain, and sends the new distribution to the remaining members only.
//!
//! Group membership and roles are the app's business; this module only provides the key
//! primitives.

mod distribution;
mod group;
mod inbound;
mod message;
mod outbound;

pub use distribution::SenderKeyDistribution;
pub use group::{GroupPlaintext, GroupSession};
pub use inbound::InboundSenderKey;
pub use message::GroupMessage;
pub use outbound::OutboundSenderKey;

/// Domain separation for a group message's signature: the signed message is
/// `SENDER_KEY_MESSAGE_LABEL || every byte of the message before the signature`.
pub const SENDER_KEY_MESSAGE_LABEL: &[u8] = b"hush/v1/sender-key-message";

/// Why a group operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// The group message could not be decrypted. Deliberately opaque: malformed, unsigned or
    /// forged, from an unknown chain or non-member, replayed, or tampered all look the same.
    #[error("group message could not be decrypted")]
    DecryptionFailed,
    /// A sender key distribution is malformed or belongs to another group.
    #[error("invalid sender key distribution")]
    InvalidDistribution,
    /// A distribution came from someone who is not a member: add them with
    /// [`GroupSession::add_member`] first.
    #[error("sender key distribution from a non-member")]
    UnknownMember,
    /// A distribution names a chain id or signing key that already belongs to another member
    /// (or to our own chain): someone is replaying or forwarding another member's chain.
    /// Nothing was installed; the app should surface this.
    #[error("sender key distribution conflicts with another member's chain")]
    DistributionConflict,
    /// The plaintext is longer than [`crate::limits::MAX_PLAINTEXT_LEN`].
    #[error("plaintext is too long")]
    PlaintextTooLong,
    /// The sending chain has used all 2^32 iterations; rotate it.
    #[error("sender chain exhausted")]
    ChainExhausted,
}
