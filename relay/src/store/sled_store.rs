//! The durable store on sled.
//!
//! # Trees
//! | tree | key | value |
//! |---|---|---|
//! | `envelopes` | envelope id | stored_at, recipients, payload (written once) |
//! | `remaining` | envelope id | recipients still to ack, expiry, payload length |
//! | `queues` | mailbox ‖ seq (BE) | envelope id — a mailbox's queue in arrival order |
//! | `pending` | mailbox ‖ envelope id | seq — finds a queue entry from an ack |
//! | `expiry` | deadline (BE) ‖ kind ‖ id | empty — kind 0: envelope TTL, 1: remembered id |
//! | `remembered` | envelope id | deadline — fully delivered ids, so retries are not stored twice |
//! | `mailboxes` | mailbox | owner key, created_at, queued count and bytes |
//! | `mailbox_keys` | owner key | mailbox |
//! | `prekeys` | mailbox ‖ 0 / mailbox ‖ 1 ‖ seq | identity + signed prekey / one one-time prekey |
//! | `usernames` | name | username record |
//! | `username_owners` | mailbox | name |
//! | `blobs` | blob id | uploader, size, recipients, remaining recipients, TTL, complete |
//! | `blob_usage` | mailbox | bytes of blobs charged to it (BE u64) |
//! | `blob_expiry` | deadline (BE) ‖ blob id | empty |
//!
//! The mutable per-envelope state lives in `remaining`, apart from the payload, so an ack never
//! rewrites the payload. Every multi-tree change is one sled transaction.
//!
//! # Durability
//! sled's own `flush` ends in `sync_file_range`, which is not a durability barrier (sled issue
//! #1452), so [`SledStore::flush`] follows it with `fdatasync` on every file of the database and
//! an `fsync` of its directories.

