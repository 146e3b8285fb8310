//! Blob metadata on sled: trees `blobs`, `blob_usage`, `blob_expiry`.

use std::sync::atomic::Ordering;

use hush_protocol::{BlobId, MailboxId};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::TransactionalTree;

use super::{SledStore, TxResult, backend, decode, encode, finish, join, tx_decode, tx_encode};
use crate::blob::{BlobRecord, Claim, NewBlob, Release, check_quota};
use crate::store::{BlobStore, CreateBlobOutcome, ReleaseOutcome, StoreError};

/// The stored form of a [`BlobRecord`] (field order is the on-disk format).
#[derive(Serialize, Deserialize)]
struct StoredBlob {
    uploader: MailboxId,
    size: u64,
    recipients: Vec<MailboxId>,
    ttl_secs: u32,
    remaining: Vec<MailboxId>,
    created_at: u64,
    expires_at: u64,
    complete: bool,
}

impl From<&BlobRecord> for StoredBlob {
    fn from(r: &BlobRecord) -> Self {
        Self {
            uploader: r.uploader,
            size: r.size,
            recipients: r.recipients.clone(),
            ttl_secs: r.ttl_secs,
            remaining: r.remaining.clone(),
            created_at: r.created_at,
            expires_at: r.expires_at,
            complete: r.complete,
        }
    }
}

impl From<StoredBlob> for BlobRecord {
    fn from(s: StoredBlob) -> Self {
        Self {
            uploader: s.uploader,
            size: s.size,
            recipients: s.recipients,
            ttl_secs: s.ttl_secs,
            remaining: s.remaining,
            created_at: s.created_at,
            expires_at: s.expires_at,
            complete: s.complete,
        }
    }
}

fn expiry_key(deadline: u64, id: &BlobId) -> Vec<u8> {
    join(&[&deadline.to_be_bytes(), id.as_bytes()])
}

fn usage_of(raw: Option<sled::IVec>) -> u64 {
    raw.and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, u64::from_be_bytes)
}

fn tx_get(blobs: &TransactionalTree, id: &BlobId) -> TxResult<Option<BlobRecord>> {
    match blobs.get(id.as_bytes())? {
        Some(raw) => Ok(Some(tx_decode::<StoredBlob>(&raw)?.into())),
        None => Ok(None),
    }
}

fn tx_charge(usage: &TransactionalTree, mailboxes: &[MailboxId], delta: i128) -> TxResult<()> {
    for mailbox in mailboxes {
        let used = i128::from(usage_of(usage.get(mailbox.as_bytes())?));
        let now = u64::try_from((used + delta).max(0)).unwrap_or(u64::MAX);
        if now == 0 {
            usage.remove(mailbox.as_bytes())?;
        } else {
            usage.insert(mailbox.as_bytes(), &now.to_be_bytes())?;
        }
    }
    Ok(())
}

impl SledStore {
    fn delete_blob(&self, id: &BlobId) -> Result<bool, StoreError> {
        let deleted = finish(
            (&self.blobs, &self.blob_usage, &self.blob_expiry).transaction(
                |(blobs, usage, expiry)| {
                    let Some(record) = tx_get(blobs, id)? else {
                        return Ok(false);
                    };
                    blobs.remove(id.as_bytes())?;
                    expiry.remove(expiry_key(record.expires_at, id))?;
                    tx_charge(usage, &record.charged(), -i128::from(record.size))?;
                    Ok(true)
                },
            ),
        )?;
        if deleted {
            self.blob_count.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(deleted)
    }
}

impl BlobStore for SledStore {
    fn create_blob(
        &self,
        blob: &NewBlob,
        quota_bytes: u64,
    ) -> Result<CreateBlobOutcome, StoreError> {
        let stored = encode(&StoredBlob::from(&blob.record))?;
        let charged = blob.record.charged();
        let trees = (
            &self.blobs,
            &self.blob_usage,
            &self.blob_expiry,
            &self.mailboxes,
        );
        let outcome = finish(trees.transaction(|(blobs, usage, expiry, mailboxes)| {
            if let Some(existing) = tx_get(blobs, &blob.id)? {
                return Ok(match existing.claim(&blob.record) {
                    Claim::Same => CreateBlobOutcome::Existing(existing),
                    Claim::Conflict => CreateBlobOutcome::Conflict,
                    Claim::Foreign => CreateBlobOutcome::Foreign,
                });
            }
            for recipient in &blob.record.recipients {
                if mailboxes.get(recipient.as_bytes())?.is_none() {
                    return Ok(CreateBlobOutcome::UnknownMailbox);
                }
            }
            let mut used = Vec::with_capacity(charged.len());
            for mailbox in &charged {
                used.push((*mailbox, usage_of(usage.get(mailbox.as_bytes())?)));
            }
            if let Err(holder) =
                check_quota(&blob.record.uploader, blob.record.size, quota_bytes, &used)
            {
                return Ok(CreateBlobOutcome::QuotaExceeded(holder));
            }
            tx_charge(usage, &charged, i128::from(blob.record.size))?;
            blobs.insert(blob.id.as_bytes(), stored.as_slice())?;
            expiry.insert(expiry_key(blob.record.expires_at, &blob.id), &[])?;
            Ok(CreateBlobOutcome::Created)
        }))?;
        if outcome == CreateBlobOutcome::Created {
            self.blob_count.fetch_add(1, Ordering::Relaxed);
        }
        Ok(outcome)
    }

