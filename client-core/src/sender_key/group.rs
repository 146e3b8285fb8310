//! One member's view of a group's sender keys: its own chain and every other member's.

use core::fmt;

use rand_core::CryptoRng;
use zeroize::ZeroizeOnDrop;

use super::{GroupError, GroupMessage, InboundSenderKey, OutboundSenderKey, SenderKeyDistribution};
use crate::codec::{DecodeError, Reader};
use crate::identity::PublicIdentity;
use crate::limits::MAX_SENDER_CHAINS_PER_MEMBER;
use crate::pickle::{self, Pickle, PickleError, PickleKind};
use crate::secret::public_prefix;

/// The most members a pickled group may hold (a sanity bound for parsing).
const MAX_PICKLED_MEMBERS: usize = 100_000;

/// A member and its sender chains, newest first.
#[derive(PartialEq)]
struct Member {
    identity: PublicIdentity,
    chains: Vec<InboundSenderKey>,
}

/// A decrypted group message and who sent it. `Debug` shows the sender, not the plaintext.
#[derive(Clone, PartialEq, Eq)]
pub struct GroupPlaintext {
    /// The member whose chain the message was sent on: the sender the transport claimed, now
    /// confirmed by that member's chain (installed from its pairwise session).
    pub sender: PublicIdentity,
    /// The decrypted message.
    pub plaintext: Vec<u8>,
}

/// Our sender keys for one group: our own chain and the chains of the other members. Wiped on
/// drop; `Debug` shows no key material.
///
/// Deliberately not `Clone`: two copies that both encrypt would use the same message keys.
/// To keep a copy, take a [`GroupSession::pickle`].
#[derive(PartialEq)]
pub struct GroupSession {
    own: OutboundSenderKey,
    members: Vec<Member>,
}

impl ZeroizeOnDrop for GroupSession {}

impl GroupSession {
    /// A group with a fresh chain of our own and no other members yet.
    pub fn new(rng: &mut impl CryptoRng, distribution_id: [u8; 16]) -> Self {
        Self {
            own: OutboundSenderKey::new(rng, distribution_id),
            members: Vec::new(),
        }
    }

    /// The group's distribution id.
    #[must_use]
    pub fn distribution_id(&self) -> [u8; 16] {
        self.own.distribution_id()
    }

    /// Our distribution, to send to every member over the pairwise sessions.
    #[must_use]
    pub fn own_distribution(&self) -> SenderKeyDistribution {
        self.own.distribution()
    }

    /// Adds `member` to the group (no-op if already a member). Only members' distributions
    /// are accepted; call this when the app's membership says someone joined.
    pub fn add_member(&mut self, member: &PublicIdentity) {
        if self.member(member).is_none() {
            self.members.push(Member {
                identity: member.clone(),
                chains: Vec::new(),
            });
        }
    }

    /// Installs a member's chain, received from `sender` over their pairwise session (so
    /// `sender` is authenticated: pass the session's [`crate::Session::remote_identity`]). A
    /// newer chain of the same member is kept alongside the one it replaces (up to
    /// [`MAX_SENDER_CHAINS_PER_MEMBER`]), so messages already in flight still decrypt.
    ///
    /// A chain id and a signing key belong to one member only. Receiving a chain we already
    /// hold again (same member, chain id and signing key) keeps our state as it is: a chain
    /// only moves forward, and its stored skipped keys stay.
    ///
    /// # Errors
    /// [`GroupError::InvalidDistribution`] if it belongs to another group or is invalid;
    /// [`GroupError::UnknownMember`] if `sender` was not added with
    /// [`GroupSession::add_member`]; [`GroupError::DistributionConflict`] if its chain id or
    /// signing key is already another member's (or our own). Nothing changes on error.
    pub fn add_distribution(
        &mut self,
        sender: &PublicIdentity,
        distribution: &SenderKeyDistribution,
    ) -> Result<(), GroupError> {
        if distribution.distribution_id != self.distribution_id() {
            return Err(GroupError::InvalidDistribution);
        }
        let chain = InboundSenderKey::from_distribution(distribution)?;
        let owner = self.member(sender).ok_or(GroupError::UnknownMember)?;
        if distribution.chain_id == self.own.chain_id()
            || distribution.signing_public == self.own.signing_public()
        {
            return Err(GroupError::DistributionConflict);
        }
        for (at, member) in self.members.iter().enumerate() {
            for held in &member.chains {
                let same_id = held.chain_id() == distribution.chain_id;
                let same_key = held.signing_public() == distribution.signing_public;
                if same_id && same_key && at == owner {
                    // Already installed: keep the existing (never older) state.
                    return Ok(());
                }
                if same_id || same_key {
                    return Err(GroupError::DistributionConflict);
                }
            }
        }
        let member = self
            .members
            .get_mut(owner)
            .ok_or(GroupError::UnknownMember)?;
        member.chains.insert(0, chain);
        member.chains.truncate(MAX_SENDER_CHAINS_PER_MEMBER);
        Ok(())
    }

