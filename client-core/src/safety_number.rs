//! Safety numbers: a stable, human-comparable fingerprint of two identities.
//!
//! Each side's fingerprint is SHA-512 iterated [`SAFETY_NUMBER_ITERATIONS`] times:
//!
//! ```text
//! h0 = SHA-512(version (u16) || "hush/v1/safety-number" || signing || dh
//!              || stable_id length (u32) || stable_id)
//! hi = SHA-512(h(i-1) || signing || dh)
//! ```
//! The first 30 bytes give six 5-digit groups (each 5-byte big-endian chunk mod 100000); the
//! two 30-digit halves are sorted so both people see the same 60 digits. The QR form is
//! `version (u8) || local fingerprint (32) || remote fingerprint (32)`.

use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use crate::identity::PublicIdentity;
use crate::limits::SAFETY_NUMBER_ITERATIONS;

/// Version of the safety number computation and QR form.
pub const SAFETY_NUMBER_VERSION: u8 = 1;
/// Domain separation in the first fingerprint hash.
const FINGERPRINT_LABEL: &[u8] = b"hush/v1/safety-number";
/// Length of the QR byte form.
pub const SAFETY_NUMBER_QR_LEN: usize = 65;

/// Why a scanned QR code could not be compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SafetyNumberError {
    /// The code was made by a different safety number version.
    #[error("unknown safety number version")]
    UnknownVersion,
    /// The code is not a safety number.
    #[error("malformed safety number code")]
    Malformed,
}

/// The safety number between us and a contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafetyNumber {
    local: [u8; 32],
    remote: [u8; 32],
    digits: String,
}

impl SafetyNumber {
    /// Computes the safety number. `local_id` and `remote_id` are stable account identifiers
    /// (e.g. mailbox ids) bound into each side's fingerprint.
    #[must_use]
    pub fn new(
        local_id: &[u8],
        local: &PublicIdentity,
        remote_id: &[u8],
        remote: &PublicIdentity,
    ) -> Self {
        let local = fingerprint(local_id, local);
        let remote = fingerprint(remote_id, remote);
        let (local_digits, remote_digits) = (digits(&local), digits(&remote));
        let digits = if local_digits <= remote_digits {
            local_digits + &remote_digits
        } else {
            remote_digits + &local_digits
        };
        Self {
            local: prefix32(&local),
            remote: prefix32(&remote),
            digits,
        }
    }

    /// The 60 digits in 12 groups of five, separated by spaces; the same on both phones.
    #[must_use]
    pub fn displayable(&self) -> String {
        let chars: Vec<char> = self.digits.chars().collect();
        chars
            .chunks(5)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The QR-friendly byte form of our side's view.
    #[must_use]
    pub fn qr_bytes(&self) -> Vec<u8> {
        [&[SAFETY_NUMBER_VERSION][..], &self.local, &self.remote].concat()
    }

    /// True if this safety number's remote side is `remote` under the stable id `remote_id`,
    /// i.e. it is the number the user compared for exactly that identity.
    pub(crate) fn is_for_remote(&self, remote_id: &[u8], remote: &PublicIdentity) -> bool {
        prefix32(&fingerprint(remote_id, remote))
            .ct_eq(&self.remote)
            .into()
    }

    /// Compares a code scanned from the contact's screen (their local is our remote).
    ///
    /// # Errors
    /// [`SafetyNumberError`] if the code is not a safety number of this version.
    pub fn matches_scanned(&self, scanned: &[u8]) -> Result<bool, SafetyNumberError> {
        let (&version, rest) = scanned.split_first().ok_or(SafetyNumberError::Malformed)?;
        if version != SAFETY_NUMBER_VERSION {
            return Err(SafetyNumberError::UnknownVersion);
        }
        let (their_local, rest) = rest
            .split_first_chunk::<32>()
            .ok_or(SafetyNumberError::Malformed)?;
        let their_remote: &[u8; 32] = rest.try_into().map_err(|_| SafetyNumberError::Malformed)?;
        let same = their_local.ct_eq(&self.remote) & their_remote.ct_eq(&self.local);
        Ok(same.into())
    }
}

fn fingerprint(stable_id: &[u8], identity: &PublicIdentity) -> [u8; 64] {
    let key = identity.key_bytes();
    let id_len = u32::try_from(stable_id.len()).unwrap_or(u32::MAX);
    let mut hash = Sha512::new()
        .chain_update(u16::from(SAFETY_NUMBER_VERSION).to_be_bytes())
        .chain_update(FINGERPRINT_LABEL)
        .chain_update(key)
        .chain_update(id_len.to_be_bytes())
        .chain_update(stable_id)
        .finalize();
    for _ in 0..SAFETY_NUMBER_ITERATIONS {
        hash = Sha512::new()
            .chain_update(hash)
            .chain_update(key)
            .finalize();
    }
    hash.into()
}

fn digits(fingerprint: &[u8; 64]) -> String {
    fingerprint
        .chunks_exact(5)
        .take(6)
        .map(|chunk| {
            let value = chunk.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            format!("{:05}", value % 100_000)
        })
        .collect()
}

fn prefix32(bytes: &[u8; 64]) -> [u8; 32] {
    bytes
        .split_first_chunk::<32>()
        .map(|(head, _)| *head)
        .unwrap_or([0; 32])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IdentityKeyPair;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn both_sides_see_the_same_number_and_codes_cross_match() {
        let mut rng = StdRng::seed_from_u64(5);
        let alice = IdentityKeyPair::generate(&mut rng).public();
        let bob = IdentityKeyPair::generate(&mut rng).public();
        let at_alice = SafetyNumber::new(b"alice", &alice, b"bob", &bob);
        let at_bob = SafetyNumber::new(b"bob", &bob, b"alice", &alice);
        let shown = at_alice.displayable();
        assert_eq!(shown, at_bob.displayable());
        assert_eq!(shown.len(), 60 + 11);
        assert!(
            shown
                .split(' ')
                .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit()))
        );
        // Stable: same inputs, same number.
        assert_eq!(at_alice, SafetyNumber::new(b"alice", &alice, b"bob", &bob));

        assert_eq!(at_alice.qr_bytes().len(), SAFETY_NUMBER_QR_LEN);
        assert_eq!(at_alice.matches_scanned(&at_bob.qr_bytes()), Ok(true));
        assert_eq!(at_bob.matches_scanned(&at_alice.qr_bytes()), Ok(true));
        assert_eq!(at_alice.matches_scanned(&at_alice.qr_bytes()), Ok(false));

        let mallory = IdentityKeyPair::generate(&mut rng).public();
        let at_bob_mitm = SafetyNumber::new(b"bob", &bob, b"alice", &mallory);
        assert_ne!(at_bob_mitm.displayable(), shown);
        assert_eq!(at_alice.matches_scanned(&at_bob_mitm.qr_bytes()), Ok(false));

        let mut code = at_bob.qr_bytes();
        code[0] = 9;
        assert_eq!(
            at_alice.matches_scanned(&code),
            Err(SafetyNumberError::UnknownVersion)
        );
        assert_eq!(
            at_alice.matches_scanned(&at_bob.qr_bytes()[..10]),
            Err(SafetyNumberError::Malformed)
        );
        assert_eq!(
            at_alice.matches_scanned(&[]),
            Err(SafetyNumberError::Malformed)
        );
    }
}
