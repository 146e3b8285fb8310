//! Our own sender chain in a group.

use core::fmt;

use ed25519_dalek::{Signer, SigningKey};
use rand_core::CryptoRng;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use super::{GroupError, GroupMessage, SenderKeyDistribution};
use crate::chain::Chain;
use crate::cipher;
use crate::codec::{DecodeError, Reader, Writer};
use crate::kdf::INFO_GROUP_MESSAGE;
use crate::padding;
use crate::pickle::{self, Pickle, PickleError, PickleKind};
use crate::secret::{Secret32, public_prefix};

/// Our sending chain in one group, with its own signing key. Wiped on drop; `Debug` shows no
/// key material.
///
/// Deliberately not `Clone`: two copies that both encrypt would use the same message keys.
/// To keep a copy, take a [`OutboundSenderKey::pickle`].
#[derive(PartialEq)]
pub struct OutboundSenderKey {
    distribution_id: [u8; 16],
    chain_id: [u8; 16],
    chain: Chain,
    signing: SigningKey,
}

impl ZeroizeOnDrop for OutboundSenderKey {}

impl OutboundSenderKey {
    /// A fresh chain (random chain id, chain key and signing key) for group `distribution_id`.
    pub fn new(rng: &mut impl CryptoRng, distribution_id: [u8; 16]) -> Self {
        let mut chain_id = [0u8; 16];
        rng.fill_bytes(&mut chain_id);
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self {
            distribution_id,
            chain_id,
            chain: Chain::new(Secret32::random(rng), 0),
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// Replaces this chain with a fresh one, consuming it: nothing of the old chain survives,
    /// so whoever held its distribution cannot read what is sent next.
    #[must_use]
    pub fn rotate(self, rng: &mut impl CryptoRng) -> Self {
        Self::new(rng, self.distribution_id)
    }

    /// The group this chain belongs to.
    #[must_use]
    pub fn distribution_id(&self) -> [u8; 16] {
        self.distribution_id
    }

    /// The chain's random id.
    #[must_use]
    pub fn chain_id(&self) -> [u8; 16] {
        self.chain_id
    }

    /// The chain's public signing key.
    pub(crate) fn signing_public(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// The distribution message for the chain's *current* position: receivers can read what
    /// is sent from now on, not what was sent before.
    #[must_use]
    pub fn distribution(&self) -> SenderKeyDistribution {
        SenderKeyDistribution {
            distribution_id: self.distribution_id,
            chain_id: self.chain_id,
            iteration: self.chain.index(),
            chain_key: self.chain.key().clone(),
            signing_public: self.signing_public(),
        }
    }

    /// Encrypts and signs one message for every member. `rng` supplies the AEAD nonce.
    ///
    /// **Save the pickle (of this key or its [`super::GroupSession`]) before the message leaves
    /// the device**: if the advanced state is lost after sending, the restored chain encrypts
    /// its next message under an iteration that was already used (see [`crate::Session::encrypt`]).
    ///
    /// # Errors
    /// [`GroupError::PlaintextTooLong`] or [`GroupError::ChainExhausted`].
    pub fn encrypt(
        &mut self,
        rng: &mut impl CryptoRng,
        plaintext: &[u8],
    ) -> Result<GroupMessage, GroupError> {
        let padded = padding::pad(plaintext).map_err(|_| GroupError::PlaintextTooLong)?;
        self.encrypt_padded(rng, &padded)
    }

    /// Encrypts and signs an already padded plaintext.
    pub(crate) fn encrypt_padded(
        &mut self,
        rng: &mut impl CryptoRng,
        padded: &[u8],
    ) -> Result<GroupMessage, GroupError> {
        let (iteration, key) = self.chain.next_key().ok_or(GroupError::ChainExhausted)?;
        let mut message = GroupMessage {
            distribution_id: self.distribution_id,
            chain_id: self.chain_id,
            iteration,
            ciphertext: Vec::new(),
            signature: [0; 64],
        };
        message.ciphertext = cipher::seal(
            rng,
            &key,
            INFO_GROUP_MESSAGE,
            &message.header_bytes(),
            padded,
        );
        message.signature = self.signing.sign(&message.signed_bytes()).to_bytes();
        Ok(message)
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.bytes(&self.distribution_id)
            .bytes(&self.chain_id)
            .u32(self.chain.index())
            .bytes(self.chain.key().as_bytes())
            .bytes(self.signing.as_bytes());
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let distribution_id = r.array()?;
        let chain_id = r.array()?;
        let index = r.u32()?;
        let chain = Chain::new(Secret32::from_bytes(r.array()?), index);
        let seed = Zeroizing::new(r.array::<32>()?);
        Ok(Self {
            distribution_id,
            chain_id,
            chain,
            signing: SigningKey::from_bytes(&seed),
        })
    }

    /// Serialises the chain for the app's store.
    #[must_use]
    pub fn pickle(&self) -> Pickle {
        let mut w = pickle::writer(PickleKind::OutboundSenderKey, 100);
        self.encode(&mut w);
        Pickle::from_secret(w.finish_secret())
    }

    /// Restores a chain from [`OutboundSenderKey::pickle`].
    ///
    /// # Errors
    /// [`PickleError`] if the bytes are not an outbound sender key pickle.
    pub fn from_pickle(pickle: &Pickle) -> Result<Self, PickleError> {
        let mut r = pickle::reader(pickle, PickleKind::OutboundSenderKey)?;
        let key = Self::decode(&mut r)?;
        r.finish()?;
        Ok(key)
    }
}

impl fmt::Debug for OutboundSenderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundSenderKey")
            .field("chain_id", &public_prefix(&self.chain_id))
            .field("iteration", &self.chain.index())
            .finish_non_exhaustive()
    }
}
