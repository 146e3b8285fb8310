//! Groups: their state changes only through operations signed by an admin, and every member
//! applies each operation with the same rules ([`apply`]), so all members agree.
//!
//! - An operation names the group, the version it produces (current + 1), its author and an
//!   action. It is signed with the author's Ed25519 identity key over
//!   `"hush/v1/group-op\0" ‖ encoded operation`.
//! - `Create` is signed by the owner it names; `Add`, `Remove`, `Rename` and `Promote` need an
//!   owner or admin (removing an owner needs an owner); `Leave` is any member leaving.
//! - An operation whose version is not exactly the next one is refused: two admins changing the
//!   group at once do not fork it — the later change is refused everywhere and must be redone.
//! - Operations travel pairwise (1:1 sessions), with the author's sender key when it changed.
//!
//! The functions here are pure: state in, state out.

use hush_protocol::codec::{decode_value, encode_value};
use hush_protocol::{IdentityKeys, MailboxId, Signature};
use serde::{Deserialize, Serialize};

use crate::content::GroupId;
use crate::directory::identity_from_wire;
use crate::identity::IdentityKeyPair;

/// Domain separation for operation signatures.
const OP_CONTEXT: &[u8] = b"hush/v1/group-op\0";
/// Longest group name, in characters.
pub const MAX_GROUP_NAME_LEN: usize = 64;

/// A member's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// Created the group (or inherited it); can do everything.
    Owner,
    /// Can add, remove (except owners), rename, promote, and delete any message.
    Admin,
    /// Can write and leave.
    Member,
}

impl Role {
    /// Owner or admin.
    pub fn is_admin(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }
}

/// One member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMember {
    /// Their mailbox.
    pub mailbox: MailboxId,
    /// Their identity.
    pub identity: IdentityKeys,
    /// Their role.
    pub role: Role,
    /// The name the adder knows them by (a hint for members who do not know them).
    pub name: String,
}

/// A group as every member sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    /// The group.
    pub id: GroupId,
    /// Its name.
    pub name: String,
    /// Its members, in the order they were added.
    pub members: Vec<GroupMember>,
    /// How many operations built this state.
    pub version: u64,
}

impl GroupState {
    /// A member by mailbox.
    pub fn member(&self, mailbox: &MailboxId) -> Option<&GroupMember> {
        self.members.iter().find(|m| m.mailbox == *mailbox)
    }

    /// Every member but `me`: whom this account's group messages and updates go to.
    pub fn others<'a>(&'a self, me: &'a MailboxId) -> impl Iterator<Item = &'a GroupMember> {
        self.members.iter().filter(move |m| m.mailbox != *me)
    }
}

/// What an operation does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupAction {
    /// A new group with these members (the author among them, as owner).
    Create {
        /// Its name.
        name: String,
        /// Its members.
        members: Vec<GroupMember>,
    },
    /// Add a member.
    Add {
        /// The new member.
        member: GroupMember,
    },
    /// Remove (kick) a member.
    Remove {
        /// Who.
        mailbox: MailboxId,
    },
    /// The author leaves.
    Leave,
    /// Rename the group.
    Rename {
        /// The new name.
        name: String,
    },
    /// Make a member an admin.
    Promote {
        /// Who.
        mailbox: MailboxId,
    },
}

/// One change to a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupOp {
    /// The group.
    pub group: GroupId,
    /// The version this operation produces.
    pub version: u64,
    /// Who made it.
    pub author: MailboxId,
    /// What it does.
    pub action: GroupAction,
}

/// An operation and its author's signature, as sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedOp {
    /// The encoded [`GroupOp`].
    pub op: Vec<u8>,
    /// The author's identity signature over [`OP_CONTEXT`] ‖ `op`.
    pub signature: Signature,
}

/// What travels pairwise about a group: an operation, a sender key, or both.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupUpdate {
    /// The group.
    pub group: GroupId,
    /// A signed operation.
    pub op: Option<SignedOp>,
    /// The sender's current sender-key distribution for the group.
    pub sender_key: Option<Vec<u8>>,
    /// For a member just added: the group's state before the addition, which the signed
    /// `Add` operation extends.
    pub snapshot: Option<GroupState>,
}

