//! The byte string a client signs to prove it holds a mailbox key.
//!
//! The message binds together everything that makes a signature single-use:
//! - a fixed context string, so the signature means nothing elsewhere;
//! - the relay's key pin, so it is only valid for this relay;
//! - a TLS exporter value of this QUIC connection ([`EXPORTER_LABEL`]), so it cannot be replayed
//!   on another connection, even to the same relay;
//! - the relay's random challenge for this connection;
//! - the mailbox public key that signs.

/// Domain-separation prefix of the signed message.
pub const AUTH_CONTEXT: &[u8] = b"hush/1 mailbox authentication\0";

/// TLS exporter label (RFC 8446 §7.5) for the connection binding.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-hush/1 mailbox authentication";

/// Length of the exported connection binding.
pub const EXPORTER_LEN: usize = 32;

/// Builds the message a client signs with its mailbox key.
pub fn auth_message(
    relay_pin: &[u8; 32],
    connection_binding: &[u8; EXPORTER_LEN],
    challenge: &[u8; crate::limits::CHALLENGE_LEN],
    mailbox_key: &[u8; 32],
) -> Vec<u8> {
    let mut message = Vec::with_capacity(AUTH_CONTEXT.len() + 32 * 4);
    message.extend_from_slice(AUTH_CONTEXT);
    message.extend_from_slice(relay_pin);
    message.extend_from_slice(connection_binding);
    message.extend_from_slice(challenge);
    message.extend_from_slice(mailbox_key);
    message
}
