//! Sending: the outbox.

use hush_protocol::{ClientFrame, Envelope, EnvelopeId, ErrorCode, MailboxId, RelayFrame};

use super::records::{
    Channel, Contact, ConversationId, Direction, Message, OutboxEntry, SessionRecord, Status,
    message_key,
};
use super::{Client, ClientError, now_ms, rng};
use crate::content::{Body, Content, MessageId, PAYLOAD_VERSION, SealedPayload};
use crate::directory::{bundle_from_wire, identity_from_wire};
use crate::local_store::Slot;
use crate::pickle::Pickle;
use crate::session::Session;
use crate::transport::{RelayConnection, TransportError};

/// What happened to a message handed to [`Client::send_text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The relay stored it.
    Stored(Message),
    /// It waits in the outbox; it goes out on the next connection (`hush sync`).
    Queued {
        /// The message, as in the history.
        message: Message,
        /// Why it was not sent now.
        reason: String,
    },
}

/// Outbox entries ready to go, in order, from [`Client::prepare_outbox`].
#[derive(Debug, Default)]
pub(crate) struct PreparedOutbox {
    pub(crate) envelopes: Vec<PreparedEnvelope>,
    /// Entries that needed no sending (nobody left to send them to).
    pub(crate) done: usize,
    /// Why preparing stopped early, if it did.
    pub(crate) error: Option<ClientError>,
}

/// One encrypted outbox entry: its key in the outbox and the exact envelope.
#[derive(Debug, Clone)]
pub(crate) struct PreparedEnvelope {
    pub(crate) key: Vec<u8>,
    pub(crate) envelope: Envelope,
}

/// What the relay answered to prepared envelopes, in order, until the first error.
#[derive(Debug, Default)]
pub(crate) struct SentEnvelopes {
    /// Outbox key and the new state (`Stored`, or `Failed` for a refusal for good).
    pub(crate) answered: Vec<(Vec<u8>, Status)>,
    /// Why sending stopped early.
    pub(crate) error: Option<TransportError>,
}

/// The network step of a flush: sends `envelopes` in order over `channel`, stopping at the
/// first error that retrying might fix. Borrows no [`Client`], so a service can run it on a
/// task of its own while it serves other calls.
pub(crate) async fn send_prepared(
    channel: &crate::transport::BlobChannel,
    envelopes: &[PreparedEnvelope],
) -> SentEnvelopes {
    let mut sent = SentEnvelopes::default();
    for prepared in envelopes {
        let status = match channel
            .request(&ClientFrame::Send(prepared.envelope.clone()))
            .await
        {
            Ok(RelayFrame::Stored { .. }) => Status::Stored,
            Ok(other) => {
                sent.error = Some(TransportError::Protocol(format!(
                    "unexpected answer {other:?}"
                )));
                break;
            }
            Err(TransportError::Refused(error))
                if matches!(error.code, ErrorCode::UnknownMailbox | ErrorCode::TooLarge) =>
            {
                Status::Failed
            }
            Err(error) => {
                sent.error = Some(error);
                break;
            }
        };
        sent.answered.push((prepared.key.clone(), status));
    }
    sent
}

/// What one pass over the outbox did.
#[derive(Debug, Default)]
pub(crate) struct FlushReport {
    pub(crate) sent: usize,
    pub(crate) failed: usize,
    pub(crate) error: Option<ClientError>,
}

impl Client {
    /// Sends a text to a contact: writes it to the history and the outbox, then tries the relay
    /// once. Returns [`SendOutcome::Queued`] when the relay is unreachable; errors that retrying
    /// cannot fix (wrong relay key, a contact's changed identity) are errors, and the message
    /// stays in the outbox either way.
    pub async fn send_text(&mut self, who: &str, text: &str) -> Result<SendOutcome, ClientError> {
        self.send_reply(who, text, None).await
    }

    /// Sends a text that replies to (quotes) another message.
    pub async fn send_reply(
        &mut self,
        who: &str,
        text: &str,
        reply_to: Option<MessageId>,
    ) -> Result<SendOutcome, ClientError> {
        let conversation = self.resolve_conversation(who)?;
        let message = self.queue_text(conversation, text, reply_to)?;
        let connection = match self.connect().await {
            Ok(connection) => connection,
            Err(ClientError::Transport(error)) if error.is_transient() => {
                return Ok(SendOutcome::Queued {
                    message,
                    reason: error.to_string(),
                });
            }
            Err(error) => return Err(error),
        };
        let outcome = self.send_queued(&connection, message).await;
        connection.close().await;
        outcome
    }

