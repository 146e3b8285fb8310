//! Account identity: an Ed25519 signing key and an X25519 key signed by it.
//!
//! The Ed25519 key signs prekeys; the X25519 key takes part in X3DH. [`PublicIdentity`] is the
//! wire shape the relay's prekey directory stores; [`VerifiedIdentity`] is the proof that its
//! `dh_signature` checked out, and only it can be used to start a session.

use core::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::codec::{Reader, Writer};
use crate::pickle::{self, Pickle, PickleError, PickleKind};
use crate::secret::{DhKeyPair, is_canonical_x25519, public_prefix};

/// Domain separation for the identity's signature over its X25519 key:
/// the signed message is `IDENTITY_DH_LABEL || dh`.
pub const IDENTITY_DH_LABEL: &[u8] = b"hush/v1/identity-dh";

/// Why an identity could not be verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The Ed25519 key is not a valid, non-weak point, or the X25519 key is not canonical.
    #[error("identity signing key is invalid")]
    InvalidKey,
    /// The signature over the X25519 key does not verify.
    #[error("identity signature does not verify")]
    InvalidSignature,
}

/// A public identity as published in the prekey directory.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicIdentity {
    /// Ed25519 public key: signs `dh` and the signed prekeys.
    pub signing: [u8; 32],
    /// X25519 public key used in X3DH.
    pub dh: [u8; 32],
    /// Ed25519 signature by `signing` over `IDENTITY_DH_LABEL || dh`.
    pub dh_signature: [u8; 64],
}

/// Encoded size of a [`PublicIdentity`].
pub(crate) const PUBLIC_IDENTITY_LEN: usize = 128;

impl PublicIdentity {
    /// Checks the signature over the X25519 key and returns the proof that it holds.
    ///
    /// # Errors
    /// [`IdentityError::InvalidKey`] or [`IdentityError::InvalidSignature`].
    pub fn verify(&self) -> Result<VerifiedIdentity, IdentityError> {
        let verifying_key =
            VerifyingKey::from_bytes(&self.signing).map_err(|_| IdentityError::InvalidKey)?;
        if verifying_key.is_weak() || !is_canonical_x25519(&self.dh) {
            return Err(IdentityError::InvalidKey);
        }
        let verified = VerifiedIdentity {
            public: self.clone(),
            verifying_key,
        };
        if !verified.verify_signature(&dh_message(&self.dh), &self.dh_signature) {
            return Err(IdentityError::InvalidSignature);
        }
        Ok(verified)
    }

    /// True when both identities have the same keys (the signature is not compared).
    #[must_use]
    pub fn same_keys(&self, other: &PublicIdentity) -> bool {
        self.signing == other.signing && self.dh == other.dh
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.bytes(&self.signing)
            .bytes(&self.dh)
            .bytes(&self.dh_signature);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, crate::codec::DecodeError> {
        Ok(Self {
            signing: r.array()?,
            dh: r.array()?,
            dh_signature: r.array()?,
        })
    }

    /// `signing || dh`: the form bound into session associated data and fingerprints.
    pub(crate) fn key_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        if let Some((head, tail)) = out.split_first_chunk_mut::<32>() {
            *head = self.signing;
            if let Some((tail, _)) = tail.split_first_chunk_mut::<32>() {
                *tail = self.dh;
            }
        }
        out
    }
}

impl fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicIdentity")
            .field("signing", &public_prefix(&self.signing))
            .field("dh", &public_prefix(&self.dh))
            .finish_non_exhaustive()
    }
}

/// Proof that a [`PublicIdentity`]'s signature verified. Only [`PublicIdentity::verify`] (or
/// the crate, for its own identity) can make one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedIdentity {
    public: PublicIdentity,
    verifying_key: VerifyingKey,
}

impl VerifiedIdentity {
    /// The identity that verified.
    #[must_use]
    pub fn public(&self) -> &PublicIdentity {
        &self.public
    }

    /// Strict Ed25519 verification of `signature` over `message` by this identity.
    pub(crate) fn verify_signature(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        verify_strict(&self.verifying_key, message, signature)
    }
}

