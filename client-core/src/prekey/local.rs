//! The secret halves of an account's prekeys, with signed-prekey rotation.

use core::fmt;
use std::collections::BTreeMap;

use rand_core::CryptoRng;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use super::{OneTimePreKey, PreKeyError, SignedPreKey, signed_prekey_message};
use crate::codec::{DecodeError, Reader, Writer};
use crate::identity::IdentityKeyPair;
use crate::limits::{MAX_ONE_TIME_PREKEY_BATCH, MAX_ONE_TIME_PREKEYS, SIGNED_PREKEY_ROTATION_SECS};
use crate::pickle::{self, Pickle, PickleError, PickleKind};
use crate::secret::DhKeyPair;

/// A signed prekey with its secret and creation time.
#[derive(Clone, PartialEq)]
struct SignedRecord {
    id: u32,
    key: DhKeyPair,
    signature: [u8; 64],
    created_at: u64,
}

impl SignedRecord {
    fn generate(identity: &IdentityKeyPair, id: u32, rng: &mut impl CryptoRng, now: u64) -> Self {
        let key = DhKeyPair::generate(rng);
        let signature = identity.sign(&signed_prekey_message(id, &key.public()));
        Self {
            id,
            key,
            signature,
            created_at: now,
        }
    }

    fn public(&self) -> SignedPreKey {
        SignedPreKey {
            id: self.id,
            public: self.key.public(),
            signature: self.signature,
        }
    }

    fn encode(&self, w: &mut Writer) {
        w.u32(self.id)
            .bytes(self.key.secret_bytes())
            .bytes(&self.signature)
            .u64(self.created_at);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let id = r.u32()?;
        let secret = Zeroizing::new(r.array::<32>()?);
        Ok(Self {
            id,
            key: DhKeyPair::from_secret_bytes(*secret),
            signature: r.array()?,
            created_at: r.u64()?,
        })
    }
}

/// An account's prekey secrets: the current signed prekey, the one it replaced (kept for one
/// rotation period so initial messages already in flight still work), and unused one-time
/// prekeys. Wiped on drop; `Debug` shows ids and counts only.
#[derive(Clone, PartialEq)]
pub struct LocalPreKeys {
    current: SignedRecord,
    previous: Option<SignedRecord>,
    one_time: BTreeMap<u32, DhKeyPair>,
    next_one_time_id: u32,
}

impl ZeroizeOnDrop for LocalPreKeys {}

impl LocalPreKeys {
    /// Creates the first signed prekey (id 1) and no one-time prekeys.
    pub fn new(identity: &IdentityKeyPair, rng: &mut impl CryptoRng, now_secs: u64) -> Self {
        Self {
            current: SignedRecord::generate(identity, 1, rng, now_secs),
            previous: None,
            one_time: BTreeMap::new(),
            next_one_time_id: 1,
        }
    }

    /// The current signed prekey, to upload.
    #[must_use]
    pub fn signed_prekey(&self) -> SignedPreKey {
        self.current.public()
    }

    /// True once the current signed prekey is [`SIGNED_PREKEY_ROTATION_SECS`] old.
    #[must_use]
    pub fn needs_rotation(&self, now_secs: u64) -> bool {
        now_secs.saturating_sub(self.current.created_at) >= SIGNED_PREKEY_ROTATION_SECS
    }

    /// Replaces the signed prekey with a new one (id + 1) and returns it for upload. The old
    /// one is kept as "previous" until the next rotation; the one before it is deleted.
    pub fn rotate_signed_prekey(
        &mut self,
        identity: &IdentityKeyPair,
        rng: &mut impl CryptoRng,
        now_secs: u64,
    ) -> SignedPreKey {
        let id = self.current.id.wrapping_add(1).max(1);
        let next = SignedRecord::generate(identity, id, rng, now_secs);
        self.previous = Some(core::mem::replace(&mut self.current, next));
        self.current.public()
    }

    /// Generates `count` new one-time prekeys and returns their public halves for upload.
    ///
    /// # Errors
    /// [`PreKeyError::TooManyOneTimePreKeys`] if `count` exceeds [`MAX_ONE_TIME_PREKEY_BATCH`]
    /// or the store would exceed [`MAX_ONE_TIME_PREKEYS`].
    pub fn generate_one_time_prekeys(
        &mut self,
        rng: &mut impl CryptoRng,
        count: u32,
    ) -> Result<Vec<OneTimePreKey>, PreKeyError> {
        let wanted = usize::try_from(count).map_err(|_| PreKeyError::TooManyOneTimePreKeys)?;
        if count > MAX_ONE_TIME_PREKEY_BATCH || self.one_time.len() + wanted > MAX_ONE_TIME_PREKEYS
        {
            return Err(PreKeyError::TooManyOneTimePreKeys);
        }
        let mut out = Vec::with_capacity(wanted);
        while out.len() < wanted {
            let id = self.next_one_time_id;
            self.next_one_time_id = id.wrapping_add(1).max(1);
            if self.one_time.contains_key(&id) {
                continue;
            }
            let key = DhKeyPair::generate(rng);
            out.push(OneTimePreKey {
                id,
                public: key.public(),
            });
            self.one_time.insert(id, key);
        }
        Ok(out)
    }