/// Why an operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The bytes are not an operation.
    #[error("not a group operation")]
    Malformed,
    /// The signature does not verify with the author's identity.
    #[error("the group change is not signed by its author")]
    BadSignature,
    /// The author is not a member.
    #[error("the group change comes from someone who is not a member")]
    NotMember,
    /// The author may not do this.
    #[error("only an admin can make that group change")]
    NotAdmin,
    /// Not the next version: a concurrent or replayed change.
    #[error("the group change conflicts with another (version {got}, expected {expected})")]
    Version {
        /// The operation's version.
        got: u64,
        /// The next version.
        expected: u64,
    },
    /// The operation names another group.
    #[error("the group change is for another group")]
    WrongGroup,
    /// The change makes no sense (unknown member, duplicate, empty name, too large).
    #[error("invalid group change: {0}")]
    Invalid(&'static str),
}

fn signed_message(op: &[u8]) -> Vec<u8> {
    [OP_CONTEXT, op].concat()
}

/// Signs an operation with the author's identity.
pub(crate) fn sign(identity: &IdentityKeyPair, op: &GroupOp) -> Option<SignedOp> {
    let op = encode_value(op).ok()?;
    let signature = Signature(identity.sign(&signed_message(&op)));
    Some(SignedOp { op, signature })
}

fn check_name(name: &str) -> Result<(), RuleError> {
    let len = name.chars().count();
    if name.trim().is_empty() || len > MAX_GROUP_NAME_LEN || name.chars().any(char::is_control) {
        return Err(RuleError::Invalid(
            "a group name has 1 to 64 printable characters",
        ));
    }
    Ok(())
}

