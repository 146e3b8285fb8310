//! The Double Ratchet (Signal specification, revision 4), without header encryption.
//!
//! A DH ratchet step runs whenever a message arrives under a new ratchet key from the peer;
//! between steps each direction advances a symmetric chain. Decryption works on copies and
//! only commits when the AEAD tag verified *and* the padding was well formed, so a forged,
//! replayed or badly padded message changes nothing.

use core::fmt;

use rand_core::CryptoRng;
use zeroize::ZeroizeOnDrop;

use crate::chain::Chain;
use crate::cipher;
use crate::codec::{DecodeError, Reader, Writer};
use crate::kdf::{self, INFO_MESSAGE};
use crate::limits::{MAX_SKIP, MAX_SKIPPED_KEYS};
use crate::message::RatchetMessage;
use crate::padding;
use crate::secret::{DhKeyPair, Secret32};
use crate::skipped_keys::SkippedKeys;

/// Double Ratchet state for one session. Not `Clone`: a copy that encrypts would reuse
/// message keys.
#[derive(PartialEq)]
pub(crate) struct Ratchet {
    root_key: Secret32,
    /// Our current ratchet key pair (`DHs`).
    our_key: DhKeyPair,
    /// The peer's current ratchet public key (`DHr`).
    their_key: Option<[u8; 32]>,
    sending: Option<Chain>,
    /// Length of our previous sending chain (`PN`).
    previous_sending_len: u32,
    receiving: Option<Chain>,
    skipped: SkippedKeys<[u8; 32]>,
}

impl ZeroizeOnDrop for Ratchet {}

impl Ratchet {
    /// `RatchetInitAlice`: the initiator's first sending chain, towards the signed prekey.
    /// `None` if the signed prekey is a low-order point.
    pub(crate) fn initiator(
        shared: Secret32,
        their_signed_prekey: [u8; 32],
        rng: &mut impl CryptoRng,
    ) -> Option<Self> {
        let our_key = DhKeyPair::generate(rng);
        let dh = our_key.agree(&their_signed_prekey)?;
        let (root_key, sending) = kdf::root_step(&shared, dh.as_bytes());
        Some(Self {
            root_key,
            our_key,
            their_key: Some(their_signed_prekey),
            sending: Some(Chain::new(sending, 0)),
            previous_sending_len: 0,
            receiving: None,
            skipped: SkippedKeys::new(MAX_SKIPPED_KEYS),
        })
    }

    /// `RatchetInitBob`: the responder starts with its signed prekey as ratchet key.
    pub(crate) fn responder(shared: Secret32, our_signed_prekey: DhKeyPair) -> Self {
        Self {
            root_key: shared,
            our_key: our_signed_prekey,
            their_key: None,
            sending: None,
            previous_sending_len: 0,
            receiving: None,
            skipped: SkippedKeys::new(MAX_SKIPPED_KEYS),
        }
    }

    /// Encrypts an already padded plaintext (the AEAD nonce comes from `rng`). `None` if there
    /// is no sending chain yet or its index space is used up.
    pub(crate) fn encrypt(
        &mut self,
        rng: &mut impl CryptoRng,
        session_ad: &[u8],
        padded: &[u8],
    ) -> Option<RatchetMessage> {
        let (index, key) = self.sending.as_mut()?.next_key()?;
        let mut message = RatchetMessage {
            ratchet_key: self.our_key.public(),
            previous_chain_len: self.previous_sending_len,
            index,
            ciphertext: Vec::new(),
        };
        let aad = [session_ad, &message.header_bytes()].concat();
        message.ciphertext = cipher::seal(rng, &key, INFO_MESSAGE, &aad, padded);
        Some(message)
    }

