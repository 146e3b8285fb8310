//! Trust on first use, and the typed event raised when a contact's identity key changes.
//!
//! The app keeps one [`TrustedIdentity`] per contact. Whenever it sees the contact's identity
//! (a fetched bundle, an initial message), it calls [`TrustedIdentity::check`]; a changed key
//! yields [`IdentityCheck::Changed`] with an [`IdentityKeyChanged`] event the app must show
//! before trusting the new key with [`TrustedIdentity::accept_change`].

use crate::identity::PublicIdentity;
use crate::safety_number::SafetyNumber;

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
    #[must_use]
    pub fn mark_verified(self, _safety_number: &SafetyNumber) -> Self {
        Self {
            verified: true,
            ..self
        }
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
    #[must_use]
    pub fn accept_change(self, change: IdentityKeyChanged) -> Self {
        Self {
            identity: change.current,
            verified: false,
        }
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
        let trusted = TrustedIdentity::first_use(old.clone()).mark_verified(&number);
        assert_eq!(trusted.check(&old), IdentityCheck::Unchanged);
        let IdentityCheck::Changed(change) = trusted.check(&new) else {
            panic!("expected a change event");
        };
        assert_eq!(change.previous, old);
        assert_eq!(change.current, new);
        assert!(change.was_verified);
        let trusted = trusted.accept_change(*change);
        assert_eq!(trusted.identity(), &new);
        assert!(!trusted.is_verified());
        assert_eq!(trusted.check(&new), IdentityCheck::Unchanged);
    }
}
