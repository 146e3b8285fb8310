//! The client: an account on a relay, contacts, the outbox, sync and the local history.
//!
//! [`Client`] is the API the CLI and the FFI bindings use. It owns the encrypted
//! [`LocalStore`]; every network exchange goes through [`crate::transport`].
//!
//! The rules it keeps:
//! - **Nothing typed is lost.** A message is written to the history and the outbox (one atomic
//!   write) before anything is sent; it leaves the outbox only when the relay said `Stored`.
//!   Once encrypted, the envelope bytes and id are saved with the advanced session, so every
//!   retry sends exactly the same envelope and the relay stores it once.
//! - **Never ack before the local write.** A delivery is decrypted, and the message, the new
//!   session state and the envelope id are written in one atomic, durable step; only then is it
//!   acknowledged. A duplicate delivery is recognised by its envelope id and only acked.

mod files;
mod group_actions;
pub mod groups;
mod receive;
pub(crate) mod records;
#[cfg(test)]
mod scenario_tests;
pub(crate) mod send;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use hush_protocol::directory::normalize_username;
use hush_protocol::{ClientFrame, ErrorCode, MailboxId, PrekeyUpload, RelayAddress, RelayFrame};
use rand_core::UnwrapErr;

use crate::directory::{
    identity_from_wire, identity_to_wire, one_time_prekey_to_wire, signed_prekey_to_wire,
};
use crate::identity::{IdentityKeyPair, PublicIdentity};
use crate::invite::{InviteCode, InviteError};
use crate::local_store::{LocalStore, LocalStoreError, Slot};
use crate::pickle::Pickle;
use crate::prekey::LocalPreKeys;
use crate::safety_number::SafetyNumber;
use crate::storage_key::KdfParams;
use crate::transport::{Login, RelayConnection, TransportError};

pub use files::{
    FileDraft, FileSendOutcome, PART_SUFFIX, PreparedFile, Progress, ProgressSink, ReleaseJob,
    SaveDone, SaveJob, SaveReport, TransferProgress, UploadJob, UploadReport, safe_file_name,
};
pub use group_actions::GroupInfo;
pub use receive::{Event, PRESENCE_FRESH_MS, PushOutcome, SyncReport, is_online};
pub use records::{
    Contact, ConversationId, Direction, FileInfo, FileState, Message, Preferences, Status,
};
pub use send::SendOutcome;

/// One-time prekeys published at account creation and whenever the relay runs low.
pub const PREKEY_BATCH: u32 = 50;
/// Below this many one-time prekeys on the relay, the client uploads another batch.
pub const PREKEY_LOW_WATER: u32 = 20;
/// Longest display name.
pub const MAX_NAME_LEN: usize = crate::invite::MAX_NAME_LEN;

/// How many one-time prekeys the relay has left for this account (one request, from any task).
pub(crate) async fn prekey_count(
    channel: &crate::transport::BlobChannel,
) -> Result<u32, ClientError> {
    match channel.request(&ClientFrame::PrekeyCount).await? {
        RelayFrame::PrekeyCount { one_time_remaining } => Ok(one_time_remaining),
        other => Err(TransportError::Protocol(format!("unexpected {other:?}")).into()),
    }
}

/// The client's randomness: the operating system's generator.
pub(crate) type Rng = UnwrapErr<getrandom::SysRng>;

pub(crate) fn rng() -> Rng {
    UnwrapErr(getrandom::SysRng)
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What went wrong, grouped by who can fix it (see [`ClientError::kind`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The local store failed or refused (wrong passphrase, busy, damaged, missing).
    #[error(transparent)]
    Store(#[from] LocalStoreError),
    /// Talking to the relay failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// No contact by that name.
    #[error("no contact called {0:?} (see `hush contacts`; add one with `hush add`)")]
    UnknownContact(String),
    /// The invite code is not valid.
    #[error(transparent)]
    Invite(#[from] InviteError),
    /// This home has no account yet.
    #[error("no account in this home yet (run `hush init --relay ADDRESS`)")]
    NoAccount,
    /// The home already has an account.
    #[error("this home already has an account")]
    AccountExists,
    /// Input the user can correct.
    #[error("{0}")]
    InvalidInput(String),
    /// A contact's keys failed verification.
    #[error("{0}")]
    Verification(String),
    /// A local file could not be read or written.
    #[error("{0}")]
    File(String),
    /// A received file failed its checks (a chunk's authentication, or its hash) and was
    /// refused.
    #[error("{0}")]
    FileCorrupt(String),
}

/// Who can fix an error: decides the CLI's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user: wrong arguments, unknown contact, nothing set up yet.
    Usage,
    /// The network or the relay.
    Network,
    /// Cryptography or verification: wrong passphrase, wrong relay key, bad keys.
    Crypto,
}

impl ClientError {
    /// Who can fix it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Store(LocalStoreError::WrongPassphrase | LocalStoreError::Corrupt(_)) => {
                ErrorKind::Crypto
            }
            Self::Store(_) => ErrorKind::Usage,
            Self::Transport(TransportError::PinMismatch) => ErrorKind::Crypto,
            Self::Transport(_) => ErrorKind::Network,
            Self::Invite(InviteError::Identity) | Self::Verification(_) | Self::FileCorrupt(_) => {
                ErrorKind::Crypto
            }
            Self::File(_) => ErrorKind::Usage,
            Self::UnknownContact(_)
            | Self::Invite(_)
            | Self::NoAccount
            | Self::AccountExists
            | Self::InvalidInput(_) => ErrorKind::Usage,
        }
    }
}

