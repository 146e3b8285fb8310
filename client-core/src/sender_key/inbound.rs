//! Another member's sender chain, as learned from its distribution message.

use core::fmt;

use ed25519_dalek::VerifyingKey;
use zeroize::ZeroizeOnDrop;

use super::message::VerifiedGroupMessage;
use super::{GroupError, GroupMessage, SenderKeyDistribution};
use crate::chain::Chain;
use crate::cipher;
use crate::codec::{DecodeError, Reader, Writer};
use crate::kdf::INFO_GROUP_MESSAGE;
use crate::limits::{MAX_GROUP_SKIP, MAX_GROUP_SKIPPED_KEYS};
use crate::padding;
use crate::pickle::{self, Pickle, PickleError, PickleKind};
use crate::secret::{Secret32, public_prefix};
use crate::skipped_keys::SkippedKeys;

/// A member's sender chain we can decrypt. Wiped on drop; `Debug` shows no key material.
#[derive(Clone, PartialEq)]
pub struct InboundSenderKey {
    distribution_id: [u8; 16],
    chain_id: [u8; 16],
    signing_public: VerifyingKey,
    chain: Chain,
    skipped: SkippedKeys<()>,
}

impl ZeroizeOnDrop for InboundSenderKey {}

impl InboundSenderKey {
    /// Installs a chain from its distribution message.
    ///
    /// # Errors
    /// [`GroupError::InvalidDistribution`] if the signing key is not a valid point.
    pub fn from_distribution(distribution: &SenderKeyDistribution) -> Result<Self, GroupError> {
        let signing_public = VerifyingKey::from_bytes(&distribution.signing_public)
            .map_err(|_| GroupError::InvalidDistribution)?;
        if signing_public.is_weak() {
            return Err(GroupError::InvalidDistribution);
        }
        Ok(Self {
            distribution_id: distribution.distribution_id,
            chain_id: distribution.chain_id,
            signing_public,
            chain: Chain::new(distribution.chain_key.clone(), distribution.iteration),
            skipped: SkippedKeys::new(MAX_GROUP_SKIPPED_KEYS),
        })
    }

    /// The chain's id.
    #[must_use]
    pub fn chain_id(&self) -> [u8; 16] {
        self.chain_id
    }

    /// The chain's public signing key.
    pub(crate) fn signing_public(&self) -> [u8; 32] {
        self.signing_public.to_bytes()
    }

    /// Verifies the signature, then decrypts and removes the padding. On failure (including
    /// malformed padding) nothing changes.
    ///
    /// # Errors
    /// [`GroupError::DecryptionFailed`], whatever the reason.
    pub fn decrypt(&mut self, message: &GroupMessage) -> Result<Vec<u8>, GroupError> {
        let fail = GroupError::DecryptionFailed;
        if message.distribution_id != self.distribution_id || message.chain_id != self.chain_id {
            return Err(fail);
        }
        let verified = message.verify(&self.signing_public).ok_or(fail)?;
        self.decrypt_verified(&verified).ok_or(fail)
    }

    fn decrypt_verified(&mut self, verified: &VerifiedGroupMessage<'_>) -> Option<Vec<u8>> {
        let message = verified.message();
        let aad = message.header_bytes();
        // Authenticate, decrypt and unpad before anything is committed.
        let open = |key: &Secret32| {
            cipher::open(key, INFO_GROUP_MESSAGE, &aad, &message.ciphertext)
                .and_then(|padded| padding::unpad(padded).ok())
        };
        if let Some(key) = self.skipped.get(&(), message.iteration) {
            let plaintext = open(key)?;
            self.skipped.remove(&(), message.iteration);
            return Some(plaintext);
        }
        let advance = self.chain.advance_to(message.iteration, MAX_GROUP_SKIP)?;
        let plaintext = open(&advance.key)?;
        self.chain = advance.chain;
        self.skipped.extend((), advance.skipped);
        Some(plaintext)
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.bytes(&self.distribution_id)
            .bytes(&self.chain_id)
            .bytes(self.signing_public.as_bytes())
            .u32(self.chain.index())
            .bytes(self.chain.key().as_bytes());
        self.skipped.encode(w, |_, ()| {});
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let distribution_id = r.array()?;
        let chain_id = r.array()?;
        let signing_public =
            VerifyingKey::from_bytes(&r.array()?).map_err(|_| DecodeError::OutOfRange)?;
        let index = r.u32()?;
        let chain = Chain::new(Secret32::from_bytes(r.array()?), index);
        let skipped = SkippedKeys::decode(r, MAX_GROUP_SKIPPED_KEYS, |_| Ok(()))?;
        Ok(Self {
            distribution_id,
            chain_id,
            signing_public,
            chain,
            skipped,
        })
    }

    pub(crate) fn encoded_len_hint(&self) -> usize {
        120 + self.skipped.len() * 36
    }

    /// Serialises the chain for the app's store.
    #[must_use]
    pub fn pickle(&self) -> Pickle {
        let mut w = pickle::writer(PickleKind::InboundSenderKey, self.encoded_len_hint());
        self.encode(&mut w);
        Pickle::from_secret(w.finish_secret())
    }

    /// Restores a chain from [`InboundSenderKey::pickle`].
    ///
    /// # Errors
    /// [`PickleError`] if the bytes are not an inbound sender key pickle.
    pub fn from_pickle(pickle: &Pickle) -> Result<Self, PickleError> {
        let mut r = pickle::reader(pickle, PickleKind::InboundSenderKey)?;
        let key = Self::decode(&mut r)?;
        r.finish()?;
        Ok(key)
    }
}

impl fmt::Debug for InboundSenderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundSenderKey")
            .field("chain_id", &public_prefix(&self.chain_id))
            .field("iteration", &self.chain.index())
            .field("skipped_keys", &self.skipped.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OutboundSenderKey;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn bad_padding_from_the_real_sender_commits_nothing() {
        let mut rng = StdRng::seed_from_u64(50);
        let mut sender = OutboundSenderKey::new(&mut rng, [1; 16]);
        let mut receiver = InboundSenderKey::from_distribution(&sender.distribution()).unwrap();
        sender.encrypt(&mut rng, b"dropped").unwrap();
        // Genuinely signed and sealed by the chain owner, but not padded.
        let bad = sender.encrypt_padded(&mut rng, &[0u8; 64]).unwrap();
        let before = receiver.pickle();
        assert_eq!(receiver.decrypt(&bad), Err(GroupError::DecryptionFailed));
        assert_eq!(
            receiver.pickle(),
            before,
            "state committed despite bad padding"
        );
        let good = sender.encrypt(&mut rng, b"next").unwrap();
        assert_eq!(receiver.decrypt(&good).unwrap(), b"next");
    }
}
