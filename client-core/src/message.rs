//! The 1:1 wire messages: a Double Ratchet message, and the X3DH initial ("prekey") message
//! that wraps one.
//!
//! ```text
//! RatchetMessage = WIRE_VERSION (u8) || KIND_RATCHET (u8) || ratchet_key (32)
//!                  || previous_chain_len (u32) || index (u32)
//!                  || sealed (rest: nonce (24) || ciphertext || tag (16), >= 40 bytes)
//! PreKeyMessage  = WIRE_VERSION (u8) || KIND_PREKEY (u8) || identity (signing 32, dh 32,
//!                  dh_signature 64) || base_key (32) || signed_prekey_id (u32)
//!                  || has_one_time (u8: 0|1) || [one_time_prekey_id (u32)]
//!                  || RatchetMessage (rest)
//! ```
//! Integers are big-endian. X25519 keys must be canonical (top bit clear, below 2^255 - 19).
//! The first 42 bytes of a ratchet message are its header and are authenticated as associated
//! data; the random XChaCha20-Poly1305 nonce in front of the ciphertext is drawn by the crate.

use crate::cipher::SEALED_OVERHEAD;
use crate::codec::{DecodeError, Reader, Writer};
use crate::identity::{PUBLIC_IDENTITY_LEN, PublicIdentity};
use crate::limits::MAX_PADDED_LEN;
use crate::secret::is_canonical_x25519;
use crate::session::SessionError;

/// The wire format version of every message this crate writes.
pub const WIRE_VERSION: u8 = 1;
/// Kind byte of a [`RatchetMessage`].
pub(crate) const KIND_RATCHET: u8 = 1;
/// Kind byte of a [`PreKeyMessage`].
pub(crate) const KIND_PREKEY: u8 = 2;
/// Length of a ratchet message header (version, kind, key, two counters).
pub(crate) const RATCHET_HEADER_LEN: usize = 2 + 32 + 4 + 4;

/// A Double Ratchet message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RatchetMessage {
    pub(crate) ratchet_key: [u8; 32],
    pub(crate) previous_chain_len: u32,
    pub(crate) index: u32,
    pub(crate) ciphertext: Vec<u8>,
}

impl RatchetMessage {
    /// The header bytes, authenticated as associated data.
    pub(crate) fn header_bytes(&self) -> [u8; RATCHET_HEADER_LEN] {
        let mut w = Writer::with_capacity(RATCHET_HEADER_LEN);
        w.u8(WIRE_VERSION)
            .u8(KIND_RATCHET)
            .bytes(&self.ratchet_key)
            .u32(self.previous_chain_len)
            .u32(self.index);
        let bytes = w.finish();
        let mut out = [0u8; RATCHET_HEADER_LEN];
        if let Some((head, _)) = bytes.split_first_chunk::<RATCHET_HEADER_LEN>() {
            out = *head;
        }
        out
    }

    fn encode(&self, w: &mut Writer) {
        w.bytes(&self.header_bytes()).bytes(&self.ciphertext);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        if r.u8()? != WIRE_VERSION || r.u8()? != KIND_RATCHET {
            return Err(DecodeError::Unknown);
        }
        let ratchet_key = r.array()?;
        if !is_canonical_x25519(&ratchet_key) {
            return Err(DecodeError::OutOfRange);
        }
        let previous_chain_len = r.u32()?;
        let index = r.u32()?;
        let ciphertext = r.rest();
        if ciphertext.len() < SEALED_OVERHEAD || ciphertext.len() > MAX_PADDED_LEN + SEALED_OVERHEAD
        {
            return Err(DecodeError::OutOfRange);
        }
        Ok(Self {
            ratchet_key,
            previous_chain_len,
            index,
            ciphertext: ciphertext.to_vec(),
        })
    }
}

/// The initial message: which keys X3DH used, and the first ratchet message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyMessage {
    pub(crate) identity: PublicIdentity,
    pub(crate) base_key: [u8; 32],
    pub(crate) signed_prekey_id: u32,
    pub(crate) one_time_prekey_id: Option<u32>,
    pub(crate) message: RatchetMessage,
}

impl PreKeyMessage {
    /// The sender's identity (not yet verified: [`crate::Session::new_inbound`] checks it).
    #[must_use]
    pub fn sender_identity(&self) -> &PublicIdentity {
        &self.identity
    }

    /// The initiator's X3DH ephemeral key; it names the session (see
    /// [`crate::Session::session_id`]).
    #[must_use]
    pub fn base_key(&self) -> [u8; 32] {
        self.base_key
    }

    /// Which signed prekey the initiator used.
    #[must_use]
    pub fn signed_prekey_id(&self) -> u32 {
        self.signed_prekey_id
    }

    /// Which one-time prekey the initiator used, if any.
    #[must_use]
    pub fn one_time_prekey_id(&self) -> Option<u32> {
        self.one_time_prekey_id
    }
}

/// Any 1:1 message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionMessage {
    /// Sent by the initiator until it has received a reply.
    PreKey(PreKeyMessage),
    /// Every other message.
    Ratchet(RatchetMessage),
}

impl SessionMessage {
    /// The wire bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(self.ciphertext_len() + 256);
        match self {
            Self::Ratchet(message) => message.encode(&mut w),
            Self::PreKey(message) => {
                w.u8(WIRE_VERSION).u8(KIND_PREKEY);
                message.identity.encode(&mut w);
                w.bytes(&message.base_key).u32(message.signed_prekey_id);
                match message.one_time_prekey_id {
                    Some(id) => w.u8(1).u32(id),
                    None => w.u8(0),
                };
                message.message.encode(&mut w);
            }
        }
        w.finish()
    }

    /// Parses wire bytes.
    ///
    /// # Errors
    /// [`SessionError::DecryptionFailed`] for anything malformed: parsing is part of
    /// decryption, and every way to fail it looks the same.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SessionError> {
        Self::decode(bytes).map_err(|_| SessionError::DecryptionFailed)
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut peek = Reader::new(bytes);
        if peek.u8()? != WIRE_VERSION {
            return Err(DecodeError::Unknown);
        }
        match peek.u8()? {
            KIND_RATCHET => {
                let mut r = Reader::new(bytes);
                let message = RatchetMessage::decode(&mut r)?;
                r.finish()?;
                Ok(Self::Ratchet(message))
            }
            KIND_PREKEY => {
                let identity = PublicIdentity::decode(&mut peek)?;
                let base_key = peek.array()?;
                if !is_canonical_x25519(&base_key) {
                    return Err(DecodeError::OutOfRange);
                }
                let signed_prekey_id = peek.u32()?;
                let one_time_prekey_id = if peek.bool()? {
                    Some(peek.u32()?)
                } else {
                    None
                };
                let message = RatchetMessage::decode(&mut peek)?;
                peek.finish()?;
                Ok(Self::PreKey(PreKeyMessage {
                    identity,
                    base_key,
                    signed_prekey_id,
                    one_time_prekey_id,
                    message,
                }))
            }
            _ => Err(DecodeError::Unknown),
        }
    }

    fn ciphertext_len(&self) -> usize {
        match self {
            Self::PreKey(m) => m.message.ciphertext.len() + PUBLIC_IDENTITY_LEN,
            Self::Ratchet(m) => m.ciphertext.len(),
        }
    }
}
