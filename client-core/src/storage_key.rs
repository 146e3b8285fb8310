//! The key that encrypts the local store, and the AEAD that uses it.
//!
//! Every value the local store writes is sealed with XChaCha20-Poly1305 under the storage key,
//! with a fresh random 24-byte nonce (random nonces are safe at this size) and the value's
//! location (tree and key) as associated data, so a value cannot be moved to another slot
//! unnoticed. The key comes from a passphrase through Argon2id, or is handed in by an app that
//! keeps it in the platform keystore.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Nonce length of XChaCha20-Poly1305.
pub const NONCE_LEN: usize = 24;

/// Argon2id cost settings, stored (unencrypted) beside the salt so the same key can be derived
/// again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl KdfParams {
    /// The default for real accounts: 64 MiB, 3 passes, 1 lane (RFC 9106's second
    /// recommended setting).
    pub const INTERACTIVE: Self = Self {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };

    /// A deliberately cheap setting for tests and throwaway accounts (1 MiB, 1 pass). Never
    /// use it for an account whose history matters: it makes passphrase guessing cheap.
    pub const INSECURE_FAST: Self = Self {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };
}

/// Why the storage key could not be made or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageKeyError {
    /// The KDF parameters are out of Argon2's range.
    #[error("invalid key-derivation parameters")]
    Params,
    /// A sealed value failed authentication: wrong key, or damaged/moved data.
    #[error("stored data could not be decrypted (wrong passphrase or damaged store)")]
    Open,
    /// The system's random number generator failed.
    #[error("no randomness available")]
    Randomness,
}

/// The 32-byte storage key. Wiped on drop; `Debug` shows nothing of it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct StorageKey([u8; 32]);

impl std::fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StorageKey(<redacted>)")
    }
}

impl StorageKey {
    /// A key handed in by the app (e.g. from the platform keystore).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Derives the key from a passphrase with Argon2id.
    pub fn from_passphrase(
        passphrase: &[u8],
        salt: &[u8; 16],
        params: KdfParams,
    ) -> Result<Self, StorageKeyError> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            Some(32),
        )
        .map_err(|_| StorageKeyError::Params)?;
        let mut key = [0u8; 32];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase, salt, &mut key)
            .map_err(|_| StorageKeyError::Params)?;
        Ok(Self(key))
    }

    /// Encrypts `plaintext` for the slot named by `aad`: `nonce ‖ ciphertext ‖ tag`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, StorageKeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| StorageKeyError::Randomness)?;
        let cipher = XChaCha20Poly1305::new(&self.0.into());
        let ciphertext = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| StorageKeyError::Open)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Decrypts what [`StorageKey::seal`] made for the same slot.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, StorageKeyError> {
        let (nonce, ciphertext) = sealed
            .split_first_chunk::<NONCE_LEN>()
            .ok_or(StorageKeyError::Open)?;
        let cipher = XChaCha20Poly1305::new(&self.0.into());
        cipher
            .decrypt(
                &XNonce::from(*nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| StorageKeyError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_binds_key_and_slot() {
        let salt = [7u8; 16];
        let key =
            StorageKey::from_passphrase(b"correct horse", &salt, KdfParams::INSECURE_FAST).unwrap();
        let sealed = key.seal(b"messages/1", b"hello").unwrap();
        assert_eq!(key.open(b"messages/1", &sealed).unwrap(), b"hello");
        assert_eq!(
            key.open(b"messages/2", &sealed),
            Err(StorageKeyError::Open),
            "moved"
        );
        let wrong = StorageKey::from_passphrase(b"wrong", &salt, KdfParams::INSECURE_FAST).unwrap();
        assert_eq!(
            wrong.open(b"messages/1", &sealed),
            Err(StorageKeyError::Open)
        );
        let mut flipped = sealed.clone();
        flipped[30] ^= 1;
        assert_eq!(
            key.open(b"messages/1", &flipped),
            Err(StorageKeyError::Open)
        );
        assert_eq!(
            key.open(b"messages/1", &[1, 2, 3]),
            Err(StorageKeyError::Open)
        );
        assert_ne!(
            key.seal(b"a", b"x").unwrap(),
            key.seal(b"a", b"x").unwrap(),
            "fresh nonces"
        );
        assert_eq!(format!("{key:?}"), "StorageKey(<redacted>)");
    }
}
