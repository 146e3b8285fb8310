//! The shapes of the relay's two directories: prekey bundles (for X3DH) and usernames.
//!
//! The relay stores and hands these out; it does not verify the signatures in them (it has no
//! reason to trust or distrust them: clients verify against the identity key they pin).

use serde::{Deserialize, Serialize};

use crate::ids::MailboxId;

/// An Ed25519 signature (64 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature(#[serde(with = "crate::serde_bytes_array")] pub [u8; 64]);

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signature({}…)", hex::encode(&self.0[..4]))
    }
}

/// An account's public identity: its Ed25519 signing key and the X25519 key it signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityKeys {
    /// Ed25519 public identity key.
    pub signing: [u8; 32],
    /// X25519 public identity key, used in X3DH.
    pub dh: [u8; 32],
    /// Signature by `signing` over `dh` (the exact message is in `docs/crypto.md`).
    pub dh_signature: Signature,
}

/// A medium-term X25519 prekey, signed by the identity key and rotated by the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPrekey {
    /// Client-chosen id, so the responder knows which prekey an initiator used.
    pub id: u32,
    /// X25519 public key.
    pub public: [u8; 32],
    /// Signature by the identity signing key (the exact message is in `docs/crypto.md`).
    pub signature: Signature,
}

/// A single-use X25519 prekey. The relay hands each one out at most once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneTimePrekey {
    /// Client-chosen id.
    pub id: u32,
    /// X25519 public key.
    pub public: [u8; 32],
}

/// What a client uploads to its own mailbox's prekey directory entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrekeyUpload {
    /// The account's identity keys.
    pub identity: IdentityKeys,
    /// The current signed prekey; replaces the previous one (rotation).
    pub signed_prekey: SignedPrekey,
    /// One-time prekeys to add (at most [`crate::limits::MAX_PREKEYS_PER_UPLOAD`]).
    pub one_time: Vec<OneTimePrekey>,
}

/// What a fetch returns: everything an initiator needs to run X3DH with the mailbox's owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrekeyBundle {
    /// The mailbox the bundle belongs to.
    pub mailbox: MailboxId,
    /// The owner's identity keys.
    pub identity: IdentityKeys,
    /// The owner's current signed prekey.
    pub signed_prekey: SignedPrekey,
    /// One one-time prekey, removed from the directory by this fetch; `None` when none are left.
    pub one_time: Option<OneTimePrekey>,
}

/// What a username resolves to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsernameRecord {
    /// The normalised username (lowercase, without `@`).
    pub username: String,
    /// The mailbox it names.
    pub mailbox: MailboxId,
    /// The Ed25519 identity key the owner claimed it with.
    pub identity_key: [u8; 32],
}

/// Why a username is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsernameError {
    /// Fewer than [`crate::limits::MIN_USERNAME_LEN`] or more than
    /// [`crate::limits::MAX_USERNAME_LEN`] characters.
    #[error("a username has 3 to 32 characters")]
    Length,
    /// A character outside `a-z`, `0-9`, `_` and `.`, or a `.` at either end.
    #[error(
        "a username uses only letters a-z, digits, '_' and '.', and does not start or end with '.'"
    )]
    Characters,
}

/// Normalises a username: strips one leading `@`, lowercases ASCII, and checks the rules.
pub fn normalize_username(raw: &str) -> Result<String, UsernameError> {
    let name = raw.strip_prefix('@').unwrap_or(raw).to_ascii_lowercase();
    let len = name.chars().count();
    if !(crate::limits::MIN_USERNAME_LEN..=crate::limits::MAX_USERNAME_LEN).contains(&len) {
        return Err(UsernameError::Length);
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.';
    if !name.chars().all(allowed) || name.starts_with('.') || name.ends_with('.') {
        return Err(UsernameError::Characters);
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(normalize_username("@Alice_01").unwrap(), "alice_01");
        assert_eq!(normalize_username("ab"), Err(UsernameError::Length));
        assert_eq!(
            normalize_username(&"a".repeat(33)),
            Err(UsernameError::Length)
        );
        assert_eq!(normalize_username("al ice"), Err(UsernameError::Characters));
        assert_eq!(normalize_username(".alice"), Err(UsernameError::Characters));
        assert_eq!(normalize_username("ålice"), Err(UsernameError::Characters));
    }
}
