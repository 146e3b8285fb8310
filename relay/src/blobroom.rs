//! The blob store: metadata ([`crate::store::BlobStore`]) and files ([`BlobFiles`]) under the
//! blob rules ([`crate::blob`]).
//!
//! [`Blobroom`] answers the request frames (`CreateBlob`, `BlobFetched`), sweeps expired blobs
//! and reconciles files with metadata at start-up; the stream shell (`blob_stream`) uses it
//! for uploads and downloads. Methods that delete files block (run them on the blocking pool);
//! time is an argument.

use std::sync::Arc;

use hush_protocol::{BlobId, MailboxId, RelayFrame};

use crate::blob::{BlobRecord, BlobRules};
use crate::blob_files::{BlobFiles, Reconciled};
use crate::error::RelayError;
use crate::store::{CreateBlobOutcome, RelayStore, ReleaseOutcome, StoreError};

/// Why a blob was deleted (the `reason` label of `hush_relay_blobs_deleted_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Every recipient released it.
    Fetched,
    /// Its TTL ran out.
    Expired,
    /// Its uploader gave it up (`AbandonBlob`).
    Abandoned,
}

impl Deletion {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Fetched => "fetched",
            Self::Expired => "expired",
            Self::Abandoned => "abandoned",
        }
    }
}

/// Blob metadata and files, under the rules.
#[derive(Clone)]
pub struct Blobroom {
    store: Arc<dyn RelayStore>,
    files: Arc<BlobFiles>,
    rules: BlobRules,
}

impl Blobroom {
    /// Blobs kept in `store` (metadata) and `files` (bytes).
    pub fn new(store: Arc<dyn RelayStore>, files: Arc<BlobFiles>, rules: BlobRules) -> Self {
        Self {
            store,
            files,
            rules,
        }
    }

    /// The files.
    pub fn files(&self) -> &Arc<BlobFiles> {
        &self.files
    }

    /// The metadata store.
    pub fn store(&self) -> &Arc<dyn RelayStore> {
        &self.store
    }

    /// Matches files with metadata (blocking; at start-up, before serving).
    pub fn reconcile(&self) -> Result<Reconciled, StoreError> {
        let outcome = self.files.reconcile(self.store.as_ref())?;
        self.record_gauges();
        Ok(outcome)
    }

    /// The `BlobStatus` for a blob as it stands.
    pub fn status(&self, id: BlobId, record: &BlobRecord) -> RelayFrame {
        let chunks_stored = if record.complete {
            record.chunk_count()
        } else {
            self.files.durable_chunks(&id)
        };
        RelayFrame::BlobStatus {
            id,
            size: record.size,
            chunks_stored,
            complete: record.complete,
        }
    }

    /// `CreateBlob`: checks it, stores the metadata (or finds the same blob created before) and
    /// returns the `BlobStatus` to answer once the metadata is durable.
    pub fn create(
        &self,
        now: u64,
        uploader: MailboxId,
        id: BlobId,
        size: u64,
        recipients: Vec<MailboxId>,
        ttl_secs: u32,
    ) -> Result<RelayFrame, RelayError> {
        let blob = self
            .rules
            .new_blob(now, uploader, id, size, recipients, ttl_secs)?;
        match self.store.create_blob(&blob, self.rules.quota_bytes)? {
            CreateBlobOutcome::Created => {
                self.record_gauges();
                Ok(self.status(id, &blob.record))
            }
            CreateBlobOutcome::Existing(record) => Ok(self.status(id, &record)),
            CreateBlobOutcome::Conflict => Err(RelayError::Conflict),
            CreateBlobOutcome::Foreign => Err(RelayError::UnknownBlob),
            CreateBlobOutcome::UnknownMailbox => Err(RelayError::UnknownMailbox),
            CreateBlobOutcome::QuotaExceeded(holder) => Err(RelayError::BlobQuotaExceeded(holder)),
        }
    }