mod blobs;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hush_protocol::codec::{decode_value, encode_value};
use hush_protocol::{
    Delivery, EnvelopeId, IdentityKeys, MailboxId, OneTimePrekey, PrekeyBundle, PrekeyUpload,
    SignedPrekey, UsernameRecord,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sled::Tree;
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use super::{
    AckOutcome, ClaimOutcome, Directory, EnvelopeStore, InsertOutcome, MailboxUsage, NewEnvelope,
    PendingTotals, QueueEntry, QueuedEnvelope, Quota, StoreError, SweepOutcome,
};

const KIND_ENVELOPE: u8 = 0;
const KIND_REMEMBERED: u8 = 1;
const PREKEY_BUNDLE: u8 = 0;
const PREKEY_ONE_TIME: u8 = 1;

#[derive(Serialize, Deserialize)]
struct EnvelopeBody {
    stored_at: u64,
    recipients: Vec<MailboxId>,
    payload: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct EnvelopeState {
    remaining: u32,
    expires_at: u64,
    payload_len: u64,
}

#[derive(Serialize, Deserialize)]
struct MailboxRecord {
    key: [u8; 32],
    created_at: u64,
    envelopes: u64,
    bytes: u64,
}

#[derive(Serialize, Deserialize)]
struct BundleRecord {
    identity: IdentityKeys,
    signed_prekey: SignedPrekey,
}

/// The durable store: one sled database in a directory of its own.
pub struct SledStore {
    db: sled::Db,
    dir: PathBuf,
    envelopes: Tree,
    remaining: Tree,
    queues: Tree,
    pending: Tree,
    expiry: Tree,
    remembered: Tree,
    mailboxes: Tree,
    mailbox_keys: Tree,
    prekeys: Tree,
    usernames: Tree,
    username_owners: Tree,
    totals: Mutex<PendingTotals>,
    blobs: Tree,
    blob_usage: Tree,
    blob_expiry: Tree,
    blob_count: std::sync::atomic::AtomicU64,
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn backend(error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(error.to_string())
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    encode_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    decode_value(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn tx_encode<T: Serialize>(value: &T) -> TxResult<Vec<u8>> {
    encode(value).map_err(ConflictableTransactionError::Abort)
}

fn tx_decode<T: DeserializeOwned>(bytes: &[u8]) -> TxResult<T> {
    decode(bytes).map_err(ConflictableTransactionError::Abort)
}

fn finish<T>(result: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
    match result {
        Ok(value) => Ok(value),
        Err(TransactionError::Abort(error)) => Err(error),
        Err(TransactionError::Storage(error)) => Err(backend(error)),
    }
}

fn join(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn expiry_key(deadline: u64, kind: u8, id: &EnvelopeId) -> Vec<u8> {
    join(&[&deadline.to_be_bytes(), &[kind], id.as_bytes()])
}

fn u64_from(bytes: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt("expected 8 bytes".into()))
}

impl SledStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(backend)?;
        let db = sled::Config::new().path(dir).open().map_err(backend)?;
        let tree = |name: &str| db.open_tree(name).map_err(backend);
        let store = Self {
            envelopes: tree("envelopes")?,
            remaining: tree("remaining")?,
            queues: tree("queues")?,
            pending: tree("pending")?,
            expiry: tree("expiry")?,
            remembered: tree("remembered")?,
            mailboxes: tree("mailboxes")?,
            mailbox_keys: tree("mailbox_keys")?,
            prekeys: tree("prekeys")?,
            usernames: tree("usernames")?,
            username_owners: tree("username_owners")?,
            totals: Mutex::new(PendingTotals::default()),
            blobs: tree("blobs")?,
            blob_usage: tree("blob_usage")?,
            blob_expiry: tree("blob_expiry")?,
            blob_count: std::sync::atomic::AtomicU64::new(0),
            dir: dir.to_path_buf(),
            db,
        };
        let mut totals = PendingTotals::default();
        for item in store.remaining.iter() {
            let (_, value) = item.map_err(backend)?;
            let state: EnvelopeState = decode(&value)?;
            totals.envelopes += 1;
            totals.bytes += state.payload_len;
        }
        *store.lock_totals() = totals;
        store.blob_count.store(
            store.blobs.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(store)
    }

    fn lock_totals(&self) -> std::sync::MutexGuard<'_, PendingTotals> {
        self.totals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn sync_dir(dir: &Path) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                Self::sync_dir(&entry.path())?;
            } else if kind.is_file() {
                File::open(entry.path())?.sync_data()?;
            }
        }
        File::open(dir)?.sync_all()
    }

    fn expire_envelope(&self, id: &EnvelopeId, deadline: u64) -> Result<Option<u64>, StoreError> {
        let trees = (
            &self.envelopes,
            &self.remaining,
            &self.pending,
            &self.queues,
            &self.mailboxes,
            &self.expiry,
        );
        finish(trees.transaction(
            |(envelopes, remaining, pending, queues, mailboxes, expiry)| {
                expiry.remove(expiry_key(deadline, KIND_ENVELOPE, id))?;
                let (Some(body), Some(state)) =
                    (envelopes.get(id.as_bytes())?, remaining.get(id.as_bytes())?)
                else {
                    return Ok(None);
                };
                let body: EnvelopeBody = tx_decode(&body)?;
                let state: EnvelopeState = tx_decode(&state)?;
                for recipient in &body.recipients {
                    let pending_key = join(&[recipient.as_bytes(), id.as_bytes()]);
                    let Some(seq) = pending.remove(pending_key)? else {
                        continue;
                    };
                    queues.remove(join(&[recipient.as_bytes(), &seq]))?;
                    if let Some(raw) = mailboxes.get(recipient.as_bytes())? {
                        let mut record: MailboxRecord = tx_decode(&raw)?;
                        record.envelopes = record.envelopes.saturating_sub(1);
                        record.bytes = record.bytes.saturating_sub(state.payload_len);
                        mailboxes.insert(recipient.as_bytes(), tx_encode(&record)?)?;
                    }
                }
                envelopes.remove(id.as_bytes())?;
                remaining.remove(id.as_bytes())?;
                Ok(Some(state.payload_len))
            },
        ))
    }

    fn forget(&self, id: &EnvelopeId, deadline: u64) -> Result<(), StoreError> {
        finish(
            (&self.remembered, &self.expiry).transaction(|(remembered, expiry)| {
                remembered.remove(id.as_bytes())?;
                expiry.remove(expiry_key(deadline, KIND_REMEMBERED, id))?;
                Ok(())
            }),
        )
    }

    fn one_time_prekeys(&self, mailbox: &MailboxId) -> sled::Iter {
        self.prekeys
            .scan_prefix(join(&[mailbox.as_bytes(), &[PREKEY_ONE_TIME]]))
    }
}

impl EnvelopeStore for SledStore {
    fn insert(&self, envelope: NewEnvelope, quota: Quota) -> Result<InsertOutcome, StoreError> {
        let seq = self.db.generate_id().map_err(backend)?.to_be_bytes();
        let len = envelope.payload.len() as u64;
        let remaining = u32::try_from(envelope.recipients.len()).unwrap_or(u32::MAX);
        let body = EnvelopeBody {
            stored_at: envelope.stored_at,
            recipients: envelope.recipients,
            payload: envelope.payload,
        };
        let body_bytes = encode(&body)?;
        let state_bytes = encode(&EnvelopeState {
            remaining,
            expires_at: envelope.expires_at,
            payload_len: len,
        })?;
        let id = envelope.id;
        let trees = (
            &self.remembered,
            &self.envelopes,
            &self.remaining,
            &self.queues,
            &self.pending,
            &self.expiry,
            &self.mailboxes,
        );
        let outcome = finish(trees.transaction(
            |(remembered, envelopes, remaining, queues, pending, expiry, mailboxes)| {
                if remembered.get(id.as_bytes())?.is_some() {
                    return Ok(InsertOutcome::AlreadyStored);
                }
                if let Some(existing) = envelopes.get(id.as_bytes())? {
                    let existing: EnvelopeBody = tx_decode(&existing)?;
                    let same =
                        existing.recipients == body.recipients && existing.payload == body.payload;
                    return Ok(if same {
                        InsertOutcome::AlreadyStored
                    } else {
                        InsertOutcome::Conflict
                    });
                }
                let mut records = Vec::with_capacity(body.recipients.len());
                for recipient in &body.recipients {
                    let Some(raw) = mailboxes.get(recipient.as_bytes())? else {
                        return Ok(InsertOutcome::UnknownMailbox);
                    };
                    let record: MailboxRecord = tx_decode(&raw)?;
                    if record.envelopes + 1 > quota.max_envelopes
                        || record.bytes + len > quota.max_bytes
                    {
                        return Ok(InsertOutcome::QuotaExceeded);
                    }
                    records.push((recipient, record));
                }
                for (recipient, mut record) in records {
                    record.envelopes += 1;
                    record.bytes += len;
                    mailboxes.insert(recipient.as_bytes(), tx_encode(&record)?)?;
                    queues.insert(join(&[recipient.as_bytes(), &seq]), id.as_bytes())?;
                    pending.insert(join(&[recipient.as_bytes(), id.as_bytes()]), &seq)?;
                }
                envelopes.insert(id.as_bytes(), body_bytes.as_slice())?;
                remaining.insert(id.as_bytes(), state_bytes.as_slice())?;
                expiry.insert(expiry_key(envelope.expires_at, KIND_ENVELOPE, &id), &[])?;
                Ok(InsertOutcome::Stored)
            },
        ))?;
        if outcome == InsertOutcome::Stored {
            let mut totals = self.lock_totals();
            totals.envelopes += 1;
            totals.bytes += len;
        }
        Ok(outcome)
    }

    fn queue(&self, mailbox: &MailboxId, limit: usize) -> Result<Vec<QueuedEnvelope>, StoreError> {
        let mut out = Vec::new();
        for item in self.queues.scan_prefix(mailbox.as_bytes()).take(limit) {
            let (key, id_bytes) = item.map_err(backend)?;
            let seq = u64_from(key.get(16..).unwrap_or_default())?;
            let id = EnvelopeId::from_slice(&id_bytes)
                .ok_or_else(|| StoreError::Corrupt("queue entry is not an id".into()))?;
            // An ack or expiry may race between the scan and this read; skip what vanished.
            let Some(raw) = self.envelopes.get(id.as_bytes()).map_err(backend)? else {
                continue;
            };
            let body: EnvelopeBody = decode(&raw)?;
            out.push(QueuedEnvelope {
                seq,
                delivery: Delivery {
                    id,
                    stored_at: body.stored_at,
                    payload: body.payload,
                },
            });
        }
        Ok(out)
    }

    fn queue_entries(
        &self,
        mailbox: &MailboxId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        let Some(from) = super::first_seq_after(after) else {
            return Ok(Vec::new());
        };
        let start = join(&[mailbox.as_bytes(), &from.to_be_bytes()]);
        let end = join(&[mailbox.as_bytes(), &u64::MAX.to_be_bytes()]);
        let mut out = Vec::new();
        for item in self.queues.range(start..=end).take(limit) {
            let (key, id_bytes) = item.map_err(backend)?;
            let seq = u64_from(key.get(16..).unwrap_or_default())?;
            let id = EnvelopeId::from_slice(&id_bytes)
                .ok_or_else(|| StoreError::Corrupt("queue entry is not an id".into()))?;
            out.push(QueueEntry { seq, id });
        }
        Ok(out)
    }

    fn delivery(&self, id: &EnvelopeId) -> Result<Option<Delivery>, StoreError> {
        let Some(raw) = self.envelopes.get(id.as_bytes()).map_err(backend)? else {
            return Ok(None);
        };
        let body: EnvelopeBody = decode(&raw)?;
        Ok(Some(Delivery {
            id: *id,
            stored_at: body.stored_at,
            payload: body.payload,
        }))
    }

    fn ack(
        &self,
        mailbox: &MailboxId,
        id: &EnvelopeId,
        remember_until: u64,
    ) -> Result<AckOutcome, StoreError> {
        let trees = (
            &self.pending,
            &self.queues,
            &self.remaining,
            &self.envelopes,
            &self.expiry,
            &self.remembered,
            &self.mailboxes,
        );
        let result = finish(trees.transaction(
            |(pending, queues, remaining, envelopes, expiry, remembered, mailboxes)| {
                let pending_key = join(&[mailbox.as_bytes(), id.as_bytes()]);
                let Some(seq) = pending.get(&pending_key)? else {
                    return Ok(None);
                };
                let Some(state) = remaining.get(id.as_bytes())? else {
                    return Ok(None);
                };
                let mut state: EnvelopeState = tx_decode(&state)?;
                pending.remove(pending_key)?;
                queues.remove(join(&[mailbox.as_bytes(), &seq]))?;
                if let Some(raw) = mailboxes.get(mailbox.as_bytes())? {
                    let mut record: MailboxRecord = tx_decode(&raw)?;
                    record.envelopes = record.envelopes.saturating_sub(1);
                    record.bytes = record.bytes.saturating_sub(state.payload_len);
                    mailboxes.insert(mailbox.as_bytes(), tx_encode(&record)?)?;
                }
                state.remaining = state.remaining.saturating_sub(1);
                if state.remaining > 0 {
                    remaining.insert(id.as_bytes(), tx_encode(&state)?)?;
                    return Ok(Some(None));
                }
                envelopes.remove(id.as_bytes())?;
                remaining.remove(id.as_bytes())?;
                expiry.remove(expiry_key(state.expires_at, KIND_ENVELOPE, id))?;
                remembered.insert(id.as_bytes(), &remember_until.to_be_bytes())?;
                expiry.insert(expiry_key(remember_until, KIND_REMEMBERED, id), &[])?;
                Ok(Some(Some(state.payload_len)))
            },
        ))?;
        Ok(match result {
            None => AckOutcome::NotQueued,
            Some(None) => AckOutcome::Removed { deleted: false },
            Some(Some(len)) => {
                let mut totals = self.lock_totals();
                totals.envelopes = totals.envelopes.saturating_sub(1);
                totals.bytes = totals.bytes.saturating_sub(len);
                AckOutcome::Removed { deleted: true }
            }
        })
    }

    fn sweep(&self, now: u64, limit: usize) -> Result<SweepOutcome, StoreError> {
        let end = now.saturating_add(1).to_be_bytes();
        let mut due = Vec::new();
        for item in self.expiry.range(..end.as_slice()).take(limit) {
            let (key, _) = item.map_err(backend)?;
            let deadline = u64_from(key.get(..8).unwrap_or_default())?;
            let kind = key.get(8).copied();
            let id = EnvelopeId::from_slice(key.get(9..).unwrap_or_default())
                .ok_or_else(|| StoreError::Corrupt("expiry key".into()))?;
            due.push((deadline, kind, id));
        }
        let mut outcome = SweepOutcome::default();
        for (deadline, kind, id) in due {
            if kind == Some(KIND_REMEMBERED) {
                self.forget(&id, deadline)?;
                outcome.forgotten += 1;
            } else if let Some(len) = self.expire_envelope(&id, deadline)? {
                let mut totals = self.lock_totals();
                totals.envelopes = totals.envelopes.saturating_sub(1);
                totals.bytes = totals.bytes.saturating_sub(len);
                outcome.expired += 1;
            }
        }
        Ok(outcome)
    }

    fn usage(&self, mailbox: &MailboxId) -> Result<MailboxUsage, StoreError> {
        let Some(raw) = self.mailboxes.get(mailbox.as_bytes()).map_err(backend)? else {
            return Ok(MailboxUsage::default());
        };
        let record: MailboxRecord = decode(&raw)?;
        Ok(MailboxUsage {
            envelopes: record.envelopes,
            bytes: record.bytes,
        })
    }

    fn contains(&self, id: &EnvelopeId) -> Result<bool, StoreError> {
        self.envelopes.contains_key(id.as_bytes()).map_err(backend)
    }

    fn pending(&self) -> PendingTotals {
        *self.lock_totals()
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(backend)?;
        Self::sync_dir(&self.dir).map_err(backend)
    }
}

impl Directory for SledStore {
    fn create_mailbox(
        &self,
        key: [u8; 32],
        new_id: MailboxId,
        now: u64,
    ) -> Result<MailboxId, StoreError> {
        let record = encode(&MailboxRecord {
            key,
            created_at: now,
            envelopes: 0,
            bytes: 0,
        })?;
        finish(
            (&self.mailbox_keys, &self.mailboxes).transaction(|(keys, mailboxes)| {
                if let Some(existing) = keys.get(key)? {
                    return MailboxId::from_slice(&existing).ok_or_else(|| {
                        ConflictableTransactionError::Abort(StoreError::Corrupt(
                            "mailbox id".into(),
                        ))
                    });
                }
                keys.insert(&key, new_id.as_bytes())?;
                mailboxes.insert(new_id.as_bytes(), record.as_slice())?;
                Ok(new_id)
            }),
        )
    }

    fn mailbox_key(&self, mailbox: &MailboxId) -> Result<Option<[u8; 32]>, StoreError> {
        let Some(raw) = self.mailboxes.get(mailbox.as_bytes()).map_err(backend)? else {
            return Ok(None);
        };
        let record: MailboxRecord = decode(&raw)?;
        Ok(Some(record.key))
    }

    fn publish_prekeys(
        &self,
        mailbox: &MailboxId,
        upload: PrekeyUpload,
        max_stored: usize,
    ) -> Result<u32, StoreError> {
        let bundle = BundleRecord {
            identity: upload.identity,
            signed_prekey: upload.signed_prekey,
        };
        self.prekeys
            .insert(
                join(&[mailbox.as_bytes(), &[PREKEY_BUNDLE]]),
                encode(&bundle)?,
            )
            .map_err(backend)?;
        let mut existing = Vec::new();
        for item in self.one_time_prekeys(mailbox) {
            let (key, value) = item.map_err(backend)?;
            let prekey: OneTimePrekey = decode(&value)?;
            existing.push((key, prekey.id));
        }
        for prekey in upload.one_time {
            for (key, _) in existing.iter().filter(|(_, id)| *id == prekey.id) {
                self.prekeys.remove(key).map_err(backend)?;
            }
            existing.retain(|(_, id)| *id != prekey.id);
            let seq = self.db.generate_id().map_err(backend)?.to_be_bytes();
            let key = join(&[mailbox.as_bytes(), &[PREKEY_ONE_TIME], &seq]);
            self.prekeys
                .insert(&key, encode(&prekey)?)
                .map_err(backend)?;
            existing.push((key.into(), prekey.id));
        }
        existing.sort_by(|a, b| a.0.cmp(&b.0));
        let excess = existing.len().saturating_sub(max_stored);
        for (key, _) in existing.iter().take(excess) {
            self.prekeys.remove(key).map_err(backend)?;
        }
        Ok(u32::try_from(existing.len() - excess).unwrap_or(u32::MAX))
    }

    fn prekey_count(&self, mailbox: &MailboxId) -> Result<u32, StoreError> {
        let mut count = 0u32;
        for item in self.one_time_prekeys(mailbox) {
            item.map_err(backend)?;
            count = count.saturating_add(1);
        }
        Ok(count)
    }

    fn take_prekey_bundle(&self, mailbox: &MailboxId) -> Result<Option<PrekeyBundle>, StoreError> {
        let Some(raw) = self
            .prekeys
            .get(join(&[mailbox.as_bytes(), &[PREKEY_BUNDLE]]))
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let bundle: BundleRecord = decode(&raw)?;
        let mut one_time = None;
        for item in self.one_time_prekeys(mailbox) {
            let (key, value) = item.map_err(backend)?;
            // Compare-and-swap makes the removal atomic: a concurrent fetch that read the same
            // key fails here and moves on to the next one, so each is handed out once.
            let swapped = self
                .prekeys
                .compare_and_swap(&key, Some(&value), None as Option<&[u8]>)
                .map_err(backend)?;
            if swapped.is_ok() {
                one_time = Some(decode::<OneTimePrekey>(&value)?);
                break;
            }
        }
        Ok(Some(PrekeyBundle {
            mailbox: *mailbox,
            identity: bundle.identity,
            signed_prekey: bundle.signed_prekey,
            one_time,
        }))
    }

    fn claim_username(
        &self,
        mailbox: &MailboxId,
        username: &str,
        identity_key: [u8; 32],
    ) -> Result<ClaimOutcome, StoreError> {
        let record = encode(&UsernameRecord {
            username: username.to_owned(),
            mailbox: *mailbox,
            identity_key,
        })?;
        finish(
            (&self.usernames, &self.username_owners).transaction(|(usernames, owners)| {
                if let Some(raw) = usernames.get(username.as_bytes())? {
                    let owner: UsernameRecord = tx_decode(&raw)?;
                    if owner.mailbox != *mailbox {
                        return Ok(ClaimOutcome::Taken);
                    }
                }
                if let Some(previous) = owners.get(mailbox.as_bytes())? {
                    usernames.remove(previous)?;
                }
                owners.insert(mailbox.as_bytes(), username.as_bytes())?;
                usernames.insert(username.as_bytes(), record.as_slice())?;
                Ok(ClaimOutcome::Claimed)
            }),
        )
    }

    fn lookup_username(&self, username: &str) -> Result<Option<UsernameRecord>, StoreError> {
        let Some(raw) = self.usernames.get(username.as_bytes()).map_err(backend)? else {
            return Ok(None);
        };
        Ok(Some(decode(&raw)?))
    }
}
