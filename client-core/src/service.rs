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
//!   writes (contacts, history, groups, preferences, queueing a message, marking read) take
//!   one store access; commands that talk to the relay on their own connection (account
//!   creation, `@username` look-ups, and — because client-core sends them at once — edits,
//!   reactions, deletes for everyone, timers and group changes) take as long as that exchange;
//! - queues delivery receipts whenever the relay says it is drained, and sends them (and read
//!   receipts) with the outbox; tells contacts it is online or going offline if the presence
//!   preference is on;
//! - reports what happened as [`ServiceEvent`]s, read with [`ClientHandle::next_event`].
//!
//! File transfers never hold the client: the actor does only their local steps (recording an
//! upload, marking a download `partial`, queueing the message once the upload is complete,
//! recording how a save ended) and runs the transfer itself — the relay's limit check, hashing,
//! uploading, downloading — as a job on a task the service owns, over a clone of the
//! connection's blob channel. The job reports [`ServiceEvent::Transfer`] progress and hands its
//! result back to the actor, which finishes it in the store and sends the outbox. Recorded
//! uploads resume after every (re)connection. Shutting down cancels running transfers (an
//! upload resumes, a download continues from its part file, next time).
//!
//! Conversations are named as the client names them (`#group`, a contact's alias,
//! `@username` or mailbox id) or by the id apps are shown for a group, `group:<hex>`.
//!
//! Sending never waits for the network: [`ClientHandle::send_text`] writes the message to the
//! history and the outbox and returns it `Queued`; the service then sends it on its
//! connection and reports [`ServiceEvent::MessageStatus`] when the relay stored it.
//!
//! The handle is cheap to clone; its futures only wait for the service's answer, so they can
//! be awaited on any executor (the FFI crate awaits them from foreign event loops). The
//! service stops when [`ClientHandle::shutdown`] is called or every handle is dropped; it then
//! closes the connection and drops the client, which closes the local store.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hush_protocol::{Delivery, MailboxId};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::{AbortHandle, Id as TaskId, JoinError, JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::client::send::{FlushReport, PreparedOutbox, SentEnvelopes, send_prepared};
use crate::client::{
    AccountInfo, Client, ClientError, Contact, ConversationId, Direction, Event, FileDraft,
    GroupInfo, Message, Preferences, PreparedFile, SaveDone, SaveJob, SaveReport, Status,
    SyncReport, TransferProgress, UploadJob, UploadReport, reconnect_delay,
};
use crate::content::MessageId;
use crate::local_store::Slot;
use crate::safety_number::SafetyNumber;
use crate::transport::{Backoff, BlobChannel, Login, Push, RelayConnection, TransportError};

/// Events buffered for the app before the oldest unread ones are dropped (and counted in
/// [`ServiceEvent::Lagged`]). Nothing is lost by dropping: messages are in the history.
pub const EVENT_QUEUE: usize = 4096;

/// The shortest time between two [`ServiceEvent::Transfer`] reports of one transfer (the first
/// and the last are always reported).
pub const TRANSFER_REPORT_INTERVAL: Duration = Duration::from_millis(250);

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
/// New kinds will be added as new variants; match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceEvent {
    /// What the client reported while receiving: a new message (already stored), an edit,
    /// a reaction, a receipt, a group change, typing, presence, …
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
    /// A file transfer made progress: reported at most every [`TRANSFER_REPORT_INTERVAL`] per
    /// transfer, and always when it is complete (`done == total`).
    Transfer {
        /// The message sharing the file.
        message_id: MessageId,
        /// The file's name.
        name: String,
        /// `Outgoing`: an upload; `Incoming`: a download.
        direction: Direction,
        /// Plaintext bytes done, including those done before a resume.
        done: u64,
        /// Plaintext bytes in all.
        total: u64,
    },
    /// A file transfer stopped before it was complete. An upload that is still recorded (the
    /// network failed, the relay refused it for now) resumes after the next connection; one
    /// whose source file changed or vanished is given up (its message is reported `Failed`).
    /// A download resumes from its part file when it is saved again.
    TransferFailed {
        /// The message sharing the file.
        message_id: MessageId,
        /// Why.
        error: String,
    },
}

type Reply<T> = oneshot::Sender<Result<T, ClientError>>;

/// Work on the client that awaits (a relay exchange of the client's own).
type Exchange =
    Box<dyn for<'a> FnOnce(&'a mut Client) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> + Send>;

/// A change to the preferences, applied to the current ones.
type PreferencesChange = Box<dyn FnOnce(&mut Preferences) -> Result<(), ClientError> + Send>;

