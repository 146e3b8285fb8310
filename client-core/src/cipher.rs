//! The message AEAD: XChaCha20-Poly1305 keyed by a single-use message key, with a fresh random
//! 24-byte nonce per encryption.
//!
//! The AEAD key is derived from the message key with HKDF; the nonce is drawn from the caller's
//! RNG inside [`seal`] (no caller ever supplies one) and travels in front of the ciphertext:
//! `sealed = nonce (24) || ciphertext || tag (16)`. A message key is meant to encrypt exactly one
//! message, but if old state is ever restored (a crash before the pickle was saved, a backup)
//! the same message key encrypts again: with a random 192-bit nonce that is still two
//! independent XChaCha20-Poly1305 encryptions under one key, not a reused keystream.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand_core::CryptoRng;

use crate::kdf;
use crate::secret::Secret32;

/// The Poly1305 tag length appended to every ciphertext.
pub(crate) const TAG_LEN: usize = 16;
/// The random nonce carried in front of every ciphertext.
pub(crate) const NONCE_LEN: usize = 24;
/// Bytes a sealed message adds to its (padded) plaintext: nonce and tag.
pub(crate) const SEALED_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// The AEAD instance for one message key under `info`.
fn instance(message_key: &Secret32, info: &[u8]) -> XChaCha20Poly1305 {
    let okm = kdf::hkdf::<32>(&[0u8; 32], message_key.as_bytes(), info);
    let mut key = Key::from(*okm);
    let cipher = XChaCha20Poly1305::new(&key);
    zeroize::Zeroize::zeroize(key.as_mut_slice());
    cipher
}

/// Encrypts `plaintext` with associated data `aad` under a fresh random nonce from `rng`;
/// returns `nonce || ciphertext || tag`.
pub(crate) fn seal(
    rng: &mut impl CryptoRng,
    message_key: &Secret32,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    // XChaCha20-Poly1305 only fails for inputs over 256 GiB; plaintexts are capped far below.
    let ciphertext = instance(message_key, info)
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap_or_default();
    [&nonce[..], &ciphertext].concat()
}

/// Splits off the nonce, then decrypts and authenticates; `None` on any failure.
pub(crate) fn open(
    message_key: &Secret32,
    info: &[u8],
    aad: &[u8],
    sealed: &[u8],
) -> Option<Vec<u8>> {
    let (nonce, ciphertext) = sealed.split_first_chunk::<NONCE_LEN>()?;
    instance(message_key, info)
        .decrypt(
            &XNonce::from(*nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn seals_and_opens_and_rejects_wrong_aad_or_key() {
        let mut rng = StdRng::seed_from_u64(1);
        let mk = Secret32::from_bytes([1; 32]);
        let ct = seal(&mut rng, &mk, b"info", b"aad", b"hello");
        assert_eq!(ct.len(), 5 + SEALED_OVERHEAD);
        assert_eq!(
            open(&mk, b"info", b"aad", &ct).as_deref(),
            Some(&b"hello"[..])
        );
        assert!(open(&mk, b"info", b"aae", &ct).is_none());
        assert!(open(&mk, b"infx", b"aad", &ct).is_none());
        assert!(open(&Secret32::from_bytes([2; 32]), b"info", b"aad", &ct).is_none());
        assert!(open(&mk, b"info", b"aad", &ct[..NONCE_LEN]).is_none());
        assert!(open(&mk, b"info", b"aad", &[]).is_none());
    }

    #[test]
    fn resealing_under_one_message_key_uses_a_fresh_nonce() {
        // What a restored (rolled back) state does: the same message key seals twice.
        let mut rng = StdRng::seed_from_u64(2);
        let mk = Secret32::from_bytes([3; 32]);
        let first = seal(&mut rng, &mk, b"info", b"aad", &[0u8; 64]);
        let second = seal(&mut rng, &mk, b"info", b"aad", &[0u8; 64]);
        assert_ne!(first[..NONCE_LEN], second[..NONCE_LEN]);
        // Same plaintext, different keystream: the ciphertexts share nothing.
        assert_ne!(first[NONCE_LEN..], second[NONCE_LEN..]);
    }
}
