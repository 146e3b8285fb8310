//! The UniFFI surface: [`HushClient`] and the [`HushListener`] the app implements.
//!
//! Every operation has a blocking form (`contacts()`) and an async form (`contacts_async()`:
//! a Kotlin `suspend fun`, a Swift `async` function, a Python coroutine). Both run on the
//! client's own threads; the blocking form waits for the answer on the caller's thread, which
//! for local operations (contacts, history, search, sending — sending only queues) is one
//! local store access, but for relay exchanges (`init_account`, `register`, adding an
//! `@username`, an offline `sync`, `edit_message`, `react`, `delete_message` for everyone,
//! `set_timer` and the group changes) is a network round trip: call those from a background
//! thread, or use the async form. File transfers run on the client's threads without holding
//! up other calls; `send_file` returns once the file is checked with the relay, hashed and
//! recorded, `save_file` once the file is saved (use their async forms from a UI thread).
//!
//! Wherever a conversation is named, pass a contact (alias, `@username`, mailbox id), a group
//! (`#name`), or a conversation id as [`HushMessage::conversation`] shows it (`group:<hex>`).

use std::sync::Arc;
use std::time::Duration;

use crate::core::{Core, Open, guarded};
use crate::model::{
    HushAccount, HushContact, HushConversation, HushError, HushEvent, HushGroup, HushMessage,
    HushPreferences, HushSafetyNumber, HushSavedFile, HushSyncReport,
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

    /// Sends a text that replies to (quotes) the message `reply_to` (its id). Like
    /// [`HushClient::send_text`]: returns the message `Queued`.
    pub fn send_reply(
        &self,
        to: String,
        text: String,
        reply_to: String,
    ) -> Result<HushMessage, HushError> {
        self.core
            .blocking(ops::send_reply(self.core.handle(), to, text, reply_to))
    }

    /// Async form of [`HushClient::send_reply`].
    pub async fn send_reply_async(
        &self,
        to: String,
        text: String,
        reply_to: String,
    ) -> Result<HushMessage, HushError> {
        guarded(ops::send_reply(self.core.handle(), to, text, reply_to)).await
    }

    /// Replaces the text of one of this account's messages, here and on every recipient's device
    /// (they get an `Edited` event). Talks to the relay.
    pub fn edit_message(&self, message_id: String, text: String) -> Result<HushMessage, HushError> {
        self.core
            .blocking(ops::edit_message(self.core.handle(), message_id, text))
    }

    /// Async form of [`HushClient::edit_message`].
    pub async fn edit_message_async(
        &self,
        message_id: String,
        text: String,
    ) -> Result<HushMessage, HushError> {
        guarded(ops::edit_message(self.core.handle(), message_id, text)).await
    }

    /// Deletes a message from the history; with `for_everyone` also on every recipient's device
    /// (own messages; any message for a group admin; they get a `Deleted` event). Talks to the
    /// relay when `for_everyone`.
    pub fn delete_message(&self, message_id: String, for_everyone: bool) -> Result<(), HushError> {
        self.core.blocking(ops::delete_message(
            self.core.handle(),
            message_id,
            for_everyone,
        ))
    }

    /// Async form of [`HushClient::delete_message`].
    pub async fn delete_message_async(
        &self,
        message_id: String,
        for_everyone: bool,
    ) -> Result<(), HushError> {
        guarded(ops::delete_message(
            self.core.handle(),
            message_id,
            for_everyone,
        ))
        .await
    }

    /// Reacts to a message with an emoji (replacing this account's earlier reaction); an empty
    /// `emoji` takes the reaction back. The conversation gets a `Reacted` event. Talks to the
    /// relay.
    pub fn react(&self, message_id: String, emoji: String) -> Result<HushMessage, HushError> {
        self.core
            .blocking(ops::react(self.core.handle(), message_id, emoji))
    }

    /// Async form of [`HushClient::react`].
    pub async fn react_async(
        &self,
        message_id: String,
        emoji: String,
    ) -> Result<HushMessage, HushError> {
        guarded(ops::react(self.core.handle(), message_id, emoji)).await
    }

    /// Marks a conversation read (call it when the user sees it): returns how many messages were
    /// unread. Read receipts go out to their senders (if receipts are on).
    pub fn mark_read(&self, conversation: String) -> Result<u64, HushError> {
        self.core
            .blocking(ops::mark_read(self.core.handle(), conversation))
    }

    /// Async form of [`HushClient::mark_read`].
    pub async fn mark_read_async(&self, conversation: String) -> Result<u64, HushError> {
        guarded(ops::mark_read(self.core.handle(), conversation)).await
    }

    /// Tells a conversation this account is typing (`active`) or stopped. Ephemeral and best
    /// effort: only members online now see it, and offline it is dropped.
    pub fn send_typing(&self, conversation: String, active: bool) -> Result<(), HushError> {
        self.core
            .blocking(ops::send_typing(self.core.handle(), conversation, active))
    }

    /// Async form of [`HushClient::send_typing`].
    pub async fn send_typing_async(
        &self,
        conversation: String,
        active: bool,
    ) -> Result<(), HushError> {
        guarded(ops::send_typing(self.core.handle(), conversation, active)).await
    }

    /// A conversation's disappearing-message timer in seconds; `None`: off.
    pub fn timer(&self, conversation: String) -> Result<Option<u64>, HushError> {
        self.core
            .blocking(ops::timer(self.core.handle(), conversation))
    }

    /// Async form of [`HushClient::timer`].
    pub async fn timer_async(&self, conversation: String) -> Result<Option<u64>, HushError> {
        guarded(ops::timer(self.core.handle(), conversation)).await
    }

    /// Sets a conversation's disappearing-message timer (`seconds`, at least 1) for everyone in it,
    /// or turns it off (`None`). Messages then disappear that long after they are stored. Talks to
    /// the relay.
    pub fn set_timer(&self, conversation: String, seconds: Option<u64>) -> Result<(), HushError> {
        self.core
            .blocking(ops::set_timer(self.core.handle(), conversation, seconds))
    }

    /// Async form of [`HushClient::set_timer`].
    pub async fn set_timer_async(
        &self,
        conversation: String,
        seconds: Option<u64>,
    ) -> Result<(), HushError> {
        guarded(ops::set_timer(self.core.handle(), conversation, seconds)).await
    }

    /// The account's preferences (receipts, presence, group limits).
    pub fn preferences(&self) -> Result<HushPreferences, HushError> {
        self.core.blocking(ops::preferences(self.core.handle()))
    }

    /// Async form of [`HushClient::preferences`].
    pub async fn preferences_async(&self) -> Result<HushPreferences, HushError> {
        guarded(ops::preferences(self.core.handle())).await
    }

    /// Changes the account's preferences; returns them as saved. Turning presence on or off while
    /// online tells contacts at once.
    pub fn set_preferences(
        &self,
        preferences: HushPreferences,
    ) -> Result<HushPreferences, HushError> {
        self.core
            .blocking(ops::set_preferences(self.core.handle(), preferences))
    }

    /// Async form of [`HushClient::set_preferences`].
    pub async fn set_preferences_async(
        &self,
        preferences: HushPreferences,
    ) -> Result<HushPreferences, HushError> {
        guarded(ops::set_preferences(self.core.handle(), preferences)).await
    }

    /// The groups this account is in, by name.
    pub fn groups(&self) -> Result<Vec<HushGroup>, HushError> {
        self.core.blocking(ops::groups(self.core.handle()))
    }

    /// Async form of [`HushClient::groups`].
    pub async fn groups_async(&self) -> Result<Vec<HushGroup>, HushError> {
        guarded(ops::groups(self.core.handle())).await
    }

    /// One group: members and roles. `group`: `#name` or its conversation id (`group:<hex>`), as
    /// for every group call.
    pub fn group_info(&self, group: String) -> Result<HushGroup, HushError> {
        self.core
            .blocking(ops::group_info(self.core.handle(), group))
    }

    /// Async form of [`HushClient::group_info`].
    pub async fn group_info_async(&self, group: String) -> Result<HushGroup, HushError> {
        guarded(ops::group_info(self.core.handle(), group)).await
    }

    /// Creates a group named `name` with these contacts (aliases, `@usernames` or mailbox ids);
    /// this account is its owner. Each member gets a `GroupChanged` event. Send to it with
    /// `send_text("#name", …)` or its conversation id. Talks to the relay.
    pub fn create_group(&self, name: String, members: Vec<String>) -> Result<HushGroup, HushError> {
        self.core
            .blocking(ops::create_group(self.core.handle(), name, members))
    }

    /// Async form of [`HushClient::create_group`].
    pub async fn create_group_async(
        &self,
        name: String,
        members: Vec<String>,
    ) -> Result<HushGroup, HushError> {
        guarded(ops::create_group(self.core.handle(), name, members)).await
    }

    /// Adds a contact to a group (admins). Talks to the relay.
    pub fn group_add(&self, group: String, member: String) -> Result<HushGroup, HushError> {
        self.core
            .blocking(ops::group_add(self.core.handle(), group, member))
    }

    /// Async form of [`HushClient::group_add`].
    pub async fn group_add_async(
        &self,
        group: String,
        member: String,
    ) -> Result<HushGroup, HushError> {
        guarded(ops::group_add(self.core.handle(), group, member)).await
    }

    /// Removes a member from a group (admins); everyone's keys rotate. Talks to the relay.
    pub fn group_remove(&self, group: String, member: String) -> Result<HushGroup, HushError> {
        self.core
            .blocking(ops::group_remove(self.core.handle(), group, member))
    }

    /// Async form of [`HushClient::group_remove`].
    pub async fn group_remove_async(
        &self,
        group: String,
        member: String,
    ) -> Result<HushGroup, HushError> {
        guarded(ops::group_remove(self.core.handle(), group, member)).await
    }

    /// Leaves a group (its history stays). Talks to the relay.
    pub fn group_leave(&self, group: String) -> Result<HushGroup, HushError> {
        self.core
            .blocking(ops::group_leave(self.core.handle(), group))
    }

    /// Async form of [`HushClient::group_leave`].
    pub async fn group_leave_async(&self, group: String) -> Result<HushGroup, HushError> {
        guarded(ops::group_leave(self.core.handle(), group)).await
    }

    /// Renames a group (admins). Talks to the relay.
    pub fn group_rename(&self, group: String, new_name: String) -> Result<HushGroup, HushError> {
        self.core
            .blocking(ops::group_rename(self.core.handle(), group, new_name))
    }

    /// Async form of [`HushClient::group_rename`].
    pub async fn group_rename_async(
        &self,
        group: String,
        new_name: String,
    ) -> Result<HushGroup, HushError> {
        guarded(ops::group_rename(self.core.handle(), group, new_name)).await
    }

    /// Makes a member a group admin (admins). Talks to the relay.
    pub fn group_promote(&self, group: String, member: String) -> Result<HushGroup, HushError> {
        self.core
            .blocking(ops::group_promote(self.core.handle(), group, member))
    }

    /// Async form of [`HushClient::group_promote`].
    pub async fn group_promote_async(
        &self,
        group: String,
        member: String,
    ) -> Result<HushGroup, HushError> {
        guarded(ops::group_promote(self.core.handle(), group, member)).await
    }

    /// Sends the file at `path` to a conversation, with an optional caption. The relay's size
    /// and quota limits are checked first (when online), then the file is hashed; returns the
    /// message once it is recorded (`Queued`, `file.state` `Uploading`). The upload runs in
    /// the background (`Transfer` events); when it is complete the message goes out
    /// (`MessageStatus` event). Offline, it uploads after connecting. Reads the whole file
    /// before returning: from a UI thread, use the async form.
    pub fn send_file(
        &self,
        to: String,
        path: String,
        caption: Option<String>,
    ) -> Result<HushMessage, HushError> {
        self.core
            .blocking(ops::send_file(self.core.handle(), to, path, caption))
    }

    /// Async form of [`HushClient::send_file`].
    pub async fn send_file_async(
        &self,
        to: String,
        path: String,
        caption: Option<String>,
    ) -> Result<HushMessage, HushError> {
        guarded(ops::send_file(self.core.handle(), to, path, caption)).await
    }

    /// Received files (messages with a `file`), oldest first; only one conversation's if `to`
    /// is given.
    pub fn files(&self, to: Option<String>) -> Result<Vec<HushMessage>, HushError> {
        self.core.blocking(ops::files(self.core.handle(), to))
    }

    /// Async form of [`HushClient::files`].
    pub async fn files_async(&self, to: Option<String>) -> Result<Vec<HushMessage>, HushError> {
        guarded(ops::files(self.core.handle(), to)).await
    }

    /// Downloads, checks and saves a received file (its message id, or a unique prefix of at
    /// least 4 hex digits) to `dest`: a file path, or a directory to put it in (default: the
    /// process's current directory). An existing file is never overwritten; an interrupted
    /// download resumes. Returns when the file is saved (`Transfer` events meanwhile; other
    /// calls are served as usual): from a UI thread, use the async form.
    pub fn save_file(
        &self,
        message_id: String,
        dest: Option<String>,
    ) -> Result<HushSavedFile, HushError> {
        self.core
            .blocking(ops::save_file(self.core.handle(), message_id, dest))
    }

    /// Async form of [`HushClient::save_file`].
    pub async fn save_file_async(
        &self,
        message_id: String,
        dest: Option<String>,
    ) -> Result<HushSavedFile, HushError> {
        guarded(ops::save_file(self.core.handle(), message_id, dest)).await
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