/// Everything about the own account that is safe to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    /// The relay address.
    pub relay: String,
    /// The own mailbox.
    pub mailbox: MailboxId,
    /// The display name.
    pub name: Option<String>,
    /// The claimed @username.
    pub username: Option<String>,
    /// Hex SHA-256 of the identity signing key, grouped for reading aloud.
    pub fingerprint: String,
    /// The invite code.
    pub invite: String,
}

/// The account's keys, unpickled.
pub(crate) struct Account {
    pub(crate) record: records::AccountRecord,
    pub(crate) relay: RelayAddress,
    pub(crate) identity: IdentityKeyPair,
    pub(crate) prekeys: LocalPreKeys,
    pub(crate) mailbox_key: SigningKey,
}

const ACCOUNT_KEY: &[u8] = b"account";

const PREFERENCES_KEY: &[u8] = b"preferences";

/// An open Hush home.
pub struct Client {
    pub(crate) store: LocalStore,
    pub(crate) account: Option<Account>,
    home: PathBuf,
    /// Receipts collected while receiving, queued as one envelope per sender.
    pub(crate) pending_receipts:
        std::collections::BTreeMap<MailboxId, Vec<(crate::content::MessageId, bool)>>,
    /// Where file transfers report progress.
    pub(crate) progress: Option<ProgressSink>,
    /// File transfer rate limit, bytes per second.
    pub(crate) rate_limit: Option<u64>,
    /// Recorded uploads are left to the caller's own jobs: [`Client::resume_uploads`] (and so
    /// `sync`) does not run them (set by the client service).
    pub(crate) uploads_deferred: bool,
    /// Commands that send at once (edit, react, delete for everyone, timers, group changes)
    /// only queue: the caller flushes the outbox itself (set by the client service).
    pub(crate) flush_deferred: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

fn store_dir(home: &Path) -> PathBuf {
    home.join("store")
}

impl Client {
    /// Whether `home` holds a Hush store.
    pub fn exists(home: &Path) -> bool {
        LocalStore::exists(&store_dir(home))
    }

    /// Creates a new, empty home protected by `passphrase`.
    pub fn create(home: &Path, passphrase: &[u8], kdf: KdfParams) -> Result<Self, ClientError> {
        let store = LocalStore::create(&store_dir(home), passphrase, kdf)?;
        Ok(Self {
            store,
            account: None,
            home: home.to_path_buf(),
            pending_receipts: Default::default(),
            progress: None,
            rate_limit: None,
            uploads_deferred: false,
            flush_deferred: false,
        })
    }

    /// Creates a new, empty home encrypted under a key the app keeps (platform keystore).
    pub fn create_with_key(home: &Path, key: crate::StorageKey) -> Result<Self, ClientError> {
        let store = LocalStore::create_with_key(&store_dir(home), key)?;
        Ok(Self {
            store,
            account: None,
            home: home.to_path_buf(),
            pending_receipts: Default::default(),
            progress: None,
            rate_limit: None,
            uploads_deferred: false,
            flush_deferred: false,
        })
    }

    /// Opens a home created with [`Client::create_with_key`].
    pub fn open_with_key(home: &Path, key: crate::StorageKey) -> Result<Self, ClientError> {
        Self::from_store(LocalStore::open_with_key(&store_dir(home), key)?, home)
    }

