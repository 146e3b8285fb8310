//! X3DH key agreement (Signal specification, revision 1) over X25519 and HKDF-SHA256.
//!
//! ```text
//! DH1 = DH(IK_A, SPK_B)   DH2 = DH(EK_A, IK_B)   DH3 = DH(EK_A, SPK_B)   [DH4 = DH(EK_A, OPK_B)]
//! SK  = HKDF-SHA256(salt = 32 zero bytes, ikm = 32 x 0xFF || DH1 || DH2 || DH3 [|| DH4],
//!                   info = "hush/v1/x3dh"), 32 bytes
//! AD  = IK_A.signing || IK_A.dh || IK_B.signing || IK_B.dh
//! ```
//! Every DH output must be contributory (not all zeros), or the agreement fails.

use rand_core::CryptoRng;
use x25519_dalek::SharedSecret;
use zeroize::Zeroizing;

use crate::identity::{IdentityKeyPair, PublicIdentity};
use crate::kdf::{self, INFO_X3DH};
use crate::prekey::VerifiedPreKeyBundle;
use crate::secret::{DhKeyPair, Secret32};

/// Length of the session associated data (`AD`).
pub(crate) const ASSOCIATED_DATA_LEN: usize = 128;

/// What the initiator learns from X3DH.
pub(crate) struct Initiated {
    pub(crate) shared: Secret32,
    pub(crate) base_key: [u8; 32],
}

/// The initiator's half. `None` if any DH output is all zeros (a low-order key in the bundle).
pub(crate) fn initiate(
    ours: &IdentityKeyPair,
    bundle: &VerifiedPreKeyBundle,
    rng: &mut impl CryptoRng,
) -> Option<Initiated> {
    let ephemeral = DhKeyPair::generate(rng);
    let spk = bundle.signed_prekey().public;
    let dh1 = ours.dh().agree(&spk)?;
    let dh2 = ephemeral.agree(&bundle.identity().public().dh)?;
    let dh3 = ephemeral.agree(&spk)?;
    let dh4 = match bundle.one_time_prekey() {
        Some(otk) => Some(ephemeral.agree(&otk.public)?),
        None => None,
    };
    Some(Initiated {
        shared: derive(&dh1, &dh2, &dh3, dh4.as_ref()),
        base_key: ephemeral.public(),
    })
}

/// The responder's half, from the keys the initial message names.
pub(crate) fn respond(
    ours: &IdentityKeyPair,
    signed_prekey: &DhKeyPair,
    one_time_prekey: Option<&DhKeyPair>,
    their_identity_dh: &[u8; 32],
    base_key: &[u8; 32],
) -> Option<Secret32> {
    let dh1 = signed_prekey.agree(their_identity_dh)?;
    let dh2 = ours.dh().agree(base_key)?;
    let dh3 = signed_prekey.agree(base_key)?;
    let dh4 = match one_time_prekey {
        Some(otk) => Some(otk.agree(base_key)?),
        None => None,
    };
    Some(derive(&dh1, &dh2, &dh3, dh4.as_ref()))
}

fn derive(
    dh1: &SharedSecret,
    dh2: &SharedSecret,
    dh3: &SharedSecret,
    dh4: Option<&SharedSecret>,
) -> Secret32 {
    let mut ikm = Zeroizing::new(Vec::with_capacity(32 * 5));
    ikm.extend_from_slice(&[0xFF; 32]);
    for dh in [Some(dh1), Some(dh2), Some(dh3), dh4].into_iter().flatten() {
        ikm.extend_from_slice(dh.as_bytes());
    }
    Secret32::from_bytes(*kdf::hkdf::<32>(&[0u8; 32], &ikm, INFO_X3DH))
}

/// `AD = Encode(IK_A) || Encode(IK_B)`, initiator first.
pub(crate) fn associated_data(
    initiator: &PublicIdentity,
    responder: &PublicIdentity,
) -> [u8; ASSOCIATED_DATA_LEN] {
    let mut out = [0u8; ASSOCIATED_DATA_LEN];
    if let Some((a, rest)) = out.split_first_chunk_mut::<64>() {
        *a = initiator.key_bytes();
        if let Some((b, _)) = rest.split_first_chunk_mut::<64>() {
            *b = responder.key_bytes();
        }
    }
    out
}
