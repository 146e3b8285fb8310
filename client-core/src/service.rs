//! A running client for apps: one task owns the [`Client`], keeps one relay connection, and
//! serves commands sent from any thread.
//!
//! [`Client`]'s methods take `&mut self`, and [`Client::listen`] holds it for as long as it is
//! connected, so an app cannot send while it listens by calling the client directly. The
//! [`ClientHandle`] solves that with an actor: [`ClientHandle::spawn`] moves the client into a
//! task that
//!
//! - while online ([`ClientHandle::set_online`]), keeps one connection to the relay: it
//!   connects in a separate task (so commands are served while a connection attempt waits),
//!   flushes the outbox, subscribes, stores and acknowledges every delivery through
//!   [`Client::handle_delivery`], and reconnects with [`Backoff`] after a transient failure;
//! - serves commands from a channel, one at a time, between those steps: local reads and
//!   writes (contacts, history, queueing a message) take one store access; commands that talk
//!   to the relay on their own connection (account creation, `@username` look-ups) take as
//!   long as that exchange;
//! - reports what happened as [`ServiceEvent`]s, read with [`ClientHandle::next_event`].
//!
//! Sending never waits for the network: [`ClientHandle::send_text`] writes the message to the
//! history and the outbox and returns it `Queued`; the service then sends it on its
//! connection and reports [`ServiceEvent::MessageStatus`] when the relay stored it.
//!
//! The handle is cheap to clone; its futures only wait for the service's answer, so they can
//! be awaited on any executor (the FFI crate awaits them from foreign event loops). The
//! service stops when [`ClientHandle::shutdown`] is called or every handle is dropped; it then
//! closes the connection and drops the client, which closes the local store.

use std::time::Duration;

use hush_protocol::{Delivery, MailboxId};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{
    AccountInfo, Client, ClientError, Contact, Event, Message, Status, SyncReport, reconnect_delay,
};
use crate::content::MessageId;
use crate::local_store::Slot;
use crate::safety_number::SafetyNumber;
use crate::transport::{Backoff, Login, Push, RelayConnection, TransportError};

/// Events buffered for the app before the oldest unread ones are dropped (and counted in
/// [`ServiceEvent::Lagged`]). Nothing is lost by dropping: messages are in the history.
pub const EVENT_QUEUE: usize = 4096;

/// Why a command could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The client refused or failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The service has stopped (shut down, or every handle was dropped).
    #[error("the client has been closed")]
    Stopped,
}

/// The state of the service's relay connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Not connected and not trying: offline by request, or stopped by an error that
    /// reconnecting cannot fix (`reason` says which).
    Offline {
        /// Why it stopped trying, if it was not asked to.
        reason: Option<String>,
    },
    /// A connection attempt is under way.
    Connecting,
    /// Connected and subscribed: messages arrive as they are sent.
    Connected,
    /// The relay could not be reached or the connection was lost; the next attempt follows
    /// after `retry_in`.
    Retrying {
        /// What went wrong.
        error: String,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
}

/// Something the app should know about.
///
/// New kinds (group changes, receipts, presence, file progress) will be added as new
/// variants; match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceEvent {
    /// What the client reported while receiving: a new message (already stored), a new
    /// contact, a changed identity key, an undecryptable delivery.
    Received(Event),
    /// An outgoing message changed status (the relay stored it, or refused it for good).
    MessageStatus(Message),
    /// The relay connection changed state.
    Connection(ConnectionState),
    /// Everything the relay held for this account has been received.
    CaughtUp,
    /// The outbox could not be sent (e.g. a contact's key changed and must be verified); it is
    /// tried again on the next connection.
    SendFailed {
        /// Why.
        reason: String,
    },
    /// The app read events too slowly and this many were dropped (see [`EVENT_QUEUE`]).
    Lagged {
        /// How many.
        missed: u64,
    },
}

type Reply<T> = oneshot::Sender<Result<T, ClientError>>;