    /// Opens an existing home.
    pub fn open(home: &Path, passphrase: &[u8]) -> Result<Self, ClientError> {
        Self::from_store(LocalStore::open(&store_dir(home), passphrase)?, home)
    }

    fn from_store(store: LocalStore, home: &Path) -> Result<Self, ClientError> {
        let account = match store.get::<records::AccountRecord>(Slot::Account, ACCOUNT_KEY)? {
            Some(record) => Some(Self::unpickle_account(record)?),
            None => None,
        };
        let client = Self {
            store,
            account,
            home: home.to_path_buf(),
            pending_receipts: Default::default(),
            progress: None,
            rate_limit: None,
            uploads_deferred: false,
            flush_deferred: false,
        };
        client.purge_expired()?;
        Ok(client)
    }

    fn unpickle_account(record: records::AccountRecord) -> Result<Account, ClientError> {
        let corrupt = |what: &str| ClientError::Store(LocalStoreError::Corrupt(what.to_owned()));
        let identity = IdentityKeyPair::from_pickle(&Pickle::from_bytes(record.identity.clone()))
            .map_err(|_| corrupt("identity"))?;
        let prekeys = LocalPreKeys::from_pickle(&Pickle::from_bytes(record.prekeys.clone()))
            .map_err(|_| corrupt("prekeys"))?;
        let relay = record.relay.parse().map_err(|_| corrupt("relay address"))?;
        let mailbox_key = SigningKey::from_bytes(&record.mailbox_key);
        Ok(Account {
            record,
            relay,
            identity,
            prekeys,
            mailbox_key,
        })
    }

    pub(crate) fn account(&self) -> Result<&Account, ClientError> {
        self.account.as_ref().ok_or(ClientError::NoAccount)
    }

    pub(crate) fn account_mut(&mut self) -> Result<&mut Account, ClientError> {
        self.account.as_mut().ok_or(ClientError::NoAccount)
    }

    /// Saves the account record (with the current prekey state) into a batch.
    pub(crate) fn stage_account(
        &self,
        batch: &mut crate::local_store::WriteBatch,
    ) -> Result<(), ClientError> {
        let account = self.account()?;
        let mut record = account.record.clone();
        record.prekeys = account.prekeys.pickle().as_bytes().to_vec();
        self.store
            .put_in(batch, Slot::Account, ACCOUNT_KEY, &record)?;
        Ok(())
    }

    /// Creates the account: identity, a mailbox on `relay`, and published prekeys.
    pub async fn init_account(
        &mut self,
        relay: RelayAddress,
        name: Option<String>,
    ) -> Result<AccountInfo, ClientError> {
        if self.account.is_some() {
            return Err(ClientError::AccountExists);
        }
        if let Some(name) = &name {
            check_name(name)?;
        }
        let mut rng = rng();
        let identity = IdentityKeyPair::generate(&mut rng);
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|_| ClientError::InvalidInput("no randomness".into()))?;
        let mailbox_key = SigningKey::from_bytes(&seed);
        zeroize::Zeroize::zeroize(&mut seed);
        let now = now_ms();
        let mut prekeys = LocalPreKeys::new(&identity, &mut rng, now / 1000);
        let one_time = prekeys
            .generate_one_time_prekeys(&mut rng, PREKEY_BATCH)
            .map_err(|e| ClientError::InvalidInput(e.to_string()))?;
        let connection = RelayConnection::connect(&relay, Login::Create(&mailbox_key)).await?;
        let upload = PrekeyUpload {
            identity: identity_to_wire(&identity.public()),
            signed_prekey: signed_prekey_to_wire(&prekeys.signed_prekey()),
            one_time: one_time.iter().map(one_time_prekey_to_wire).collect(),
        };
        connection
            .request(&ClientFrame::PublishPrekeys(upload))
            .await?;
        let record = records::AccountRecord {
            relay: relay.to_string(),
            mailbox: connection.mailbox(),
            mailbox_key: mailbox_key.to_bytes(),
            identity: identity.pickle().as_bytes().to_vec(),
            prekeys: prekeys.pickle().as_bytes().to_vec(),
            name,
            username: None,
            created_at_ms: now,
        };
        connection.close().await;
        self.store.put(Slot::Account, ACCOUNT_KEY, &record)?;
        self.account = Some(Account {
            record,
            relay,
            identity,
            prekeys,
            mailbox_key,
        });
        self.whoami()
    }