    /// How many unused one-time prekeys are held.
    #[must_use]
    pub fn one_time_prekey_count(&self) -> usize {
        self.one_time.len()
    }

    /// The secret of signed prekey `id`, if it is the current or previous one.
    pub(crate) fn signed_secret(&self, id: u32) -> Option<&DhKeyPair> {
        [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|record| record.id == id)
            .map(|record| &record.key)
    }

    /// The secret of one-time prekey `id`, if unused.
    pub(crate) fn one_time_secret(&self, id: u32) -> Option<&DhKeyPair> {
        self.one_time.get(&id)
    }

    /// Deletes one-time prekey `id` after a session was established with it.
    pub(crate) fn consume_one_time(&mut self, id: u32) {
        self.one_time.remove(&id);
    }

    /// Serialises the prekey secrets for the app's store.
    #[must_use]
    pub fn pickle(&self) -> Pickle {
        let mut w = pickle::writer(PickleKind::PreKeys, 256 + self.one_time.len() * 36);
        self.current.encode(&mut w);
        match &self.previous {
            Some(previous) => {
                w.u8(1);
                previous.encode(&mut w);
            }
            None => {
                w.u8(0);
            }
        }
        w.u32(self.next_one_time_id)
            .u32(crate::codec::count_u32(self.one_time.len()));
        for (id, key) in &self.one_time {
            w.u32(*id).bytes(key.secret_bytes());
        }
        Pickle::from_secret(w.finish_secret())
    }

    /// Restores prekey secrets from [`LocalPreKeys::pickle`].
    ///
    /// # Errors
    /// [`PickleError`] if the bytes are not a prekey pickle.
    pub fn from_pickle(pickle: &Pickle) -> Result<Self, PickleError> {
        let mut r = pickle::reader(pickle, PickleKind::PreKeys)?;
        let current = SignedRecord::decode(&mut r)?;
        let previous = if r.bool()? {
            Some(SignedRecord::decode(&mut r)?)
        } else {
            None
        };
        let next_one_time_id = r.u32()?;
        let count = r.count(MAX_ONE_TIME_PREKEYS)?;
        let mut one_time = BTreeMap::new();
        for _ in 0..count {
            let id = r.u32()?;
            let secret = Zeroizing::new(r.array::<32>()?);
            one_time.insert(id, DhKeyPair::from_secret_bytes(*secret));
        }
        r.finish()?;
        Ok(Self {
            current,
            previous,
            one_time,
            next_one_time_id,
        })
    }
}

impl fmt::Debug for LocalPreKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalPreKeys")
            .field("signed_prekey_id", &self.current.id)
            .field(
                "previous_signed_prekey_id",
                &self.previous.as_ref().map(|p| p.id),
            )
            .field("one_time_prekeys", &self.one_time.len())
            .field("secrets", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prekey::PreKeyBundle;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn rotation_keeps_one_previous_signed_prekey() {
        let mut rng = StdRng::seed_from_u64(9);
        let id = IdentityKeyPair::generate(&mut rng);
        let mut keys = LocalPreKeys::new(&id, &mut rng, 1000);
        assert!(!keys.needs_rotation(1000 + SIGNED_PREKEY_ROTATION_SECS - 1));
        assert!(keys.needs_rotation(1000 + SIGNED_PREKEY_ROTATION_SECS));
        let first = keys.signed_prekey();
        let second = keys.rotate_signed_prekey(&id, &mut rng, 2000);
        assert_eq!(second.id, first.id + 1);
        assert!(keys.signed_secret(first.id).is_some());
        let third = keys.rotate_signed_prekey(&id, &mut rng, 3000);
        assert!(keys.signed_secret(first.id).is_none());
        assert!(keys.signed_secret(second.id).is_some());
        assert!(keys.signed_secret(third.id).is_some());
        let verified = id.verified();
        third.verify(&verified).unwrap();
    }

    #[test]
    fn one_time_batches_are_bounded_and_pickles_round_trip() {
        let mut rng = StdRng::seed_from_u64(10);
        let id = IdentityKeyPair::generate(&mut rng);
        let mut keys = LocalPreKeys::new(&id, &mut rng, 0);
        let batch = keys.generate_one_time_prekeys(&mut rng, 100).unwrap();
        assert_eq!(batch.len(), 100);
        assert_eq!(batch[0].id, 1);
        assert_eq!(
            keys.generate_one_time_prekeys(&mut rng, MAX_ONE_TIME_PREKEY_BATCH + 1),
            Err(PreKeyError::TooManyOneTimePreKeys)
        );
        keys.rotate_signed_prekey(&id, &mut rng, 5);
        keys.consume_one_time(3);
        assert_eq!(keys.one_time_prekey_count(), 99);
        let restored = LocalPreKeys::from_pickle(&keys.pickle()).unwrap();
        assert!(restored == keys);

        let bundle = PreKeyBundle {
            identity: id.public(),
            signed_prekey: keys.signed_prekey(),
            one_time_prekey: batch.first().cloned(),
        };
        bundle.clone().verify().unwrap();
        let mut forged = bundle;
        forged.signed_prekey.id += 1;
        assert_eq!(
            forged.verify().err(),
            Some(PreKeyError::InvalidSignedPreKey)
        );
    }
}
