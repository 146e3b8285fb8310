//! The group message: one ciphertext and one signature for every member.
//!
//! ```text
//! GroupMessage = WIRE_VERSION (u8) || KIND_GROUP (u8) || distribution_id (16) || chain_id (16)
//!                || iteration (u32) || sealed (nonce (24) || ciphertext || tag (16), >= 40)
//!                || signature (64)
//! ```
//! The first 38 bytes are the header, authenticated as AEAD associated data; the signature is
//! by the chain's signing key over `SENDER_KEY_MESSAGE_LABEL || everything before it`.

use ed25519_dalek::VerifyingKey;

use super::{GroupError, SENDER_KEY_MESSAGE_LABEL};
use crate::cipher::SEALED_OVERHEAD;
use crate::codec::{DecodeError, Reader, Writer};
use crate::identity::verify_strict;
use crate::limits::MAX_PADDED_LEN;
use crate::message::WIRE_VERSION;

/// Kind byte of a group message.
pub(crate) const KIND_GROUP: u8 = 4;
/// Length of the header (version, kind, ids, iteration).
pub(crate) const GROUP_HEADER_LEN: usize = 2 + 16 + 16 + 4;

/// A signed, encrypted group message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMessage {
    pub(crate) distribution_id: [u8; 16],
    pub(crate) chain_id: [u8; 16],
    pub(crate) iteration: u32,
    pub(crate) ciphertext: Vec<u8>,
    pub(crate) signature: [u8; 64],
}

/// Proof that a group message's signature verified under a chain's signing key.
pub(crate) struct VerifiedGroupMessage<'a> {
    message: &'a GroupMessage,
}

impl<'a> VerifiedGroupMessage<'a> {
    pub(crate) fn message(&self) -> &'a GroupMessage {
        self.message
    }
}

impl GroupMessage {
    /// The group (distribution) this message belongs to.
    #[must_use]
    pub fn distribution_id(&self) -> [u8; 16] {
        self.distribution_id
    }

    /// The sender chain it was sent on.
    #[must_use]
    pub fn chain_id(&self) -> [u8; 16] {
        self.chain_id
    }

    pub(crate) fn header_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(GROUP_HEADER_LEN);
        w.u8(WIRE_VERSION)
            .u8(KIND_GROUP)
            .bytes(&self.distribution_id)
            .bytes(&self.chain_id)
            .u32(self.iteration);
        w.finish()
    }

    /// The bytes the signature covers.
    pub(crate) fn signed_bytes(&self) -> Vec<u8> {
        [
            SENDER_KEY_MESSAGE_LABEL,
            &self.header_bytes(),
            &self.ciphertext,
        ]
        .concat()
    }

    /// Checks the signature against the chain's signing key.
    pub(crate) fn verify(&self, key: &VerifyingKey) -> Option<VerifiedGroupMessage<'_>> {
        verify_strict(key, &self.signed_bytes(), &self.signature)
            .then_some(VerifiedGroupMessage { message: self })
    }

    /// The wire bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(GROUP_HEADER_LEN + self.ciphertext.len() + 64);
        w.bytes(&self.header_bytes())
            .bytes(&self.ciphertext)
            .bytes(&self.signature);
        w.finish()
    }

    /// Parses wire bytes.
    ///
    /// # Errors
    /// [`GroupError::DecryptionFailed`] for anything malformed.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, GroupError> {
        Self::decode(bytes).map_err(|_| GroupError::DecryptionFailed)
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (body, signature) = bytes
            .split_last_chunk::<64>()
            .ok_or(DecodeError::Truncated)?;
        let mut r = Reader::new(body);
        if r.u8()? != WIRE_VERSION || r.u8()? != KIND_GROUP {
            return Err(DecodeError::Unknown);
        }
        let distribution_id = r.array()?;
        let chain_id = r.array()?;
        let iteration = r.u32()?;
        let ciphertext = r.rest();
        if ciphertext.len() < SEALED_OVERHEAD || ciphertext.len() > MAX_PADDED_LEN + SEALED_OVERHEAD
        {
            return Err(DecodeError::OutOfRange);
        }
        Ok(Self {
            distribution_id,
            chain_id,
            iteration,
            ciphertext: ciphertext.to_vec(),
            signature: *signature,
        })
    }
}