    /// The own account, as shown to the user.
    pub fn whoami(&self) -> Result<AccountInfo, ClientError> {
        let account = self.account()?;
        Ok(AccountInfo {
            relay: account.record.relay.clone(),
            mailbox: account.record.mailbox,
            name: account.record.name.clone(),
            username: account.record.username.clone(),
            fingerprint: fingerprint(&account.identity.public()),
            invite: self.invite()?.encode(),
        })
    }

    /// The own invite code.
    pub fn invite(&self) -> Result<InviteCode, ClientError> {
        let account = self.account()?;
        Ok(InviteCode {
            relay: account.relay.clone(),
            mailbox: account.record.mailbox,
            identity: account.identity.public(),
            name: account.record.name.clone(),
        })
    }

    /// Connects to the account's relay and authenticates.
    pub async fn connect(&self) -> Result<RelayConnection, ClientError> {
        let account = self.account()?;
        Ok(RelayConnection::connect(
            &account.relay,
            Login::Existing(account.record.mailbox, &account.mailbox_key),
        )
        .await?)
    }

    /// Claims `@username` on the account's relay.
    pub async fn register(&mut self, username: &str) -> Result<String, ClientError> {
        let name =
            normalize_username(username).map_err(|e| ClientError::InvalidInput(e.to_string()))?;
        let identity_key = self.account()?.identity.public().signing;
        let connection = self.connect().await?;
        let answer = connection
            .request(&ClientFrame::ClaimUsername {
                username: name.clone(),
                identity_key,
            })
            .await;
        connection.close().await;
        let claimed = match answer {
            Ok(RelayFrame::UsernameClaimed { username }) => username,
            Ok(other) => {
                return Err(
                    TransportError::Protocol(format!("unexpected answer {other:?}")).into(),
                );
            }
            Err(TransportError::Refused(e)) if e.code == ErrorCode::UsernameTaken => {
                return Err(ClientError::InvalidInput(format!("@{name} is taken")));
            }
            Err(e) => return Err(e.into()),
        };
        self.account_mut()?.record.username = Some(claimed.clone());
        let mut batch = self.store.batch();
        self.stage_account(&mut batch)?;
        self.store.commit(batch)?;
        Ok(claimed)
    }

    /// All contacts, by alias.
    pub fn contacts(&self) -> Result<Vec<Contact>, ClientError> {
        let mut contacts: Vec<Contact> = self
            .store
            .scan(Slot::Contacts, b"", false)?
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        contacts.sort_by(|a, b| a.alias.cmp(&b.alias));
        Ok(contacts)
    }

    /// Conversations (contacts and groups) with their newest message, most recent first.
    pub fn conversations(
        &self,
    ) -> Result<Vec<(ConversationId, String, Option<Message>)>, ClientError> {
        let mut ids: Vec<ConversationId> = self
            .contacts()?
            .into_iter()
            .map(|c| ConversationId::Direct(c.mailbox))
            .collect();
        ids.extend(
            self.groups()?
                .into_iter()
                .map(|g| ConversationId::Group(g.id)),
        );
        let mut out = Vec::new();
        for id in ids {
            let start = records::message_key(&id, 0);
            let end = records::message_key(&id, u64::MAX);
            let last = self
                .store
                .range_rev::<Message>(Slot::Messages, &start, &end, 1)?
                .pop();
            out.push((id, self.conversation_name(&id)?, last.map(|(_, m)| m)));
        }
        out.sort_by_key(|(_, name, m)| {
            (
                std::cmp::Reverse(m.as_ref().map(|m| m.received_at_ms)),
                name.clone(),
            )
        });
        Ok(out)
    }

    /// Finds a contact by alias, `@username`, or mailbox id (hex).
    pub fn resolve(&self, who: &str) -> Result<Contact, ClientError> {
        let contacts = self.contacts()?;
        let by_username = who.strip_prefix('@').map(|u| u.to_ascii_lowercase());
        contacts
            .into_iter()
            .find(|c| {
                c.alias == who
                    || by_username
                        .as_deref()
                        .is_some_and(|u| c.username.as_deref() == Some(u))
                    || c.mailbox.to_string() == who
            })
            .ok_or_else(|| ClientError::UnknownContact(who.to_owned()))
    }