    /// Decrypts a message and removes its padding; `None` on any failure (including malformed
    /// padding), leaving the state unchanged.
    pub(crate) fn decrypt(
        &mut self,
        rng: &mut impl CryptoRng,
        session_ad: &[u8],
        message: &RatchetMessage,
    ) -> Option<Vec<u8>> {
        let aad = [session_ad, &message.header_bytes()].concat();
        // Authenticate, decrypt and unpad before anything is committed.
        let open = |key: &Secret32| {
            cipher::open(key, INFO_MESSAGE, &aad, &message.ciphertext)
                .and_then(|padded| padding::unpad(padded).ok())
        };

        // A late message whose key was stored when we skipped past it.
        if let Some(key) = self.skipped.get(&message.ratchet_key, message.index) {
            let plaintext = open(key)?;
            self.skipped.remove(&message.ratchet_key, message.index);
            return Some(plaintext);
        }

        // The current receiving chain.
        if self.their_key == Some(message.ratchet_key) {
            let advance = self
                .receiving
                .as_ref()?
                .advance_to(message.index, MAX_SKIP)?;
            let plaintext = open(&advance.key)?;
            self.receiving = Some(advance.chain);
            self.skipped.extend(message.ratchet_key, advance.skipped);
            return Some(plaintext);
        }

        // A new ratchet key: finish the old receiving chain, then step the DH ratchet.
        let old_chain_keys = match (&self.receiving, self.their_key) {
            (Some(chain), Some(their_key)) => Some((
                their_key,
                chain.keys_until(message.previous_chain_len, MAX_SKIP)?,
            )),
            _ => None,
        };
        let dh = self.our_key.agree(&message.ratchet_key)?;
        let (root_key, receiving_key) = kdf::root_step(&self.root_key, dh.as_bytes());
        let advance = Chain::new(receiving_key, 0).advance_to(message.index, MAX_SKIP)?;
        let plaintext = open(&advance.key)?;

        // Authentic: commit, and start our next sending chain under a fresh ratchet key.
        let our_key = DhKeyPair::generate(rng);
        let dh = our_key.agree(&message.ratchet_key)?;
        let (root_key, sending_key) = kdf::root_step(&root_key, dh.as_bytes());
        if let Some((their_key, keys)) = old_chain_keys {
            self.skipped.extend(their_key, keys);
        }
        self.skipped.extend(message.ratchet_key, advance.skipped);
        self.previous_sending_len = self.sending.as_ref().map_or(0, Chain::index);
        self.sending = Some(Chain::new(sending_key, 0));
        self.receiving = Some(advance.chain);
        self.their_key = Some(message.ratchet_key);
        self.our_key = our_key;
        self.root_key = root_key;
        Some(plaintext)
    }

    /// How many skipped message keys are stored.
    pub(crate) fn skipped_len(&self) -> usize {
        self.skipped.len()
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.bytes(self.root_key.as_bytes())
            .bytes(self.our_key.secret_bytes());
        match &self.their_key {
            Some(key) => w.u8(1).bytes(key),
            None => w.u8(0),
        };
        encode_chain(w, self.sending.as_ref());
        w.u32(self.previous_sending_len);
        encode_chain(w, self.receiving.as_ref());
        self.skipped.encode(w, |w, key| {
            w.bytes(key);
        });
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let root_key = Secret32::from_bytes(r.array()?);
        let our_key = DhKeyPair::from_secret_bytes(r.array()?);
        let their_key = if r.bool()? { Some(r.array()?) } else { None };
        let sending = decode_chain(r)?;
        let previous_sending_len = r.u32()?;
        let receiving = decode_chain(r)?;
        let skipped = SkippedKeys::decode(r, MAX_SKIPPED_KEYS, |r| r.array())?;
        Ok(Self {
            root_key,
            our_key,
            their_key,
            sending,
            previous_sending_len,
            receiving,
            skipped,
        })
    }

    /// Bytes a pickle of this state needs, roughly.
    pub(crate) fn encoded_len_hint(&self) -> usize {
        200 + self.skipped.len() * 68
    }
}

fn encode_chain(w: &mut Writer, chain: Option<&Chain>) {
    match chain {
        Some(chain) => w.u8(1).bytes(chain.key().as_bytes()).u32(chain.index()),
        None => w.u8(0),
    };
}

fn decode_chain(r: &mut Reader<'_>) -> Result<Option<Chain>, DecodeError> {
    if !r.bool()? {
        return Ok(None);
    }
    let key = Secret32::from_bytes(r.array()?);
    Ok(Some(Chain::new(key, r.u32()?)))
}

impl fmt::Debug for Ratchet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ratchet")
            .field("our_key", &self.our_key)
            .field("sending_index", &self.sending.as_ref().map(Chain::index))
            .field(
                "receiving_index",
                &self.receiving.as_ref().map(Chain::index),
            )
            .field("skipped_keys", &self.skipped.len())
            .finish_non_exhaustive()
    }
}
