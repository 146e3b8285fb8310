//! Prekeys: the signed prekey and one-time prekeys a contact needs to start a session.
//!
//! [`SignedPreKey`], [`OneTimePreKey`] and [`PreKeyBundle`] map 1:1 onto the shapes the relay's
//! prekey directory stores. A fetched bundle is untrusted until [`PreKeyBundle::verify`] turns
//! it into a [`VerifiedPreKeyBundle`], the only form X3DH accepts. The secret halves live in
//! [`LocalPreKeys`].

mod local;

pub use local::LocalPreKeys;

use core::fmt;

use crate::identity::{IdentityError, PublicIdentity, VerifiedIdentity};
use crate::secret::{is_canonical_x25519, public_prefix};

/// Domain separation for a signed prekey's signature: the signed message is
/// `SIGNED_PREKEY_LABEL || id (u32 big-endian) || public`.
pub const SIGNED_PREKEY_LABEL: &[u8] = b"hush/v1/signed-prekey";

/// Why a prekey bundle was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PreKeyError {
    /// The bundle's identity did not verify.
    #[error("bundle identity is invalid: {0}")]
    Identity(#[from] IdentityError),
    /// The signed prekey's signature does not verify under the bundle's identity.
    #[error("signed prekey signature does not verify")]
    InvalidSignedPreKey,
    /// A prekey's X25519 key is not canonically encoded (top bit set, or not below
    /// 2^255 - 19).
    #[error("prekey is not a canonical X25519 key")]
    NonCanonicalKey,
    /// More one-time prekeys were requested than a batch (or the store) may hold.
    #[error("too many one-time prekeys requested")]
    TooManyOneTimePreKeys,
}

/// A signed prekey as published: an X25519 key signed by the identity key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SignedPreKey {
    /// Identifier, chosen by the owner; echoed in the initial message.
    pub id: u32,
    /// X25519 public key.
    pub public: [u8; 32],
    /// Ed25519 signature by the identity over `SIGNED_PREKEY_LABEL || id || public`.
    pub signature: [u8; 64],
}

impl SignedPreKey {
    /// Checks the signature against `identity`.
    ///
    /// # Errors
    /// [`PreKeyError::InvalidSignedPreKey`] if it does not verify.
    pub fn verify(&self, identity: &VerifiedIdentity) -> Result<(), PreKeyError> {
        if identity.verify_signature(
            &signed_prekey_message(self.id, &self.public),
            &self.signature,
        ) {
            Ok(())
        } else {
            Err(PreKeyError::InvalidSignedPreKey)
        }
    }
}

impl fmt::Debug for SignedPreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedPreKey")
            .field("id", &self.id)
            .field("public", &public_prefix(&self.public))
            .finish_non_exhaustive()
    }
}

/// The message a signed prekey's signature covers.
pub(crate) fn signed_prekey_message(id: u32, public: &[u8; 32]) -> Vec<u8> {
    [SIGNED_PREKEY_LABEL, &id.to_be_bytes(), public].concat()
}

/// A one-time prekey as published (not signed, as in X3DH).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OneTimePreKey {
    /// Identifier, chosen by the owner; echoed in the initial message.
    pub id: u32,
    /// X25519 public key.
    pub public: [u8; 32],
}

impl fmt::Debug for OneTimePreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneTimePreKey")
            .field("id", &self.id)
            .field("public", &public_prefix(&self.public))
            .finish()
    }
}

/// A bundle as fetched from the directory: identity, signed prekey, maybe a one-time prekey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyBundle {
    /// The contact's identity.
    pub identity: PublicIdentity,
    /// The contact's current signed prekey.
    pub signed_prekey: SignedPreKey,
    /// One of the contact's one-time prekeys, if the directory had any left.
    pub one_time_prekey: Option<OneTimePreKey>,
}

impl PreKeyBundle {
    /// Verifies the identity and the signed prekey, and that both prekeys are canonical
    /// X25519 encodings, consuming the unchecked bundle.
    ///
    /// # Errors
    /// [`PreKeyError`] if either signature fails or a prekey is not canonical.
    pub fn verify(self) -> Result<VerifiedPreKeyBundle, PreKeyError> {
        let identity = self.identity.verify()?;
        let one_time_canonical = self
            .one_time_prekey
            .as_ref()
            .is_none_or(|k| is_canonical_x25519(&k.public));
        if !is_canonical_x25519(&self.signed_prekey.public) || !one_time_canonical {
            return Err(PreKeyError::NonCanonicalKey);
        }
        self.signed_prekey.verify(&identity)?;
        Ok(VerifiedPreKeyBundle {
            identity,
            signed_prekey: self.signed_prekey,
            one_time_prekey: self.one_time_prekey,
        })
    }
}

/// Proof that a [`PreKeyBundle`]'s signatures verified; only [`PreKeyBundle::verify`] makes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedPreKeyBundle {
    identity: VerifiedIdentity,
    signed_prekey: SignedPreKey,
    one_time_prekey: Option<OneTimePreKey>,
}

impl VerifiedPreKeyBundle {
    /// The contact's verified identity.
    #[must_use]
    pub fn identity(&self) -> &VerifiedIdentity {
        &self.identity
    }

    /// The verified signed prekey.
    #[must_use]
    pub fn signed_prekey(&self) -> &SignedPreKey {
        &self.signed_prekey
    }

    /// The one-time prekey, if any.
    #[must_use]
    pub fn one_time_prekey(&self) -> Option<&OneTimePreKey> {
        self.one_time_prekey.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IdentityKeyPair, LocalPreKeys};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// A valid key with its unused top bit set: X25519 would silently treat it as the key
    /// without that bit, so two encodings would name one key.
    fn top_bit_set(mut public: [u8; 32]) -> [u8; 32] {
        public[31] |= 0x80;
        public
    }

    #[test]
    fn bundles_with_non_canonical_prekeys_are_rejected() {
        let mut rng = StdRng::seed_from_u64(30);
        let owner = IdentityKeyPair::generate(&mut rng);
        let mut prekeys = LocalPreKeys::new(&owner, &mut rng, 0);
        let one_time = prekeys.generate_one_time_prekeys(&mut rng, 1).unwrap();
        let good = PreKeyBundle {
            identity: owner.public(),
            signed_prekey: prekeys.signed_prekey(),
            one_time_prekey: one_time.first().cloned(),
        };
        assert!(good.clone().verify().is_ok());

        // A signed prekey the owner really signed, but in a non-canonical encoding.
        for public in [top_bit_set(good.signed_prekey.public), [0xff; 32]] {
            let id = good.signed_prekey.id;
            let signed_prekey = SignedPreKey {
                id,
                public,
                signature: owner.sign(&signed_prekey_message(id, &public)),
            };
            let bundle = PreKeyBundle {
                signed_prekey,
                ..good.clone()
            };
            assert_eq!(bundle.verify().err(), Some(PreKeyError::NonCanonicalKey));
        }

        // A one-time prekey in a non-canonical encoding.
        let mut one_time_prekey = one_time[0].clone();
        one_time_prekey.public = top_bit_set(one_time_prekey.public);
        let bundle = PreKeyBundle {
            one_time_prekey: Some(one_time_prekey),
            ..good
        };
        assert_eq!(bundle.verify().err(), Some(PreKeyError::NonCanonicalKey));
    }
}