/// Strict Ed25519 verification (rejects non-canonical and small-order encodings).
pub(crate) fn verify_strict(key: &VerifyingKey, message: &[u8], signature: &[u8; 64]) -> bool {
    key.verify_strict(message, &Signature::from_bytes(signature))
        .is_ok()
}

fn dh_message(dh: &[u8; 32]) -> Vec<u8> {
    [IDENTITY_DH_LABEL, dh].concat()
}

/// An account's identity keys. Wiped on drop; `Debug` shows only public prefixes.
#[derive(Clone)]
pub struct IdentityKeyPair {
    signing: SigningKey,
    dh: DhKeyPair,
    dh_signature: [u8; 64],
}

impl ZeroizeOnDrop for IdentityKeyPair {}

impl IdentityKeyPair {
    /// Generates a new identity.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        let signing = SigningKey::from_bytes(&seed);
        Self::from_parts(signing, DhKeyPair::generate(rng))
    }

    fn from_parts(signing: SigningKey, dh: DhKeyPair) -> Self {
        let dh_signature = signing.sign(&dh_message(&dh.public())).to_bytes();
        Self {
            signing,
            dh,
            dh_signature,
        }
    }

    /// The public identity to publish.
    #[must_use]
    pub fn public(&self) -> PublicIdentity {
        PublicIdentity {
            signing: self.signing.verifying_key().to_bytes(),
            dh: self.dh.public(),
            dh_signature: self.dh_signature,
        }
    }

    /// Our own identity, trivially verified.
    #[must_use]
    pub fn verified(&self) -> VerifiedIdentity {
        VerifiedIdentity {
            public: self.public(),
            verifying_key: self.signing.verifying_key(),
        }
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    pub(crate) fn dh(&self) -> &DhKeyPair {
        &self.dh
    }

    /// Serialises the identity for the app's store.
    #[must_use]
    pub fn pickle(&self) -> Pickle {
        let mut w = pickle::writer(PickleKind::Identity, 64);
        w.bytes(self.signing.as_bytes())
            .bytes(self.dh.secret_bytes());
        Pickle::from_secret(w.finish_secret())
    }

    /// Restores an identity from [`IdentityKeyPair::pickle`].
    ///
    /// # Errors
    /// [`PickleError`] if the bytes are not an identity pickle.
    pub fn from_pickle(pickle: &Pickle) -> Result<Self, PickleError> {
        let mut r = pickle::reader(pickle, PickleKind::Identity)?;
        let signing = Zeroizing::new(r.array::<32>()?);
        let dh = Zeroizing::new(r.array::<32>()?);
        r.finish()?;
        Ok(Self::from_parts(
            SigningKey::from_bytes(&signing),
            DhKeyPair::from_secret_bytes(*dh),
        ))
    }
}

impl fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKeyPair")
            .field("public", &self.public())
            .field("secrets", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn identity_verifies_and_tampering_is_caught() {
        let id = IdentityKeyPair::generate(&mut StdRng::seed_from_u64(1));
        let public = id.public();
        assert_eq!(public.verify().unwrap().public(), &public);

        let mut bad = public.clone();
        bad.dh[0] ^= 1;
        assert_eq!(bad.verify(), Err(IdentityError::InvalidSignature));
        let mut bad = public.clone();
        bad.dh_signature[10] ^= 1;
        assert_eq!(bad.verify(), Err(IdentityError::InvalidSignature));
        let other = IdentityKeyPair::generate(&mut StdRng::seed_from_u64(2)).public();
        let mut bad = public;
        bad.signing = other.signing;
        assert_eq!(bad.verify(), Err(IdentityError::InvalidSignature));
    }

    #[test]
    fn identity_pickle_round_trips() {
        let id = IdentityKeyPair::generate(&mut StdRng::seed_from_u64(3));
        let restored = IdentityKeyPair::from_pickle(&id.pickle()).unwrap();
        assert_eq!(restored.public(), id.public());
        assert_eq!(restored.dh(), id.dh());
        let mut bytes = id.pickle().as_bytes().to_vec();
        bytes.pop();
        assert_eq!(
            IdentityKeyPair::from_pickle(&Pickle::from_bytes(bytes)).err(),
            Some(PickleError::Malformed)
        );
    }
}