/// A command for the service.
enum Command {
    /// Local work on the client: one store access, no network.
    Local(Box<dyn FnOnce(&mut Client) + Send>),
    InitAccount {
        relay: hush_protocol::RelayAddress,
        name: Option<String>,
        reply: Reply<AccountInfo>,
    },
    Register {
        username: String,
        reply: Reply<String>,
    },
    AddContact {
        code: String,
        alias: Option<String>,
        reply: Reply<Contact>,
    },
    SendText {
        to: String,
        text: String,
        reply: Reply<Message>,
    },
    Sync {
        wait: Duration,
        reply: Reply<SyncReport>,
    },
    SetOnline {
        online: bool,
        reply: Reply<()>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// A handle to a running client service. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct ClientHandle {
    commands: mpsc::UnboundedSender<Command>,
    events: std::sync::Arc<Mutex<mpsc::Receiver<ServiceEvent>>>,
}

impl std::fmt::Debug for ClientHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHandle").finish_non_exhaustive()
    }
}

impl ClientHandle {
    /// Moves `client` into a service task on `runtime` and returns its handle. The service
    /// starts offline; call [`ClientHandle::set_online`] to connect.
    pub fn spawn(client: Client, runtime: &tokio::runtime::Handle) -> Self {
        let (commands, receiver) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
        let actor = Actor {
            client,
            online: false,
            connection: None,
            connecting: None,
            retry_at: None,
            backoff: Backoff::default(),
            events: EventSink {
                sender: events,
                missed: 0,
            },
        };
        runtime.spawn(actor.run(receiver));
        Self {
            commands,
            events: std::sync::Arc::new(Mutex::new(events_rx)),
        }
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, ServiceError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .map_err(|_| ServiceError::Stopped)?;
        Ok(answer.await.map_err(|_| ServiceError::Stopped)??)
    }