    /// Adds a contact from an invite code or an `@username` (looked up on the own relay).
    pub async fn add_contact(
        &mut self,
        code: &str,
        alias: Option<&str>,
    ) -> Result<Contact, ClientError> {
        let account = self.account()?;
        let (mailbox, relay, identity, suggested, username) = if code.starts_with('@') {
            let name =
                normalize_username(code).map_err(|e| ClientError::InvalidInput(e.to_string()))?;
            let connection = self.connect().await?;
            let answer = connection
                .request(&ClientFrame::LookupUsername {
                    username: name.clone(),
                })
                .await;
            let bundle = match &answer {
                Ok(RelayFrame::UsernameFound(record)) => connection
                    .request(&ClientFrame::FetchPrekeys {
                        mailbox: record.mailbox,
                    })
                    .await
                    .map(Some),
                _ => Ok(None),
            };
            connection.close().await;
            let record = match answer {
                Ok(RelayFrame::UsernameFound(record)) => record,
                Ok(other) => {
                    return Err(TransportError::Protocol(format!("unexpected {other:?}")).into());
                }
                Err(TransportError::Refused(e)) if e.code == ErrorCode::UnknownUsername => {
                    return Err(ClientError::UnknownContact(format!("@{name}")));
                }
                Err(e) => return Err(e.into()),
            };
            // The username record names the identity signing key; the prekey bundle carries
            // the full identity. They must agree.
            let identity = match bundle {
                Ok(Some(RelayFrame::PrekeyBundle(bundle))) => identity_from_wire(&bundle.identity),
                Ok(_) => {
                    return Err(ClientError::Verification(format!(
                        "@{name} has published no keys"
                    )));
                }
                Err(e) => return Err(e.into()),
            };
            if identity.signing != record.identity_key {
                return Err(ClientError::Verification(format!(
                    "@{name}'s published keys do not match their username record"
                )));
            }
            (
                record.mailbox,
                account.record.relay.clone(),
                identity,
                name.clone(),
                Some(name),
            )
        } else {
            let invite = InviteCode::parse(code)?;
            let suggested = invite
                .name
                .clone()
                .unwrap_or_else(|| short_alias(&invite.mailbox));
            (
                invite.mailbox,
                invite.relay.to_string(),
                invite.identity,
                suggested,
                None,
            )
        };
        identity.verify().map_err(|_| {
            ClientError::Verification("the contact's identity key does not verify".into())
        })?;
        if relay != account.record.relay {
            return Err(ClientError::InvalidInput(
                "that contact is on another relay; messaging across relays is not supported yet"
                    .into(),
            ));
        }
        if mailbox == account.record.mailbox {
            return Err(ClientError::InvalidInput(
                "that is your own invite code".into(),
            ));
        }
        let alias = match alias {
            Some(alias) => {
                check_alias(alias)?;
                alias.to_owned()
            }
            None => suggested,
        };
        let existing = self
            .store
            .get::<Contact>(Slot::Contacts, mailbox.as_bytes())?;
        let others = self.contacts()?;
        if others
            .iter()
            .any(|c| c.alias == alias && c.mailbox != mailbox)
        {
            return Err(ClientError::InvalidInput(format!(
                "you already have a contact called {alias:?}; pick another with --as"
            )));
        }
        let contact = match existing {
            Some(mut contact) => {
                contact.alias = alias;
                if username.is_some() {
                    contact.username = username;
                }
                if identity_from_wire(&contact.identity) != identity {
                    contact.identity = identity_to_wire(&identity);
                    contact.key_changed = true;
                    contact.verified = false;
                }
                contact
            }
            None => Contact {
                mailbox,
                alias,
                relay,
                identity: identity_to_wire(&identity),
                verified: false,
                key_changed: false,
                username,
                added_at_ms: now_ms(),
                last_seen_ms: None,
                online: false,
            },
        };
        self.store
            .put(Slot::Contacts, mailbox.as_bytes(), &contact)?;
        Ok(contact)
    }

    /// The safety number with a contact.
    pub fn safety_number(&self, who: &str) -> Result<(Contact, SafetyNumber), ClientError> {
        let account = self.account()?;
        let contact = self.resolve(who)?;
        let number = SafetyNumber::new(
            account.record.mailbox.as_bytes(),
            &account.identity.public(),
            contact.mailbox.as_bytes(),
            &identity_from_wire(&contact.identity),
        );
        Ok((contact, number))
    }

    /// Marks a contact verified (the user compared safety numbers); clears a key-change warning.
    pub fn mark_verified(&self, who: &str) -> Result<Contact, ClientError> {
        let mut contact = self.resolve(who)?;
        contact.verified = true;
        contact.key_changed = false;
        self.store
            .put(Slot::Contacts, contact.mailbox.as_bytes(), &contact)?;
        Ok(contact)
    }