    /// Like [`Client::send_text`], over an existing connection (for interactive chat).
    pub async fn send_text_on(
        &mut self,
        connection: &RelayConnection,
        who: &str,
        text: &str,
    ) -> Result<SendOutcome, ClientError> {
        let conversation = self.resolve_conversation(who)?;
        let message = self.queue_text(conversation, text, None)?;
        self.send_queued(connection, message).await
    }

    pub(crate) async fn send_queued(
        &mut self,
        connection: &RelayConnection,
        message: Message,
    ) -> Result<SendOutcome, ClientError> {
        let report = self.flush_outbox(connection).await;
        let current = self.message(&message.id)?.unwrap_or(message);
        match (current.status, report.error) {
            (Status::Stored | Status::Delivered | Status::Read, _) => {
                Ok(SendOutcome::Stored(current))
            }
            (_, Some(ClientError::Transport(error))) if error.is_transient() => {
                Ok(SendOutcome::Queued {
                    message: current,
                    reason: error.to_string(),
                })
            }
            (_, Some(error)) => Err(error),
            (Status::Failed, None) => Err(ClientError::InvalidInput(
                "the relay refused the message for good: the contact's mailbox does not exist"
                    .into(),
            )),
            (_, None) => Ok(SendOutcome::Queued {
                message: current,
                reason: "earlier messages are still waiting".into(),
            }),
        }
    }

    /// A message by id.
    pub fn message(&self, id: &MessageId) -> Result<Option<Message>, ClientError> {
        let Some(key) = self.store.get::<Vec<u8>>(Slot::MessageIndex, &id.0)? else {
            return Ok(None);
        };
        Ok(self.store.get(Slot::Messages, &key)?)
    }

    /// Builds the content of an outgoing message.
    pub(crate) fn content(&self, body: Body) -> Result<(Content, Vec<u8>), ClientError> {
        let id =
            MessageId::random().ok_or_else(|| ClientError::InvalidInput("no randomness".into()))?;
        self.content_with_id(id, now_ms(), body)
    }

    /// Builds the content of an outgoing message whose id and time are already fixed (a file
    /// whose history entry was written before its upload).
    pub(crate) fn content_with_id(
        &self,
        id: MessageId,
        sent_at_ms: u64,
        body: Body,
    ) -> Result<(Content, Vec<u8>), ClientError> {
        let account = self.account()?;
        let content = Content {
            message_id: id,
            sent_at_ms,
            sender_name: account.record.name.clone(),
            body,
        };
        let bytes = content
            .to_bytes()
            .ok_or_else(|| ClientError::InvalidInput("message could not be encoded".into()))?;
        if bytes.len() > crate::limits::MAX_PLAINTEXT_LEN {
            return Err(ClientError::InvalidInput(format!(
                "message too long: {} bytes encoded, at most {} fit in one message",
                bytes.len(),
                crate::limits::MAX_PLAINTEXT_LEN
            )));
        }
        Ok((content, bytes))
    }

    /// The mailboxes a conversation's messages go to (everyone but this account).
    pub(crate) fn conversation_recipients(
        &self,
        conversation: &ConversationId,
    ) -> Result<(Vec<MailboxId>, Channel), ClientError> {
        match conversation {
            ConversationId::Direct(mailbox) => Ok((vec![*mailbox], Channel::Pairwise)),
            ConversationId::Group(group) => {
                let record = self.group_record(group)?;
                let me = self.account()?.record.mailbox;
                let recipients = record.state.others(&me).map(|m| m.mailbox).collect();
                Ok((recipients, Channel::Group(*group)))
            }
        }
    }

