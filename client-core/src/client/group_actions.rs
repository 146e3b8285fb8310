//! What this account does with groups, and how it applies what others do.

use hush_protocol::MailboxId;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::groups::{
    GroupAction, GroupMember, GroupOp, GroupState, GroupUpdate, Role, SignedOp, apply, sign,
};
use super::records::{Contact, ConversationId};
use super::{Client, ClientError, Event, now_ms, rng};
use crate::content::{Body, GroupId};
use crate::directory::{identity_from_wire, identity_to_wire};
use crate::local_store::{LocalStoreError, Slot, WriteBatch};
use crate::pickle::Pickle;
use crate::sender_key::{GroupSession, SenderKeyDistribution};

/// A group as stored: its state and our sender keys for it.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct GroupRecord {
    pub(crate) state: GroupState,
    pub(crate) session: Vec<u8>,
    /// This account is no longer a member (left or removed); kept for the history.
    pub(crate) left: bool,
}

impl Drop for GroupRecord {
    fn drop(&mut self) {
        self.session.zeroize();
    }
}

impl GroupRecord {
    pub(crate) fn session(&self) -> Result<GroupSession, ClientError> {
        GroupSession::from_pickle(&Pickle::from_bytes(self.session.clone()))
            .map_err(|_| ClientError::Store(LocalStoreError::Corrupt("group keys".into())))
    }

    pub(crate) fn set_session(&mut self, session: &GroupSession) {
        self.session = session.pickle().as_bytes().to_vec();
    }
}

/// A group as shown to the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    /// The group's id.
    pub id: GroupId,
    /// Its name.
    pub name: String,
    /// Members with their roles, by local alias.
    pub members: Vec<(String, Role)>,
    /// This account's role (`None`: no longer a member).
    pub my_role: Option<Role>,
}

impl Client {
    pub(crate) fn group_record(&self, group: &GroupId) -> Result<GroupRecord, ClientError> {
        self.store
            .get::<GroupRecord>(Slot::Groups, &group.0)?
            .ok_or_else(|| ClientError::UnknownContact(format!("group {group}")))
    }

    fn groups_raw(&self) -> Result<Vec<GroupRecord>, ClientError> {
        Ok(self
            .store
            .scan::<GroupRecord>(Slot::Groups, b"", false)?
            .into_iter()
            .map(|(_, g)| g)
            .collect())
    }

    fn group_by_name(&self, name: &str) -> Result<GroupRecord, ClientError> {
        let name = name.strip_prefix('#').unwrap_or(name);
        let mut found: Vec<GroupRecord> = self
            .groups_raw()?
            .into_iter()
            .filter(|g| g.state.name == name && !g.left)
            .collect();
        match found.len() {
            0 => Err(ClientError::UnknownContact(format!("#{name}"))),
            1 => Ok(found.remove(0)),
            _ => Err(ClientError::InvalidInput(format!(
                "you are in several groups called #{name}; rename one (`hush group rename`)"
            ))),
        }
    }

    /// A conversation by name: `#group`, or a contact's alias, `@username` or mailbox id.
    pub fn resolve_conversation(&self, who: &str) -> Result<ConversationId, ClientError> {
        if who.starts_with('#') {
            return Ok(ConversationId::Group(self.group_by_name(who)?.state.id));
        }
        Ok(ConversationId::Direct(self.resolve(who)?.mailbox))
    }

    /// A conversation's display name: `#group` or the contact's alias.
    pub fn conversation_name(&self, conversation: &ConversationId) -> Result<String, ClientError> {
        match conversation {
            ConversationId::Direct(mailbox) => self.alias_of(mailbox),
            ConversationId::Group(group) => Ok(self
                .store
                .get::<GroupRecord>(Slot::Groups, &group.0)?
                .map_or_else(|| format!("#{group}"), |g| format!("#{}", g.state.name))),
        }
    }

