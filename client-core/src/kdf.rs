//! Key derivation: HKDF-SHA256 and the HMAC-SHA256 chain step, with every label in one place.

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::secret::Secret32;

/// HKDF info for the X3DH shared secret.
pub(crate) const INFO_X3DH: &[u8] = b"hush/v1/x3dh";
/// HKDF info for the Double Ratchet root step (`KDF_RK`).
pub(crate) const INFO_ROOT: &[u8] = b"hush/v1/ratchet/root";
/// HKDF info for a 1:1 message key's AEAD key.
pub(crate) const INFO_MESSAGE: &[u8] = b"hush/v1/ratchet/message";
/// HKDF info for a group message key's AEAD key.
pub(crate) const INFO_GROUP_MESSAGE: &[u8] = b"hush/v1/sender-key/message";

/// HMAC input that derives a message key from a chain key (Signal's `0x01`).
const CHAIN_MESSAGE_SEED: u8 = 0x01;
/// HMAC input that derives the next chain key (Signal's `0x02`).
const CHAIN_NEXT_SEED: u8 = 0x02;

/// HKDF-SHA256 with a compile-time output length (always far below HKDF's 255×32 limit).
pub(crate) fn hkdf<const N: usize>(salt: &[u8], ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; N]> {
    const { assert!(N <= 255 * 32) };
    let mut okm = Zeroizing::new([0u8; N]);
    // Cannot fail: N is checked above.
    let _ = Hkdf::<Sha256>::new(Some(salt), ikm).expand(info, okm.as_mut());
    okm
}

/// HMAC-SHA256 keyed by 32 bytes.
fn hmac(key: &[u8; 32], data: &[u8]) -> Secret32 {
    // A 32-byte key is zero-padded to the 64-byte block by HMAC itself; doing it here gives the
    // identical MAC through the infallible constructor.
    let mut block = Zeroizing::new([0u8; 64]);
    if let Some((head, _)) = block.split_first_chunk_mut::<32>() {
        *head = *key;
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&(*block).into());
    mac.update(data);
    let mut out: [u8; 32] = mac.finalize().into_bytes().into();
    let secret = Secret32::from_bytes(out);
    zeroize::Zeroize::zeroize(&mut out);
    secret
}

/// One symmetric-ratchet step: `(next chain key, message key)`.
pub(crate) fn chain_step(chain_key: &Secret32) -> (Secret32, Secret32) {
    let message = hmac(chain_key.as_bytes(), &[CHAIN_MESSAGE_SEED]);
    let next = hmac(chain_key.as_bytes(), &[CHAIN_NEXT_SEED]);
    (next, message)
}

/// `KDF_RK`: `(new root key, chain key)` from the root key and a DH output.
pub(crate) fn root_step(root_key: &Secret32, dh_output: &[u8; 32]) -> (Secret32, Secret32) {
    let okm = hkdf::<64>(root_key.as_bytes(), dh_output, INFO_ROOT);
    let (root, chain) = split_pair(&okm);
    (root, chain)
}

/// Splits 64 bytes into two secrets.
pub(crate) fn split_pair(okm: &[u8; 64]) -> (Secret32, Secret32) {
    let mut first = [0u8; 32];
    let mut second = [0u8; 32];
    if let Some((head, tail)) = okm.split_first_chunk::<32>() {
        first = *head;
        if let Some((tail, _)) = tail.split_first_chunk::<32>() {
            second = *tail;
        }
    }
    let pair = (Secret32::from_bytes(first), Secret32::from_bytes(second));
    zeroize::Zeroize::zeroize(&mut first);
    zeroize::Zeroize::zeroize(&mut second);
    pair
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2_with_padded_key() {
        // RFC 4231 test case 2 uses the 4-byte key "Jefe"; zero-padding to 32 bytes is the same
        // HMAC key, so the published tag must come out.
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        let tag = hmac(&key, b"what do ya want for nothing?");
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let hex: String = tag.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }

    #[test]
    fn chain_step_outputs_differ() {
        let ck = Secret32::from_bytes([7; 32]);
        let (next, mk) = chain_step(&ck);
        assert_ne!(next, mk);
        assert_ne!(next, ck);
    }
}
