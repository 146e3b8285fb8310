//! Blob metadata in memory.

use hush_protocol::{BlobId, MailboxId};

use super::{Inner, MemoryStore};
use crate::blob::{Claim, NewBlob, Release, check_quota};
use crate::store::{BlobRecord, BlobStore, CreateBlobOutcome, ReleaseOutcome, StoreError};

impl Inner {
    fn charge(&mut self, mailboxes: &[MailboxId], size: u64) {
        for mailbox in mailboxes {
            *self.blob_usage.entry(*mailbox).or_default() += size;
        }
    }

    fn uncharge(&mut self, mailboxes: &[MailboxId], size: u64) {
        for mailbox in mailboxes {
            if let Some(used) = self.blob_usage.get_mut(mailbox) {
                *used = used.saturating_sub(size);
                if *used == 0 {
                    self.blob_usage.remove(mailbox);
                }
            }
        }
    }

    fn delete_blob(&mut self, id: &BlobId) -> bool {
        let Some(record) = self.blobs.remove(id) else {
            return false;
        };
        self.blob_expiry.remove(&(record.expires_at, *id));
        self.uncharge(&record.charged(), record.size);
        true
    }
}

impl BlobStore for MemoryStore {
    fn create_blob(
        &self,
        blob: &NewBlob,
        quota_bytes: u64,
    ) -> Result<CreateBlobOutcome, StoreError> {
        let mut inner = self.lock();
        if let Some(existing) = inner.blobs.get(&blob.id) {
            return Ok(match existing.claim(&blob.record) {
                Claim::Same => CreateBlobOutcome::Existing(existing.clone()),
                Claim::Conflict => CreateBlobOutcome::Conflict,
                Claim::Foreign => CreateBlobOutcome::Foreign,
            });
        }
        if blob
            .record
            .recipients
            .iter()
            .any(|r| !inner.mailboxes.contains_key(r))
        {
            return Ok(CreateBlobOutcome::UnknownMailbox);
        }
        let charged = blob.record.charged();
        let usage: Vec<_> = charged
            .iter()
            .map(|m| (*m, inner.blob_usage.get(m).copied().unwrap_or(0)))
            .collect();
        if let Err(holder) =
            check_quota(&blob.record.uploader, blob.record.size, quota_bytes, &usage)
        {
            return Ok(CreateBlobOutcome::QuotaExceeded(holder));
        }
        inner.charge(&charged, blob.record.size);
        inner.blob_expiry.insert((blob.record.expires_at, blob.id));
        inner.blobs.insert(blob.id, blob.record.clone());
        Ok(CreateBlobOutcome::Created)
    }

    fn blob(&self, id: &BlobId) -> Result<Option<BlobRecord>, StoreError> {
        Ok(self.lock().blobs.get(id).cloned())
    }

    fn complete_blob(&self, id: &BlobId) -> Result<bool, StoreError> {
        Ok(match self.lock().blobs.get_mut(id) {
            Some(record) => {
                record.complete = true;
                true
            }
            None => false,
        })
    }

    fn release_blob(&self, id: &BlobId, mailbox: &MailboxId) -> Result<ReleaseOutcome, StoreError> {
        let mut inner = self.lock();
        let Some(record) = inner.blobs.get(id).cloned() else {
            return Ok(ReleaseOutcome::NotHeld);
        };
        let size = record.size;
        Ok(match record.release(mailbox) {
            Release::NotHeld => ReleaseOutcome::NotHeld,
            Release::Kept { record, uncharge } => {
                inner.uncharge(&uncharge, size);
                inner.blobs.insert(*id, record);
                ReleaseOutcome::Released { deleted: false }
            }
            Release::Deleted { .. } => {
                inner.delete_blob(id);
                ReleaseOutcome::Released { deleted: true }
            }
        })
    }

    fn remove_blob(&self, id: &BlobId) -> Result<bool, StoreError> {
        Ok(self.lock().delete_blob(id))
    }

    fn expired_blobs(&self, now: u64, limit: usize) -> Result<Vec<BlobId>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .blob_expiry
            .iter()
            .take_while(|(deadline, _)| *deadline <= now)
            .take(limit)
            .map(|(_, id)| *id)
            .collect())
    }

    fn blob_ids(&self) -> Result<Vec<BlobId>, StoreError> {
        Ok(self.lock().blobs.keys().copied().collect())
    }

    fn blob_usage(&self, mailbox: &MailboxId) -> Result<u64, StoreError> {
        Ok(self.lock().blob_usage.get(mailbox).copied().unwrap_or(0))
    }

    fn blob_count(&self) -> u64 {
        self.lock().blobs.len() as u64
    }
}
