//! Receiving: sync, listen, and processing one delivery.

use std::time::Duration;

use hush_protocol::Delivery;

use super::records::{
    Contact, Direction, MAX_SESSIONS_PER_CONTACT, Message, SessionRecord, Status, message_key,
};
use super::{Client, ClientError, now_ms, rng, short_alias};
use crate::content::{Body, Content, SealedPayload};
use crate::directory::{identity_from_wire, identity_to_wire};
use crate::local_store::Slot;
use crate::message::SessionMessage;
use crate::pickle::Pickle;
use crate::session::Session;
use crate::transport::{Push, RelayConnection, TransportError};

/// Something the user should see.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A new message, already stored.
    Message(Message),
    /// Someone not in the contacts wrote; they were added under this alias.
    NewContact(Contact),
    /// A contact's identity key changed (reinstall, new device — or an attack): compare
    /// safety numbers.
    IdentityChanged(Contact),
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
    /// Outbox messages the relay stored.
    pub sent: usize,
    /// Messages still in the outbox.
    pub queued: usize,
    /// Why the outbox could not be emptied, if it could not.
    pub send_error: Option<String>,
}

enum Processed {
    Duplicate,
    Undecryptable,
    Events(Vec<Event>),
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
            match push {
                Push::Deliver(delivery) => {
                    for event in self
                        .handle_delivery(&mut connection, delivery, &mut report)
                        .await?
                    {
                        on_event(self, &event);
                    }
                }
                Push::Drained => {
                    if wait.is_zero() {
                        break;
                    }
                    deadline.get_or_insert_with(|| tokio::time::Instant::now() + wait);
                }
                Push::Unsubscribed => break,
                Push::Ephemeral(_) | Push::Error(_) => {}
            }
        }
        // Messages queued while receiving (none from the CLI, but an app may) go out too.
        self.flush_into(&connection, &mut report).await?;
        self.maintain_prekeys(&connection).await?;
        connection.close().await;
        Ok(report)
    }

    async fn flush_into(
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
        let events = match self.process(&delivery)? {
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
        };
        // Only now, after the durable local write, may the relay delete it.
        connection.ack(&[id]).await?;
        Ok(events)
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
                loop {
                    match connection.next_push().await? {
                        Push::Deliver(delivery) => {
                            for event in self
                                .handle_delivery(&mut connection, delivery, &mut report)
                                .await?
                            {
                                on_event(self, &event);
                            }
                        }
                        Push::Drained => {
                            let _ = self.maintain_prekeys(&connection).await;
                        }
                        Push::Unsubscribed => {
                            return Err(ClientError::InvalidInput(
                                "another hush session took over receiving for this account".into(),
                            ));
                        }
                        Push::Ephemeral(_) | Push::Error(_) => {}
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
    fn process(&mut self, delivery: &Delivery) -> Result<Processed, ClientError> {
        let seen_key = delivery.id.as_bytes();
        if self.store.contains(Slot::Seen, seen_key)? {
            return Ok(Processed::Duplicate);
        }
        let now = now_ms();
        let decrypted = self.decrypt(delivery)?;
        let mut batch = self.store.batch();
        self.store.put_in(&mut batch, Slot::Seen, seen_key, &now)?;
        let Some(decrypted) = decrypted else {
            self.store.commit(batch)?;
            return Ok(Processed::Undecryptable);
        };
        let Decrypted {
            sender,
            sessions,
            content,
            presented,
            prekeys_used,
        } = decrypted;
        let mut events = Vec::new();
        // The contact: known, new (first message from someone with our invite), or changed.
        let contact = match (
            self.store
                .get::<Contact>(Slot::Contacts, sender.as_bytes())?,
            presented,
        ) {
            (Some(mut contact), Some(identity))
                if identity_from_wire(&contact.identity) != identity =>
            {
                contact.identity = identity_to_wire(&identity);
                contact.key_changed = true;
                contact.verified = false;
                self.store
                    .put_in(&mut batch, Slot::Contacts, sender.as_bytes(), &contact)?;
                events.push(Event::IdentityChanged(contact.clone()));
                contact
            }
            (Some(contact), _) => contact,
            (None, Some(identity)) => {
                let contact = Contact {
                    mailbox: sender,
                    alias: self.free_alias(content.sender_name.as_deref(), &sender)?,
                    relay: self.account()?.record.relay.clone(),
                    identity: identity_to_wire(&identity),
                    verified: false,
                    key_changed: false,
                    username: None,
                    added_at_ms: now,
                };
                self.store
                    .put_in(&mut batch, Slot::Contacts, sender.as_bytes(), &contact)?;
                events.push(Event::NewContact(contact.clone()));
                contact
            }
            (None, None) => {
                self.store.commit(batch)?;
                return Ok(Processed::Undecryptable);
            }
        };
        self.store
            .put_in(&mut batch, Slot::Sessions, sender.as_bytes(), &sessions)?;
        if prekeys_used {
            self.stage_account(&mut batch)?;
        }
        let Body::Text(text) = content.body;
        if self
            .store
            .contains(Slot::MessageIndex, &content.message_id.0)?
        {
            // The same message in a new envelope (e.g. resent after a reinstall): keep one.
            self.store.commit(batch)?;
            return Ok(Processed::Duplicate);
        }
        let key = message_key(&contact.mailbox, self.store.next_seq()?);
        let message = Message {
            id: content.message_id,
            conversation: contact.mailbox,
            direction: Direction::Incoming,
            text,
            sent_at_ms: content.sent_at_ms,
            received_at_ms: now,
            status: Status::Received,
        };
        self.store
            .put_in(&mut batch, Slot::Messages, &key, &message)?;
        self.store
            .put_in(&mut batch, Slot::MessageIndex, &message.id.0, &key)?;
        self.store.commit(batch)?;
        events.push(Event::Message(message));
        Ok(Processed::Events(events))
    }

    /// Finds the session for a delivery and decrypts it. `None`: it cannot be decrypted.
    /// Nothing is saved here; the caller saves the returned state with the message.
    fn decrypt(&mut self, delivery: &Delivery) -> Result<Option<Decrypted>, ClientError> {
        let Some(sealed) = SealedPayload::from_bytes(&delivery.payload) else {
            return Ok(None);
        };
        let Ok(message) = SessionMessage::from_bytes(&sealed.message) else {
            return Ok(None);
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
        let mut presented = None;
        let mut prekeys_used = false;
        let mut opened: Option<(usize, Vec<u8>)> = None;
        match &message {
            SessionMessage::PreKey(initial) => {
                if let Some(index) = sessions.iter().position(|s| s.matches(initial)) {
                    // A further initial message of a session already accepted.
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
                if opened.is_some() {
                    // X3DH authenticated this identity.
                    presented = Some(initial.sender_identity().clone());
                }
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
            return Ok(None);
        };
        let Some(content) = Content::from_bytes(&plaintext) else {
            return Ok(None);
        };
        // The session that worked becomes the current one.
        if index < sessions.len() {
            let used = sessions.remove(index);
            sessions.insert(0, used);
        }
        sessions.truncate(MAX_SESSIONS_PER_CONTACT);
        record.pickles = sessions
            .iter()
            .map(|s| s.pickle().as_bytes().to_vec())
            .collect();
        Ok(Some(Decrypted {
            sender: sealed.sender,
            sessions: record,
            content,
            presented,
            prekeys_used,
        }))
    }

    fn free_alias(
        &self,
        wanted: Option<&str>,
        mailbox: &hush_protocol::MailboxId,
    ) -> Result<String, ClientError> {
        let base = wanted
            .filter(|w| !w.trim().is_empty() && !w.starts_with(['@', '#']))
            .map_or_else(
                || short_alias(mailbox),
                |w| w.chars().filter(|c| !c.is_control()).collect(),
            );
        let taken: Vec<String> = self.contacts()?.into_iter().map(|c| c.alias).collect();
        if !taken.contains(&base) {
            return Ok(base);
        }
        Ok((2..)
            .map(|n| format!("{base}-{n}"))
            .find(|a| !taken.contains(a))
            .unwrap_or(base))
    }
}

struct Decrypted {
    sender: hush_protocol::MailboxId,
    sessions: SessionRecord,
    content: Content,
    presented: Option<crate::identity::PublicIdentity>,
    prekeys_used: bool,
}
