//! Trust on first use, and the typed event raised when a contact's identity key changes.
//!
//! The app keeps one [`TrustedIdentity`] per contact. Whenever it sees the contact's identity
//! (a fetched bundle, an initial message), it calls [`TrustedIdentity::check`]; a changed key
//! yields [`IdentityCheck::Changed`] with an [`IdentityKeyChanged`] event the app must show
//! before trusting the new key with [`TrustedIdentity::accept_change`]. Both that and
//! [`TrustedIdentity::mark_verified`] check that what they are given is about the identity
//! trusted right now, and change nothing otherwise.

use crate::identity::PublicIdentity;
use crate::safety_number::SafetyNumber;

/// Why a trust decision was refused. Nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The safety number was not computed for the trusted identity (and the given stable id):
    /// the user compared the number of some other key.
    #[error("safety number is not for the trusted identity")]
    SafetyNumberMismatch,
    /// The change event's `previous` identity is not the one trusted now: the event is stale
    /// (another change was accepted since) or belongs to another contact.
    #[error("identity change is not from the trusted identity")]
    StaleChange,
}

/// A contact's identity as we last accepted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedIdentity {
    identity: PublicIdentity,
    verified: bool,
}

/// A contact's identity key differs from the one we trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityKeyChanged {
    /// The identity we trusted until now.
    pub previous: PublicIdentity,
    /// The identity now presented.
    pub current: PublicIdentity,
    /// Whether the previous identity had been verified by safety number.
    pub was_verified: bool,
}

/// The outcome of comparing a presented identity with the trusted one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityCheck {
    /// Same keys as before.
    Unchanged,
    /// Different keys: warn the user.
    Changed(Box<IdentityKeyChanged>),
}

impl TrustedIdentity {
    /// Trusts `identity` on first use (not yet verified).
    #[must_use]
    pub fn first_use(identity: PublicIdentity) -> Self {
        Self {
            identity,
            verified: false,
        }
    }

    /// The trusted identity.
    #[must_use]
    pub fn identity(&self) -> &PublicIdentity {
        &self.identity
    }

    /// Whether the user verified this identity by safety number.
    #[must_use]
    pub fn is_verified(&self) -> bool {
        self.verified
    }

    /// Marks the identity verified after the user compared `safety_number` with the contact.
    /// `remote_id` is the contact's stable id the number was computed with (the `remote_id` of
    /// [`SafetyNumber::new`]).
    ///
    /// # Errors
    /// [`TrustError::SafetyNumberMismatch`] if the number's remote side is not this identity
    /// under `remote_id`; nothing changes then.
    pub fn mark_verified(
        &mut self,
        remote_id: &[u8],
        safety_number: &SafetyNumber,
    ) -> Result<(), TrustError> {
        if !safety_number.is_for_remote(remote_id, &self.identity) {
            return Err(TrustError::SafetyNumberMismatch);
        }
        self.verified = true;
        Ok(())
    }

    /// Compares a presented identity with the trusted one.
    #[must_use]
    pub fn check(&self, presented: &PublicIdentity) -> IdentityCheck {
        if self.identity.same_keys(presented) {
            IdentityCheck::Unchanged
        } else {
            IdentityCheck::Changed(Box::new(IdentityKeyChanged {
                previous: self.identity.clone(),
                current: presented.clone(),
                was_verified: self.verified,
            }))
        }
    }

    /// Trusts the new identity of a change the user has seen (unverified again).
    ///
    /// # Errors
    /// [`TrustError::StaleChange`] if `change.previous` is not the identity trusted now;
    /// nothing changes then.
    pub fn accept_change(&mut self, change: IdentityKeyChanged) -> Result<(), TrustError> {
        if !change.previous.same_keys(&self.identity) {
            return Err(TrustError::StaleChange);
        }
        self.identity = change.current;
        self.verified = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IdentityKeyPair;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn a_new_identity_key_raises_a_change_event() {
        let mut rng = StdRng::seed_from_u64(6);
        let me = IdentityKeyPair::generate(&mut rng).public();
        let old = IdentityKeyPair::generate(&mut rng).public();
        let new = IdentityKeyPair::generate(&mut rng).public();
        let number = SafetyNumber::new(b"me", &me, b"them", &old);
        let mut trusted = TrustedIdentity::first_use(old.clone());
        trusted.mark_verified(b"them", &number).unwrap();
        assert_eq!(trusted.check(&old), IdentityCheck::Unchanged);
        let IdentityCheck::Changed(change) = trusted.check(&new) else {
            panic!("expected a change event");
        };
        assert_eq!(change.previous, old);
        assert_eq!(change.current, new);
        assert!(change.was_verified);
        trusted.accept_change(*change).unwrap();
        assert_eq!(trusted.identity(), &new);
        assert!(!trusted.is_verified());
        assert_eq!(trusted.check(&new), IdentityCheck::Unchanged);
    }

    #[test]
    fn only_the_trusted_identitys_safety_number_verifies_it() {
        let mut rng = StdRng::seed_from_u64(7);
        let me = IdentityKeyPair::generate(&mut rng).public();
        let them = IdentityKeyPair::generate(&mut rng).public();
        let mallory = IdentityKeyPair::generate(&mut rng).public();
        let mut trusted = TrustedIdentity::first_use(them.clone());

        // The number the user compared is for another key (e.g. a MITM's), or for this key
        // under another contact's id, or it is our own side of the number: refused.
        let of_mallory = SafetyNumber::new(b"me", &me, b"them", &mallory);
        let other_id = SafetyNumber::new(b"me", &me, b"someone else", &them);
        let mirrored = SafetyNumber::new(b"them", &them, b"me", &me);
        for wrong in [&of_mallory, &other_id, &mirrored] {
            assert_eq!(
                trusted.mark_verified(b"them", wrong),
                Err(TrustError::SafetyNumberMismatch)
            );
            assert!(!trusted.is_verified());
        }

        let right = SafetyNumber::new(b"me", &me, b"them", &them);
        trusted.mark_verified(b"them", &right).unwrap();
        assert!(trusted.is_verified());
    }

    #[test]
    fn a_stale_change_event_is_refused() {
        let mut rng = StdRng::seed_from_u64(8);
        let a = IdentityKeyPair::generate(&mut rng).public();
        let b = IdentityKeyPair::generate(&mut rng).public();
        let c = IdentityKeyPair::generate(&mut rng).public();
        let mut trusted = TrustedIdentity::first_use(a.clone());
        let IdentityCheck::Changed(to_b) = trusted.check(&b) else {
            panic!("expected a change event");
        };
        let IdentityCheck::Changed(to_c) = trusted.check(&c) else {
            panic!("expected a change event");
        };
        trusted.accept_change(*to_b).unwrap();
        // `to_c` was raised against `a`, which is no longer trusted.
        assert_eq!(trusted.accept_change(*to_c), Err(TrustError::StaleChange));
        assert_eq!(trusted.identity(), &b);

        // An event about another contact is refused as well.
        let mut other = TrustedIdentity::first_use(c.clone());
        let IdentityCheck::Changed(about_b) = trusted.check(&a) else {
            panic!("expected a change event");
        };
        assert_eq!(other.accept_change(*about_b), Err(TrustError::StaleChange));
        assert_eq!(other.identity(), &c);
    }
}