    /// The position of `identity` among the members.
    fn member(&self, identity: &PublicIdentity) -> Option<usize> {
        self.members
            .iter()
            .position(|m| m.identity.same_keys(identity))
    }

    /// Forgets `member`'s chains and rotates our own chain. Returns the new distribution, to
    /// send to the *remaining* members only. Every remaining member must do the same.
    pub fn remove_member(
        &mut self,
        member: &PublicIdentity,
        rng: &mut impl CryptoRng,
    ) -> SenderKeyDistribution {
        self.members.retain(|m| !m.identity.same_keys(member));
        self.rotate(rng)
    }

    /// Replaces our chain with a fresh one and returns its distribution.
    pub fn rotate(&mut self, rng: &mut impl CryptoRng) -> SenderKeyDistribution {
        let fresh = OutboundSenderKey::new(rng, self.distribution_id());
        self.own = fresh;
        self.own.distribution()
    }

    /// The members (added with [`GroupSession::add_member`], not yet removed).
    #[must_use]
    pub fn members(&self) -> Vec<PublicIdentity> {
        self.members.iter().map(|m| m.identity.clone()).collect()
    }

    /// Encrypts one message for every member. `rng` supplies the AEAD nonce.
    ///
    /// **Save [`GroupSession::pickle`] before the message leaves the device** (see
    /// [`OutboundSenderKey::encrypt`]).
    ///
    /// # Errors
    /// [`GroupError::PlaintextTooLong`] or [`GroupError::ChainExhausted`].
    pub fn encrypt(
        &mut self,
        rng: &mut impl CryptoRng,
        plaintext: &[u8],
    ) -> Result<GroupMessage, GroupError> {
        self.own.encrypt(rng, plaintext)
    }

    /// Decrypts a message that the transport says `sender` sent (the envelope's or pairwise
    /// layer's authenticated sender). Only `sender`'s own chains are tried, so a message is
    /// never attributed to anyone else. On failure nothing changes.
    ///
    /// # Errors
    /// [`GroupError::DecryptionFailed`], whatever the reason (including a non-member sender or
    /// a message on another member's chain).
    pub fn decrypt(
        &mut self,
        sender: &PublicIdentity,
        message: &GroupMessage,
    ) -> Result<GroupPlaintext, GroupError> {
        let fail = GroupError::DecryptionFailed;
        let member = self
            .member(sender)
            .and_then(|at| self.members.get_mut(at))
            .ok_or(fail)?;
        let chain = member
            .chains
            .iter_mut()
            .find(|c| c.chain_id() == message.chain_id)
            .ok_or(fail)?;
        let plaintext = chain.decrypt(message)?;
        Ok(GroupPlaintext {
            sender: member.identity.clone(),
            plaintext,
        })
    }

    /// Serialises the group's keys for the app's store.
    #[must_use]
    pub fn pickle(&self) -> Pickle {
        let hint: usize = self
            .members
            .iter()
            .flat_map(|m| m.chains.iter())
            .map(|c| c.encoded_len_hint() + 140)
            .sum();
        let mut w = pickle::writer(PickleKind::GroupSession, 120 + hint);
        self.own.encode(&mut w);
        w.u32(crate::codec::count_u32(self.members.len()));
        for member in &self.members {
            member.identity.encode(&mut w);
            w.u32(crate::codec::count_u32(member.chains.len()));
            for chain in &member.chains {
                chain.encode(&mut w);
            }
        }
        Pickle::from_secret(w.finish_secret())
    }

    /// Restores a group from [`GroupSession::pickle`].
    ///
    /// # Errors
    /// [`PickleError`] if the bytes are not a group pickle.
    pub fn from_pickle(pickle: &Pickle) -> Result<Self, PickleError> {
        let mut r = pickle::reader(pickle, PickleKind::GroupSession)?;
        let group = Self::decode(&mut r)?;
        r.finish()?;
        Ok(group)
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let own = OutboundSenderKey::decode(r)?;
        let count = r.count(MAX_PICKLED_MEMBERS)?;
        let mut members = Vec::new();
        for _ in 0..count {
            let identity = PublicIdentity::decode(r)?;
            let chains = r.count(MAX_SENDER_CHAINS_PER_MEMBER)?;
            let chains = (0..chains)
                .map(|_| InboundSenderKey::decode(r))
                .collect::<Result<_, _>>()?;
            members.push(Member { identity, chains });
        }
        Ok(Self { own, members })
    }
}

impl fmt::Debug for GroupPlaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupPlaintext")
            .field("sender", &self.sender)
            .field("plaintext_len", &self.plaintext.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for GroupSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupSession")
            .field("distribution_id", &public_prefix(&self.distribution_id()))
            .field("own", &self.own)
            .field("members", &self.members.len())
            .finish()
    }
}