    /// Stops whichever upload stream writes `id` now and waits until it has made its chunks
    /// durable. An uploader asking how far its upload got (`CreateBlob` again) is resuming:
    /// the older stream belongs to a connection that died without closing, and the answer
    /// must count what that stream wrote.
    pub async fn stop_upload(&self, id: BlobId) {
        if !self.files.uploading(&id) {
            return;
        }
        drop(self.files.claim_upload(id).await);
    }

    /// The record of a blob `uploader` may upload to.
    pub fn for_upload(&self, uploader: &MailboxId, id: &BlobId) -> Result<BlobRecord, RelayError> {
        match self.store.blob(id)? {
            Some(record) if record.uploader == *uploader => Ok(record),
            _ => Err(RelayError::UnknownBlob),
        }
    }

    /// The record of a blob `mailbox` may download.
    pub fn for_download(&self, mailbox: &MailboxId, id: &BlobId) -> Result<BlobRecord, RelayError> {
        match self.store.blob(id)? {
            Some(record) if record.may_download(mailbox) => Ok(record),
            _ => Err(RelayError::UnknownBlob),
        }
    }

    /// `BlobFetched` (blocking: may delete the file). The caller makes the change durable
    /// before answering.
    pub fn release(&self, mailbox: &MailboxId, id: &BlobId) -> Result<RelayFrame, RelayError> {
        match self.store.release_blob(id, mailbox)? {
            ReleaseOutcome::NotHeld => Err(RelayError::UnknownBlob),
            ReleaseOutcome::Released { deleted } => {
                if deleted {
                    self.delete_file(id, Deletion::Fetched);
                }
                Ok(RelayFrame::BlobReleased { id: *id })
            }
        }
    }

    /// `AbandonBlob` (blocking): the uploader deletes its blob, complete or not; any upload
    /// stream writing it stops. The caller makes the change durable before answering.
    pub fn abandon(&self, uploader: &MailboxId, id: &BlobId) -> Result<RelayFrame, RelayError> {
        match self.store.blob(id)? {
            Some(record) if record.uploader == *uploader => {}
            _ => return Err(RelayError::UnknownBlob),
        }
        // Metadata first (and with it the quota); start-up reconciliation deletes a file left
        // behind by a crash in between.
        if self.store.remove_blob(id)? {
            self.delete_file(id, Deletion::Abandoned);
        }
        Ok(RelayFrame::BlobReleased { id: *id })
    }

    /// Deletes up to `batch` blobs whose TTL ended at or before `now` (blocking), files and
    /// metadata; returns how many.
    pub fn sweep(&self, now: u64, batch: usize) -> Result<u64, RelayError> {
        let mut expired = 0;
        for id in self.store.expired_blobs(now, batch)? {
            // Metadata first: if the relay stops before the file is gone, start-up
            // reconciliation deletes the orphaned file.
            if self.store.remove_blob(&id)? {
                self.delete_file(&id, Deletion::Expired);
                expired += 1;
            }
        }
        Ok(expired)
    }

    /// Deletes a blob's file after its metadata was deleted.
    fn delete_file(&self, id: &BlobId, reason: Deletion) {
        if let Err(error) = self.files.delete(id) {
            // Start-up reconciliation deletes it later.
            tracing::error!(%error, "deleting a blob file failed");
        }
        metrics::counter!(crate::metrics::BLOBS_DELETED_TOTAL, "reason" => reason.label())
            .increment(1);
        self.record_gauges();
    }

    /// Sets the blob gauges.
    pub fn record_gauges(&self) {
        crate::metrics::record_blobs(self.store.blob_count(), self.files.bytes());
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use hush_protocol::limits::BLOB_CHUNK_LEN;

    use super::*;
    use crate::blob::QuotaHolder;
    use crate::store::{Directory, MemoryStore};

    const NOW: u64 = 1_000;
    const FULL: u64 = BLOB_CHUNK_LEN as u64;

    fn setup() -> (Blobroom, Vec<MailboxId>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MemoryStore::new());
        let mailboxes = (1..=3u8)
            .map(|n| {
                store
                    .create_mailbox([n; 32], MailboxId::from_bytes([n; 16]), 0)
                    .unwrap()
            })
            .collect();
        let rules = BlobRules {
            max_blob_bytes: 4 * FULL,
            max_recipients: 10,
            default_ttl_secs: 100,
            max_ttl_secs: 100,
            quota_bytes: 6 * FULL,
        };
        let files = Arc::new(BlobFiles::new(dir.path().join("blobs")));
        (Blobroom::new(store, files, rules), mailboxes, dir)
    }

