//! Receiving: sync, listen, and processing one delivery.

use std::collections::BTreeMap;
use std::time::Duration;

use hush_protocol::{Delivery, MailboxId};

use super::group_actions::GroupRecord;
use super::records::{
    Contact, ConversationId, ConversationSettings, Direction, MAX_SESSIONS_PER_CONTACT, Message,
    SessionRecord, Status, message_key,
};
use super::{Client, ClientError, now_ms, rng};
use crate::content::{Body, Content, GroupId, MessageId, SealedPayload};
use crate::directory::{identity_from_wire, identity_to_wire};
use crate::identity::PublicIdentity;
use crate::local_store::{Slot, WriteBatch};
use crate::message::SessionMessage;
use crate::pickle::Pickle;
use crate::sender_key::GroupMessage;
use crate::session::Session;
use crate::transport::{Push, RelayConnection, TransportError};

/// Deliveries kept per group while what they need has not arrived yet.
const MAX_STASH_PER_GROUP: usize = 1000;
/// A contact counts as online for this long after their last "online" presence.
pub const PRESENCE_FRESH_MS: u64 = 5 * 60 * 1000;

/// Something the user should see.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A new message, already stored.
    Message(Message),
    /// A message was edited by its author.
    Edited(Message),
    /// A message was deleted for everyone.
    Deleted {
        /// The conversation.
        conversation: ConversationId,
        /// The message.
        id: MessageId,
    },
    /// Someone reacted to a message.
    Reacted(Message),
    /// A receipt arrived for one of this account's messages.
    Receipt {
        /// The message, with its updated per-recipient states.
        message: Message,
        /// Who sent the receipt.
        from: MailboxId,
        /// Read (else delivered).
        read: bool,
    },
    /// Someone not in the contacts wrote; they were added under this alias.
    NewContact(Contact),
    /// A contact's identity key changed (reinstall, new device — or an attack): compare
    /// safety numbers.
    IdentityChanged(Contact),
    /// A group changed (someone joined, left, was removed; renamed; this account added).
    GroupChanged {
        /// `#name`.
        group: String,
        /// What happened.
        change: String,
    },
    /// A group change was refused by the rules (not signed by an admin, conflicting, …).
    GroupChangeRefused {
        /// `#name` (or the id).
        group: String,
        /// Why.
        reason: String,
    },
    /// A conversation's disappearing-message timer changed.
    TimerChanged {
        /// The conversation.
        conversation: ConversationId,
        /// The new timer (`None`: off).
        seconds: Option<u64>,
    },
    /// A contact started or stopped typing.
    Typing {
        /// Who.
        contact: MailboxId,
        /// In which conversation.
        conversation: ConversationId,
        /// Typing now.
        active: bool,
    },
    /// A contact's presence changed.
    Presence {
        /// Who.
        contact: MailboxId,
        /// Online now.
        online: bool,
    },
    /// A message arrived that could not be decrypted (it was dropped).
    Undecryptable,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// New messages stored.
    pub received: usize,
    /// Deliveries already seen (acknowledged again, not shown twice).
    pub duplicates: usize,
    /// Deliveries that could not be decrypted.
    pub undecryptable: usize,
    /// Outbox envelopes the relay stored.
    pub sent: usize,
    /// Envelopes still in the outbox.
    pub queued: usize,
    /// Why the outbox could not be emptied, if it could not.
    pub send_error: Option<String>,
    /// Files whose upload finished (resumed) during this sync.
    pub uploads: Vec<super::files::UploadReport>,
    /// Files still waiting to be uploaded.
    pub pending_uploads: usize,
    /// Why an upload could not be finished, if one could not.
    pub upload_error: Option<String>,
}

/// What a push means for the loop that receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Keep receiving.
    Continue,
    /// Everything queued was delivered (receipts were queued and the outbox flushed).
    Drained,
    /// Another connection took over receiving for this account.
    Unsubscribed,
}

enum Processed {
    Duplicate,
    Undecryptable,
    Events(Vec<Event>),
}

/// A delivery opened with the right key.
enum Opened {
    Pairwise {
        sender: MailboxId,
        sessions: SessionRecord,
        content: Content,
        identity: PublicIdentity,
        presented: bool,
        prekeys_used: bool,
    },
    Group {
        sender: MailboxId,
        group: GroupId,
        record: GroupRecord,
        content: Content,
    },
    /// It needs a group (or a sender key) that has not arrived yet.
    Stash(GroupId),
    Undecryptable,
}