    async fn local<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Client) -> Result<T, ClientError> + Send + 'static,
    ) -> Result<T, ServiceError> {
        self.ask(|reply| {
            Command::Local(Box::new(move |client| {
                let _ = reply.send(work(client));
            }))
        })
        .await
    }

    /// Connects and stays connected (`true`), or disconnects and stays offline (`false`).
    /// Going online needs an account ([`ClientError::NoAccount`] otherwise).
    pub async fn set_online(&self, online: bool) -> Result<(), ServiceError> {
        self.ask(|reply| Command::SetOnline { online, reply }).await
    }

    /// Creates the account on `relay` (see [`Client::init_account`]).
    pub async fn init_account(
        &self,
        relay: hush_protocol::RelayAddress,
        name: Option<String>,
    ) -> Result<AccountInfo, ServiceError> {
        self.ask(|reply| Command::InitAccount { relay, name, reply })
            .await
    }

    /// The own account.
    pub async fn whoami(&self) -> Result<AccountInfo, ServiceError> {
        self.local(|client| client.whoami()).await
    }

    /// The own invite code.
    pub async fn invite(&self) -> Result<String, ServiceError> {
        self.local(|client| Ok(client.invite()?.encode())).await
    }

    /// Claims `@username` on the relay.
    pub async fn register(&self, username: String) -> Result<String, ServiceError> {
        self.ask(|reply| Command::Register { username, reply })
            .await
    }

    /// Adds a contact from an invite code or an `@username`.
    pub async fn add_contact(
        &self,
        code: String,
        alias: Option<String>,
    ) -> Result<Contact, ServiceError> {
        self.ask(|reply| Command::AddContact { code, alias, reply })
            .await
    }

    /// All contacts, by alias.
    pub async fn contacts(&self) -> Result<Vec<Contact>, ServiceError> {
        self.local(|client| client.contacts()).await
    }

    /// Finds a contact by alias, `@username` or mailbox id.
    pub async fn resolve(&self, who: String) -> Result<Contact, ServiceError> {
        self.local(move |client| client.resolve(&who)).await
    }

    /// Conversations with their newest message, most recent first.
    pub async fn conversations(
        &self,
    ) -> Result<Vec<(crate::ConversationId, String, Option<Message>)>, ServiceError> {
        self.local(|client| client.conversations()).await
    }

    /// Writes a text to the history and the outbox and returns it (`Queued`); the service
    /// sends it when connected and reports [`ServiceEvent::MessageStatus`].
    pub async fn send_text(&self, to: String, text: String) -> Result<Message, ServiceError> {
        self.ask(|reply| Command::SendText { to, text, reply })
            .await
    }

    /// A conversation's messages, newest first: at most `limit`, older than `before`.
    pub async fn history(
        &self,
        who: String,
        limit: usize,
        before: Option<MessageId>,
    ) -> Result<Vec<Message>, ServiceError> {
        self.local(move |client| client.history(&who, limit, before))
            .await
    }

    /// A message by id.
    pub async fn message(&self, id: MessageId) -> Result<Option<Message>, ServiceError> {
        self.local(move |client| client.message(&id)).await
    }

    /// Messages containing `text`, newest first.
    pub async fn search(&self, text: String) -> Result<Vec<Message>, ServiceError> {
        self.local(move |client| client.search(&text)).await
    }

    /// The safety number with a contact.
    pub async fn safety_number(
        &self,
        who: String,
    ) -> Result<(Contact, SafetyNumber), ServiceError> {
        self.local(move |client| client.safety_number(&who)).await
    }

    /// Marks a contact verified.
    pub async fn mark_verified(&self, who: String) -> Result<Contact, ServiceError> {
        self.local(move |client| client.mark_verified(&who)).await
    }

    /// The alias of a conversation's contact.
    pub async fn alias_of(&self, mailbox: MailboxId) -> Result<String, ServiceError> {
        self.local(move |client| client.alias_of(&mailbox)).await
    }

    /// Messages waiting in the outbox.
    pub async fn outbox_len(&self) -> Result<usize, ServiceError> {
        self.local(|client| client.outbox_len()).await
    }

    /// Offline: one [`Client::sync`] (connect, send the outbox, receive until drained, then
    /// `wait` longer), its events reported as usual. Online the connection does all that
    /// already: this sends the outbox if connected and reports what is still queued.
    pub async fn sync(&self, wait: Duration) -> Result<SyncReport, ServiceError> {
        self.ask(|reply| Command::Sync { wait, reply }).await
    }

    /// The next event, waiting for one; `None` once the service has stopped and every event
    /// was read. One reader at a time: concurrent callers take turns.
    pub async fn next_event(&self) -> Option<ServiceEvent> {
        self.events.lock().await.recv().await
    }

    /// Stops the service: closes the connection politely and closes the local store. Later
    /// commands fail with [`ServiceError::Stopped`].
    pub async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self.commands.send(Command::Shutdown { reply }).is_ok() {
            let _ = done.await;
        }
    }
}

/// The bounded event queue, counting what it had to drop.
struct EventSink {
    sender: mpsc::Sender<ServiceEvent>,
    missed: u64,
}

impl EventSink {
    fn emit(&mut self, event: ServiceEvent) {
        if self.missed > 0 {
            let lagged = ServiceEvent::Lagged {
                missed: self.missed,
            };
            if self.sender.try_send(lagged).is_ok() {
                self.missed = 0;
            }
        }
        if self.missed > 0 || self.sender.try_send(event).is_err() {
            self.missed += 1;
        }
    }
}

type Connecting = JoinHandle<Result<RelayConnection, TransportError>>;

/// The task that owns the client.
struct Actor {
    client: Client,
    online: bool,
    connection: Option<RelayConnection>,
    connecting: Option<Connecting>,
    retry_at: Option<Instant>,
    backoff: Backoff,
    events: EventSink,
}

/// What the select loop woke up for.
enum Wake {
    Command(Option<Command>),
    Connected(Result<RelayConnection, TransportError>),
    Push(Result<Push, TransportError>),
    Retry,
}

