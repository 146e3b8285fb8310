//! The in-memory store: the reference semantics, used by tests.

mod blobs;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use hush_protocol::{
    Delivery, EnvelopeId, MailboxId, OneTimePrekey, PrekeyBundle, PrekeyUpload, UsernameRecord,
};

use super::{
    AckOutcome, ClaimOutcome, Directory, EnvelopeStore, InsertOutcome, MailboxUsage, NewEnvelope,
    PendingTotals, QueueEntry, QueuedEnvelope, Quota, StoreError, SweepOutcome,
};

/// Everything in memory behind one lock. Nothing survives the process.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_seq: u64,
    envelopes: HashMap<EnvelopeId, StoredEnvelope>,
    queues: BTreeMap<(MailboxId, u64), EnvelopeId>,
    pending: HashMap<(MailboxId, EnvelopeId), u64>,
    expiry: BTreeSet<(u64, EnvelopeId)>,
    remembered: HashMap<EnvelopeId, u64>,
    mailboxes: HashMap<MailboxId, Mailbox>,
    mailbox_keys: HashMap<[u8; 32], MailboxId>,
    usernames: HashMap<String, UsernameRecord>,
    username_owners: HashMap<MailboxId, String>,
    totals: PendingTotals,
    blobs: HashMap<hush_protocol::BlobId, crate::blob::BlobRecord>,
    blob_usage: HashMap<MailboxId, u64>,
    blob_expiry: BTreeSet<(u64, hush_protocol::BlobId)>,
}

struct StoredEnvelope {
    stored_at: u64,
    expires_at: u64,
    recipients: Vec<MailboxId>,
    remaining: u32,
    payload: Vec<u8>,
}

struct Mailbox {
    key: [u8; 32],
    usage: MailboxUsage,
    bundle: Option<(hush_protocol::IdentityKeys, hush_protocol::SignedPrekey)>,
    one_time: Vec<OneTimePrekey>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way later
        // callers could misread any worse than the panic itself; keep serving.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn unqueue(&mut self, mailbox: MailboxId, id: EnvelopeId, payload_len: u64) -> bool {
        let Some(seq) = self.pending.remove(&(mailbox, id)) else {
            return false;
        };
        self.queues.remove(&(mailbox, seq));
        if let Some(mb) = self.mailboxes.get_mut(&mailbox) {
            mb.usage.envelopes = mb.usage.envelopes.saturating_sub(1);
            mb.usage.bytes = mb.usage.bytes.saturating_sub(payload_len);
        }
        true
    }

    fn delete(&mut self, id: &EnvelopeId) {
        if let Some(envelope) = self.envelopes.remove(id) {
            self.expiry.remove(&(envelope.expires_at, *id));
            self.totals.envelopes = self.totals.envelopes.saturating_sub(1);
            self.totals.bytes = self
                .totals
                .bytes
                .saturating_sub(envelope.payload.len() as u64);
        }
    }
}

impl EnvelopeStore for MemoryStore {
    fn insert(&self, envelope: NewEnvelope, quota: Quota) -> Result<InsertOutcome, StoreError> {
        let mut inner = self.lock();
        if inner.remembered.contains_key(&envelope.id) {
            return Ok(InsertOutcome::AlreadyStored);
        }
        if let Some(existing) = inner.envelopes.get(&envelope.id) {
            let same =
                existing.recipients == envelope.recipients && existing.payload == envelope.payload;
            return Ok(if same {
                InsertOutcome::AlreadyStored
            } else {
                InsertOutcome::Conflict
            });
        }
        let len = envelope.payload.len() as u64;
        for recipient in &envelope.recipients {
            let Some(mailbox) = inner.mailboxes.get(recipient) else {
                return Ok(InsertOutcome::UnknownMailbox);
            };
            if mailbox.usage.envelopes + 1 > quota.max_envelopes
                || mailbox.usage.bytes + len > quota.max_bytes
            {
                return Ok(InsertOutcome::QuotaExceeded);
            }
        }
        inner.next_seq += 1;
        let seq = inner.next_seq;
        for recipient in &envelope.recipients {
            inner.queues.insert((*recipient, seq), envelope.id);
            inner.pending.insert((*recipient, envelope.id), seq);
            if let Some(mailbox) = inner.mailboxes.get_mut(recipient) {
                mailbox.usage.envelopes += 1;
                mailbox.usage.bytes += len;
            }
        }
        inner.expiry.insert((envelope.expires_at, envelope.id));
        inner.totals.envelopes += 1;
        inner.totals.bytes += len;
        let remaining = u32::try_from(envelope.recipients.len()).unwrap_or(u32::MAX);
        inner.envelopes.insert(
            envelope.id,
            StoredEnvelope {
                stored_at: envelope.stored_at,
                expires_at: envelope.expires_at,
                recipients: envelope.recipients,
                remaining,
                payload: envelope.payload,
            },
        );
        Ok(InsertOutcome::Stored)
    }