    /// The groups this account is in.
    pub fn groups(&self) -> Result<Vec<GroupInfo>, ClientError> {
        let mut out = Vec::new();
        for record in self.groups_raw()?.into_iter().filter(|g| !g.left) {
            out.push(self.info(&record)?);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// One group's members and roles.
    pub fn group_info(&self, name: &str) -> Result<GroupInfo, ClientError> {
        let record = self.group_by_name(name)?;
        self.info(&record)
    }

    fn info(&self, record: &GroupRecord) -> Result<GroupInfo, ClientError> {
        let me = self.account()?.record.mailbox;
        let mut members = Vec::new();
        for member in &record.state.members {
            let alias = if member.mailbox == me {
                "me".to_owned()
            } else {
                self.alias_of(&member.mailbox)?
            };
            members.push((alias, member.role));
        }
        Ok(GroupInfo {
            id: record.state.id,
            name: record.state.name.clone(),
            members,
            my_role: record.state.member(&me).map(|m| m.role),
        })
    }

    fn me_as_member(&self, role: Role) -> Result<GroupMember, ClientError> {
        let account = self.account()?;
        Ok(GroupMember {
            mailbox: account.record.mailbox,
            identity: identity_to_wire(&account.identity.public()),
            role,
            name: account
                .record
                .name
                .clone()
                .unwrap_or_else(|| "member".into()),
        })
    }

    fn member_of(contact: &Contact) -> GroupMember {
        GroupMember {
            mailbox: contact.mailbox,
            identity: contact.identity,
            role: Role::Member,
            name: contact.alias.clone(),
        }
    }

    fn max_group(&self) -> Result<usize, ClientError> {
        Ok(self.preferences()?.max_group_size)
    }

    fn distribution_bytes(distribution: &SenderKeyDistribution) -> Vec<u8> {
        distribution.to_bytes().to_vec()
    }

    /// Creates a group with these contacts.
    pub async fn create_group(
        &mut self,
        name: &str,
        members: &[String],
    ) -> Result<GroupInfo, ClientError> {
        let name = name.strip_prefix('#').unwrap_or(name);
        if self.group_by_name(name).is_ok() {
            return Err(ClientError::InvalidInput(format!(
                "you already have a group called #{name}"
            )));
        }
        let mut list = vec![self.me_as_member(Role::Owner)?];
        for who in members {
            let contact = self.resolve(who)?;
            if list.iter().all(|m| m.mailbox != contact.mailbox) {
                list.push(Self::member_of(&contact));
            }
        }
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|_| ClientError::InvalidInput("no randomness".into()))?;
        let group = GroupId(id);
        let me = self.account()?.record.mailbox;
        let op = GroupOp {
            group,
            version: 1,
            author: me,
            action: GroupAction::Create {
                name: name.to_owned(),
                members: list,
            },
        };
        let signed = self.sign_op(&op)?;
        let (_, state) = apply(None, &signed, self.max_group()?)
            .map_err(|e| ClientError::InvalidInput(e.to_string()))?;
        let mut session = GroupSession::new(&mut rng(), group.0);
        for member in state.others(&me) {
            session.add_member(&identity_from_wire(&member.identity));
        }
        let distribution = Self::distribution_bytes(&session.own_distribution());
        let mut record = GroupRecord {
            state: state.clone(),
            session: Vec::new(),
            left: false,
        };
        record.set_session(&session);
        let mut batch = self.store.batch();
        self.store
            .put_in(&mut batch, Slot::Groups, &group.0, &record)?;
        for member in state.others(&me) {
            let update = GroupUpdate {
                group,
                op: Some(signed.clone()),
                sender_key: Some(distribution.clone()),
                snapshot: None,
            };
            self.queue_pairwise(&mut batch, member.mailbox, Body::Group(update))?;
        }
        self.store.commit(batch)?;
        self.flush_now().await?;
        self.info(&record)
    }

    fn sign_op(&self, op: &GroupOp) -> Result<SignedOp, ClientError> {
        sign(&self.account()?.identity, op)
            .ok_or_else(|| ClientError::InvalidInput("could not encode the change".into()))
    }

    /// Makes a change to a group as this account (an admin, or anyone leaving).
    async fn change_group(
        &mut self,
        name: &str,
        action: GroupAction,
    ) -> Result<GroupInfo, ClientError> {
        let record = self.group_by_name(name)?;
        let me = self.account()?.record.mailbox;
        let op = GroupOp {
            group: record.state.id,
            version: record.state.version + 1,
            author: me,
            action,
        };
        let signed = self.sign_op(&op)?;
        let mut batch = self.store.batch();
        let mut events = Vec::new();
        let previous = record.state.clone();
        self.apply_op(&mut batch, record, &signed, None, &mut events)?;
        // Everyone who was a member before hears of it (a removed member learns it was
        // removed); a new member gets the state it joins too.
        for member in previous.others(&me) {
            let update = GroupUpdate {
                group: op.group,
                op: Some(signed.clone()),
                sender_key: None,
                snapshot: None,
            };
            self.queue_pairwise(&mut batch, member.mailbox, Body::Group(update))?;
        }
        if let GroupAction::Add { member } = &op.action {
            let distribution = self.current_distribution(&op.group, &batch)?;
            let update = GroupUpdate {
                group: op.group,
                op: Some(signed.clone()),
                sender_key: distribution,
                snapshot: Some(previous.clone()),
            };
            self.queue_pairwise(&mut batch, member.mailbox, Body::Group(update))?;
        }
        self.store.commit(batch)?;
        self.flush_now().await?;
        let record = self.group_record(&op.group)?;
        self.info(&record)
    }

    fn current_distribution(
        &self,
        group: &GroupId,
        _batch: &WriteBatch,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let record = self.group_record(group)?;
        if record.left {
            return Ok(None);
        }
        Ok(Some(Self::distribution_bytes(
            &record.session()?.own_distribution(),
        )))
    }

    /// Adds a contact to a group (admins only).
    pub async fn group_add(&mut self, name: &str, who: &str) -> Result<GroupInfo, ClientError> {
        let contact = self.resolve(who)?;
        self.change_group(
            name,
            GroupAction::Add {
                member: Self::member_of(&contact),
            },
        )
        .await
    }

    /// Removes (kicks) a member (admins only); everyone rotates their sender keys.
    pub async fn group_remove(&mut self, name: &str, who: &str) -> Result<GroupInfo, ClientError> {
        let mailbox = self.group_member_mailbox(name, who)?;
        self.change_group(name, GroupAction::Remove { mailbox })
            .await
    }

    /// Leaves a group.
    pub async fn group_leave(&mut self, name: &str) -> Result<GroupInfo, ClientError> {
        self.change_group(name, GroupAction::Leave).await
    }

    /// Renames a group (admins only).
    pub async fn group_rename(
        &mut self,
        name: &str,
        new_name: &str,
    ) -> Result<GroupInfo, ClientError> {
        let new_name = new_name.strip_prefix('#').unwrap_or(new_name).to_owned();
        self.change_group(name, GroupAction::Rename { name: new_name })
            .await
    }

    /// Makes a member an admin (admins only).
    pub async fn group_promote(&mut self, name: &str, who: &str) -> Result<GroupInfo, ClientError> {
        let mailbox = self.group_member_mailbox(name, who)?;
        self.change_group(name, GroupAction::Promote { mailbox })
            .await
    }

    fn group_member_mailbox(&self, name: &str, who: &str) -> Result<MailboxId, ClientError> {
        let record = self.group_by_name(name)?;
        let by_contact = self.resolve(who).ok().map(|c| c.mailbox);
        record
            .state
            .members
            .iter()
            .find(|m| {
                Some(m.mailbox) == by_contact || m.name == who || m.mailbox.to_string() == who
            })
            .map(|m| m.mailbox)
            .ok_or_else(|| {
                ClientError::InvalidInput(format!("{who} is not in #{}", record.state.name))
            })
    }

    /// Connects and flushes the outbox if the relay is reachable; otherwise it waits.
    /// Leaves the outbox to the caller from now on (`true`): methods that would send at once
    /// only queue. For a service that owns its connection and flushes after every command.
    pub fn defer_flush(&mut self, deferred: bool) {
        self.flush_deferred = deferred;
    }

    pub(crate) async fn flush_now(&mut self) -> Result<(), ClientError> {
        if self.flush_deferred {
            return Ok(());
        }
        match self.connect().await {
            Ok(connection) => {
                let report = self.flush_outbox(&connection).await;
                connection.close().await;
                match report.error {
                    Some(ClientError::Transport(error)) if error.is_transient() => Ok(()),
                    Some(error) => Err(error),
                    None => Ok(()),
                }
            }
            Err(ClientError::Transport(error)) if error.is_transient() => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Makes sure every member of a group can be written to pairwise (a contact entry with the
    /// identity the group states).
    fn ensure_contacts(
        &self,
        batch: &mut WriteBatch,
        state: &GroupState,
    ) -> Result<(), ClientError> {
        let me = self.account()?.record.mailbox;
        let mut taken: Vec<String> = self.contacts()?.into_iter().map(|c| c.alias).collect();
        for member in state.others(&me) {
            if self
                .store
                .contains(Slot::Contacts, member.mailbox.as_bytes())?
            {
                continue;
            }
            let alias = super::unique_alias(Some(&member.name), &member.mailbox, &taken);
            taken.push(alias.clone());
            let contact = Contact {
                mailbox: member.mailbox,
                alias,
                relay: self.account()?.record.relay.clone(),
                identity: member.identity,
                verified: false,
                key_changed: false,
                username: None,
                added_at_ms: now_ms(),
                last_seen_ms: None,
                online: false,
            };
            self.store
                .put_in(batch, Slot::Contacts, member.mailbox.as_bytes(), &contact)?;
        }
        Ok(())
    }

    /// Applies a verified-by-rules operation to a group we know, with all local effects:
    /// sender-key changes and the distributions other members need.
    pub(crate) fn apply_op(
        &self,
        batch: &mut WriteBatch,
        mut record: GroupRecord,
        signed: &SignedOp,
        pairwise_sender: Option<MailboxId>,
        events: &mut Vec<Event>,
    ) -> Result<(), ClientError> {
        let me = self.account()?.record.mailbox;
        let (op, next) = match apply(Some(&record.state), signed, self.max_group()?) {
            Ok(applied) => applied,
            Err(error) => {
                events.push(Event::GroupChangeRefused {
                    group: format!("#{}", record.state.name),
                    reason: error.to_string(),
                });
                return Ok(());
            }
        };
        if pairwise_sender.is_some_and(|s| s != op.author) {
            events.push(Event::GroupChangeRefused {
                group: format!("#{}", record.state.name),
                reason: "a group change relayed by someone other than its author".into(),
            });
            return Ok(());
        }
        let mut session = record.session()?;
        let mut redistribute = false;
        let description = match &op.action {
            GroupAction::Add { member } => {
                session.add_member(&identity_from_wire(&member.identity));
                if member.mailbox != me && op.author != me {
                    // The new member needs our current sender key.
                    let distribution = Self::distribution_bytes(&session.own_distribution());
                    let update = GroupUpdate {
                        group: op.group,
                        op: None,
                        sender_key: Some(distribution),
                        snapshot: None,
                    };
                    record.state = next.clone();
                    self.ensure_contacts(batch, &next)?;
                    self.queue_pairwise(batch, member.mailbox, Body::Group(update))?;
                }
                format!("{} joined", member.name)
            }
            GroupAction::Promote { mailbox } => {
                let name = record
                    .state
                    .member(mailbox)
                    .map(|m| m.name.clone())
                    .unwrap_or_default();
                format!("{name} is now an admin")
            }
            GroupAction::Remove { mailbox } => {
                let name = record
                    .state
                    .member(mailbox)
                    .map(|m| m.name.clone())
                    .unwrap_or_default();
                if let Some(removed) = record.state.member(mailbox) {
                    let _ =
                        session.remove_member(&identity_from_wire(&removed.identity), &mut rng());
                }
                redistribute = *mailbox != me;
                format!("{name} was removed")
            }
            GroupAction::Leave => {
                let name = record
                    .state
                    .member(&op.author)
                    .map(|m| m.name.clone())
                    .unwrap_or_default();
                if let Some(leaver) = record.state.member(&op.author) {
                    let _ =
                        session.remove_member(&identity_from_wire(&leaver.identity), &mut rng());
                }
                redistribute = op.author != me;
                format!("{name} left")
            }
            GroupAction::Rename { name } => format!("renamed to #{name}"),
            GroupAction::Create { .. } => String::new(),
        };
        record.state = next;
        if record.state.member(&me).is_none() {
            record.left = true;
            record.session.zeroize();
        } else {
            if redistribute {
                // Our chain was rotated: the remaining members need the new key.
                let distribution = Self::distribution_bytes(&session.own_distribution());
                for member in record.state.others(&me) {
                    let update = GroupUpdate {
                        group: op.group,
                        op: None,
                        sender_key: Some(distribution.clone()),
                        snapshot: None,
                    };
                    self.queue_pairwise(batch, member.mailbox, Body::Group(update))?;
                }
            }
            record.set_session(&session);
        }
        let group = format!("#{}", record.state.name);
        let removed_me = record.left;
        self.store
            .put_in(batch, Slot::Groups, &op.group.0, &record)?;
        if op.author != me {
            events.push(Event::GroupChanged {
                group,
                change: if removed_me {
                    "you are no longer a member".into()
                } else {
                    description
                },
            });
        }
        Ok(())
    }

    /// Applies a group update received pairwise from `sender` (whose identity the 1:1 session
    /// authenticated). Returns whether a group became known (stashed deliveries can be
    /// retried).
    pub(crate) fn apply_update(
        &self,
        batch: &mut WriteBatch,
        sender: MailboxId,
        sender_identity: &crate::identity::PublicIdentity,
        update: GroupUpdate,
        events: &mut Vec<Event>,
    ) -> Result<bool, ClientError> {
        let me = self.account()?.record.mailbox;
        let existing = self
            .store
            .get::<GroupRecord>(Slot::Groups, &update.group.0)?;
        let mut became_known = false;
        if let Some(signed) = &update.op {
            match existing {
                Some(record) if !record.left => {
                    self.apply_op(batch, record, signed, Some(sender), events)?;
                }
                _ => {
                    // A group new to us: created with us in it, or we were added (with the
                    // state before the addition as a snapshot).
                    let base = update.snapshot.as_ref();
                    match apply(base, signed, self.max_group()?) {
                        Ok((op, state))
                            if op.author == sender
                                && state.member(&me).is_some()
                                && op.group == update.group =>
                        {
                            if let Some(base) = base
                                && base.member(&op.author).is_none_or(|m| !m.role.is_admin())
                            {
                                events.push(Event::GroupChangeRefused {
                                    group: format!("#{}", state.name),
                                    reason: "an invitation from someone who is not an admin".into(),
                                });
                                return Ok(false);
                            }
                            let mut session = GroupSession::new(&mut rng(), update.group.0);
                            for member in state.others(&me) {
                                session.add_member(&identity_from_wire(&member.identity));
                            }
                            self.ensure_contacts(batch, &state)?;
                            // Everyone else needs our sender key.
                            let distribution =
                                Self::distribution_bytes(&session.own_distribution());
                            for member in state.others(&me) {
                                let update = GroupUpdate {
                                    group: op.group,
                                    op: None,
                                    sender_key: Some(distribution.clone()),
                                    snapshot: None,
                                };
                                self.queue_pairwise(batch, member.mailbox, Body::Group(update))?;
                            }
                            let mut record = GroupRecord {
                                state: state.clone(),
                                session: Vec::new(),
                                left: false,
                            };
                            record.set_session(&session);
                            self.store
                                .put_in(batch, Slot::Groups, &op.group.0, &record)?;
                            events.push(Event::GroupChanged {
                                group: format!("#{}", state.name),
                                change: "you were added".into(),
                            });
                            became_known = true;
                        }
                        Ok(_) => {}
                        Err(error) => events.push(Event::GroupChangeRefused {
                            group: format!("#{}", update.group),
                            reason: error.to_string(),
                        }),
                    }
                }
            }
        }
        if let Some(bytes) = &update.sender_key {
            // The record as just staged, or as stored.
            let staged = batch_group(batch, self, &update.group)?;
            if let Some(mut record) = staged.filter(|r| !r.left)
                && record.state.member(&sender).is_some()
                && let Ok(distribution) = SenderKeyDistribution::from_bytes(bytes)
            {
                let mut session = record.session()?;
                if session
                    .add_distribution(sender_identity, &distribution)
                    .is_ok()
                {
                    record.set_session(&session);
                    self.store
                        .put_in(batch, Slot::Groups, &update.group.0, &record)?;
                    became_known = true;
                }
            }
        }
        Ok(became_known)
    }
}

/// The group record as staged in `batch` (if this batch wrote it), else as stored.
fn batch_group(
    batch: &WriteBatch,
    client: &Client,
    group: &GroupId,
) -> Result<Option<GroupRecord>, ClientError> {
    if let Some(record) = client
        .store
        .staged::<GroupRecord>(batch, Slot::Groups, &group.0)?
    {
        return Ok(Some(record));
    }
    Ok(client.store.get(Slot::Groups, &group.0)?)
}
