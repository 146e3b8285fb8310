//! A 1:1 end-to-end encrypted session: X3DH to start, then the Double Ratchet.
//!
//! The initiator calls [`Session::new_outbound`] with a verified bundle and can send at once;
//! its messages are [`SessionMessage::PreKey`] until it has decrypted a reply. The responder
//! calls [`Session::new_inbound`] with the first message it receives. After that both sides
//! only call [`Session::encrypt`] and [`Session::decrypt`]. Plaintexts are padded to buckets
//! (see [`crate::padding`]) before encryption.

use core::fmt;

use rand_core::CryptoRng;
use zeroize::ZeroizeOnDrop;

use crate::codec::{DecodeError, Reader};
use crate::identity::{IdentityKeyPair, PublicIdentity};
use crate::message::{PreKeyMessage, SessionMessage};
use crate::padding;
use crate::pickle::{self, Pickle, PickleError, PickleKind};
use crate::prekey::{LocalPreKeys, VerifiedPreKeyBundle};
use crate::ratchet::Ratchet;
use crate::secret::public_prefix;
use crate::x3dh::{self, ASSOCIATED_DATA_LEN};

/// Why a session operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The message could not be decrypted. Deliberately opaque: malformed, tampered, replayed,
    /// too far ahead, for an unknown prekey, or from an invalid identity all look the same.
    #[error("message could not be decrypted")]
    DecryptionFailed,
    /// The plaintext is longer than [`crate::limits::MAX_PLAINTEXT_LEN`].
    #[error("plaintext is too long")]
    PlaintextTooLong,
    /// The sending chain has used all 2^32 message indices; the peer must reply first.
    #[error("sending chain exhausted")]
    ChainExhausted,
    /// The bundle contains a low-order X25519 key, so no session can be started with it.
    #[error("prekey bundle contains an unusable key")]
    UnusableBundle,
}

/// The X3DH parameters the initiator repeats until it has received a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PendingPreKey {
    signed_prekey_id: u32,
    one_time_prekey_id: Option<u32>,
}

/// A 1:1 session. Wiped on drop; `Debug` shows no key material.
///
/// Deliberately not `Clone`: two copies that both encrypt would use the same message keys.
/// To keep a copy, take a [`Session::pickle`].
#[derive(PartialEq)]
pub struct Session {
    local_identity: PublicIdentity,
    remote_identity: PublicIdentity,
    initiator: bool,
    associated_data: [u8; ASSOCIATED_DATA_LEN],
    base_key: [u8; 32],
    pending_prekey: Option<PendingPreKey>,
    ratchet: Ratchet,
}

impl ZeroizeOnDrop for Session {}

/// What [`Session::new_inbound`] returns: the new session and the first plaintext. `Debug`
/// shows neither key material nor the plaintext.
pub struct InboundSession {
    /// The established session.
    pub session: Session,
    /// The decrypted first message.
    pub plaintext: Vec<u8>,
}

impl Session {
    /// Starts a session with the owner of `bundle` (X3DH as initiator).
    ///
    /// # Errors
    /// [`SessionError::UnusableBundle`] if a bundle key is a low-order point.
    pub fn new_outbound(
        ours: &IdentityKeyPair,
        bundle: &VerifiedPreKeyBundle,
        rng: &mut impl CryptoRng,
    ) -> Result<Self, SessionError> {
        let initiated = x3dh::initiate(ours, bundle, rng).ok_or(SessionError::UnusableBundle)?;
        let ratchet = Ratchet::initiator(initiated.shared, bundle.signed_prekey().public, rng)
            .ok_or(SessionError::UnusableBundle)?;
        let local_identity = ours.public();
        let remote_identity = bundle.identity().public().clone();
        Ok(Self {
            associated_data: x3dh::associated_data(&local_identity, &remote_identity),
            local_identity,
            remote_identity,
            initiator: true,
            base_key: initiated.base_key,
            pending_prekey: Some(PendingPreKey {
                signed_prekey_id: bundle.signed_prekey().id,
                one_time_prekey_id: bundle.one_time_prekey().map(|k| k.id),
            }),
            ratchet,
        })
    }