impl Actor {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            if self.online
                && self.connection.is_none()
                && self.connecting.is_none()
                && self.retry_at.is_none()
            {
                self.start_connecting();
            }
            let wake = tokio::select! {
                biased;
                command = commands.recv() => Wake::Command(command),
                result = wait_connecting(&mut self.connecting), if self.connecting.is_some() => {
                    Wake::Connected(result)
                }
                push = wait_push(&mut self.connection), if self.connection.is_some() => {
                    Wake::Push(push)
                }
                () = wait_until(self.retry_at), if self.retry_at.is_some() => Wake::Retry,
            };
            match wake {
                Wake::Command(None) => break,
                Wake::Command(Some(Command::Shutdown { reply })) => {
                    self.go_offline(None).await;
                    drop(self);
                    let _ = reply.send(());
                    return;
                }
                Wake::Command(Some(command)) => self.serve(command).await,
                Wake::Connected(result) => {
                    self.connecting = None;
                    self.connected(result).await;
                }
                Wake::Push(push) => self.push(push).await,
                Wake::Retry => self.retry_at = None,
            }
        }
        self.go_offline(None).await;
    }

    async fn serve(&mut self, command: Command) {
        match command {
            Command::Local(work) => work(&mut self.client),
            Command::InitAccount { relay, name, reply } => {
                let _ = reply.send(self.client.init_account(relay, name).await);
            }
            Command::Register { username, reply } => {
                let _ = reply.send(self.client.register(&username).await);
            }
            Command::AddContact { code, alias, reply } => {
                let _ = reply.send(self.client.add_contact(&code, alias.as_deref()).await);
            }
            Command::SendText { to, text, reply } => {
                let queued = self
                    .client
                    .resolve_conversation(&to)
                    .and_then(|conversation| self.client.queue_text(conversation, &text, None));
                let sent = queued.is_ok();
                let _ = reply.send(queued);
                if sent {
                    self.flush().await;
                }
            }
            Command::Sync { wait, reply } => {
                let report = if self.online {
                    self.flush().await;
                    self.client.outbox_len().map(|queued| SyncReport {
                        queued,
                        ..SyncReport::default()
                    })
                } else {
                    let events = &mut self.events;
                    self.client
                        .sync(wait, |_, event| {
                            events.emit(ServiceEvent::Received(event.clone()));
                        })
                        .await
                };
                let _ = reply.send(report);
            }
            Command::SetOnline { online, reply } => {
                let result = if online {
                    self.client.whoami().map(|_| {
                        if !self.online {
                            self.online = true;
                            self.retry_at = None;
                            self.backoff.reset();
                        }
                    })
                } else {
                    if self.online || self.connection.is_some() || self.connecting.is_some() {
                        self.go_offline(None).await;
                    }
                    Ok(())
                };
                let _ = reply.send(result);
            }
            Command::Shutdown { .. } => {}
        }
    }

    /// Starts a connection attempt in its own task, so commands are served meanwhile.
    fn start_connecting(&mut self) {
        let login = self.client.account().map(|account| {
            (
                account.relay.clone(),
                account.record.mailbox,
                account.mailbox_key.clone(),
            )
        });
        match login {
            Ok((relay, mailbox, key)) => {
                self.events
                    .emit(ServiceEvent::Connection(ConnectionState::Connecting));
                self.connecting = Some(tokio::spawn(async move {
                    RelayConnection::connect(&relay, Login::Existing(mailbox, &key)).await
                }));
            }
            Err(error) => {
                self.online = false;
                self.events
                    .emit(ServiceEvent::Connection(ConnectionState::Offline {
                        reason: Some(error.to_string()),
                    }));
            }
        }
    }

    async fn connected(&mut self, result: Result<RelayConnection, TransportError>) {
        let mut connection = match result {
            Ok(connection) => connection,
            Err(error) => return self.lost(ClientError::Transport(error)).await,
        };
        if let Err(error) = connection.subscribe().await {
            return self.lost(ClientError::Transport(error)).await;
        }
        self.connection = Some(connection);
        self.backoff.reset();
        self.events
            .emit(ServiceEvent::Connection(ConnectionState::Connected));
        self.flush().await;
    }

    /// Sends the outbox on the connection (if there is one) and reports status changes.
    async fn flush(&mut self) {
        let Some(connection) = &self.connection else {
            return;
        };
        let pending: Vec<Vec<u8>> = match self
            .client
            .store
            .scan::<crate::client::records::OutboxEntry>(Slot::Outbox, b"", false)
        {
            Ok(entries) => entries
                .into_iter()
                .filter_map(|(_, entry)| entry.message_key.clone())
                .collect(),
            Err(error) => {
                self.events.emit(ServiceEvent::SendFailed {
                    reason: error.to_string(),
                });
                return;
            }
        };
        if pending.is_empty() {
            return;
        }
        let report = self.client.flush_outbox(connection).await;
        for key in pending {
            if let Ok(Some(message)) = self.client.store.get::<Message>(Slot::Messages, &key)
                && message.status != Status::Queued
            {
                self.events.emit(ServiceEvent::MessageStatus(message));
            }
        }
        match report.error {
            None => {}
            Some(ClientError::Transport(error)) if error.is_transient() => {
                self.lost(ClientError::Transport(error)).await;
            }
            Some(error) => self.events.emit(ServiceEvent::SendFailed {
                reason: error.to_string(),
            }),
        }
    }

    async fn push(&mut self, push: Result<Push, TransportError>) {
        let push = match push {
            Ok(push) => push,
            Err(error) => return self.lost(ClientError::Transport(error)).await,
        };
        match push {
            Push::Deliver(delivery) => self.deliver(delivery).await,
            Push::Drained => {
                self.events.emit(ServiceEvent::CaughtUp);
                if let Some(connection) = &self.connection {
                    // Best effort: retried after the next drain.
                    let _ = self.client.maintain_prekeys(connection).await;
                }
            }
            Push::Unsubscribed => {
                self.go_offline(Some(
                    "another session took over receiving for this account".into(),
                ))
                .await;
            }
            Push::Ephemeral(delivery) => {
                // Typing and presence are best effort: a bad one is dropped.
                if let Ok(events) = self.client.handle_ephemeral(&delivery) {
                    for event in events {
                        self.events.emit(ServiceEvent::Received(event));
                    }
                }
            }
            // Errors the relay reports on the control stream (e.g. an unknown ack): nothing
            // to do.
            _ => {}
        }
    }

    async fn deliver(&mut self, delivery: Delivery) {
        let Some(connection) = &mut self.connection else {
            return;
        };
        let mut report = SyncReport::default();
        match self
            .client
            .handle_delivery(connection, delivery, &mut report)
            .await
        {
            Ok(events) => {
                for event in events {
                    self.events.emit(ServiceEvent::Received(event));
                }
            }
            Err(error) => self.lost(error).await,
        }
    }

    /// The connection failed: retry later if that can help, otherwise stop trying.
    async fn lost(&mut self, error: ClientError) {
        if let Some(connection) = self.connection.take() {
            // It is probably dead already; do not wait for a polite close.
            drop(connection);
        }
        match error {
            ClientError::Transport(error) if error.is_transient() => {
                let delay = reconnect_delay(&mut self.backoff);
                self.retry_at = Some(Instant::now() + delay);
                self.events
                    .emit(ServiceEvent::Connection(ConnectionState::Retrying {
                        error: error.to_string(),
                        retry_in: delay,
                    }));
            }
            error => self.go_offline(Some(error.to_string())).await,
        }
    }

    /// Disconnects and stops trying.
    async fn go_offline(&mut self, reason: Option<String>) {
        let was = self.online || self.connection.is_some() || self.connecting.is_some();
        self.online = false;
        self.retry_at = None;
        if let Some(connecting) = self.connecting.take() {
            connecting.abort();
        }
        if let Some(connection) = self.connection.take() {
            connection.close().await;
        }
        if was {
            self.events
                .emit(ServiceEvent::Connection(ConnectionState::Offline {
                    reason,
                }));
        }
    }
}

async fn wait_connecting(
    connecting: &mut Option<Connecting>,
) -> Result<RelayConnection, TransportError> {
    match connecting {
        Some(task) => match task.await {
            Ok(result) => result,
            Err(error) => Err(TransportError::Unreachable(format!(
                "connection attempt failed: {error}"
            ))),
        },
        None => std::future::pending().await,
    }
}

async fn wait_push(connection: &mut Option<RelayConnection>) -> Result<Push, TransportError> {
    match connection {
        Some(connection) => connection.next_push().await,
        None => std::future::pending().await,
    }
}

async fn wait_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