impl Client {
    /// Connects (flushing the outbox), receives everything pending, then keeps receiving for
    /// up to `wait`; calls `on_event` for each event as it is stored.
    pub async fn sync(
        &mut self,
        wait: Duration,
        mut on_event: impl FnMut(&Client, &Event),
    ) -> Result<SyncReport, ClientError> {
        let mut connection = self.connect().await?;
        let mut report = SyncReport::default();
        self.resume_uploads_into(&connection, &mut report).await?;
        self.release_saved(&connection).await;
        self.flush_into(&connection, &mut report).await?;
        connection.subscribe().await?;
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let push = match deadline {
                Some(deadline) => {
                    match tokio::time::timeout_at(deadline, connection.next_push()).await {
                        Ok(push) => push?,
                        Err(_) => break,
                    }
                }
                None => connection.next_push().await?,
            };
            match self
                .handle_push(&mut connection, push, &mut report, &mut on_event)
                .await?
            {
                PushOutcome::Continue => {}
                PushOutcome::Drained => {
                    if wait.is_zero() {
                        break;
                    }
                    deadline.get_or_insert_with(|| tokio::time::Instant::now() + wait);
                }
                PushOutcome::Unsubscribed => break,
            }
        }
        self.queue_receipts()?;
        self.flush_into(&connection, &mut report).await?;
        self.maintain_prekeys(&connection).await?;
        connection.close().await;
        Ok(report)
    }

    /// Handles one push: stores and acknowledges deliveries, shows ephemeral ones, and on
    /// `Drained` queues receipts and flushes the outbox. `on_event` sees every event.
    pub async fn handle_push(
        &mut self,
        connection: &mut RelayConnection,
        push: Push,
        report: &mut SyncReport,
        on_event: &mut impl FnMut(&Client, &Event),
    ) -> Result<PushOutcome, ClientError> {
        let events = match push {
            Push::Deliver(delivery) => self.handle_delivery(connection, delivery, report).await?,
            Push::Ephemeral(delivery) => self.handle_ephemeral(&delivery)?,
            Push::Drained => {
                self.queue_receipts()?;
                self.flush_into(connection, report).await?;
                return Ok(PushOutcome::Drained);
            }
            Push::Unsubscribed => return Ok(PushOutcome::Unsubscribed),
            _ => Vec::new(),
        };
        for event in &events {
            on_event(self, event);
        }
        Ok(PushOutcome::Continue)
    }

    /// Sends what the outbox holds over an open connection (receipts, queued messages).
    pub async fn flush_pending(&mut self, connection: &RelayConnection) -> Result<(), ClientError> {
        let mut report = SyncReport::default();
        self.flush_into(connection, &mut report).await
    }

    /// Resumes recorded uploads; errors that retrying may fix (and files that can no longer
    /// be sent) are reported, not returned.
    pub(crate) async fn resume_uploads_into(
        &mut self,
        connection: &RelayConnection,
        report: &mut SyncReport,
    ) -> Result<(), ClientError> {
        let (uploads, error) = self.resume_uploads(connection).await;
        report.uploads.extend(uploads);
        report.pending_uploads = self.pending_uploads()?;
        match error {
            None => Ok(()),
            Some(ClientError::Transport(error)) if error.is_transient() => {
                report.upload_error = Some(error.to_string());
                Ok(())
            }
            Some(error @ (ClientError::File(_) | ClientError::InvalidInput(_))) => {
                report.upload_error = Some(error.to_string());
                Ok(())
            }
            Some(error) => Err(error),
        }
    }

    pub(crate) async fn flush_into(
        &mut self,
        connection: &RelayConnection,
        report: &mut SyncReport,
    ) -> Result<(), ClientError> {
        let flush = self.flush_outbox(connection).await;
        report.sent += flush.sent;
        report.queued = self.outbox_len()?;
        match flush.error {
            None => Ok(()),
            Some(ClientError::Transport(error)) if error.is_transient() => {
                report.send_error = Some(error.to_string());
                Ok(())
            }
            Some(error) => Err(error),
        }
    }

    /// Stores one delivery durably, then acknowledges it. Returns what to show.
    pub async fn handle_delivery(
        &mut self,
        connection: &mut RelayConnection,
        delivery: Delivery,
        report: &mut SyncReport,
    ) -> Result<Vec<Event>, ClientError> {
        let id = delivery.id;
        let events = self.receive_envelope(&delivery, report)?;
        // Only now, after the durable local write, may the relay delete it.
        connection.ack(&[id]).await?;
        Ok(events)
    }

    /// Processes an envelope received by any means (stored durably; not acknowledged).
    pub fn receive_envelope(
        &mut self,
        delivery: &Delivery,
        report: &mut SyncReport,
    ) -> Result<Vec<Event>, ClientError> {
        Ok(match self.process(delivery, false)? {
            Processed::Duplicate => {
                report.duplicates += 1;
                Vec::new()
            }
            Processed::Undecryptable => {
                report.undecryptable += 1;
                vec![Event::Undecryptable]
            }
            Processed::Events(events) => {
                report.received += events
                    .iter()
                    .filter(|e| matches!(e, Event::Message(_)))
                    .count();
                events
            }
        })
    }

    /// Keeps a connection open (reconnecting with backoff), receiving and sending, until
    /// `stop` completes. Errors that reconnecting cannot fix end it.
    pub async fn listen(
        &mut self,
        stop: impl std::future::Future<Output = ()>,
        mut on_event: impl FnMut(&Client, &Event),
        mut on_connection: impl FnMut(Result<(), &TransportError>),
    ) -> Result<(), ClientError> {
        tokio::pin!(stop);
        let mut backoff = crate::transport::Backoff::default();
        loop {
            let attempt = async {
                let mut connection = self.connect().await?;
                on_connection(Ok(()));
                let mut report = SyncReport::default();
                self.flush_into(&connection, &mut report).await?;
                connection.subscribe().await?;
                self.announce_presence(&connection, true).await;
                loop {
                    let push = connection.next_push().await?;
                    match self
                        .handle_push(&mut connection, push, &mut report, &mut on_event)
                        .await?
                    {
                        PushOutcome::Continue => {}
                        PushOutcome::Drained => {
                            let _ = self.maintain_prekeys(&connection).await;
                        }
                        PushOutcome::Unsubscribed => {
                            return Err(ClientError::InvalidInput(
                                "another hush session took over receiving for this account".into(),
                            ));
                        }
                    }
                }
            };
            let result: Result<(), ClientError> = tokio::select! {
                () = &mut stop => return Ok(()),
                result = attempt => result,
            };
            match result {
                Err(ClientError::Transport(error)) if error.is_transient() => {
                    on_connection(Err(&error));
                    let delay = super::reconnect_delay(&mut backoff);
                    tokio::select! {
                        () = &mut stop => return Ok(()),
                        () = tokio::time::sleep(delay) => {}
                    }
                }
                Err(error) => return Err(error),
                Ok(()) => backoff.reset(),
            }
        }
    }

    /// Decrypts and stores one delivery (not yet acknowledged).
    fn process(&mut self, delivery: &Delivery, from_stash: bool) -> Result<Processed, ClientError> {
        let seen_key = delivery.id.as_bytes();
        if !from_stash && self.store.contains(Slot::Seen, seen_key)? {
            return Ok(Processed::Duplicate);
        }
        let now = now_ms();
        let opened = self.open_delivery(delivery)?;
        let mut batch = self.store.batch();
        self.store.put_in(&mut batch, Slot::Seen, seen_key, &now)?;
        let mut events = Vec::new();
        let mut retry_group = None;
        match opened {
            Opened::Undecryptable => {
                self.store.commit(batch)?;
                return Ok(Processed::Undecryptable);
            }
            Opened::Stash(group) => {
                if from_stash {
                    return Ok(Processed::Events(Vec::new()));
                }
                let stashed = self
                    .store
                    .scan::<Delivery>(Slot::Stash, &group.0, false)?
                    .len();
                if stashed >= MAX_STASH_PER_GROUP {
                    self.store.commit(batch)?;
                    return Ok(Processed::Undecryptable);
                }
                let key = [group.0.as_slice(), &self.store.next_seq()?.to_be_bytes()].concat();
                self.store.put_in(&mut batch, Slot::Stash, &key, delivery)?;
                self.store.commit(batch)?;
                return Ok(Processed::Events(Vec::new()));
            }
            Opened::Pairwise {
                sender,
                sessions,
                content,
                identity,
                presented,
                prekeys_used,
            } => {
                let contact = self.sender_contact(
                    &mut batch,
                    sender,
                    &identity,
                    presented,
                    &content,
                    &mut events,
                )?;
                let Some(contact) = contact else {
                    self.store.commit(batch)?;
                    return Ok(Processed::Undecryptable);
                };
                self.store
                    .put_in(&mut batch, Slot::Sessions, sender.as_bytes(), &sessions)?;
                if prekeys_used {
                    self.stage_account(&mut batch)?;
                }
                if let Body::Group(update) = content.body {
                    let group = update.group;
                    if self.apply_update(&mut batch, sender, &identity, update, &mut events)? {
                        retry_group = Some(group);
                    }
                } else {
                    let conversation = ConversationId::Direct(contact.mailbox);
                    self.apply_content(
                        &mut batch,
                        sender,
                        conversation,
                        content,
                        now,
                        &mut events,
                    )?;
                }
            }
            Opened::Group {
                sender,
                group,
                record,
                content,
            } => {
                self.store
                    .put_in(&mut batch, Slot::Groups, &group.0, &record)?;
                self.touch_contact(&mut batch, sender, now)?;
                self.apply_content(
                    &mut batch,
                    sender,
                    ConversationId::Group(group),
                    content,
                    now,
                    &mut events,
                )?;
            }
        }
        self.store.commit(batch)?;
        if let Some(group) = retry_group {
            events.extend(self.retry_stash(&group)?);
        }
        Ok(Processed::Events(events))
    }

    /// Retries deliveries stashed for a group (after it became known or got a sender key).
    fn retry_stash(&mut self, group: &GroupId) -> Result<Vec<Event>, ClientError> {
        let mut events = Vec::new();
        for (key, delivery) in self.store.scan::<Delivery>(Slot::Stash, &group.0, false)? {
            let opened_now = !matches!(self.open_delivery(&delivery)?, Opened::Stash(_));
            if !opened_now {
                continue;
            }
            if let Processed::Events(more) = self.process(&delivery, true)? {
                events.extend(more);
            }
            let mut batch = self.store.batch();
            self.store.remove_in(&mut batch, Slot::Stash, &key);
            self.store.commit(batch)?;
        }
        Ok(events)
    }

    /// The contact a pairwise message comes from: known, new (first message from someone with
    /// our invite), or with a changed identity. `None`: unknown and not introduced by X3DH.
    fn sender_contact(
        &self,
        batch: &mut WriteBatch,
        sender: MailboxId,
        identity: &PublicIdentity,
        presented: bool,
        content: &Content,
        events: &mut Vec<Event>,
    ) -> Result<Option<Contact>, ClientError> {
        let now = now_ms();
        let existing = self
            .store
            .get::<Contact>(Slot::Contacts, sender.as_bytes())?;
        let contact = match existing {
            Some(mut contact) => {
                if presented && identity_from_wire(&contact.identity) != *identity {
                    contact.identity = identity_to_wire(identity);
                    contact.key_changed = true;
                    contact.verified = false;
                    events.push(Event::IdentityChanged(contact.clone()));
                }
                contact.last_seen_ms = Some(now);
                contact
            }
            None if presented => {
                let contact = Contact {
                    mailbox: sender,
                    alias: self.free_alias(content.sender_name.as_deref(), &sender)?,
                    relay: self.account()?.record.relay.clone(),
                    identity: identity_to_wire(identity),
                    verified: false,
                    key_changed: false,
                    username: None,
                    added_at_ms: now,
                    last_seen_ms: Some(now),
                    online: false,
                };
                events.push(Event::NewContact(contact.clone()));
                contact
            }
            None => return Ok(None),
        };
        self.store
            .put_in(batch, Slot::Contacts, sender.as_bytes(), &contact)?;
        Ok(Some(contact))
    }

    fn touch_contact(
        &self,
        batch: &mut WriteBatch,
        mailbox: MailboxId,
        now: u64,
    ) -> Result<(), ClientError> {
        if let Some(mut contact) = self
            .store
            .get::<Contact>(Slot::Contacts, mailbox.as_bytes())?
        {
            contact.last_seen_ms = Some(now);
            self.store
                .put_in(batch, Slot::Contacts, mailbox.as_bytes(), &contact)?;
        }
        Ok(())
    }

    fn message_by_id(
        &self,
        batch: &WriteBatch,
        id: &MessageId,
    ) -> Result<Option<(Vec<u8>, Message)>, ClientError> {
        let key = match self
            .store
            .staged::<Vec<u8>>(batch, Slot::MessageIndex, &id.0)?
        {
            Some(key) => key,
            None => match self.store.get::<Vec<u8>>(Slot::MessageIndex, &id.0)? {
                Some(key) => key,
                None => return Ok(None),
            },
        };
        let message = match self.store.staged::<Message>(batch, Slot::Messages, &key)? {
            Some(message) => Some(message),
            None => self.store.get::<Message>(Slot::Messages, &key)?,
        };
        Ok(message.map(|m| (key, m)))
    }

    /// Whether `who` may act as a group admin in `conversation`.
    fn is_group_admin(
        &self,
        conversation: &ConversationId,
        who: &MailboxId,
    ) -> Result<bool, ClientError> {
        let ConversationId::Group(group) = conversation else {
            return Ok(false);
        };
        let record = self.group_record(group)?;
        Ok(record.state.member(who).is_some_and(|m| m.role.is_admin()))
    }

    /// Applies a decrypted content to the local state.
    fn apply_content(
        &mut self,
        batch: &mut WriteBatch,
        sender: MailboxId,
        conversation: ConversationId,
        content: Content,
        now: u64,
        events: &mut Vec<Event>,
    ) -> Result<(), ClientError> {
        match content.body {
            body @ (Body::Text { .. } | Body::File { .. }) => {
                if self.message_by_id(batch, &content.message_id)?.is_some() {
                    // The same message in a new envelope (e.g. resent after a reinstall).
                    return Ok(());
                }
                let (text, reply_to, file) = match body {
                    Body::Text { text, reply_to } => (text, reply_to, None),
                    Body::File { file, caption } => (caption.unwrap_or_default(), None, Some(file)),
                    _ => return Ok(()),
                };
                let key = message_key(&conversation, self.store.next_seq()?);
                let mut message = Message {
                    id: content.message_id,
                    conversation,
                    direction: Direction::Incoming,
                    sender: Some(sender),
                    text,
                    reply_to,
                    sent_at_ms: content.sent_at_ms,
                    received_at_ms: now,
                    edited_at_ms: None,
                    expires_at_ms: self.expiry_for(&conversation, now)?,
                    status: Status::Received,
                    recipients: Vec::new(),
                    reactions: Vec::new(),
                    file: None,
                };
                if let Some(file) = file {
                    // The file's key goes into its own record; the message shows the rest.
                    self.incoming_file_message(batch, &mut message, file)?;
                }
                self.store.put_in(batch, Slot::Messages, &key, &message)?;
                self.store
                    .put_in(batch, Slot::MessageIndex, &message.id.0, &key)?;
                if self.wants_receipts(&conversation)? {
                    self.pending_receipts
                        .entry(sender)
                        .or_default()
                        .push((message.id, false));
                }
                events.push(Event::Message(message));
            }
            Body::Edit { target, text } => {
                if let Some((key, mut message)) = self.message_by_id(batch, &target)?
                    && message.sender == Some(sender)
                    && message.conversation == conversation
                {
                    message.text = text;
                    message.edited_at_ms = Some(now);
                    self.store.put_in(batch, Slot::Messages, &key, &message)?;
                    events.push(Event::Edited(message));
                }
            }
            Body::Delete { target } => {
                if let Some((key, message)) = self.message_by_id(batch, &target)?
                    && message.conversation == conversation
                    && (message.sender == Some(sender)
                        || self.is_group_admin(&conversation, &sender)?)
                {
                    self.store.remove_in(batch, Slot::Messages, &key);
                    self.store.remove_in(batch, Slot::MessageIndex, &target.0);
                    self.store.remove_in(batch, Slot::Files, &target.0);
                    events.push(Event::Deleted {
                        conversation,
                        id: target,
                    });
                }
            }
            Body::Reaction { target, emoji } => {
                if let Some((key, mut message)) = self.message_by_id(batch, &target)?
                    && message.conversation == conversation
                {
                    message.reactions.retain(|(who, _)| *who != Some(sender));
                    if !emoji.is_empty() {
                        message
                            .reactions
                            .push((Some(sender), emoji.chars().take(16).collect()));
                    }
                    self.store.put_in(batch, Slot::Messages, &key, &message)?;
                    events.push(Event::Reacted(message));
                }
            }
            Body::Receipt { read, targets } => {
                for target in targets.iter().take(hush_protocol::limits::MAX_ACK_BATCH) {
                    if let Some((key, mut message)) = self.message_by_id(batch, target)?
                        && message.direction == Direction::Outgoing
                    {
                        let state = if read {
                            Status::Read
                        } else {
                            Status::Delivered
                        };
                        let mut changed = false;
                        for (who, current) in &mut message.recipients {
                            if *who == sender && *current < state {
                                *current = state;
                                changed = true;
                            }
                        }
                        if changed {
                            message.settle_status();
                            self.store.put_in(batch, Slot::Messages, &key, &message)?;
                            events.push(Event::Receipt {
                                message,
                                from: sender,
                                read,
                            });
                        }
                    }
                }
            }
            Body::Timer { seconds } => {
                let settings = ConversationSettings {
                    timer_secs: seconds,
                };
                self.store.put_in(
                    batch,
                    Slot::Conversations,
                    &conversation.key_prefix(),
                    &settings,
                )?;
                events.push(Event::TimerChanged {
                    conversation,
                    seconds,
                });
            }
            Body::Typing { active } => events.push(Event::Typing {
                contact: sender,
                conversation,
                active,
            }),
            Body::Presence { online } => {
                if let Some(mut contact) = self
                    .store
                    .get::<Contact>(Slot::Contacts, sender.as_bytes())?
                {
                    contact.online = online;
                    contact.last_seen_ms = Some(now);
                    self.store
                        .put_in(batch, Slot::Contacts, sender.as_bytes(), &contact)?;
                }
                events.push(Event::Presence {
                    contact: sender,
                    online,
                });
            }
            Body::Group(_) => {}
        }
        Ok(())
    }

    /// An ephemeral envelope (typing, presence): decrypted, its session advanced, never stored
    /// as a message, not acknowledged.
    pub fn handle_ephemeral(&mut self, delivery: &Delivery) -> Result<Vec<Event>, ClientError> {
        let now = now_ms();
        let mut events = Vec::new();
        let mut batch = self.store.batch();
        match self.open_delivery(delivery)? {
            Opened::Pairwise {
                sender,
                sessions,
                content,
                ..
            } => {
                if !matches!(content.body, Body::Typing { .. } | Body::Presence { .. }) {
                    return Ok(events);
                }
                if !self.store.contains(Slot::Contacts, sender.as_bytes())? {
                    return Ok(events);
                }
                self.store
                    .put_in(&mut batch, Slot::Sessions, sender.as_bytes(), &sessions)?;
                self.apply_content(
                    &mut batch,
                    sender,
                    ConversationId::Direct(sender),
                    content,
                    now,
                    &mut events,
                )?;
            }
            Opened::Group {
                sender,
                group,
                record,
                content,
            } => {
                if !matches!(content.body, Body::Typing { .. }) {
                    return Ok(events);
                }
                self.store
                    .put_in(&mut batch, Slot::Groups, &group.0, &record)?;
                self.apply_content(
                    &mut batch,
                    sender,
                    ConversationId::Group(group),
                    content,
                    now,
                    &mut events,
                )?;
            }
            Opened::Stash(_) | Opened::Undecryptable => return Ok(events),
        }
        self.store.commit(batch)?;
        Ok(events)
    }

    /// Finds the key for a delivery and decrypts it. Nothing is saved here; the caller saves
    /// the returned state with what the message changes.
    fn open_delivery(&mut self, delivery: &Delivery) -> Result<Opened, ClientError> {
        let Some(sealed) = SealedPayload::from_bytes(&delivery.payload) else {
            return Ok(Opened::Undecryptable);
        };
        if let Some(group) = sealed.group {
            return self.open_group(sealed.sender, group, &sealed.message);
        }
        let Ok(message) = SessionMessage::from_bytes(&sealed.message) else {
            return Ok(Opened::Undecryptable);
        };
        let mut record = self
            .store
            .get::<SessionRecord>(Slot::Sessions, sealed.sender.as_bytes())?
            .unwrap_or_default();
        let mut sessions: Vec<Session> = record
            .pickles
            .iter()
            .filter_map(|p| Session::from_pickle(&Pickle::from_bytes(p.clone())).ok())
            .collect();
        let mut rng = rng();
        let mut presented = false;
        let mut prekeys_used = false;
        let mut opened: Option<(usize, Vec<u8>)> = None;
        match &message {
            SessionMessage::PreKey(initial) => {
                if let Some(index) = sessions.iter().position(|s| s.matches(initial)) {
                    if let Some(session) = sessions.get_mut(index) {
                        opened = session.decrypt(&mut rng, &message).ok().map(|p| (index, p));
                    }
                } else {
                    let account = self.account_mut()?;
                    if let Ok(inbound) = Session::new_inbound(
                        &account.identity,
                        &mut account.prekeys,
                        initial,
                        &mut rng,
                    ) {
                        prekeys_used = true;
                        sessions.insert(0, inbound.session);
                        opened = Some((0, inbound.plaintext));
                    }
                }
                // X3DH authenticated the identity it carries.
                presented = opened.is_some();
            }
            _ => {
                // Current session first, then older ones (messages still in flight from a
                // session both sides started at once).
                for (index, session) in sessions.iter_mut().enumerate() {
                    if let Ok(plaintext) = session.decrypt(&mut rng, &message) {
                        opened = Some((index, plaintext));
                        break;
                    }
                }
            }
        }
        let Some((index, plaintext)) = opened else {
            return Ok(Opened::Undecryptable);
        };
        let Some(content) = Content::from_bytes(&plaintext) else {
            return Ok(Opened::Undecryptable);
        };
        if index < sessions.len() {
            let used = sessions.remove(index);
            sessions.insert(0, used);
        }
        sessions.truncate(MAX_SESSIONS_PER_CONTACT);
        let Some(identity) = sessions.first().map(|s| s.remote_identity().clone()) else {
            return Ok(Opened::Undecryptable);
        };
        record.pickles = sessions
            .iter()
            .map(|s| s.pickle().as_bytes().to_vec())
            .collect();
        Ok(Opened::Pairwise {
            sender: sealed.sender,
            sessions: record,
            content,
            identity,
            presented,
            prekeys_used,
        })
    }

    fn open_group(
        &self,
        sender: MailboxId,
        group: GroupId,
        bytes: &[u8],
    ) -> Result<Opened, ClientError> {
        let Some(mut record) = self.store.get::<GroupRecord>(Slot::Groups, &group.0)? else {
            return Ok(Opened::Stash(group));
        };
        if record.left {
            return Ok(Opened::Undecryptable);
        }
        let Some(member) = record.state.member(&sender) else {
            return Ok(Opened::Undecryptable);
        };
        let Ok(message) = GroupMessage::from_bytes(bytes) else {
            return Ok(Opened::Undecryptable);
        };
        let identity = identity_from_wire(&member.identity);
        let mut session = record.session()?;
        let Ok(opened) = session.decrypt(&identity, &message) else {
            // Most likely the sender's key has not arrived yet (it travels pairwise).
            return Ok(Opened::Stash(group));
        };
        let Some(content) = Content::from_bytes(&opened.plaintext) else {
            return Ok(Opened::Undecryptable);
        };
        if matches!(
            content.body,
            Body::Group(_) | Body::Receipt { .. } | Body::Presence { .. }
        ) {
            // Those travel pairwise only.
            return Ok(Opened::Undecryptable);
        }
        record.set_session(&session);
        Ok(Opened::Group {
            sender,
            group,
            record,
            content,
        })
    }

    fn free_alias(&self, wanted: Option<&str>, mailbox: &MailboxId) -> Result<String, ClientError> {
        let taken: Vec<String> = self.contacts()?.into_iter().map(|c| c.alias).collect();
        Ok(super::unique_alias(wanted, mailbox, &taken))
    }

    /// Turns the delivery receipts collected while receiving into outbox entries (one per
    /// sender).
    pub(crate) fn queue_receipts(&mut self) -> Result<(), ClientError> {
        let pending: BTreeMap<MailboxId, Vec<(MessageId, bool)>> =
            std::mem::take(&mut self.pending_receipts);
        if pending.is_empty() {
            return Ok(());
        }
        let mut batch = self.store.batch();
        for (to, items) in pending {
            for read in [false, true] {
                let targets: Vec<MessageId> = items
                    .iter()
                    .filter(|(_, r)| *r == read)
                    .map(|(id, _)| *id)
                    .collect();
                for chunk in targets.chunks(hush_protocol::limits::MAX_ACK_BATCH) {
                    self.queue_pairwise(
                        &mut batch,
                        to,
                        Body::Receipt {
                            read,
                            targets: chunk.to_vec(),
                        },
                    )?;
                }
            }
        }
        self.store.commit(batch).map_err(ClientError::from)
    }

    /// Whether receipts go out for messages in this conversation.
    fn wants_receipts(&self, conversation: &ConversationId) -> Result<bool, ClientError> {
        let preferences = self.preferences()?;
        if !preferences.receipts {
            return Ok(false);
        }
        Ok(match conversation {
            ConversationId::Direct(_) => true,
            ConversationId::Group(group) => {
                self.group_record(group)?.state.members.len() <= preferences.receipts_group_limit
            }
        })
    }

    /// Marks a conversation read: read receipts for its unread incoming messages are queued.
    pub fn mark_read(&mut self, conversation: &ConversationId) -> Result<usize, ClientError> {
        let prefix = conversation.key_prefix();
        let wants = self.wants_receipts(conversation)?;
        let mut batch = self.store.batch();
        let mut count = 0;
        for (key, mut message) in self.store.scan::<Message>(Slot::Messages, &prefix, false)? {
            if message.direction == Direction::Incoming && message.status == Status::Received {
                message.status = Status::Read;
                self.store
                    .put_in(&mut batch, Slot::Messages, &key, &message)?;
                if wants && let Some(sender) = message.sender {
                    self.pending_receipts
                        .entry(sender)
                        .or_default()
                        .push((message.id, true));
                }
                count += 1;
            }
        }
        self.store.commit(batch)?;
        self.queue_receipts()?;
        Ok(count)
    }

    /// Tells contacts (ephemerally) that this account is online or going offline, if presence
    /// is on. Best effort: contacts without a session are skipped.
    pub async fn announce_presence(&mut self, connection: &RelayConnection, online: bool) {
        for envelope in self.presence_envelopes(online).await {
            let _ = connection
                .request(&hush_protocol::ClientFrame::Send(envelope))
                .await;
        }
    }

    /// The presence envelopes [`Client::announce_presence`] sends (none when presence is off):
    /// encrypted, with the advanced sessions saved, ready for any sender.
    pub(crate) async fn presence_envelopes(
        &mut self,
        online: bool,
    ) -> Vec<hush_protocol::Envelope> {
        if !self.preferences().map(|p| p.presence).unwrap_or(false) {
            return Vec::new();
        }
        let Ok(contacts) = self.contacts() else {
            return Vec::new();
        };
        let mut envelopes = Vec::new();
        for contact in contacts {
            if !self
                .store
                .contains(Slot::Sessions, contact.mailbox.as_bytes())
                .unwrap_or(false)
            {
                continue;
            }
            if let Ok(Some(envelope)) = self
                .ephemeral_envelope(
                    ConversationId::Direct(contact.mailbox),
                    Body::Presence { online },
                )
                .await
            {
                envelopes.push(envelope);
            }
        }
        envelopes
    }

    /// Sends a typing indicator to a conversation (ephemeral: only connected members see it).
    pub async fn send_typing(
        &mut self,
        connection: &RelayConnection,
        who: &str,
        active: bool,
    ) -> Result<(), ClientError> {
        let conversation = self.resolve_conversation(who)?;
        self.send_ephemeral(connection, conversation, Body::Typing { active })
            .await
    }

    /// The envelope [`Client::send_typing`] sends, ready for any sender (no network).
    pub(crate) async fn typing_envelope(
        &mut self,
        who: &str,
        active: bool,
    ) -> Result<Option<hush_protocol::Envelope>, ClientError> {
        let conversation = self.resolve_conversation(who)?;
        self.ephemeral_envelope(conversation, Body::Typing { active })
            .await
    }

    async fn send_ephemeral(
        &mut self,
        connection: &RelayConnection,
        conversation: ConversationId,
        body: Body,
    ) -> Result<(), ClientError> {
        if let Some(envelope) = self.ephemeral_envelope(conversation, body).await? {
            connection
                .request(&hush_protocol::ClientFrame::Send(envelope))
                .await?;
        }
        Ok(())
    }

    /// An ephemeral envelope (typing, presence) for a conversation, encrypted with the advanced
    /// key saved — no network. `None` when there is nobody to send it to (or no session yet).
    pub(crate) async fn ephemeral_envelope(
        &mut self,
        conversation: ConversationId,
        body: Body,
    ) -> Result<Option<hush_protocol::Envelope>, ClientError> {
        let (_, content) = self.content(body)?;
        let mut batch = self.store.batch();
        let (payload, recipients) = match conversation {
            ConversationId::Direct(to) => {
                if !self.store.contains(Slot::Sessions, to.as_bytes())? {
                    return Ok(None);
                }
                let (payload, sessions) = self.encrypt_pairwise(None, to, &content).await?;
                self.store
                    .put_in(&mut batch, Slot::Sessions, to.as_bytes(), &sessions)?;
                (payload, vec![to])
            }
            ConversationId::Group(group) => self.encrypt_group(&mut batch, &group, &content)?,
        };
        // The advanced key is saved before anything leaves.
        self.store.commit(batch)?;
        if recipients.is_empty() {
            return Ok(None);
        }
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|_| ClientError::InvalidInput("no randomness".into()))?;
        Ok(Some(hush_protocol::Envelope {
            id: hush_protocol::EnvelopeId::from_bytes(id),
            recipients,
            ttl_secs: 0,
            ephemeral: true,
            payload,
        }))
    }
}

/// Whether a contact counts as online now.
pub fn is_online(contact: &Contact, now_ms: u64) -> bool {
    contact.online
        && contact
            .last_seen_ms
            .is_some_and(|seen| now_ms.saturating_sub(seen) < PRESENCE_FRESH_MS)
}
