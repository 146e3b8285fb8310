//! Sending: the outbox.

use hush_protocol::{ClientFrame, Envelope, EnvelopeId, ErrorCode, RelayFrame};

use super::records::{
    Contact, Direction, Message, OutboxEntry, SessionRecord, Status, message_key,
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
        let contact = self.resolve(who)?;
        let message = self.queue_text(&contact, text)?;
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
        let contact = self.resolve(who)?;
        let message = self.queue_text(&contact, text)?;
        self.send_queued(connection, message).await
    }

    async fn send_queued(
        &mut self,
        connection: &RelayConnection,
        message: Message,
    ) -> Result<SendOutcome, ClientError> {
        let report = self.flush_outbox(connection).await;
        let current = self.message(&message.id)?.unwrap_or(message);
        match (current.status, report.error) {
            (Status::Stored, _) => Ok(SendOutcome::Stored(current)),
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

    /// Writes an outgoing text to the history and the outbox, atomically.
    pub(crate) fn queue_text(&self, contact: &Contact, text: &str) -> Result<Message, ClientError> {
        if text.is_empty() {
            return Err(ClientError::InvalidInput("nothing to send".into()));
        }
        let account = self.account()?;
        let id =
            MessageId::random().ok_or_else(|| ClientError::InvalidInput("no randomness".into()))?;
        let now = now_ms();
        let content = Content {
            message_id: id,
            sent_at_ms: now,
            sender_name: account.record.name.clone(),
            body: Body::Text(text.to_owned()),
        };
        let content = content
            .to_bytes()
            .ok_or_else(|| ClientError::InvalidInput("message could not be encoded".into()))?;
        if content.len() > crate::limits::MAX_PLAINTEXT_LEN {
            return Err(ClientError::InvalidInput(format!(
                "message too long: {} bytes of UTF-8, at most about {} fit in one message",
                text.len(),
                crate::limits::MAX_PLAINTEXT_LEN - 128
            )));
        }
        let mut envelope = [0u8; 16];
        getrandom::fill(&mut envelope)
            .map_err(|_| ClientError::InvalidInput("no randomness".into()))?;
        let seq = self.store.next_seq()?;
        let key = message_key(&contact.mailbox, seq);
        let message = Message {
            id,
            conversation: contact.mailbox,
            direction: Direction::Outgoing,
            text: text.to_owned(),
            sent_at_ms: now,
            received_at_ms: now,
            status: Status::Queued,
        };
        let entry = OutboxEntry {
            envelope: EnvelopeId::from_bytes(envelope),
            to: contact.mailbox,
            message_key: key.clone(),
            content,
            payload: None,
        };
        let mut batch = self.store.batch();
        self.store
            .put_in(&mut batch, Slot::Messages, &key, &message)?;
        self.store
            .put_in(&mut batch, Slot::MessageIndex, &id.0, &key)?;
        self.store
            .put_in(&mut batch, Slot::Outbox, &seq.to_be_bytes(), &entry)?;
        self.store.commit(batch)?;
        Ok(message)
    }

    /// Sends what the outbox holds, oldest first, stopping at the first error that retrying
    /// later might fix (the rest keeps its order).
    pub(crate) async fn flush_outbox(&mut self, connection: &RelayConnection) -> FlushReport {
        let mut report = FlushReport::default();
        let entries = match self.store.scan::<OutboxEntry>(Slot::Outbox, b"", false) {
            Ok(entries) => entries,
            Err(error) => {
                report.error = Some(error.into());
                return report;
            }
        };
        for (key, entry) in entries {
            match self.send_entry(connection, &key, entry).await {
                Ok(true) => report.sent += 1,
                Ok(false) => report.failed += 1,
                Err(error) => {
                    report.error = Some(error);
                    break;
                }
            }
        }
        report
    }

    /// Sends one outbox entry: `Ok(true)` stored, `Ok(false)` refused for good.
    async fn send_entry(
        &mut self,
        connection: &RelayConnection,
        key: &[u8],
        mut entry: OutboxEntry,
    ) -> Result<bool, ClientError> {
        let payload = match entry.payload.clone() {
            Some(payload) => payload,
            None => {
                let (payload, sessions) = self.encrypt_entry(connection, &entry).await?;
                entry.payload = Some(payload.clone());
                // Save the ciphertext together with the advanced session, before it leaves
                // this device: a retry must send these exact bytes, and the ratchet must never
                // encrypt twice from the same state.
                let mut batch = self.store.batch();
                self.store
                    .put_in(&mut batch, Slot::Sessions, entry.to.as_bytes(), &sessions)?;
                self.store.put_in(&mut batch, Slot::Outbox, key, &entry)?;
                self.store.commit(batch)?;
                payload
            }
        };
        let envelope = Envelope {
            id: entry.envelope,
            recipients: vec![entry.to],
            ttl_secs: 0,
            ephemeral: false,
            payload,
        };
        let status = match connection.request(&ClientFrame::Send(envelope)).await {
            Ok(RelayFrame::Stored { .. }) => Status::Stored,
            Ok(other) => {
                return Err(
                    TransportError::Protocol(format!("unexpected answer {other:?}")).into(),
                );
            }
            Err(TransportError::Refused(error))
                if matches!(error.code, ErrorCode::UnknownMailbox | ErrorCode::TooLarge) =>
            {
                Status::Failed
            }
            Err(error) => return Err(error.into()),
        };
        let mut batch = self.store.batch();
        if let Some(mut message) = self
            .store
            .get::<Message>(Slot::Messages, &entry.message_key)?
        {
            message.status = status;
            self.store
                .put_in(&mut batch, Slot::Messages, &entry.message_key, &message)?;
        }
        self.store.remove_in(&mut batch, Slot::Outbox, key);
        self.store.commit(batch)?;
        Ok(status == Status::Stored)
    }

    /// Encrypts an outbox entry with the contact's session (starting one with X3DH if there is
    /// none). Returns the envelope payload and the advanced sessions, for the caller to save.
    async fn encrypt_entry(
        &mut self,
        connection: &RelayConnection,
        entry: &OutboxEntry,
    ) -> Result<(Vec<u8>, SessionRecord), ClientError> {
        let mut sessions = self
            .store
            .get::<SessionRecord>(Slot::Sessions, entry.to.as_bytes())?
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
                let contact = self
                    .store
                    .get::<Contact>(Slot::Contacts, entry.to.as_bytes())?
                    .ok_or_else(|| ClientError::UnknownContact(entry.to.to_string()))?;
                let bundle = match connection
                    .request(&ClientFrame::FetchPrekeys { mailbox: entry.to })
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
            .encrypt(&mut rng, &entry.content)
            .map_err(|e| ClientError::InvalidInput(e.to_string()))?;
        let sealed = SealedPayload {
            version: PAYLOAD_VERSION,
            sender: self.account()?.record.mailbox,
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