    /// A conversation's messages, newest first: at most `limit`, older than `before` if given.
    pub fn history(
        &self,
        who: &str,
        limit: usize,
        before: Option<crate::content::MessageId>,
    ) -> Result<Vec<Message>, ClientError> {
        self.purge_expired()?;
        let conversation = self.resolve_conversation(who)?;
        let start = records::message_key(&conversation, 0);
        let end = match before {
            Some(id) => {
                let key: Vec<u8> = self
                    .store
                    .get(Slot::MessageIndex, &id.0)?
                    .ok_or_else(|| ClientError::InvalidInput(format!("no message {id}")))?;
                if !key.starts_with(&conversation.key_prefix()) {
                    return Err(ClientError::InvalidInput(format!(
                        "message {id} is not in the conversation with {who}"
                    )));
                }
                key
            }
            None => records::message_key(&conversation, u64::MAX),
        };
        Ok(self
            .store
            .range_rev::<Message>(Slot::Messages, &start, &end, limit)?
            .into_iter()
            .map(|(_, m)| m)
            .collect())
    }

    /// The account's preferences.
    pub fn preferences(&self) -> Result<Preferences, ClientError> {
        Ok(self
            .store
            .get(Slot::Account, PREFERENCES_KEY)?
            .unwrap_or_default())
    }

    /// Changes the account's preferences.
    pub fn set_preferences(&self, preferences: &Preferences) -> Result<(), ClientError> {
        Ok(self
            .store
            .put(Slot::Account, PREFERENCES_KEY, preferences)?)
    }

    /// When a message stored now in `conversation` disappears, if it has a timer.
    pub(crate) fn expiry_for(
        &self,
        conversation: &ConversationId,
        now: u64,
    ) -> Result<Option<u64>, ClientError> {
        let settings: Option<records::ConversationSettings> = self
            .store
            .get(Slot::Conversations, &conversation.key_prefix())?;
        Ok(settings
            .and_then(|s| s.timer_secs)
            .map(|secs| now.saturating_add(secs.saturating_mul(1000))))
    }

    /// The disappearing-message timer of a conversation.
    pub fn timer(&self, who: &str) -> Result<Option<u64>, ClientError> {
        let conversation = self.resolve_conversation(who)?;
        let settings: Option<records::ConversationSettings> = self
            .store
            .get(Slot::Conversations, &conversation.key_prefix())?;
        Ok(settings.and_then(|s| s.timer_secs))
    }

    /// Sets (or turns off) a conversation's disappearing-message timer, for everyone in it.
    pub async fn set_timer(&mut self, who: &str, seconds: Option<u64>) -> Result<(), ClientError> {
        let conversation = self.resolve_conversation(who)?;
        let mut batch = self.store.batch();
        let settings = records::ConversationSettings {
            timer_secs: seconds,
        };
        self.store.put_in(
            &mut batch,
            Slot::Conversations,
            &conversation.key_prefix(),
            &settings,
        )?;
        self.queue_control(
            &mut batch,
            &conversation,
            crate::content::Body::Timer { seconds },
        )?;
        self.store.commit(batch)?;
        self.flush_now().await
    }

    /// Removes messages whose disappearing timer ran out.
    pub fn purge_expired(&self) -> Result<usize, ClientError> {
        let now = now_ms();
        let mut batch = self.store.batch();
        let mut count = 0;
        for (key, message) in self.store.scan::<Message>(Slot::Messages, b"", false)? {
            if message.expires_at_ms.is_some_and(|at| at <= now) {
                self.store.remove_in(&mut batch, Slot::Messages, &key);
                self.store
                    .remove_in(&mut batch, Slot::MessageIndex, &message.id.0);
                // A disappearing file message takes its key with it.
                self.store.remove_in(&mut batch, Slot::Files, &message.id.0);
                self.store
                    .remove_in(&mut batch, Slot::Uploads, &message.id.0);
                count += 1;
            }
        }
        self.store.commit(batch)?;
        Ok(count)
    }

    fn stored_message(
        &self,
        id: &crate::content::MessageId,
    ) -> Result<(Vec<u8>, Message), ClientError> {
        let key: Vec<u8> = self
            .store
            .get(Slot::MessageIndex, &id.0)?
            .ok_or_else(|| ClientError::InvalidInput(format!("no message {id}")))?;
        let message = self
            .store
            .get::<Message>(Slot::Messages, &key)?
            .ok_or_else(|| ClientError::InvalidInput(format!("no message {id}")))?;
        Ok((key, message))
    }