    /// Accepts a session from an initial message (X3DH as responder) and decrypts it. The
    /// one-time prekey it used is deleted from `prekeys`, but only if decryption succeeded.
    ///
    /// Check [`Session::matches`] against existing sessions first: a repeated initial message
    /// for a session that already exists must go to [`Session::decrypt`] instead.
    ///
    /// # Errors
    /// [`SessionError::DecryptionFailed`] for an invalid identity, unknown prekey ids or a
    /// message that does not authenticate.
    pub fn new_inbound(
        ours: &IdentityKeyPair,
        prekeys: &mut LocalPreKeys,
        message: &PreKeyMessage,
        rng: &mut impl CryptoRng,
    ) -> Result<InboundSession, SessionError> {
        let fail = SessionError::DecryptionFailed;
        let remote = message.identity.verify().map_err(|_| fail)?;
        let signed_prekey = prekeys
            .signed_secret(message.signed_prekey_id)
            .ok_or(fail)?;
        let one_time_prekey = match message.one_time_prekey_id {
            Some(id) => Some(prekeys.one_time_secret(id).ok_or(fail)?),
            None => None,
        };
        let shared = x3dh::respond(
            ours,
            signed_prekey,
            one_time_prekey,
            &remote.public().dh,
            &message.base_key,
        )
        .ok_or(fail)?;
        let local_identity = ours.public();
        let remote_identity = remote.public().clone();
        let mut session = Self {
            associated_data: x3dh::associated_data(&remote_identity, &local_identity),
            local_identity,
            remote_identity,
            initiator: false,
            base_key: message.base_key,
            pending_prekey: None,
            ratchet: Ratchet::responder(shared, signed_prekey.clone()),
        };
        let plaintext = session.decrypt_ratchet(rng, &message.message)?;
        if let Some(id) = message.one_time_prekey_id {
            prekeys.consume_one_time(id);
        }
        Ok(InboundSession { session, plaintext })
    }

    /// Encrypts `plaintext` (padded to its bucket first). `rng` supplies the AEAD nonce.
    ///
    /// **Save [`Session::pickle`] before the message leaves the device.** Every call uses up a
    /// message key; if the app transmits and then loses the advanced state (a crash before the
    /// save, restoring a backup), the restored session encrypts its next message under a key
    /// that was already used. The random nonce keeps that from being a keystream reuse, but the
    /// receiver will reject the second message as a replay.
    ///
    /// # Errors
    /// [`SessionError::PlaintextTooLong`] or [`SessionError::ChainExhausted`].
    pub fn encrypt(
        &mut self,
        rng: &mut impl CryptoRng,
        plaintext: &[u8],
    ) -> Result<SessionMessage, SessionError> {
        let padded = padding::pad(plaintext).map_err(|_| SessionError::PlaintextTooLong)?;
        let message = self
            .ratchet
            .encrypt(rng, &self.associated_data, &padded)
            .ok_or(SessionError::ChainExhausted)?;
        Ok(match &self.pending_prekey {
            Some(pending) => SessionMessage::PreKey(PreKeyMessage {
                identity: self.local_identity.clone(),
                base_key: self.base_key,
                signed_prekey_id: pending.signed_prekey_id,
                one_time_prekey_id: pending.one_time_prekey_id,
                message,
            }),
            None => SessionMessage::Ratchet(message),
        })
    }

    /// Decrypts a message of this session. `rng` supplies the next ratchet key when the
    /// message starts a new DH ratchet step. On failure the session is unchanged.
    ///
    /// # Errors
    /// [`SessionError::DecryptionFailed`], whatever the reason.
    pub fn decrypt(
        &mut self,
        rng: &mut impl CryptoRng,
        message: &SessionMessage,
    ) -> Result<Vec<u8>, SessionError> {
        let inner = match message {
            SessionMessage::PreKey(prekey) => {
                if !self.matches(prekey) {
                    return Err(SessionError::DecryptionFailed);
                }
                &prekey.message
            }
            SessionMessage::Ratchet(message) => message,
        };
        let plaintext = self.decrypt_ratchet(rng, inner)?;
        // The peer has our session now: stop repeating the X3DH parameters.
        self.pending_prekey = None;
        Ok(plaintext)
    }