    fn id(n: u8) -> BlobId {
        BlobId::from_bytes([n; 16])
    }

    #[test]
    fn create_answers_status_and_refuses_by_rule() {
        let (room, m, _dir) = setup();
        let status = room
            .create(NOW, m[0], id(1), 3 * FULL, vec![m[1]], 0)
            .unwrap();
        assert_eq!(
            status,
            RelayFrame::BlobStatus {
                id: id(1),
                size: 3 * FULL,
                chunks_stored: 0,
                complete: false
            }
        );
        assert_eq!(
            room.create(NOW + 1, m[0], id(1), 3 * FULL, vec![m[1]], 0)
                .unwrap(),
            status
        );
        assert!(matches!(
            room.create(NOW, m[0], id(1), 2 * FULL, vec![m[1]], 0),
            Err(RelayError::Conflict)
        ));
        assert!(matches!(
            room.create(NOW, m[2], id(1), 3 * FULL, vec![m[1]], 0),
            Err(RelayError::UnknownBlob)
        ));
        assert!(matches!(
            room.create(NOW, m[0], id(2), 5 * FULL, vec![m[1]], 0),
            Err(RelayError::TooLarge(_))
        ));
        // Recipients are not charged: another sender's blob to the same recipient fits.
        room.create(NOW, m[2], id(3), 4 * FULL, vec![m[1]], 0)
            .unwrap();
        let own = room
            .create(NOW, m[0], id(4), 4 * FULL, vec![m[2]], 0)
            .unwrap_err();
        assert!(matches!(
            own,
            RelayError::BlobQuotaExceeded(QuotaHolder::Sender)
        ));
        assert_eq!(own.code(), hush_protocol::ErrorCode::QuotaExceeded);
        assert!(own.to_string().contains("your blob quota"), "{own}");
        assert!(!own.to_string().contains(&m[0].to_string()), "no ids");
    }

    #[test]
    fn the_last_release_deletes_the_file_and_expiry_deletes_the_rest() {
        let (room, m, _dir) = setup();
        room.create(NOW, m[0], id(1), 10, vec![m[1], m[2]], 0)
            .unwrap();
        room.create(NOW, m[0], id(2), 10, vec![m[1]], 50).unwrap();
        std::fs::create_dir_all(room.files().dir()).unwrap();
        for n in [1, 2] {
            File::create(room.files().path(&id(n)))
                .unwrap()
                .write_all(&[0; 10])
                .unwrap();
        }
        assert!(matches!(
            room.for_download(&m[1], &id(1)),
            Err(RelayError::UnknownBlob)
        ));
        room.store().complete_blob(&id(1)).unwrap();
        assert!(room.for_download(&m[1], &id(1)).is_ok());
        assert!(room.for_download(&m[0], &id(1)).is_err(), "uploader");
        assert!(room.for_upload(&m[1], &id(1)).is_err(), "not the uploader");
        assert_eq!(
            room.release(&m[1], &id(1)).unwrap(),
            RelayFrame::BlobReleased { id: id(1) }
        );
        assert!(room.files().path(&id(1)).exists());
        assert!(matches!(
            room.release(&m[1], &id(1)),
            Err(RelayError::UnknownBlob)
        ));
        room.release(&m[2], &id(1)).unwrap();
        assert!(!room.files().path(&id(1)).exists(), "file deleted");
        assert!(room.store().blob(&id(1)).unwrap().is_none());
        assert_eq!(room.sweep(NOW + 49, 10).unwrap(), 0);
        assert_eq!(room.sweep(NOW + 50, 10).unwrap(), 1);
        assert!(!room.files().path(&id(2)).exists());
        assert_eq!(room.store().blob_count(), 0);
        assert_eq!(room.store().blob_usage(&m[0]).unwrap(), 0);
    }

    use std::fs::File;
}