    /// Deletes a message here, and with `for_everyone` on every member's device too (own
    /// messages; any message for a group admin).
    pub async fn delete_message(
        &mut self,
        id: &crate::content::MessageId,
        for_everyone: bool,
    ) -> Result<(), ClientError> {
        let (key, message) = self.stored_message(id)?;
        let mut batch = self.store.batch();
        if for_everyone {
            let me = self.account()?.record.mailbox;
            let mine = message.direction == Direction::Outgoing;
            let admin = match message.conversation {
                ConversationId::Group(group) => self
                    .group_record(&group)?
                    .state
                    .member(&me)
                    .is_some_and(|m| m.role.is_admin()),
                ConversationId::Direct(_) => false,
            };
            if !mine && !admin {
                return Err(ClientError::InvalidInput(
                    "only its author (or a group admin) can delete a message for everyone".into(),
                ));
            }
            self.queue_control(
                &mut batch,
                &message.conversation,
                crate::content::Body::Delete { target: *id },
            )?;
        }
        self.store.remove_in(&mut batch, Slot::Messages, &key);
        self.store.remove_in(&mut batch, Slot::MessageIndex, &id.0);
        self.store.remove_in(&mut batch, Slot::Files, &id.0);
        self.store.remove_in(&mut batch, Slot::Uploads, &id.0);
        self.store.commit(batch)?;
        if for_everyone {
            self.flush_now().await?;
        }
        Ok(())
    }

    /// Replaces the text of one of this account's messages, everywhere.
    pub async fn edit_message(
        &mut self,
        id: &crate::content::MessageId,
        text: &str,
    ) -> Result<Message, ClientError> {
        let (key, mut message) = self.stored_message(id)?;
        if message.direction != Direction::Outgoing {
            return Err(ClientError::InvalidInput(
                "you can only edit your own messages".into(),
            ));
        }
        if text.is_empty() {
            return Err(ClientError::InvalidInput("nothing to send".into()));
        }
        message.text = text.to_owned();
        message.edited_at_ms = Some(now_ms());
        let body = crate::content::Body::Edit {
            target: *id,
            text: text.to_owned(),
        };
        self.save_and_announce(&key, message, body).await
    }

    /// Saves a changed message and tells its conversation what changed, in one atomic write,
    /// then sends it if the relay is reachable.
    async fn save_and_announce(
        &mut self,
        key: &[u8],
        message: Message,
        change: crate::content::Body,
    ) -> Result<Message, ClientError> {
        let mut batch = self.store.batch();
        self.store
            .put_in(&mut batch, Slot::Messages, key, &message)?;
        self.queue_control(&mut batch, &message.conversation, change)?;
        self.store.commit(batch)?;
        self.flush_now().await?;
        Ok(message)
    }

    /// Reacts to a message (an empty emoji removes the reaction).
    pub async fn react(
        &mut self,
        id: &crate::content::MessageId,
        emoji: &str,
    ) -> Result<Message, ClientError> {
        let (key, mut message) = self.stored_message(id)?;
        if emoji.chars().count() > 16 {
            return Err(ClientError::InvalidInput("a reaction is one emoji".into()));
        }
        message.reactions.retain(|(who, _)| who.is_some());
        if !emoji.is_empty() {
            message.reactions.push((None, emoji.to_owned()));
        }
        let body = crate::content::Body::Reaction {
            target: *id,
            emoji: emoji.to_owned(),
        };
        self.save_and_announce(&key, message, body).await
    }

    /// Messages containing `text` (case-insensitive), newest first, across conversations.
    pub fn search(&self, text: &str) -> Result<Vec<Message>, ClientError> {
        self.purge_expired()?;
        let needle = text.to_lowercase();
        if needle.is_empty() {
            return Err(ClientError::InvalidInput("search for something".into()));
        }
        let mut found: Vec<Message> = self
            .store
            .scan::<Message>(Slot::Messages, b"", false)?
            .into_iter()
            .map(|(_, m)| m)
            .filter(|m| m.text.to_lowercase().contains(&needle))
            .collect();
        found.sort_by_key(|m| std::cmp::Reverse(m.received_at_ms));
        Ok(found)
    }

    /// The alias of a conversation's contact (for display).
    pub fn alias_of(&self, mailbox: &MailboxId) -> Result<String, ClientError> {
        Ok(self
            .store
            .get::<Contact>(Slot::Contacts, mailbox.as_bytes())?
            .map_or_else(|| short_alias(mailbox), |c| c.alias))
    }