    fn decrypt_ratchet(
        &mut self,
        rng: &mut impl CryptoRng,
        message: &crate::message::RatchetMessage,
    ) -> Result<Vec<u8>, SessionError> {
        self.ratchet
            .decrypt(rng, &self.associated_data, message)
            .ok_or(SessionError::DecryptionFailed)
    }

    /// True if `message` is an initial message of this very session (same initiator identity
    /// and base key), e.g. a repeat sent before the initiator saw our reply.
    #[must_use]
    pub fn matches(&self, message: &PreKeyMessage) -> bool {
        !self.initiator
            && message.base_key == self.base_key
            && message.identity.same_keys(&self.remote_identity)
    }

    /// A stable public identifier of this session: the initiator's X3DH ephemeral key.
    #[must_use]
    pub fn session_id(&self) -> [u8; 32] {
        self.base_key
    }

    /// The peer's identity (verified when the session was created).
    #[must_use]
    pub fn remote_identity(&self) -> &PublicIdentity {
        &self.remote_identity
    }

    /// True once a message from the peer has decrypted (always true for the responder).
    #[must_use]
    pub fn has_received_message(&self) -> bool {
        self.pending_prekey.is_none()
    }

    /// How many skipped message keys are stored for late messages.
    #[must_use]
    pub fn skipped_message_keys(&self) -> usize {
        self.ratchet.skipped_len()
    }

    /// Serialises the session for the app's store.
    #[must_use]
    pub fn pickle(&self) -> Pickle {
        let mut w = pickle::writer(PickleKind::Session, 400 + self.ratchet.encoded_len_hint());
        self.local_identity.encode(&mut w);
        self.remote_identity.encode(&mut w);
        w.u8(u8::from(self.initiator)).bytes(&self.base_key);
        match &self.pending_prekey {
            Some(pending) => {
                w.u8(1).u32(pending.signed_prekey_id);
                match pending.one_time_prekey_id {
                    Some(id) => w.u8(1).u32(id),
                    None => w.u8(0),
                };
            }
            None => {
                w.u8(0);
            }
        }
        self.ratchet.encode(&mut w);
        Pickle::from_secret(w.finish_secret())
    }

    /// Restores a session from [`Session::pickle`].
    ///
    /// # Errors
    /// [`PickleError`] if the bytes are not a session pickle.
    pub fn from_pickle(pickle: &Pickle) -> Result<Self, PickleError> {
        let mut r = pickle::reader(pickle, PickleKind::Session)?;
        let session = Self::decode(&mut r)?;
        r.finish()?;
        Ok(session)
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let local_identity = PublicIdentity::decode(r)?;
        let remote_identity = PublicIdentity::decode(r)?;
        let initiator = r.bool()?;
        let base_key = r.array()?;
        let pending_prekey = if r.bool()? {
            let signed_prekey_id = r.u32()?;
            let one_time_prekey_id = if r.bool()? { Some(r.u32()?) } else { None };
            Some(PendingPreKey {
                signed_prekey_id,
                one_time_prekey_id,
            })
        } else {
            None
        };
        let ratchet = Ratchet::decode(r)?;
        let associated_data = if initiator {
            x3dh::associated_data(&local_identity, &remote_identity)
        } else {
            x3dh::associated_data(&remote_identity, &local_identity)
        };
        Ok(Self {
            local_identity,
            remote_identity,
            initiator,
            associated_data,
            base_key,
            pending_prekey,
            ratchet,
        })
    }
}

