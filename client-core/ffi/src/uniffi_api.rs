//! The UniFFI surface: [`HushClient`] and the [`HushListener`] the app implements.
//!
//! Every operation has a blocking form (`contacts()`) and an async form (`contacts_async()`:
//! a Kotlin `suspend fun`, a Swift `async` function, a Python coroutine). Both run on the
//! client's own threads; the blocking form waits for the answer on the caller's thread, which
//! for local operations (contacts, history, search, sending — sending only queues) is one
//! local store access, but for relay exchanges (`init_account`, `register`, adding an
//! `@username`, an offline `sync`) is a network round trip: call those from a background
//! thread, or use the async form.

use std::sync::Arc;
use std::time::Duration;

use crate::core::{Core, Open, guarded};
use crate::model::{
    HushAccount, HushContact, HushConversation, HushError, HushEvent, HushMessage,
    HushSafetyNumber, HushSyncReport,
};
use crate::ops;

/// Receives the client's events, implemented by the app.
///
/// Called on a thread the library owns ("hush-events"), one event at a time, in order. Return
/// quickly (hand the event to the UI thread); blocking `HushClient` calls are allowed here.
#[uniffi::export(foreign)]
pub trait HushListener: Send + Sync {
    /// One event.
    fn on_event(&self, event: HushEvent);
}

/// An open Hush home: the account, its contacts and history, and a connection to the relay
/// while online.
///
/// Thread-safe: call it from any thread. Close it with [`HushClient::shutdown`] (or drop it) to
/// disconnect and release the home; only one `HushClient` (or `hush` process) can have a home
/// open at a time.
#[derive(uniffi::Object)]
pub struct HushClient {
    core: Core,
}

impl HushClient {
    fn new(home: &str, how: Open) -> Result<Arc<Self>, HushError> {
        Ok(Arc::new(Self {
            core: Core::open(home, how)?,
        }))
    }
}

#[uniffi::export]
impl HushClient {
    /// Creates a new home in `home` protected by `passphrase` (Argon2id with 64 MiB: this
    /// takes a moment, call it off the UI thread).
    #[uniffi::constructor]
    pub fn create(home: String, passphrase: String) -> Result<Arc<Self>, HushError> {
        Self::new(&home, Open::CreatePassphrase(passphrase))
    }

    /// Opens a home created with [`HushClient::create`].
    #[uniffi::constructor]
    pub fn open(home: String, passphrase: String) -> Result<Arc<Self>, HushError> {
        Self::new(&home, Open::Passphrase(passphrase))
    }

    /// Creates a new home encrypted under `key`: 32 random bytes the app keeps in the
    /// platform keystore.
    #[uniffi::constructor]
    pub fn create_with_key(home: String, key: Vec<u8>) -> Result<Arc<Self>, HushError> {
        Self::new(&home, Open::CreateKey(key))
    }

    /// Opens a home created with [`HushClient::create_with_key`].
    #[uniffi::constructor]
    pub fn open_with_key(home: String, key: Vec<u8>) -> Result<Arc<Self>, HushError> {
        Self::new(&home, Open::Key(key))
    }

    /// Creates the account on `relay` (`hush://host:port#pin`): keys, a mailbox, published
    /// prekeys. Talks to the relay.
    pub fn init_account(
        &self,
        relay: String,
        name: Option<String>,
    ) -> Result<HushAccount, HushError> {
        self.core
            .blocking(ops::init_account(self.core.handle(), relay, name))
    }

    /// Async form of [`HushClient::init_account`].
    pub async fn init_account_async(
        &self,
        relay: String,
        name: Option<String>,
    ) -> Result<HushAccount, HushError> {
        guarded(ops::init_account(self.core.handle(), relay, name)).await
    }

    /// The own account, with the invite code.
    pub fn whoami(&self) -> Result<HushAccount, HushError> {
        self.core.blocking(ops::whoami(self.core.handle()))
    }

    /// Async form of [`HushClient::whoami`].
    pub async fn whoami_async(&self) -> Result<HushAccount, HushError> {
        guarded(ops::whoami(self.core.handle())).await
    }

    /// The own invite code (`hush1:…`).
    pub fn invite(&self) -> Result<String, HushError> {
        self.core.blocking(ops::invite(self.core.handle()))
    }

    /// Claims `@username` on the relay, so others can add this account by it. Talks to the
    /// relay.
    pub fn register(&self, username: String) -> Result<String, HushError> {
        self.core
            .blocking(ops::register(self.core.handle(), username))
    }

    /// Async form of [`HushClient::register`].
    pub async fn register_async(&self, username: String) -> Result<String, HushError> {
        guarded(ops::register(self.core.handle(), username)).await
    }

    /// Adds a contact from an invite code (local) or an `@username` (looked up on the relay),
    /// under `alias` or the name they chose.
    pub fn add_contact(
        &self,
        code: String,
        alias: Option<String>,
    ) -> Result<HushContact, HushError> {
        self.core
            .blocking(ops::add_contact(self.core.handle(), code, alias))
    }

    /// Async form of [`HushClient::add_contact`].
    pub async fn add_contact_async(
        &self,
        code: String,
        alias: Option<String>,
    ) -> Result<HushContact, HushError> {
        guarded(ops::add_contact(self.core.handle(), code, alias)).await
    }

    /// All contacts, by alias.
    pub fn contacts(&self) -> Result<Vec<HushContact>, HushError> {
        self.core.blocking(ops::contacts(self.core.handle()))
    }