/// Checks a signed operation against the current state (`None` for a group not yet known) and
/// returns the operation and the new state.
pub fn apply(
    state: Option<&GroupState>,
    signed: &SignedOp,
    max_members: usize,
) -> Result<(GroupOp, GroupState), RuleError> {
    let op: GroupOp = decode_value(&signed.op).map_err(|_| RuleError::Malformed)?;
    // Whose key must have signed it: for a new group, the owner it names; otherwise the
    // author as the current state knows them.
    let author = match (&op.action, state) {
        (GroupAction::Create { members, .. }, None) => members
            .iter()
            .find(|m| m.mailbox == op.author && m.role == Role::Owner)
            .ok_or(RuleError::Invalid("a new group names its creator as owner"))?,
        (GroupAction::Create { .. }, Some(_)) => {
            return Err(RuleError::Version {
                got: op.version,
                expected: 0,
            });
        }
        (_, None) => return Err(RuleError::NotMember),
        (_, Some(state)) => state.member(&op.author).ok_or(RuleError::NotMember)?,
    };
    let verified = identity_from_wire(&author.identity)
        .verify()
        .map_err(|_| RuleError::BadSignature)?;
    if !verified.verify_signature(&signed_message(&signed.op), &signed.signature.0) {
        return Err(RuleError::BadSignature);
    }
    let role = author.role;
    let next = match state {
        None => {
            let GroupAction::Create { name, members } = &op.action else {
                return Err(RuleError::NotMember);
            };
            if op.version != 1 {
                return Err(RuleError::Version {
                    got: op.version,
                    expected: 1,
                });
            }
            check_name(name)?;
            if members.len() > max_members {
                return Err(RuleError::Invalid(
                    "the group is larger than this client accepts",
                ));
            }
            let mut seen = std::collections::HashSet::new();
            if !members.iter().all(|m| seen.insert(m.mailbox)) {
                return Err(RuleError::Invalid("a member is listed twice"));
            }
            GroupState {
                id: op.group,
                name: name.clone(),
                members: members.clone(),
                version: 1,
            }
        }
        Some(state) => {
            if op.group != state.id {
                return Err(RuleError::WrongGroup);
            }
            if op.version != state.version + 1 {
                return Err(RuleError::Version {
                    got: op.version,
                    expected: state.version + 1,
                });
            }
            let mut next = state.clone();
            next.version = op.version;
            match &op.action {
                GroupAction::Create { .. } => return Err(RuleError::Malformed),
                GroupAction::Add { member } => {
                    if !role.is_admin() {
                        return Err(RuleError::NotAdmin);
                    }
                    if state.member(&member.mailbox).is_some() {
                        return Err(RuleError::Invalid("already a member"));
                    }
                    if state.members.len() + 1 > max_members {
                        return Err(RuleError::Invalid("the group is full"));
                    }
                    let mut member = member.clone();
                    member.role = Role::Member;
                    next.members.push(member);
                }
                GroupAction::Remove { mailbox } => {
                    if !role.is_admin() {
                        return Err(RuleError::NotAdmin);
                    }
                    let target = state
                        .member(mailbox)
                        .ok_or(RuleError::Invalid("not a member"))?;
                    if target.role == Role::Owner && role != Role::Owner {
                        return Err(RuleError::NotAdmin);
                    }
                    next.members.retain(|m| m.mailbox != *mailbox);
                }
                GroupAction::Leave => {
                    next.members.retain(|m| m.mailbox != op.author);
                }
                GroupAction::Rename { name } => {
                    if !role.is_admin() {
                        return Err(RuleError::NotAdmin);
                    }
                    check_name(name)?;
                    next.name = name.clone();
                }
                GroupAction::Promote { mailbox } => {
                    if !role.is_admin() {
                        return Err(RuleError::NotAdmin);
                    }
                    let target = next
                        .members
                        .iter_mut()
                        .find(|m| m.mailbox == *mailbox)
                        .ok_or(RuleError::Invalid("not a member"))?;
                    if target.role == Role::Member {
                        target.role = Role::Admin;
                    }
                }
            }
            // A group is never left without an owner: the longest-standing admin (or member)
            // inherits.
            if !next.members.is_empty() && !next.members.iter().any(|m| m.role == Role::Owner) {
                let heir = next
                    .members
                    .iter()
                    .position(|m| m.role == Role::Admin)
                    .unwrap_or(0);
                if let Some(heir) = next.members.get_mut(heir) {
                    heir.role = Role::Owner;
                }
            }
            next
        }
    };
    Ok((op, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::identity_to_wire;

    struct Person {
        keys: IdentityKeyPair,
        mailbox: MailboxId,
    }

    fn person(n: u8) -> Person {
        let mut rng = crate::client::rng();
        Person {
            keys: IdentityKeyPair::generate(&mut rng),
            mailbox: MailboxId::from_bytes([n; 16]),
        }
    }

    fn member(p: &Person, role: Role) -> GroupMember {
        GroupMember {
            mailbox: p.mailbox,
            identity: identity_to_wire(&p.keys.public()),
            role,
            name: "x".into(),
        }
    }

    fn op(author: &Person, version: u64, action: GroupAction) -> SignedOp {
        let op = GroupOp {
            group: GroupId([9; 16]),
            version,
            author: author.mailbox,
            action,
        };
        sign(&author.keys, &op).unwrap()
    }

    fn created(owner: &Person, others: &[&Person]) -> GroupState {
        let mut members = vec![member(owner, Role::Owner)];
        members.extend(others.iter().map(|p| member(p, Role::Member)));
        let create = op(
            owner,
            1,
            GroupAction::Create {
                name: "team".into(),
                members,
            },
        );
        apply(None, &create, 100).unwrap().1
    }

    #[test]
    fn admins_change_the_group_and_members_cannot() {
        let (alice, bob, carol, dave) = (person(1), person(2), person(3), person(4));
        let state = created(&alice, &[&bob, &carol]);
        assert_eq!(state.members.len(), 3);
        // Bob (a member) may not add anyone.
        let forged = op(
            &bob,
            2,
            GroupAction::Add {
                member: member(&dave, Role::Member),
            },
        );
        assert_eq!(
            apply(Some(&state), &forged, 100).unwrap_err(),
            RuleError::NotAdmin
        );
        // Alice may; the added member is a plain member whatever the op says.
        let add = op(
            &alice,
            2,
            GroupAction::Add {
                member: member(&dave, Role::Owner),
            },
        );
        let (_, state) = apply(Some(&state), &add, 100).unwrap();
        assert_eq!(state.member(&dave.mailbox).unwrap().role, Role::Member);
        // Promote Bob; now he can rename.
        let (_, state) = apply(
            Some(&state),
            &op(
                &alice,
                3,
                GroupAction::Promote {
                    mailbox: bob.mailbox,
                },
            ),
            100,
        )
        .unwrap();
        let (_, state) = apply(
            Some(&state),
            &op(
                &bob,
                4,
                GroupAction::Rename {
                    name: "crew".into(),
                },
            ),
            100,
        )
        .unwrap();
        assert_eq!(state.name, "crew");
        // An admin cannot remove the owner; the owner can remove an admin.
        let coup = op(
            &bob,
            5,
            GroupAction::Remove {
                mailbox: alice.mailbox,
            },
        );
        assert_eq!(
            apply(Some(&state), &coup, 100).unwrap_err(),
            RuleError::NotAdmin
        );
        let (_, state) = apply(
            Some(&state),
            &op(
                &alice,
                5,
                GroupAction::Remove {
                    mailbox: bob.mailbox,
                },
            ),
            100,
        )
        .unwrap();
        assert!(state.member(&bob.mailbox).is_none());
    }

    #[test]
    fn forged_replayed_and_concurrent_changes_are_refused() {
        let (alice, bob, mallory) = (person(1), person(2), person(3));
        let state = created(&alice, &[&bob]);
        // Mallory signs an op claiming Alice as author.
        let forged = GroupOp {
            group: GroupId([9; 16]),
            version: 2,
            author: alice.mailbox,
            action: GroupAction::Remove {
                mailbox: bob.mailbox,
            },
        };
        let forged = sign(&mallory.keys, &forged).unwrap();
        assert_eq!(
            apply(Some(&state), &forged, 100).unwrap_err(),
            RuleError::BadSignature
        );
        // A non-member cannot do anything.
        let outsider = op(&mallory, 2, GroupAction::Leave);
        assert_eq!(
            apply(Some(&state), &outsider, 100).unwrap_err(),
            RuleError::NotMember
        );
        // A valid op applies once; replaying it is a version conflict.
        let rename = op(&alice, 2, GroupAction::Rename { name: "b".into() });
        let (_, next) = apply(Some(&state), &rename, 100).unwrap();
        assert!(matches!(
            apply(Some(&next), &rename, 100),
            Err(RuleError::Version { .. })
        ));
        // A flipped bit breaks the signature.
        let mut tampered = rename.clone();
        if let Some(byte) = tampered.op.last_mut() {
            *byte ^= 1;
        }
        assert!(apply(Some(&state), &tampered, 100).is_err());
        // A group cannot be created twice, nor claim someone else as its owner.
        let create = op(
            &mallory,
            1,
            GroupAction::Create {
                name: "x".into(),
                members: vec![member(&alice, Role::Owner)],
            },
        );
        assert!(apply(None, &create, 100).is_err());
    }

    #[test]
    fn aliases_for_new_people_are_clean_and_unique() {
        use crate::client::unique_alias;
        let mailbox = MailboxId::from_bytes([0xab; 16]);
        let taken = vec!["bob".to_owned(), "bob-2".to_owned()];
        assert_eq!(unique_alias(Some("bob"), &mailbox, &taken), "bob-3");
        assert_eq!(unique_alias(Some("carol"), &mailbox, &taken), "carol");
        // Terminal escapes in a name a peer chose do not reach the alias.
        assert_eq!(
            unique_alias(Some("ev\u{1b}[2Jil"), &mailbox, &taken),
            "ev[2Jil"
        );
        for odd in [
            None,
            Some(""),
            Some("  "),
            Some("@admin"),
            Some("#team"),
            Some("\u{7}"),
        ] {
            assert_eq!(unique_alias(odd, &mailbox, &taken), "contact-abababab");
        }
    }

    #[test]
    fn leaving_owner_hands_the_group_on_and_size_is_limited() {
        let (alice, bob, carol) = (person(1), person(2), person(3));
        let state = created(&alice, &[&bob, &carol]);
        let (_, state) = apply(Some(&state), &op(&alice, 2, GroupAction::Leave), 100).unwrap();
        assert_eq!(state.member(&bob.mailbox).unwrap().role, Role::Owner);
        let mut members = vec![member(&alice, Role::Owner)];
        members.extend((10..20).map(|n| member(&person(n), Role::Member)));
        let big = op(
            &alice,
            1,
            GroupAction::Create {
                name: "big".into(),
                members,
            },
        );
        assert!(matches!(apply(None, &big, 5), Err(RuleError::Invalid(_))));
    }
}