/// A command for the service.
enum Command {
    /// Local work on the client: one store access, no network.
    Local(Box<dyn FnOnce(&mut Client) + Send>),
    /// Local work that may queue envelopes (receipts, …); the outbox is sent afterwards on the
    /// service's connection.
    Queue(Box<dyn FnOnce(&mut Client) + Send>),
    /// A client method that talks to the relay on a connection of its own (edits, reactions,
    /// group changes: client-core sends those at once). Status changes of queued messages it
    /// sent along are reported, and what it could not send goes out on the service's
    /// connection.
    Exchange(Exchange),
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
        reply_to: Option<MessageId>,
        reply: Reply<Message>,
    },
    Typing {
        to: String,
        active: bool,
        reply: Reply<()>,
    },
    /// Records a file to send (after the relay's limit check and hashing, off the actor) and
    /// uploads it on a task.
    SendFile {
        to: String,
        path: PathBuf,
        caption: Option<String>,
        reply: Reply<Message>,
    },
    /// Downloads and saves a received file on a task; answers when it is saved (or refused).
    SaveFile {
        id: String,
        dest: Option<PathBuf>,
        reply: Reply<SaveReport>,
    },
    /// Starts the recorded uploads that are not running (and tells the relay about saved
    /// files it missed).
    ResumeUploads {
        reply: Reply<usize>,
    },
    UpdatePreferences {
        change: PreferencesChange,
        reply: Reply<Preferences>,
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
    pub fn spawn(mut client: Client, runtime: &tokio::runtime::Handle) -> Self {
        let (commands, receiver) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
        // Uploads run as jobs on the service's tasks, never inside a command (an offline
        // `sync` included).
        client.defer_uploads(true);
        // Likewise the outbox: a command only writes to it; the service sends it off the actor.
        client.defer_flush(true);
        let actor = Actor {
            client,
            online: false,
            connection: None,
            connecting: None,
            retry_at: None,
            backoff: Backoff::default(),
            events: EventSink {
                sender: events,
                missed: Arc::new(AtomicU64::new(0)),
            },
            transfers: JoinSet::new(),
            active: HashMap::new(),
            releasing: None,
            sending: None,
            flush_again: false,
            generation: 0,
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

    async fn queue<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Client) -> Result<T, ClientError> + Send + 'static,
    ) -> Result<T, ServiceError> {
        self.ask(|reply| {
            Command::Queue(Box::new(move |client| {
                let _ = reply.send(work(client));
            }))
        })
        .await
    }

    async fn exchange<T: Send + 'static>(
        &self,
        work: impl for<'a> FnOnce(
            &'a mut Client,
        )
            -> Pin<Box<dyn Future<Output = Result<T, ClientError>> + Send + 'a>>
        + Send
        + 'static,
    ) -> Result<T, ServiceError> {
        self.ask(|reply| {
            Command::Exchange(Box::new(move |client| {
                Box::pin(async move {
                    let _ = reply.send(work(client).await);
                })
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
        self.send_reply(to, text, None).await
    }

    /// Like [`ClientHandle::send_text`], replying to (quoting) the message `reply_to`.
    pub async fn send_reply(
        &self,
        to: String,
        text: String,
        reply_to: Option<MessageId>,
    ) -> Result<Message, ServiceError> {
        self.ask(|reply| Command::SendText {
            to,
            text,
            reply_to,
            reply,
        })
        .await
    }

    /// Replaces the text of one of this account's messages, everywhere (see
    /// [`Client::edit_message`]). Queued; the service sends it (the call does not wait for the
    /// relay).
    pub async fn edit_message(&self, id: MessageId, text: String) -> Result<Message, ServiceError> {
        self.exchange(move |client| Box::pin(async move { client.edit_message(&id, &text).await }))
            .await
    }

    /// Deletes a message here, or with `for_everyone` on every member's device (see
    /// [`Client::delete_message`]). Queued; the service sends it (the call does not wait for the
    /// relay).
    pub async fn delete_message(
        &self,
        id: MessageId,
        for_everyone: bool,
    ) -> Result<(), ServiceError> {
        self.exchange(move |client| {
            Box::pin(async move { client.delete_message(&id, for_everyone).await })
        })
        .await
    }

    /// Reacts to a message; an empty `emoji` removes the reaction (see [`Client::react`]).
    /// Queued; the service sends it (the call does not wait for the relay).
    pub async fn react(&self, id: MessageId, emoji: String) -> Result<Message, ServiceError> {
        self.exchange(move |client| Box::pin(async move { client.react(&id, &emoji).await }))
            .await
    }

    /// Marks a conversation read and returns how many messages were unread; read receipts go
    /// out on the service's connection.
    pub async fn mark_read(&self, who: String) -> Result<usize, ServiceError> {
        self.queue(move |client| {
            let conversation = resolve(client, &who)?;
            client.mark_read(&conversation)
        })
        .await
    }

    /// Tells a conversation that this account is typing (or stopped): ephemeral, sent on the
    /// service's connection. Offline it is dropped (nobody would see it).
    pub async fn send_typing(&self, to: String, active: bool) -> Result<(), ServiceError> {
        self.ask(|reply| Command::Typing { to, active, reply })
            .await
    }

    /// A conversation's disappearing-message timer, in seconds (`None`: off).
    pub async fn timer(&self, who: String) -> Result<Option<u64>, ServiceError> {
        self.local(move |client| client.timer(&name(client, &who)?))
            .await
    }

    /// Sets (or turns off) a conversation's disappearing-message timer for everyone in it
    /// (see [`Client::set_timer`]). Queued; the service sends it (the call does not wait for the
    /// relay).
    pub async fn set_timer(&self, who: String, seconds: Option<u64>) -> Result<(), ServiceError> {
        self.exchange(move |client| {
            Box::pin(async move {
                if seconds == Some(0) {
                    return Err(ClientError::InvalidInput(
                        "a timer is at least one second (or off: none)".into(),
                    ));
                }
                let who = name(client, &who)?;
                client.set_timer(&who, seconds).await
            })
        })
        .await
    }

    /// The account's preferences.
    pub async fn preferences(&self) -> Result<Preferences, ServiceError> {
        self.local(|client| client.preferences()).await
    }

    /// Changes the account's preferences with `change` (applied to the current ones, in one
    /// step) and returns them. Turning presence on or off while connected tells contacts at
    /// once.
    pub async fn update_preferences(
        &self,
        change: impl FnOnce(&mut Preferences) -> Result<(), ClientError> + Send + 'static,
    ) -> Result<Preferences, ServiceError> {
        self.ask(|reply| Command::UpdatePreferences {
            change: Box::new(change),
            reply,
        })
        .await
    }

    /// Replaces the account's preferences (see [`ClientHandle::update_preferences`]).
    pub async fn set_preferences(&self, preferences: Preferences) -> Result<(), ServiceError> {
        self.update_preferences(move |current| {
            *current = preferences;
            Ok(())
        })
        .await
        .map(drop)
    }

    /// The groups this account is in, by name.
    pub async fn groups(&self) -> Result<Vec<GroupInfo>, ServiceError> {
        self.local(|client| client.groups()).await
    }

    /// One group's members and roles.
    pub async fn group_info(&self, group: String) -> Result<GroupInfo, ServiceError> {
        self.local(move |client| client.group_info(&name(client, &group)?))
            .await
    }

    /// Creates a group with these contacts (see [`Client::create_group`]). Queued; the service
    /// sends it (the call does not wait for the relay).
    pub async fn create_group(
        &self,
        group: String,
        members: Vec<String>,
    ) -> Result<GroupInfo, ServiceError> {
        self.exchange(move |client| {
            Box::pin(async move { client.create_group(&group, &members).await })
        })
        .await
    }

    /// Adds a contact to a group (admins). Queued; the service sends it (the call does not wait for
    /// the relay).
    pub async fn group_add(&self, group: String, who: String) -> Result<GroupInfo, ServiceError> {
        self.exchange(move |client| {
            Box::pin(async move {
                let group = name(client, &group)?;
                client.group_add(&group, &who).await
            })
        })
        .await
    }

    /// Removes a member from a group (admins); everyone's keys rotate. Queued; the service sends it
    /// (the call does not wait for the relay).
    pub async fn group_remove(
        &self,
        group: String,
        who: String,
    ) -> Result<GroupInfo, ServiceError> {
        self.exchange(move |client| {
            Box::pin(async move {
                let group = name(client, &group)?;
                client.group_remove(&group, &who).await
            })
        })
        .await
    }

    /// Leaves a group. Queued; the service sends it (the call does not wait for the relay).
    pub async fn group_leave(&self, group: String) -> Result<GroupInfo, ServiceError> {
        self.exchange(move |client| {
            Box::pin(async move {
                let group = name(client, &group)?;
                client.group_leave(&group).await
            })
        })
        .await
    }

    /// Renames a group (admins). Queued; the service sends it (the call does not wait for the
    /// relay).
    pub async fn group_rename(
        &self,
        group: String,
        new_name: String,
    ) -> Result<GroupInfo, ServiceError> {
        self.exchange(move |client| {
            Box::pin(async move {
                let group = name(client, &group)?;
                client.group_rename(&group, &new_name).await
            })
        })
        .await
    }

    /// Makes a member a group admin (admins). Queued; the service sends it (the call does not wait
    /// for the relay).
    pub async fn group_promote(
        &self,
        group: String,
        who: String,
    ) -> Result<GroupInfo, ServiceError> {
        self.exchange(move |client| {
            Box::pin(async move {
                let group = name(client, &group)?;
                client.group_promote(&group, &who).await
            })
        })
        .await
    }

    /// A conversation's messages, newest first: at most `limit`, older than `before`.
    pub async fn history(
        &self,
        who: String,
        limit: usize,
        before: Option<MessageId>,
    ) -> Result<Vec<Message>, ServiceError> {
        self.local(move |client| client.history(&name(client, &who)?, limit, before))
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

    /// Sends a file to a conversation, with an optional caption. The relay's size and quota
    /// limits are checked (when connected) and the file is hashed on a task of its own; then
    /// the message is recorded and returned (file state `Uploading`, status `Queued`). The
    /// upload runs on a task too ([`ServiceEvent::Transfer`]); once it is complete the
    /// message goes out like any other ([`ServiceEvent::MessageStatus`]). Offline, the file is
    /// recorded and uploaded after the next connection.
    pub async fn send_file(
        &self,
        to: String,
        path: PathBuf,
        caption: Option<String>,
    ) -> Result<Message, ServiceError> {
        self.ask(|reply| Command::SendFile {
            to,
            path,
            caption,
            reply,
        })
        .await
    }

    /// Received files, oldest first; only those of one conversation if `to` is given.
    pub async fn files(&self, to: Option<String>) -> Result<Vec<Message>, ServiceError> {
        self.local(move |client| {
            let to = to.map(|to| name(client, &to)).transpose()?;
            client.files(to.as_deref())
        })
        .await
    }

    /// Downloads, checks and saves a received file (by message id, or a unique prefix of at
    /// least 4 hex digits) to `dest` (a file, or a directory to put it in; default: the
    /// current directory), resuming an interrupted download. The download runs on a task
    /// ([`ServiceEvent::Transfer`]), on the service's connection or, offline, on one of its
    /// own; this answers when the file is saved or refused.
    pub async fn save_file(
        &self,
        id: String,
        dest: Option<PathBuf>,
    ) -> Result<SaveReport, ServiceError> {
        self.ask(|reply| Command::SaveFile { id, dest, reply })
            .await
    }

    /// Starts the recorded uploads that are not running (the service also does this after
    /// every connection); returns how many it started. Offline: none.
    pub async fn resume_uploads(&self) -> Result<usize, ServiceError> {
        self.ask(|reply| Command::ResumeUploads { reply }).await
    }

    /// Limits each file transfer started from now on to about `bytes_per_sec` (`None`: as
    /// fast as the link allows).
    pub async fn set_rate_limit(&self, bytes_per_sec: Option<u64>) -> Result<(), ServiceError> {
        self.local(move |client| {
            client.set_rate_limit(bytes_per_sec);
            Ok(())
        })
        .await
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

/// The bounded event queue, counting what it had to drop. Cloned into transfer tasks.
#[derive(Clone)]
struct EventSink {
    sender: mpsc::Sender<ServiceEvent>,
    missed: Arc<AtomicU64>,
}

impl EventSink {
    fn emit(&self, event: ServiceEvent) {
        let missed = self.missed.load(Ordering::Relaxed);
        if missed > 0 {
            let lagged = ServiceEvent::Lagged { missed };
            if self.sender.try_send(lagged).is_ok() {
                self.missed.fetch_sub(missed, Ordering::Relaxed);
            }
        }
        if self.missed.load(Ordering::Relaxed) > 0 || self.sender.try_send(event).is_err() {
            self.missed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A progress sink for one transfer's job: [`ServiceEvent::Transfer`], rate-limited.
    fn transfer_progress(
        &self,
        message_id: MessageId,
    ) -> impl FnMut(&TransferProgress) + Send + use<> {
        let events = self.clone();
        let mut last: Option<Instant> = None;
        move |progress| {
            let now = Instant::now();
            let due = last.is_none_or(|at| now.duration_since(at) >= TRANSFER_REPORT_INTERVAL);
            if due || progress.done >= progress.total {
                last = Some(now);
                events.emit(ServiceEvent::Transfer {
                    message_id,
                    name: progress.name.clone(),
                    direction: progress.direction,
                    done: progress.done,
                    total: progress.total,
                });
            }
        }
    }
}

/// What a transfer task hands back to the actor (through [`Actor::transfers`]).
enum Finished {
    /// A file to send was checked with the relay and read: record it.
    Prepared {
        result: Result<Box<PreparedFile>, ClientError>,
        reply: Reply<Message>,
    },
    /// An upload ended (on the connection of `generation`).
    Uploaded {
        id: MessageId,
        generation: u64,
        result: Result<UploadReport, ClientError>,
    },
    /// A download ended.
    Saved {
        id: MessageId,
        result: Result<SaveDone, ClientError>,
        reply: Reply<SaveReport>,
    },
    /// The relay was told about these saved files.
    Released { ids: Vec<MessageId> },
    /// Prepared outbox envelopes were sent (on the connection of `generation`); `pending` are
    /// the history keys of the messages that were queued.
    Sent {
        generation: u64,
        prepared: PreparedOutbox,
        sent: SentEnvelopes,
        pending: Vec<Vec<u8>>,
    },
    /// Ephemeral envelopes (typing, presence) or a prekey upload went out: nothing to record.
    Relayed,
    /// The relay said how many one-time prekeys are left: refill if low.
    PrekeyCount(Result<u32, ClientError>),
}

/// Checks a file with the relay (if connected) and reads it (hash, thumbnail) on a blocking
/// thread. A connection that breaks meanwhile is no reason to refuse: the upload is recorded
/// and the relay asked again when it resumes.
async fn prepare_file(
    draft: FileDraft,
    blobs: Option<BlobChannel>,
) -> Result<PreparedFile, ClientError> {
    if let Some(blobs) = &blobs {
        match draft.check(blobs).await {
            Ok(()) => {}
            Err(ClientError::Transport(error)) if error.is_transient() => {}
            Err(error) => return Err(error),
        }
    }
    let blob = draft.blob();
    let read = tokio::task::spawn_blocking(move || draft.read())
        .await
        .map_err(|error| ClientError::File(format!("reading the file was interrupted: {error}")))
        .and_then(|read| read);
    if read.is_err()
        && let Some(blobs) = &blobs
    {
        // Announced but never to be sent: give the relay its quota back.
        let _ = blobs.abandon_blob(blob).await;
    }
    read
}

/// Where a download runs: the service's connection, or (offline) a connection of its own.
enum Route {
    Open(BlobChannel),
    Connect(
        Box<(
            hush_protocol::RelayAddress,
            MailboxId,
            ed25519_dalek::SigningKey,
        )>,
    ),
}

async fn run_save(
    job: SaveJob,
    route: Route,
    mut progress: impl FnMut(&TransferProgress) + Send,
    rate: Option<u64>,
) -> Result<SaveDone, ClientError> {
    match route {
        Route::Open(blobs) => job.run(&blobs, &mut progress, rate).await,
        Route::Connect(login) => {
            let (relay, mailbox, key) = *login;
            let connection =
                RelayConnection::connect(&relay, Login::Existing(mailbox, &key)).await?;
            let result = job.run(&connection.blobs(), &mut progress, rate).await;
            connection.close().await;
            result
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
    /// Running transfer jobs; their results come back through `join_next`. Aborted at
    /// shutdown.
    transfers: JoinSet<Finished>,
    /// Messages whose file is being uploaded or saved now, and the task doing it.
    active: HashMap<MessageId, TaskId>,
    /// The task of the running release job.
    releasing: Option<TaskId>,
    /// The task sending prepared outbox envelopes, if one runs.
    sending: Option<AbortHandle>,
    /// The outbox changed while a send ran: flush again when it ends.
    flush_again: bool,
    /// Counts connections, so an upload cut off with an old one is restarted on a new one.
    generation: u64,
}

/// What the select loop woke up for.
enum Wake {
    Command(Option<Command>),
    Connected(Result<RelayConnection, TransportError>),
    Push(Result<Push, TransportError>),
    Retry,
    Transfer(Option<Result<Finished, JoinError>>),
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
                finished = self.transfers.join_next(), if !self.transfers.is_empty() => {
                    Wake::Transfer(finished)
                }
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
                    self.transfers.shutdown().await;
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
                Wake::Transfer(Some(Ok(finished))) => self.finished(finished).await,
                // A transfer task panicked (its caller hears `Stopped`) or was cancelled.
                Wake::Transfer(Some(Err(error))) => {
                    let task = error.id();
                    self.active.retain(|_, running| *running != task);
                    if self.releasing == Some(task) {
                        self.releasing = None;
                    }
                    if self.sending.as_ref().map(AbortHandle::id) == Some(task) {
                        // The entries stay in the outbox; the next flush sends them.
                        self.sending = None;
                    }
                }
                Wake::Transfer(None) => {}
            }
        }
        self.transfers.shutdown().await;
        self.go_offline(None).await;
    }

    async fn serve(&mut self, command: Command) {
        match command {
            Command::Local(work) => work(&mut self.client),
            Command::Queue(work) => {
                work(&mut self.client);
                self.flush().await;
            }
            Command::Exchange(work) => {
                let before = self.outbox_messages();
                work(&mut self.client).await;
                if let Ok((_, keys)) = before {
                    self.report_status(keys);
                }
                self.flush().await;
            }
            Command::InitAccount { relay, name, reply } => {
                let _ = reply.send(self.client.init_account(relay, name).await);
            }
            Command::Register { username, reply } => {
                let _ = reply.send(self.client.register(&username).await);
            }
            Command::AddContact { code, alias, reply } => {
                let _ = reply.send(self.client.add_contact(&code, alias.as_deref()).await);
            }
            Command::SendText {
                to,
                text,
                reply_to,
                reply,
            } => {
                let queued = resolve(&self.client, &to)
                    .and_then(|conversation| self.client.queue_text(conversation, &text, reply_to));
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
            Command::Typing { to, active, reply } => {
                let result = match (name(&self.client, &to), self.connection.is_some()) {
                    (Ok(to), true) => match self.client.typing_envelope(&to, active).await {
                        Ok(envelope) => {
                            self.relay_beside(envelope.into_iter().collect());
                            Ok(())
                        }
                        Err(error) => Err(error),
                    },
                    (Ok(to), false) => self.client.resolve_conversation(&to).map(|_| ()),
                    (Err(error), _) => Err(error),
                };
                let _ = reply.send(result);
            }
            Command::UpdatePreferences { change, reply } => {
                let changed = self.client.preferences().and_then(|mut preferences| {
                    let was = preferences.presence;
                    change(&mut preferences)?;
                    Ok((was, preferences))
                });
                let (was, preferences) = match changed {
                    Ok(changed) => changed,
                    Err(error) => {
                        let _ = reply.send(Err(error));
                        return;
                    }
                };
                // Said while presence is still on, or contacts would not hear it.
                if was
                    && !preferences.presence
                    && let Some(connection) = &self.connection
                {
                    self.client.announce_presence(connection, false).await;
                }
                let result = self.client.set_preferences(&preferences);
                if result.is_ok() && !was && preferences.presence && self.connection.is_some() {
                    let envelopes = self.client.presence_envelopes(true).await;
                    self.relay_beside(envelopes);
                }
                let _ = reply.send(result.map(|()| preferences));
            }
            Command::SendFile {
                to,
                path,
                caption,
                reply,
            } => {
                let draft = name(&self.client, &to)
                    .and_then(|to| self.client.draft_file(&to, &path, caption.as_deref()));
                match draft {
                    Ok(draft) => {
                        let blobs = self.connection.as_ref().map(RelayConnection::blobs);
                        self.transfers.spawn(async move {
                            let result = prepare_file(draft, blobs).await.map(Box::new);
                            Finished::Prepared { result, reply }
                        });
                    }
                    Err(error) => {
                        let _ = reply.send(Err(error));
                    }
                }
            }
            Command::SaveFile { id, dest, reply } => match self.prepare_save(&id, dest) {
                Ok((job, route)) => {
                    let id = job.message_id();
                    let progress = self.events.transfer_progress(id);
                    let rate = self.client.rate_limit();
                    let task = self.transfers.spawn(async move {
                        let result = run_save(job, route, progress, rate).await;
                        Finished::Saved { id, result, reply }
                    });
                    self.active.insert(id, task.id());
                }
                Err(error) => {
                    let _ = reply.send(Err(error));
                }
            },
            Command::ResumeUploads { reply } => {
                let _ = reply.send(self.resume_transfers());
            }
            Command::Shutdown { .. } => {}
        }
    }

    /// The local step of saving a file (marks it `partial`), and where its download runs.
    fn prepare_save(
        &mut self,
        id: &str,
        dest: Option<PathBuf>,
    ) -> Result<(SaveJob, Route), ClientError> {
        let message = self.client.file_message(id)?;
        if self.active.contains_key(&message.id) {
            return Err(ClientError::InvalidInput(
                "that file is being saved already".into(),
            ));
        }
        let route = match &self.connection {
            Some(connection) => Route::Open(connection.blobs()),
            None => {
                let account = self.client.account()?;
                Route::Connect(Box::new((
                    account.relay.clone(),
                    account.record.mailbox,
                    account.mailbox_key.clone(),
                )))
            }
        };
        let job = self
            .client
            .prepare_save(&message.id.to_string(), dest.as_deref())?;
        Ok((job, route))
    }

    /// Uploads a recorded file on a task, over the service's connection (offline: later).
    fn start_upload(&mut self, job: UploadJob) {
        let Some(connection) = &self.connection else {
            return;
        };
        let id = job.message_id();
        if self.active.contains_key(&id) {
            return;
        }
        let blobs = connection.blobs();
        let mut progress = self.events.transfer_progress(id);
        let rate = self.client.rate_limit();
        let generation = self.generation;
        let task = self.transfers.spawn(async move {
            let result = job.run(&blobs, &mut progress, rate).await;
            Finished::Uploaded {
                id,
                generation,
                result,
            }
        });
        self.active.insert(id, task.id());
    }

    /// Starts every recorded upload that is not running, and tells the relay about saved
    /// files it missed; returns how many uploads it started.
    fn resume_transfers(&mut self) -> Result<usize, ClientError> {
        let Some(connection) = &self.connection else {
            return Ok(0);
        };
        let blobs = connection.blobs();
        let release = self.client.release_job()?;
        if !release.is_empty() && self.releasing.is_none() {
            let task = self.transfers.spawn(async move {
                Finished::Released {
                    ids: release.run(&blobs).await,
                }
            });
            self.releasing = Some(task.id());
        }
        let mut started = 0;
        for id in self.client.recorded_uploads()? {
            if self.active.contains_key(&id) {
                continue;
            }
            match self.client.upload_job(&id) {
                Ok(job) => {
                    self.start_upload(job);
                    started += 1;
                }
                Err(error) => self.events.emit(ServiceEvent::TransferFailed {
                    message_id: id,
                    error: error.to_string(),
                }),
            }
        }
        Ok(started)
    }

    /// A transfer task ended: finish it in the store.
    async fn finished(&mut self, finished: Finished) {
        match finished {
            Finished::Relayed => {}
            Finished::PrekeyCount(Ok(remaining)) => match self.client.refill_prekeys(remaining) {
                Ok(Some(upload)) => {
                    if let Some(connection) = &self.connection {
                        let blobs = connection.blobs();
                        self.transfers.spawn(async move {
                            let _ = blobs
                                .request(&hush_protocol::ClientFrame::PublishPrekeys(upload))
                                .await;
                            Finished::Relayed
                        });
                    }
                }
                Ok(None) => {}
                Err(error) => self.events.emit(ServiceEvent::SendFailed {
                    reason: error.to_string(),
                }),
            },
            Finished::PrekeyCount(Err(_)) => {}
            Finished::Sent {
                generation,
                prepared,
                sent,
                pending,
            } => {
                // A send aborted after it had finished still reports; it is the current one
                // only if it went out on the current connection.
                if generation == self.generation {
                    self.sending = None;
                }
                let report = self.client.record_sent(prepared, sent);
                self.sent(pending, report, generation).await;
                if self.sending.is_none() && std::mem::take(&mut self.flush_again) {
                    self.flush().await;
                }
            }
            Finished::Prepared { result, reply } => {
                match result.and_then(|file| self.client.record_upload(*file)) {
                    Ok((message, job)) => {
                        let _ = reply.send(Ok(message));
                        self.start_upload(job);
                    }
                    Err(error) => {
                        let _ = reply.send(Err(error));
                    }
                }
            }
            Finished::Uploaded {
                id,
                generation,
                result,
            } => {
                self.active.remove(&id);
                self.uploaded(id, generation, result).await;
            }
            Finished::Saved { id, result, reply } => {
                self.active.remove(&id);
                let report = self.client.finish_save(&id, result);
                if let Err(error) = &report {
                    self.events.emit(ServiceEvent::TransferFailed {
                        message_id: id,
                        error: error.to_string(),
                    });
                }
                let _ = reply.send(report);
            }
            Finished::Released { ids } => {
                self.releasing = None;
                // Best effort: what is not marked is told again after the next connection.
                let _ = self.client.mark_released(&ids);
            }
        }
    }

    /// An upload ended: queue its message and send the outbox, or decide what comes next.
    async fn uploaded(
        &mut self,
        id: MessageId,
        generation: u64,
        result: Result<UploadReport, ClientError>,
    ) {
        let error = match result.and_then(|_| self.client.queue_file_message(&id)) {
            Ok(_) => {
                self.flush().await;
                return;
            }
            Err(error) => error,
        };
        match &error {
            // Cut off with a connection that has been replaced since: go on with the new one.
            ClientError::Transport(transport)
                if transport.is_transient()
                    && self.connection.is_some()
                    && generation != self.generation =>
            {
                if let Ok(job) = self.client.upload_job(&id) {
                    self.start_upload(job);
                    return;
                }
            }
            // The source changed or vanished: this file cannot be sent as recorded.
            ClientError::File(_) => {
                let blob = self.client.upload_blob_id(&id).ok().flatten();
                if let Ok(Some(message)) = self.client.fail_upload(&id) {
                    self.events.emit(ServiceEvent::MessageStatus(message));
                }
                // Its blob will never be sent: give the relay its quota back (best effort;
                // otherwise it goes at its TTL).
                if let (Some(blob), Some(connection)) = (blob, &self.connection) {
                    let blobs = connection.blobs();
                    self.transfers.spawn(async move {
                        let _ = blobs.abandon_blob(blob).await;
                        Finished::Relayed
                    });
                }
            }
            _ => {}
        }
        self.events.emit(ServiceEvent::TransferFailed {
            message_id: id,
            error: error.to_string(),
        });
    }

    /// How many envelopes wait in the outbox, and the history keys of the messages among them.
    fn outbox_messages(&self) -> Result<(usize, Vec<Vec<u8>>), ClientError> {
        let entries = self
            .client
            .store
            .scan::<crate::client::records::OutboxEntry>(Slot::Outbox, b"", false)?;
        let keys = entries
            .iter()
            .filter_map(|(_, entry)| entry.message_key.clone())
            .collect();
        Ok((entries.len(), keys))
    }

    /// Reports the messages (by history key) that left the `Queued` state.
    fn report_status(&mut self, keys: Vec<Vec<u8>>) {
        for key in keys {
            if let Ok(Some(message)) = self.client.store.get::<Message>(Slot::Messages, &key)
                && message.status != Status::Queued
            {
                self.events.emit(ServiceEvent::MessageStatus(message));
            }
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
        self.stop_sending();
        self.connection = Some(connection);
        self.generation += 1;
        self.backoff.reset();
        self.events
            .emit(ServiceEvent::Connection(ConnectionState::Connected));
        self.flush().await;
        // Only if the preference is on; best effort.
        let envelopes = self.client.presence_envelopes(true).await;
        self.relay_beside(envelopes);
        // Uploads cut off earlier (or recorded offline) go on, on their own tasks.
        if let Err(error) = self.resume_transfers() {
            self.events.emit(ServiceEvent::SendFailed {
                reason: error.to_string(),
            });
        }
    }

    /// Sends the outbox on the connection (if there is one) and reports status changes.
    ///
    /// Encrypting (and saving the ciphertext) happens here, on the actor; the envelopes go to
    /// the relay from a task of their own, so calls are served while they are on the way, and
    /// the answers are recorded when the task reports back ([`Finished::Sent`]). One send runs
    /// at a time; a flush asked for meanwhile runs when it ends.
    async fn flush(&mut self) {
        if self.connection.is_none() {
            return;
        }
        if self.sending.is_some() {
            self.flush_again = true;
            return;
        }
        let pending = match self.outbox_messages() {
            Ok((0, _)) => return,
            Ok((_, keys)) => keys,
            Err(error) => {
                self.events.emit(ServiceEvent::SendFailed {
                    reason: error.to_string(),
                });
                return;
            }
        };
        let Some(connection) = &self.connection else {
            return;
        };
        let prepared = self.client.prepare_outbox(Some(connection)).await;
        if prepared.envelopes.is_empty() {
            let report = self.client.record_sent(prepared, SentEnvelopes::default());
            self.sent(pending, report, self.generation).await;
            return;
        }
        let blobs = connection.blobs();
        let generation = self.generation;
        let task = self.transfers.spawn(async move {
            let sent = send_prepared(&blobs, &prepared.envelopes).await;
            Finished::Sent {
                generation,
                prepared,
                sent,
                pending,
            }
        });
        self.sending = Some(task);
    }

    /// Sends ephemeral envelopes (typing, presence) from a task beside the service: best
    /// effort, nobody waits for the relay's answer.
    fn relay_beside(&mut self, envelopes: Vec<hush_protocol::Envelope>) {
        let Some(connection) = &self.connection else {
            return;
        };
        if envelopes.is_empty() {
            return;
        }
        let blobs = connection.blobs();
        self.transfers.spawn(async move {
            for envelope in envelopes {
                let _ = blobs
                    .request(&hush_protocol::ClientFrame::Send(envelope))
                    .await;
            }
            Finished::Relayed
        });
    }

    /// Reports what a flush did: status changes, and a lost connection or a refusal.
    async fn sent(&mut self, pending: Vec<Vec<u8>>, report: FlushReport, generation: u64) {
        self.report_status(pending);
        match report.error {
            None => {}
            // Only if it is still the connection the envelopes went out on.
            Some(ClientError::Transport(error))
                if error.is_transient()
                    && generation == self.generation
                    && self.connection.is_some() =>
            {
                self.lost(ClientError::Transport(error)).await;
            }
            Some(ClientError::Transport(error)) if error.is_transient() => {}
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
                // Delivery receipts for what just arrived (kept in memory until now).
                if let Err(error) = self.client.queue_receipts() {
                    self.events.emit(ServiceEvent::SendFailed {
                        reason: error.to_string(),
                    });
                }
                self.flush().await;
                // Best effort (retried after the next drain): ask how many one-time prekeys
                // are left, beside the service; refill when the answer comes.
                if let Some(connection) = &self.connection {
                    let blobs = connection.blobs();
                    self.transfers.spawn(async move {
                        Finished::PrekeyCount(crate::client::prekey_count(&blobs).await)
                    });
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
    /// Stops a send still running on a connection that is gone: its entries stay in the
    /// outbox and go out on the next connection (the relay stores a repeated envelope once).
    fn stop_sending(&mut self) {
        if let Some(sending) = self.sending.take() {
            sending.abort();
        }
        self.flush_again = false;
    }

    async fn lost(&mut self, error: ClientError) {
        self.stop_sending();
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
        self.stop_sending();
        if let Some(connecting) = self.connecting.take() {
            connecting.abort();
        }
        if let Some(connection) = self.connection.take() {
            if reason.is_none() {
                // Asked to go offline: contacts may hear it (if presence is on).
                self.client.announce_presence(&connection, false).await;
            }
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

/// The name the client's methods take for a conversation: `group:<hex>` (the id apps are
/// shown for a group conversation) becomes that group's `#name`; anything else (`#name`, a
/// contact's alias, `@username` or mailbox id) is passed on as it is.
fn name(client: &Client, who: &str) -> Result<String, ClientError> {
    let Some(id) = who.strip_prefix("group:") else {
        return Ok(who.to_owned());
    };
    client
        .groups()?
        .into_iter()
        .find(|group| group.id.to_string() == id)
        .map(|group| format!("#{}", group.name))
        .ok_or_else(|| ClientError::UnknownContact(who.to_owned()))
}

/// A conversation by any of the names [`name`] accepts.
fn resolve(client: &Client, who: &str) -> Result<ConversationId, ClientError> {
    client.resolve_conversation(&name(client, who)?)
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
