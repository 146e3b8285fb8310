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
#[derive(Clone, PartialEq)]
struct Member {
    identity: PublicIdentity,
    chains: Vec<InboundSenderKey>,
}

/// A decrypted group message and who sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupPlaintext {
    /// The member whose chain the message was sent on (as given to
    /// [`GroupSession::add_distribution`], i.e. the pairwise session's peer).
    pub sender: PublicIdentity,
    /// The decrypted message.
    pub plaintext: Vec<u8>,
}

/// Our sender keys for one group: our own chain and the chains of the other members. Wiped on
/// drop; `Debug` shows no key material.
#[derive(Clone, PartialEq)]
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

    /// Installs a member's chain, received from `sender` over a pairwise session. A newer
    /// chain of the same member is kept alongside the one it replaces (up to
    /// [`MAX_SENDER_CHAINS_PER_MEMBER`]), so messages already in flight still decrypt.
    ///
    /// # Errors
    /// [`GroupError::InvalidDistribution`] if it belongs to another group or is invalid.
    pub fn add_distribution(
        &mut self,
        sender: &PublicIdentity,
        distribution: &SenderKeyDistribution,
    ) -> Result<(), GroupError> {
        if distribution.distribution_id != self.distribution_id() {
            return Err(GroupError::InvalidDistribution);
        }
        let chain = InboundSenderKey::from_distribution(distribution)?;
        let position = self
            .members
            .iter()
            .position(|m| m.identity.same_keys(sender));
        let member = match position.and_then(|at| self.members.get_mut(at)) {
            Some(member) => member,
            None => {
                self.members.push(Member {
                    identity: sender.clone(),
                    chains: Vec::new(),
                });
                self.members
                    .last_mut()
                    .ok_or(GroupError::InvalidDistribution)?
            }
        };
        member
            .chains
            .retain(|c| c.chain_id() != distribution.chain_id);
        member.chains.insert(0, chain);
        member.chains.truncate(MAX_SENDER_CHAINS_PER_MEMBER);
        Ok(())
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

    /// The members whose chains we hold.
    #[must_use]
    pub fn members(&self) -> Vec<PublicIdentity> {
        self.members.iter().map(|m| m.identity.clone()).collect()
    }

    /// Encrypts one message for every member.
    ///
    /// # Errors
    /// [`GroupError::PlaintextTooLong`] or [`GroupError::ChainExhausted`].
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<GroupMessage, GroupError> {
        self.own.encrypt(plaintext)
    }

    /// Decrypts a member's message.
    ///
    /// # Errors
    /// [`GroupError::DecryptionFailed`], whatever the reason (including a non-member sender).
    pub fn decrypt(&mut self, message: &GroupMessage) -> Result<GroupPlaintext, GroupError> {
        for member in &mut self.members {
            if let Some(chain) = member
                .chains
                .iter_mut()
                .find(|c| c.chain_id() == message.chain_id)
            {
                let plaintext = chain.decrypt(message)?;
                return Ok(GroupPlaintext {
                    sender: member.identity.clone(),
                    plaintext,
                });
            }
        }
        Err(GroupError::DecryptionFailed)
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

impl fmt::Debug for GroupSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupSession")
            .field("distribution_id", &public_prefix(&self.distribution_id()))
            .field("own", &self.own)
            .field("members", &self.members.len())
            .finish()
    }
}