    /// Puts one envelope in the outbox (and, for shown messages, the message in the history),
    /// atomically.
    pub(crate) fn enqueue(
        &self,
        batch: &mut crate::local_store::WriteBatch,
        recipients: Vec<MailboxId>,
        channel: Channel,
        content: Vec<u8>,
        message_key: Option<Vec<u8>>,
    ) -> Result<(), ClientError> {
        let mut envelope = [0u8; 16];
        getrandom::fill(&mut envelope)
            .map_err(|_| ClientError::InvalidInput("no randomness".into()))?;
        let seq = self.store.next_seq()?;
        let entry = OutboxEntry {
            envelope: EnvelopeId::from_bytes(envelope),
            recipients,
            channel,
            message_key,
            content,
            payload: None,
        };
        self.store
            .put_in(batch, Slot::Outbox, &seq.to_be_bytes(), &entry)?;
        Ok(())
    }

    /// Writes an outgoing text to the history and the outbox, atomically.
    pub(crate) fn queue_text(
        &self,
        conversation: ConversationId,
        text: &str,
        reply_to: Option<MessageId>,
    ) -> Result<Message, ClientError> {
        if text.is_empty() {
            return Err(ClientError::InvalidInput("nothing to send".into()));
        }
        let (recipients, channel) = self.conversation_recipients(&conversation)?;
        if recipients.is_empty() {
            return Err(ClientError::InvalidInput(
                "nobody else is in that group".into(),
            ));
        }
        let (content, bytes) = self.content(Body::Text {
            text: text.to_owned(),
            reply_to,
        })?;
        let key = message_key(&conversation, self.store.next_seq()?);
        let now = content.sent_at_ms;
        let message = Message {
            id: content.message_id,
            conversation,
            direction: Direction::Outgoing,
            sender: None,
            text: text.to_owned(),
            reply_to,
            sent_at_ms: now,
            received_at_ms: now,
            edited_at_ms: None,
            expires_at_ms: self.expiry_for(&conversation, now)?,
            status: Status::Queued,
            recipients: recipients.iter().map(|r| (*r, Status::Queued)).collect(),
            reactions: Vec::new(),
            file: None,
        };
        let mut batch = self.store.batch();
        self.store
            .put_in(&mut batch, Slot::Messages, &key, &message)?;
        self.store
            .put_in(&mut batch, Slot::MessageIndex, &message.id.0, &key)?;
        self.enqueue(&mut batch, recipients, channel, bytes, Some(key))?;
        self.store.commit(batch)?;
        Ok(message)
    }

    /// Queues a control content (edit, delete, reaction, timer) for a conversation.
    pub(crate) fn queue_control(
        &self,
        batch: &mut crate::local_store::WriteBatch,
        conversation: &ConversationId,
        body: Body,
    ) -> Result<(), ClientError> {
        let (recipients, channel) = self.conversation_recipients(conversation)?;
        if recipients.is_empty() {
            return Ok(());
        }
        let (_, bytes) = self.content(body)?;
        self.enqueue(batch, recipients, channel, bytes, None)
    }

    /// Queues a pairwise content to one mailbox.
    pub(crate) fn queue_pairwise(
        &self,
        batch: &mut crate::local_store::WriteBatch,
        to: MailboxId,
        body: Body,
    ) -> Result<(), ClientError> {
        let (_, bytes) = self.content(body)?;
        self.enqueue(batch, vec![to], Channel::Pairwise, bytes, None)
    }

    /// Sends what the outbox holds, oldest first, stopping at the first error that retrying
    /// later might fix (the rest keeps its order): the local step
    /// ([`Client::prepare_outbox`]), the network step ([`send_prepared`], which borrows no
    /// client) and the local step that records the answers ([`Client::record_sent`]).
    pub(crate) async fn flush_outbox(&mut self, connection: &RelayConnection) -> FlushReport {
        let prepared = self.prepare_outbox(Some(connection)).await;
        let sent = send_prepared(&connection.blobs(), &prepared.envelopes).await;
        self.record_sent(prepared, sent)
    }