    fn blob(&self, id: &BlobId) -> Result<Option<BlobRecord>, StoreError> {
        match self.blobs.get(id.as_bytes()).map_err(backend)? {
            Some(raw) => Ok(Some(decode::<StoredBlob>(&raw)?.into())),
            None => Ok(None),
        }
    }

    fn complete_blob(&self, id: &BlobId) -> Result<bool, StoreError> {
        finish(self.blobs.transaction(|blobs| {
            let Some(mut record) = tx_get(blobs, id)? else {
                return Ok(false);
            };
            record.complete = true;
            blobs.insert(id.as_bytes(), tx_encode(&StoredBlob::from(&record))?)?;
            Ok(true)
        }))
    }

    fn release_blob(&self, id: &BlobId, mailbox: &MailboxId) -> Result<ReleaseOutcome, StoreError> {
        let outcome = finish(
            (&self.blobs, &self.blob_usage, &self.blob_expiry).transaction(
                |(blobs, usage, expiry)| {
                    let Some(record) = tx_get(blobs, id)? else {
                        return Ok(ReleaseOutcome::NotHeld);
                    };
                    let (size, deadline) = (record.size, record.expires_at);
                    Ok(match record.release(mailbox) {
                        Release::NotHeld => ReleaseOutcome::NotHeld,
                        Release::Kept { record, uncharge } => {
                            tx_charge(usage, &uncharge, -i128::from(size))?;
                            blobs.insert(id.as_bytes(), tx_encode(&StoredBlob::from(&record))?)?;
                            ReleaseOutcome::Released { deleted: false }
                        }
                        Release::Deleted { uncharge } => {
                            tx_charge(usage, &uncharge, -i128::from(size))?;
                            blobs.remove(id.as_bytes())?;
                            expiry.remove(expiry_key(deadline, id))?;
                            ReleaseOutcome::Released { deleted: true }
                        }
                    })
                },
            ),
        )?;
        if outcome == (ReleaseOutcome::Released { deleted: true }) {
            self.blob_count.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(outcome)
    }

    fn remove_blob(&self, id: &BlobId) -> Result<bool, StoreError> {
        self.delete_blob(id)
    }

    fn expired_blobs(&self, now: u64, limit: usize) -> Result<Vec<BlobId>, StoreError> {
        let end = now.saturating_add(1).to_be_bytes();
        let mut due = Vec::new();
        for item in self.blob_expiry.range(..end.as_slice()).take(limit) {
            let (key, _) = item.map_err(backend)?;
            let id = BlobId::from_slice(key.get(8..).unwrap_or_default())
                .ok_or_else(|| StoreError::Corrupt("blob expiry key".into()))?;
            due.push(id);
        }
        Ok(due)
    }

    fn blob_ids(&self) -> Result<Vec<BlobId>, StoreError> {
        let mut ids = Vec::new();
        for key in self.blobs.iter().keys() {
            let key = key.map_err(backend)?;
            ids.push(
                BlobId::from_slice(&key).ok_or_else(|| StoreError::Corrupt("blob key".into()))?,
            );
        }
        Ok(ids)
    }

    fn blob_usage(&self, mailbox: &MailboxId) -> Result<u64, StoreError> {
        Ok(usage_of(
            self.blob_usage.get(mailbox.as_bytes()).map_err(backend)?,
        ))
    }

    fn blob_count(&self) -> u64 {
        self.blob_count.load(Ordering::Relaxed)
    }
}
