//! Mailbox authentication: verifying a client's signature over the connection's challenge.
//!
//! The only way to get an [`Authenticated`] value is [`verify`] succeeding, so code that holds
//! one knows the connection proved possession of the mailbox key.

use ed25519_dalek::{Signature, VerifyingKey};
use hush_protocol::MailboxId;
use hush_protocol::auth::{EXPORTER_LEN, auth_message};
use hush_protocol::limits::CHALLENGE_LEN;

use crate::error::RelayError;

/// Proof that this connection holds the private half of an Ed25519 key: only [`verify`]
/// makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedKey {
    key: [u8; 32],
}

impl VerifiedKey {
    /// The verified public key.
    pub fn key(&self) -> [u8; 32] {
        self.key
    }

    /// The connection acts for `mailbox`, which the directory says this key owns.
    pub fn owns(self, mailbox: MailboxId) -> Authenticated {
        Authenticated { mailbox }
    }
}

/// Proof that this connection acts for a mailbox: only [`VerifiedKey::owns`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated {
    mailbox: MailboxId,
}

impl Authenticated {
    /// The mailbox the connection acts for.
    pub fn mailbox(&self) -> MailboxId {
        self.mailbox
    }
}

/// What binds a signature to one connection of one relay.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionContext {
    /// SHA-256 of the relay's SubjectPublicKeyInfo.
    pub relay_pin: [u8; 32],
    /// The TLS exporter value of this connection.
    pub binding: [u8; EXPORTER_LEN],
    /// The challenge the relay sent on this connection.
    pub challenge: [u8; CHALLENGE_LEN],
}

/// Verifies that `signature` was made with `key` over this connection's auth message.
pub fn verify(
    context: &ConnectionContext,
    key: &[u8; 32],
    signature: &[u8; 64],
) -> Result<VerifiedKey, RelayError> {
    let verifying_key = VerifyingKey::from_bytes(key)
        .map_err(|_| RelayError::Unauthorized("mailbox key is not a valid Ed25519 key"))?;
    let message = auth_message(
        &context.relay_pin,
        &context.binding,
        &context.challenge,
        key,
    );
    let signature = Signature::from_bytes(signature);
    verifying_key
        .verify_strict(&message, &signature)
        .map_err(|_| RelayError::Unauthorized("signature does not verify"))?;
    Ok(VerifiedKey { key: *key })
}