    /// The local half of a flush: encrypts, in order, the entries not encrypted yet — saving
    /// each ciphertext with the advanced session or sender key before anything leaves this
    /// device, so a retry sends exactly these bytes and no key encrypts twice — and returns
    /// the envelopes ready to go. Stops at the first entry that cannot be prepared now. Only a
    /// first message to a contact without a session touches the network (its prekey bundle,
    /// over `connection`).
    pub(crate) async fn prepare_outbox(
        &mut self,
        connection: Option<&RelayConnection>,
    ) -> PreparedOutbox {
        let mut prepared = PreparedOutbox::default();
        let entries = match self.store.scan::<OutboxEntry>(Slot::Outbox, b"", false) {
            Ok(entries) => entries,
            Err(error) => {
                prepared.error = Some(error.into());
                return prepared;
            }
        };
        for (key, entry) in entries {
            match self.prepare_entry(connection, &key, entry).await {
                Ok(Some(envelope)) => prepared.envelopes.push(PreparedEnvelope { key, envelope }),
                Ok(None) => prepared.done += 1,
                Err(error) => {
                    prepared.error = Some(error);
                    break;
                }
            }
        }
        prepared
    }

    /// Encrypts one entry if needed; `None` if it has nobody left to go to (then it is gone).
    async fn prepare_entry(
        &mut self,
        connection: Option<&RelayConnection>,
        key: &[u8],
        mut entry: OutboxEntry,
    ) -> Result<Option<Envelope>, ClientError> {
        let payload = match entry.payload.clone() {
            Some(payload) => payload,
            None => {
                let mut batch = self.store.batch();
                let payload = match entry.channel {
                    Channel::Pairwise => {
                        let to = *entry.recipients.first().ok_or_else(|| {
                            ClientError::InvalidInput("an envelope without a recipient".into())
                        })?;
                        let (payload, sessions) = self
                            .encrypt_pairwise(connection, to, &entry.content)
                            .await?;
                        self.store
                            .put_in(&mut batch, Slot::Sessions, to.as_bytes(), &sessions)?;
                        payload
                    }
                    Channel::Group(group) => {
                        let (payload, recipients) =
                            self.encrypt_group(&mut batch, &group, &entry.content)?;
                        // Whoever is a member now, not when it was queued: a member removed
                        // meanwhile gets nothing.
                        entry.recipients = recipients;
                        payload
                    }
                };
                entry.payload = Some(payload.clone());
                self.store.put_in(&mut batch, Slot::Outbox, key, &entry)?;
                self.store.commit(batch)?;
                payload
            }
        };
        if entry.recipients.is_empty() {
            let mut batch = self.store.batch();
            self.store.remove_in(&mut batch, Slot::Outbox, key);
            self.store.commit(batch)?;
            return Ok(None);
        }
        Ok(Some(Envelope {
            id: entry.envelope,
            recipients: entry.recipients.clone(),
            ttl_secs: 0,
            ephemeral: false,
            payload,
        }))
    }

    /// The local step after [`send_prepared`]: entries the relay answered leave the outbox and
    /// their messages take the new state, in one atomic write each.
    pub(crate) fn record_sent(&self, prepared: PreparedOutbox, sent: SentEnvelopes) -> FlushReport {
        let mut report = FlushReport {
            sent: prepared.done,
            ..FlushReport::default()
        };
        for (key, status) in sent.answered {
            let recorded = self.record_one(&key, status);
            match recorded {
                Ok(()) if status == Status::Stored => report.sent += 1,
                Ok(()) => report.failed += 1,
                Err(error) => {
                    report.error = Some(error);
                    return report;
                }
            }
        }
        report.error = sent.error.map(ClientError::from).or(prepared.error);
        report
    }

    fn record_one(&self, key: &[u8], status: Status) -> Result<(), ClientError> {
        let Some(entry) = self.store.get::<OutboxEntry>(Slot::Outbox, key)? else {
            // Recorded already (an overlapping flush).
            return Ok(());
        };
        let mut batch = self.store.batch();
        if let Some(message_key) = &entry.message_key
            && let Some(mut message) = self.store.get::<Message>(Slot::Messages, message_key)?
        {
            message
                .recipients
                .retain(|(r, _)| entry.recipients.contains(r));
            for (_, state) in &mut message.recipients {
                if *state < status || status == Status::Failed {
                    *state = status;
                }
            }
            message.status = status;
            message.settle_status();
            self.store
                .put_in(&mut batch, Slot::Messages, message_key, &message)?;
        }
        self.store.remove_in(&mut batch, Slot::Outbox, key);
        self.store.commit(batch)?;
        Ok(())
    }

