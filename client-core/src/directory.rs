//! Conversions between client-core's key types and the relay directory's wire shapes
//! (`hush_protocol::directory`). The fields map one to one (see `docs/crypto.md`).

use hush_protocol::{IdentityKeys, OneTimePrekey, PrekeyBundle, Signature, SignedPrekey};

use crate::identity::PublicIdentity;
use crate::prekey::{OneTimePreKey, PreKeyBundle, SignedPreKey};

/// The wire shape of a public identity.
pub fn identity_to_wire(identity: &PublicIdentity) -> IdentityKeys {
    IdentityKeys {
        signing: identity.signing,
        dh: identity.dh,
        dh_signature: Signature(identity.dh_signature),
    }
}

/// A public identity from its wire shape (unverified: call `verify()`).
pub fn identity_from_wire(identity: &IdentityKeys) -> PublicIdentity {
    PublicIdentity {
        signing: identity.signing,
        dh: identity.dh,
        dh_signature: identity.dh_signature.0,
    }
}

/// The wire shape of a signed prekey.
pub fn signed_prekey_to_wire(prekey: &SignedPreKey) -> SignedPrekey {
    SignedPrekey {
        id: prekey.id,
        public: prekey.public,
        signature: Signature(prekey.signature),
    }
}

/// The wire shape of a one-time prekey.
pub fn one_time_prekey_to_wire(prekey: &OneTimePreKey) -> OneTimePrekey {
    OneTimePrekey {
        id: prekey.id,
        public: prekey.public,
    }
}

/// A fetched bundle, unverified (call `verify()` before X3DH).
pub fn bundle_from_wire(bundle: &PrekeyBundle) -> PreKeyBundle {
    PreKeyBundle {
        identity: identity_from_wire(&bundle.identity),
        signed_prekey: SignedPreKey {
            id: bundle.signed_prekey.id,
            public: bundle.signed_prekey.public,
            signature: bundle.signed_prekey.signature.0,
        },
        one_time_prekey: bundle.one_time.map(|k| OneTimePreKey {
            id: k.id,
            public: k.public,
        }),
    }
}
