//! Secret key material wrappers: wiped on drop, redacted in `Debug`.

use core::fmt;

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, SharedSecret, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// 32 secret bytes (a root, chain or message key).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct Secret32([u8; 32]);

impl Secret32 {
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(crate) fn random(rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for Secret32 {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for Secret32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// An X25519 key pair whose secret half is wiped on drop.
#[derive(Clone)]
pub(crate) struct DhKeyPair {
    secret: StaticSecret,
    public: PublicKey,
}

impl DhKeyPair {
    pub(crate) fn generate(rng: &mut impl CryptoRng) -> Self {
        Self::from_secret(StaticSecret::random_from_rng(rng))
    }

    pub(crate) fn from_secret_bytes(bytes: [u8; 32]) -> Self {
        Self::from_secret(StaticSecret::from(bytes))
    }

    fn from_secret(secret: StaticSecret) -> Self {
        let public = PublicKey::from(&secret);
        Self { secret, public }
    }

    pub(crate) fn public(&self) -> [u8; 32] {
        self.public.to_bytes()
    }

    pub(crate) fn secret_bytes(&self) -> &[u8; 32] {
        self.secret.as_bytes()
    }

    /// X25519 with `their_public`; `None` when the result is all zeros (a low-order point), so
    /// a malicious peer cannot force a known shared secret.
    pub(crate) fn agree(&self, their_public: &[u8; 32]) -> Option<SharedSecret> {
        let shared = self.secret.diffie_hellman(&PublicKey::from(*their_public));
        shared.was_contributory().then_some(shared)
    }
}

impl ZeroizeOnDrop for DhKeyPair {}

impl PartialEq for DhKeyPair {
    fn eq(&self, other: &Self) -> bool {
        self.secret.as_bytes().ct_eq(other.secret.as_bytes()).into()
    }
}

impl fmt::Debug for DhKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DhKeyPair")
            .field("public", &public_prefix(self.public.as_bytes()))
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// True if `bytes` is the canonical encoding of an X25519 public key: the unused top bit is
/// clear and the value is below 2^255 - 19. X25519 ignores the top bit and reduces the rest,
/// so without this check two wire encodings would name the same key and a flipped bit could go
/// unnoticed.
pub(crate) fn is_canonical_x25519(bytes: &[u8; 32]) -> bool {
    let Some((&last, body)) = bytes.split_last() else {
        return false;
    };
    if last & 0x80 != 0 {
        return false;
    }
    // Values >= p = 2^255 - 19 are 0x7f ff .. ff (ed..ff) in little-endian.
    let Some((&first, middle)) = body.split_first() else {
        return false;
    };
    !(last == 0x7f && middle.iter().all(|&b| b == 0xff) && first >= 0xed)
}

/// The first four bytes of a *public* key in hex, enough to tell keys apart in logs.
pub(crate) fn public_prefix(bytes: &[u8]) -> String {
    let mut out: String = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_x25519_encodings() {
        assert!(is_canonical_x25519(&[0; 32]));
        let mut p = [0xff; 32];
        p[31] = 0x7f;
        p[0] = 0xec;
        assert!(is_canonical_x25519(&p), "p - 1");
        p[0] = 0xed;
        assert!(!is_canonical_x25519(&p), "p");
        let mut top = [0; 32];
        top[31] = 0x80;
        assert!(!is_canonical_x25519(&top));
    }
}