    /// Encrypts `content` once for a group with our sender key, staging the advanced key in
    /// `batch`. Returns the payload and the current members to send it to.
    pub(crate) fn encrypt_group(
        &self,
        batch: &mut crate::local_store::WriteBatch,
        group: &crate::content::GroupId,
        content: &[u8],
    ) -> Result<(Vec<u8>, Vec<MailboxId>), ClientError> {
        let mut record = self.group_record(group)?;
        let me = self.account()?.record.mailbox;
        let recipients: Vec<MailboxId> = record.state.others(&me).map(|m| m.mailbox).collect();
        let mut session = record.session()?;
        let message = session
            .encrypt(&mut rng(), content)
            .map_err(|e| ClientError::InvalidInput(e.to_string()))?;
        record.set_session(&session);
        self.store.put_in(batch, Slot::Groups, &group.0, &record)?;
        let payload = SealedPayload {
            version: PAYLOAD_VERSION,
            sender: me,
            group: Some(*group),
            message: message.to_bytes(),
        }
        .to_bytes()
        .ok_or_else(|| ClientError::InvalidInput("envelope could not be encoded".into()))?;
        Ok((payload, recipients))
    }

    /// Encrypts `content` for `to` with the current session (starting one with X3DH over
    /// `connection` if there is none). Returns the envelope payload and the advanced sessions,
    /// for the caller to save together with whatever the payload belongs to.
    pub(crate) async fn encrypt_pairwise(
        &mut self,
        connection: Option<&RelayConnection>,
        to: MailboxId,
        content: &[u8],
    ) -> Result<(Vec<u8>, SessionRecord), ClientError> {
        let mut sessions = self
            .store
            .get::<SessionRecord>(Slot::Sessions, to.as_bytes())?
            .unwrap_or_default();
        let mut rng = rng();
        let corrupt = |_| {
            ClientError::Store(crate::local_store::LocalStoreError::Corrupt(
                "session".into(),
            ))
        };
        let mut session = match sessions.pickles.first() {
            Some(pickle) => {
                Session::from_pickle(&Pickle::from_bytes(pickle.clone())).map_err(corrupt)?
            }
            None => {
                let connection = connection.ok_or_else(|| {
                    ClientError::InvalidInput("no session yet with that contact".into())
                })?;
                let contact = self
                    .store
                    .get::<Contact>(Slot::Contacts, to.as_bytes())?
                    .ok_or_else(|| ClientError::UnknownContact(to.to_string()))?;
                let bundle = match connection
                    .request(&ClientFrame::FetchPrekeys { mailbox: to })
                    .await?
                {
                    RelayFrame::PrekeyBundle(bundle) => bundle_from_wire(&bundle),
                    other => {
                        return Err(TransportError::Protocol(format!(
                            "unexpected answer {other:?}"
                        ))
                        .into());
                    }
                };
                if bundle.identity != identity_from_wire(&contact.identity) {
                    return Err(ClientError::Verification(format!(
                        "{}'s identity key on the relay is not the one you trust; compare safety numbers (`hush verify {}`) before sending",
                        contact.alias, contact.alias
                    )));
                }
                let verified = bundle.verify().map_err(|e| {
                    ClientError::Verification(format!(
                        "{}'s prekeys do not verify: {e}",
                        contact.alias
                    ))
                })?;
                Session::new_outbound(&self.account()?.identity, &verified, &mut rng)
                    .map_err(|e| ClientError::Verification(e.to_string()))?
            }
        };
        let message = session
            .encrypt(&mut rng, content)
            .map_err(|e| ClientError::InvalidInput(e.to_string()))?;
        let sealed = SealedPayload {
            version: PAYLOAD_VERSION,
            sender: self.account()?.record.mailbox,
            group: None,
            message: message.to_bytes(),
        };
        let payload = sealed
            .to_bytes()
            .ok_or_else(|| ClientError::InvalidInput("envelope could not be encoded".into()))?;
        let pickle = session.pickle().as_bytes().to_vec();
        match sessions.pickles.first_mut() {
            Some(current) => *current = pickle,
            None => sessions.pickles.push(pickle),
        }
        Ok((payload, sessions))
    }
}