    fn queue(&self, mailbox: &MailboxId, limit: usize) -> Result<Vec<QueuedEnvelope>, StoreError> {
        let inner = self.lock();
        let entries = inner
            .queues
            .range((*mailbox, 0)..=(*mailbox, u64::MAX))
            .take(limit);
        let mut out = Vec::new();
        for ((_, seq), id) in entries {
            let envelope = inner
                .envelopes
                .get(id)
                .ok_or_else(|| StoreError::Corrupt("queue entry without envelope".into()))?;
            out.push(QueuedEnvelope {
                seq: *seq,
                delivery: Delivery {
                    id: *id,
                    stored_at: envelope.stored_at,
                    payload: envelope.payload.clone(),
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
        let inner = self.lock();
        Ok(inner
            .queues
            .range((*mailbox, from)..=(*mailbox, u64::MAX))
            .take(limit)
            .map(|((_, seq), id)| QueueEntry { seq: *seq, id: *id })
            .collect())
    }

    fn delivery(&self, id: &EnvelopeId) -> Result<Option<Delivery>, StoreError> {
        Ok(self.lock().envelopes.get(id).map(|envelope| Delivery {
            id: *id,
            stored_at: envelope.stored_at,
            payload: envelope.payload.clone(),
        }))
    }

    fn ack(
        &self,
        mailbox: &MailboxId,
        id: &EnvelopeId,
        remember_until: u64,
    ) -> Result<AckOutcome, StoreError> {
        let mut inner = self.lock();
        let Some(len) = inner.envelopes.get(id).map(|e| e.payload.len() as u64) else {
            return Ok(AckOutcome::NotQueued);
        };
        if !inner.unqueue(*mailbox, *id, len) {
            return Ok(AckOutcome::NotQueued);
        }
        let remaining = match inner.envelopes.get_mut(id) {
            Some(envelope) => {
                envelope.remaining = envelope.remaining.saturating_sub(1);
                envelope.remaining
            }
            None => 0,
        };
        if remaining == 0 {
            inner.delete(id);
            inner.remembered.insert(*id, remember_until);
        }
        Ok(AckOutcome::Removed {
            deleted: remaining == 0,
        })
    }

    fn sweep(&self, now: u64, limit: usize) -> Result<SweepOutcome, StoreError> {
        let mut inner = self.lock();
        let due: Vec<(u64, EnvelopeId)> = inner
            .expiry
            .range(..=(now, EnvelopeId::from_bytes([0xff; 16])))
            .take(limit)
            .copied()
            .collect();
        let mut outcome = SweepOutcome::default();
        for (_, id) in due {
            let Some((recipients, len)) = inner
                .envelopes
                .get(&id)
                .map(|e| (e.recipients.clone(), e.payload.len() as u64))
            else {
                continue;
            };
            for recipient in recipients {
                inner.unqueue(recipient, id, len);
            }
            inner.delete(&id);
            outcome.expired += 1;
        }
        let before = inner.remembered.len();
        inner.remembered.retain(|_, until| *until > now);
        outcome.forgotten = (before - inner.remembered.len()) as u64;
        Ok(outcome)
    }

    fn usage(&self, mailbox: &MailboxId) -> Result<MailboxUsage, StoreError> {
        Ok(self
            .lock()
            .mailboxes
            .get(mailbox)
            .map(|m| m.usage)
            .unwrap_or_default())
    }

    fn contains(&self, id: &EnvelopeId) -> Result<bool, StoreError> {
        Ok(self.lock().envelopes.contains_key(id))
    }

    fn pending(&self) -> PendingTotals {
        self.lock().totals
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl Directory for MemoryStore {
    fn create_mailbox(
        &self,
        key: [u8; 32],
        new_id: MailboxId,
        _now: u64,
    ) -> Result<MailboxId, StoreError> {
        let mut inner = self.lock();
        if let Some(existing) = inner.mailbox_keys.get(&key) {
            return Ok(*existing);
        }
        inner.mailbox_keys.insert(key, new_id);
        inner.mailboxes.insert(
            new_id,
            Mailbox {
                key,
                usage: MailboxUsage::default(),
                bundle: None,
                one_time: Vec::new(),
            },
        );
        Ok(new_id)
    }

    fn mailbox_key(&self, mailbox: &MailboxId) -> Result<Option<[u8; 32]>, StoreError> {
        Ok(self.lock().mailboxes.get(mailbox).map(|m| m.key))
    }

    fn publish_prekeys(
        &self,
        mailbox: &MailboxId,
        upload: PrekeyUpload,
        max_stored: usize,
    ) -> Result<u32, StoreError> {
        let mut inner = self.lock();
        let Some(mb) = inner.mailboxes.get_mut(mailbox) else {
            return Ok(0);
        };
        mb.bundle = Some((upload.identity, upload.signed_prekey));
        for prekey in upload.one_time {
            mb.one_time.retain(|existing| existing.id != prekey.id);
            mb.one_time.push(prekey);
        }
        if mb.one_time.len() > max_stored {
            let excess = mb.one_time.len() - max_stored;
            mb.one_time.drain(..excess);
        }
        Ok(u32::try_from(mb.one_time.len()).unwrap_or(u32::MAX))
    }

    fn prekey_count(&self, mailbox: &MailboxId) -> Result<u32, StoreError> {
        let inner = self.lock();
        let count = inner.mailboxes.get(mailbox).map_or(0, |m| m.one_time.len());
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    fn take_prekey_bundle(&self, mailbox: &MailboxId) -> Result<Option<PrekeyBundle>, StoreError> {
        let mut inner = self.lock();
        let Some(mb) = inner.mailboxes.get_mut(mailbox) else {
            return Ok(None);
        };
        let Some((identity, signed_prekey)) = mb.bundle else {
            return Ok(None);
        };
        let one_time = if mb.one_time.is_empty() {
            None
        } else {
            Some(mb.one_time.remove(0))
        };
        Ok(Some(PrekeyBundle {
            mailbox: *mailbox,
            identity,
            signed_prekey,
            one_time,
        }))
    }

    fn claim_username(
        &self,
        mailbox: &MailboxId,
        username: &str,
        identity_key: [u8; 32],
    ) -> Result<ClaimOutcome, StoreError> {
        let mut inner = self.lock();
        if inner
            .usernames
            .get(username)
            .is_some_and(|owner| owner.mailbox != *mailbox)
        {
            return Ok(ClaimOutcome::Taken);
        }
        if let Some(previous) = inner.username_owners.remove(mailbox) {
            inner.usernames.remove(&previous);
        }
        inner.username_owners.insert(*mailbox, username.to_owned());
        inner.usernames.insert(
            username.to_owned(),
            UsernameRecord {
                username: username.to_owned(),
                mailbox: *mailbox,
                identity_key,
            },
        );
        Ok(ClaimOutcome::Claimed)
    }

    fn lookup_username(&self, username: &str) -> Result<Option<UsernameRecord>, StoreError> {
        Ok(self.lock().usernames.get(username).cloned())
    }
}
