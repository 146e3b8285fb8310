//! The message AEAD: ChaCha20-Poly1305 keyed by a single-use message key.
//!
//! Each message key is used for exactly one message, so the AEAD key *and* nonce are both
//! derived from it with HKDF; no caller ever supplies a nonce.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::kdf;
use crate::secret::Secret32;

/// The Poly1305 tag length appended to every ciphertext.
pub(crate) const TAG_LEN: usize = 16;

/// The AEAD instance and nonce for one message key under `info`.
fn instance(message_key: &Secret32, info: &[u8]) -> (ChaCha20Poly1305, Nonce) {
    let okm = kdf::hkdf::<44>(&[0u8; 32], message_key.as_bytes(), info);
    let mut key = [0u8; 32];
    let mut nonce = [0u8; 12];
    if let Some((k, rest)) = okm.split_first_chunk::<32>() {
        key = *k;
        if let Some((n, _)) = rest.split_first_chunk::<12>() {
            nonce = *n;
        }
    }
    let mut key = Key::from(key);
    let cipher = ChaCha20Poly1305::new(&key);
    zeroize::Zeroize::zeroize(key.as_mut_slice());
    (cipher, Nonce::from(nonce))
}

/// Encrypts `plaintext` with associated data `aad`.
pub(crate) fn seal(message_key: &Secret32, info: &[u8], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let (cipher, nonce) = instance(message_key, info);
    // ChaCha20-Poly1305 only fails for inputs over 256 GiB; plaintexts are capped far below.
    cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap_or_default()
}

/// Decrypts and authenticates; `None` on any failure.
pub(crate) fn open(
    message_key: &Secret32,
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Option<Vec<u8>> {
    let (cipher, nonce) = instance(message_key, info);
    cipher
        .decrypt(
            &nonce,
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

    #[test]
    fn seals_and_opens_and_rejects_wrong_aad_or_key() {
        let mk = Secret32::from_bytes([1; 32]);
        let ct = seal(&mk, b"info", b"aad", b"hello");
        assert_eq!(ct.len(), 5 + TAG_LEN);
        assert_eq!(
            open(&mk, b"info", b"aad", &ct).as_deref(),
            Some(&b"hello"[..])
        );
        assert!(open(&mk, b"info", b"aae", &ct).is_none());
        assert!(open(&mk, b"infx", b"aad", &ct).is_none());
        assert!(open(&Secret32::from_bytes([2; 32]), b"info", b"aad", &ct).is_none());
    }
}