impl fmt::Debug for InboundSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundSession")
            .field("session", &self.session)
            .field("plaintext_len", &self.plaintext.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("session_id", &public_prefix(&self.base_key))
            .field("remote_identity", &self.remote_identity)
            .field("initiator", &self.initiator)
            .field("ratchet", &self.ratchet)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PreKeyBundle;
    use crate::message::RatchetMessage;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// Alice (initiator) and Bob (responder) after Bob accepted Alice's first message.
    fn established(rng: &mut StdRng) -> (Session, Session) {
        let bob = IdentityKeyPair::generate(rng);
        let mut prekeys = LocalPreKeys::new(&bob, rng, 0);
        let bundle = PreKeyBundle {
            identity: bob.public(),
            signed_prekey: prekeys.signed_prekey(),
            one_time_prekey: None,
        }
        .verify()
        .unwrap();
        let alice = IdentityKeyPair::generate(rng);
        let mut alice_session = Session::new_outbound(&alice, &bundle, rng).unwrap();
        let SessionMessage::PreKey(first) = alice_session.encrypt(rng, b"hi").unwrap() else {
            panic!("initial message expected");
        };
        let bob_session = Session::new_inbound(&bob, &mut prekeys, &first, rng)
            .unwrap()
            .session;
        (alice_session, bob_session)
    }

    /// A genuine message from the peer whose plaintext is not validly padded (the peer's
    /// ratchet seals raw bytes, skipping `pad`).
    fn badly_padded(rng: &mut StdRng, from: &mut Session) -> RatchetMessage {
        from.ratchet
            .encrypt(rng, &from.associated_data, &[0u8; 64])
            .unwrap()
    }

    #[test]
    fn bad_padding_from_the_real_peer_commits_nothing() {
        let mut rng = StdRng::seed_from_u64(40);
        let (mut alice, mut bob) = established(&mut rng);

        // Same receiving chain, one index ahead (would store a skipped key if committed).
        alice.encrypt(&mut rng, b"dropped").unwrap();
        let bad = SessionMessage::Ratchet(badly_padded(&mut rng, &mut alice));
        let before = bob.pickle();
        assert_eq!(
            bob.decrypt(&mut rng, &bad),
            Err(SessionError::DecryptionFailed)
        );
        assert_eq!(bob.pickle(), before, "same-chain message committed");

        // A new DH ratchet step (would replace the root and ratchet keys if committed).
        let reply = bob.encrypt(&mut rng, b"reply").unwrap();
        alice.decrypt(&mut rng, &reply).unwrap();
        let bad = SessionMessage::Ratchet(badly_padded(&mut rng, &mut alice));
        let before = bob.pickle();
        assert_eq!(
            bob.decrypt(&mut rng, &bad),
            Err(SessionError::DecryptionFailed)
        );
        assert_eq!(bob.pickle(), before, "new-ratchet-key message committed");

        // The session still works afterwards.
        let good = alice.encrypt(&mut rng, b"still fine").unwrap();
        assert_eq!(bob.decrypt(&mut rng, &good).unwrap(), b"still fine");
    }

    #[test]
    fn inbound_session_debug_shows_no_plaintext() {
        let mut rng = StdRng::seed_from_u64(41);
        let bob = IdentityKeyPair::generate(&mut rng);
        let mut prekeys = LocalPreKeys::new(&bob, &mut rng, 0);
        let bundle = PreKeyBundle {
            identity: bob.public(),
            signed_prekey: prekeys.signed_prekey(),
            one_time_prekey: None,
        }
        .verify()
        .unwrap();
        let alice = IdentityKeyPair::generate(&mut rng);
        let mut alice_session = Session::new_outbound(&alice, &bundle, &mut rng).unwrap();
        let SessionMessage::PreKey(first) =
            alice_session.encrypt(&mut rng, b"SECRETPLAINTEXT").unwrap()
        else {
            panic!("initial message expected");
        };
        let inbound = Session::new_inbound(&bob, &mut prekeys, &first, &mut rng).unwrap();
        let shown = format!("{inbound:?}");
        assert!(shown.contains("plaintext_len: 15"), "{shown}");
        assert!(!shown.contains("83, 69, 67"), "{shown}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