    /// Async form of [`HushClient::contacts`].
    pub async fn contacts_async(&self) -> Result<Vec<HushContact>, HushError> {
        guarded(ops::contacts(self.core.handle())).await
    }

    /// Conversations with their newest message, most recent first.
    pub fn conversations(&self) -> Result<Vec<HushConversation>, HushError> {
        self.core.blocking(ops::conversations(self.core.handle()))
    }

    /// Async form of [`HushClient::conversations`].
    pub async fn conversations_async(&self) -> Result<Vec<HushConversation>, HushError> {
        guarded(ops::conversations(self.core.handle())).await
    }

    /// Sends a text to a contact (alias, `@username` or mailbox id). Returns once the message
    /// is in the local history and outbox (`Queued`); it goes out while online, and a
    /// `MessageStatus` event reports `Stored`.
    pub fn send_text(&self, to: String, text: String) -> Result<HushMessage, HushError> {
        self.core
            .blocking(ops::send_text(self.core.handle(), to, text))
    }

    /// Async form of [`HushClient::send_text`].
    pub async fn send_text_async(
        &self,
        to: String,
        text: String,
    ) -> Result<HushMessage, HushError> {
        guarded(ops::send_text(self.core.handle(), to, text)).await
    }

    /// A page of a conversation, newest first: at most `limit` messages, older than the
    /// message id `before` (pass the last id of the previous page).
    pub fn history(
        &self,
        contact: String,
        limit: u32,
        before: Option<String>,
    ) -> Result<Vec<HushMessage>, HushError> {
        self.core
            .blocking(ops::history(self.core.handle(), contact, limit, before))
    }

    /// Async form of [`HushClient::history`].
    pub async fn history_async(
        &self,
        contact: String,
        limit: u32,
        before: Option<String>,
    ) -> Result<Vec<HushMessage>, HushError> {
        guarded(ops::history(self.core.handle(), contact, limit, before)).await
    }

    /// Messages containing `text` (case-insensitive), newest first.
    pub fn search(&self, text: String) -> Result<Vec<HushMessage>, HushError> {
        self.core.blocking(ops::search(self.core.handle(), text))
    }

    /// Async form of [`HushClient::search`].
    pub async fn search_async(&self, text: String) -> Result<Vec<HushMessage>, HushError> {
        guarded(ops::search(self.core.handle(), text)).await
    }

    /// The safety number with a contact, to compare in person.
    pub fn safety_number(&self, contact: String) -> Result<HushSafetyNumber, HushError> {
        self.core
            .blocking(ops::safety_number(self.core.handle(), contact))
    }

    /// Marks a contact verified (the safety numbers matched); clears a key-change warning.
    pub fn mark_verified(&self, contact: String) -> Result<HushContact, HushError> {
        self.core
            .blocking(ops::mark_verified(self.core.handle(), contact))
    }

    /// Offline: connects, sends the outbox, receives everything pending (events as usual),
    /// waits `wait_ms` more, disconnects. Online the connection does this continuously; this
    /// then only sends the outbox. Talks to the relay.
    pub fn sync(&self, wait_ms: u32) -> Result<HushSyncReport, HushError> {
        self.core.blocking(ops::sync(self.core.handle(), wait_ms))
    }

    /// Async form of [`HushClient::sync`].
    pub async fn sync_async(&self, wait_ms: u32) -> Result<HushSyncReport, HushError> {
        guarded(ops::sync(self.core.handle(), wait_ms)).await
    }

    /// Goes online: connects in the background, receives messages as they arrive and sends
    /// queued ones, reconnecting after network problems (see `Connection` events). Returns at
    /// once.
    pub fn go_online(&self) -> Result<(), HushError> {
        self.core
            .blocking(ops::set_online(self.core.handle(), true))
    }

    /// Disconnects and stays offline (sending then only queues).
    pub fn go_offline(&self) -> Result<(), HushError> {
        self.core
            .blocking(ops::set_online(self.core.handle(), false))
    }

    /// Delivers every event to `listener` on the library's event thread, or stops (`None`).
    /// While a listener is set, [`HushClient::poll_event`] is refused.
    pub fn set_listener(&self, listener: Option<Arc<dyn HushListener>>) -> Result<(), HushError> {
        self.core.set_listener(listener.map(|listener| {
            Box::new(move |event: HushEvent| listener.on_event(event)) as crate::core::Deliver
        }))
    }

    /// The next event, waiting at most `timeout_ms`; `None` if none came (for apps that poll
    /// instead of setting a listener).
    pub fn poll_event(&self, timeout_ms: u32) -> Result<Option<HushEvent>, HushError> {
        self.core
            .poll_event(Duration::from_millis(u64::from(timeout_ms)))
    }

    /// The next event, waiting as long as it takes; `None` once the client is closed.
    pub async fn next_event_async(&self) -> Option<HushEvent> {
        let handle = self.core.handle();
        guarded(async move { Ok(handle.next_event().await.map(Into::into)) })
            .await
            .ok()
            .flatten()
    }

    /// Disconnects, stops the listener and releases the home. Later calls fail with `Closed`.
    /// (Named `shutdown` because Kotlin's `close()` is taken by `AutoCloseable`, which frees
    /// the object.)
    pub fn shutdown(&self) -> Result<(), HushError> {
        self.core.close()
    }
}

/// Whether `home` holds a Hush home (to choose between create and open).
#[uniffi::export]
pub fn home_exists(home: String) -> bool {
    hush_client_core::Client::exists(std::path::Path::new(&home))
}

/// The version of this library.
#[uniffi::export]
pub fn hush_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