    /// Messages waiting in the outbox.
    pub fn outbox_len(&self) -> Result<usize, ClientError> {
        Ok(self
            .store
            .scan::<records::OutboxEntry>(Slot::Outbox, b"", false)?
            .len())
    }

    /// Keeps the relay stocked with one-time prekeys and the signed prekey fresh.
    pub(crate) async fn maintain_prekeys(
        &mut self,
        connection: &RelayConnection,
    ) -> Result<(), ClientError> {
        let remaining = prekey_count(&connection.blobs()).await?;
        if let Some(upload) = self.refill_prekeys(remaining)? {
            connection
                .request(&ClientFrame::PublishPrekeys(upload))
                .await?;
        }
        Ok(())
    }

    /// The local half of [`Client::maintain_prekeys`]: given how many one-time prekeys the relay
    /// has left, rotates the signed prekey if due and makes a new batch if low, saves the new
    /// secrets, and returns what to publish (`None`: nothing to do).
    pub(crate) fn refill_prekeys(
        &mut self,
        remaining: u32,
    ) -> Result<Option<PrekeyUpload>, ClientError> {
        let now = now_ms() / 1000;
        let account = self.account_mut()?;
        let rotate = account.prekeys.needs_rotation(now);
        if remaining >= PREKEY_LOW_WATER && !rotate {
            return Ok(None);
        }
        let mut rng = rng();
        if rotate {
            account
                .prekeys
                .rotate_signed_prekey(&account.identity, &mut rng, now);
        }
        let room = crate::limits::MAX_ONE_TIME_PREKEYS
            .saturating_sub(account.prekeys.one_time_prekey_count());
        let count = if remaining < PREKEY_LOW_WATER {
            PREKEY_BATCH.min(room as u32)
        } else {
            0
        };
        let one_time = account
            .prekeys
            .generate_one_time_prekeys(&mut rng, count)
            .map_err(|e| ClientError::InvalidInput(e.to_string()))?;
        let upload = PrekeyUpload {
            identity: identity_to_wire(&account.identity.public()),
            signed_prekey: signed_prekey_to_wire(&account.prekeys.signed_prekey()),
            one_time: one_time.iter().map(one_time_prekey_to_wire).collect(),
        };
        // Save the new secrets before publishing their public halves.
        let mut batch = self.store.batch();
        self.stage_account(&mut batch)?;
        self.store.commit(batch)?;
        Ok(Some(upload))
    }
}

/// A readable fingerprint of an identity: SHA-256 of the signing key, in groups of four.
pub fn fingerprint(identity: &PublicIdentity) -> String {
    use sha2::{Digest, Sha256};
    let hex = hex::encode(Sha256::digest(identity.signing));
    hex.as_bytes()
        .chunks(4)
        .take(8)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// An alias for someone new: the name they go by (control characters removed; none that starts
/// like a username or group), else `contact-<id>`, made unique against `taken` with `-2`, `-3`, ….
pub(crate) fn unique_alias(wanted: Option<&str>, mailbox: &MailboxId, taken: &[String]) -> String {
    let base = wanted
        .map(|w| w.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|w| !w.trim().is_empty() && !w.starts_with(['@', '#']))
        .unwrap_or_else(|| short_alias(mailbox));
    if !taken.contains(&base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|a| !taken.contains(a))
        .unwrap_or(base)
}

pub(crate) fn short_alias(mailbox: &MailboxId) -> String {
    let hex = mailbox.to_string();
    format!("contact-{}", hex.get(..8).unwrap_or(&hex))
}

fn check_name(name: &str) -> Result<(), ClientError> {
    if name.trim().is_empty()
        || name.chars().count() > MAX_NAME_LEN
        || name.chars().any(char::is_control)
    {
        return Err(ClientError::InvalidInput(format!(
            "a name has 1 to {MAX_NAME_LEN} printable characters"
        )));
    }
    Ok(())
}

fn check_alias(alias: &str) -> Result<(), ClientError> {
    check_name(alias)?;
    if alias.starts_with('@') || alias.starts_with('#') {
        return Err(ClientError::InvalidInput(
            "an alias cannot start with @ or #".into(),
        ));
    }
    Ok(())
}

/// A delay for reconnect loops, with jitter from the system RNG.
pub fn reconnect_delay(backoff: &mut crate::transport::Backoff) -> Duration {
    let mut byte = [0u8; 1];
    let jitter = if getrandom::fill(&mut byte).is_ok() {
        f64::from(byte[0]) / 255.0
    } else {
        0.5
    };
    backoff.next_delay(jitter)
}
