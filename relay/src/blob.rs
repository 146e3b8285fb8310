//! The blob rules, without I/O: what a `CreateBlob` may ask for, whose quota a blob counts
//! against, which chunk an upload may send next, who may download, and what a release does.
//!
//! The store ([`crate::store::BlobStore`]) applies [`BlobRecord::claim`], [`check_quota`] and
//! [`BlobRecord::release`] inside its atomic steps; [`crate::blobroom`] and the stream shell
//! (`blob_stream`) use [`UploadCursor`] and [`BlobRecord::may_download`]. Time is an argument.

use std::collections::HashSet;

use hush_protocol::limits::{BLOB_CHUNK_LEN, blob_chunk_count, blob_chunk_len};
use hush_protocol::{BlobId, MailboxId};

use crate::config::Config;
use crate::error::RelayError;

/// The blob rules' parameters, taken from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobRules {
    /// Largest blob, in ciphertext bytes.
    pub max_blob_bytes: u64,
    /// Most recipients per blob.
    pub max_recipients: usize,
    /// TTL when the uploader asks for none.
    pub default_ttl_secs: u64,
    /// Longest TTL.
    pub max_ttl_secs: u64,
    /// Most bytes of blobs held for one mailbox (as uploader or recipient).
    pub quota_bytes: u64,
}

impl BlobRules {
    /// The rules a configuration sets.
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_blob_bytes: config.limits.max_blob_bytes,
            max_recipients: config.limits.max_recipients,
            default_ttl_secs: config.retention.blob_ttl_secs,
            max_ttl_secs: config.retention.blob_max_ttl_secs,
            quota_bytes: config.limits.mailbox_max_blob_bytes,
        }
    }

    /// Checks a `CreateBlob` and turns it into the record to store.
    pub fn new_blob(
        &self,
        now: u64,
        uploader: MailboxId,
        id: BlobId,
        size: u64,
        recipients: Vec<MailboxId>,
        ttl_secs: u32,
    ) -> Result<NewBlob, RelayError> {
        if size == 0 || size > self.max_blob_bytes {
            return Err(RelayError::TooLarge(format!(
                "a blob must be 1 to {} bytes on this relay; this one is {size}",
                self.max_blob_bytes
            )));
        }
        if recipients.is_empty() {
            return Err(RelayError::InvalidRequest(
                "a blob needs a recipient".into(),
            ));
        }
        if recipients.len() > self.max_recipients {
            return Err(RelayError::InvalidRequest(format!(
                "at most {} recipients per blob",
                self.max_recipients
            )));
        }
        let mut seen = HashSet::with_capacity(recipients.len());
        if !recipients.iter().all(|r| seen.insert(*r)) {
            return Err(RelayError::InvalidRequest(
                "a recipient is named twice".into(),
            ));
        }
        let ttl = match u64::from(ttl_secs) {
            0 => self.default_ttl_secs,
            asked => asked.min(self.max_ttl_secs),
        };
        Ok(NewBlob {
            id,
            record: BlobRecord {
                uploader,
                size,
                remaining: recipients.clone(),
                recipients,
                ttl_secs,
                created_at: now,
                expires_at: now.saturating_add(ttl),
                complete: false,
            },
        })
    }
}

/// What the relay keeps about one blob (the bytes are in a file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRecord {
    /// The mailbox that created it; only it may upload.
    pub uploader: MailboxId,
    /// Total ciphertext bytes.
    pub size: u64,
    /// The recipients as created (compared on a repeated `CreateBlob`).
    pub recipients: Vec<MailboxId>,
    /// The TTL as asked (compared on a repeated `CreateBlob`).
    pub ttl_secs: u32,
    /// Recipients that have not released it yet.
    pub remaining: Vec<MailboxId>,
    /// Unix seconds when created.
    pub created_at: u64,
    /// Unix seconds at which it is deleted, complete or not.
    pub expires_at: u64,
    /// Every chunk is durable on disk.
    pub complete: bool,
}

/// A blob about to be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBlob {
    /// Uploader-chosen id.
    pub id: BlobId,
    /// Its record (nothing released, not complete).
    pub record: BlobRecord,
}

/// How a repeated `CreateBlob` relates to the blob already stored under its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Same uploader, same values: a resume.
    Same,
    /// Same uploader, other values.
    Conflict,
    /// Another mailbox's blob: the asker must not learn it exists.
    Foreign,
}

/// Whose blob quota is full. Messages name the role, never a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaHolder {
    /// The uploader's own.
    Sender,
    /// One of the recipients'.
    Recipient,
}

/// What releasing a blob for one recipient does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// The mailbox is not a remaining recipient: nothing changes.
    NotHeld,
    /// Others still need it: store `record`, take `size` off the `uncharge` mailboxes' usage.
    Kept {
        /// The record with this recipient removed.
        record: BlobRecord,
        /// Mailboxes no longer charged for it.
        uncharge: Vec<MailboxId>,
    },
    /// That was the last recipient: delete the blob and uncharge everyone.
    Deleted {
        /// Mailboxes no longer charged for it.
        uncharge: Vec<MailboxId>,
    },
}

impl BlobRecord {
    /// Compares a repeated `CreateBlob` (as `asked`) with this record.
    pub fn claim(&self, asked: &BlobRecord) -> Claim {
        if asked.uploader != self.uploader {
            Claim::Foreign
        } else if asked.size == self.size
            && asked.recipients == self.recipients
            && asked.ttl_secs == self.ttl_secs
        {
            Claim::Same
        } else {
            Claim::Conflict
        }
    }

    /// How many chunks the blob has.
    pub fn chunk_count(&self) -> u32 {
        u32::try_from(blob_chunk_count(self.size)).unwrap_or(u32::MAX)
    }

    /// The mailboxes whose blob quota this blob counts against: its uploader, until the blob
    /// is deleted. Recipients are not charged: otherwise one mailbox could fill thousands of
    /// others' quotas with blobs it never even uploads (`CreateBlob` names up to 4096
    /// recipients and charges at once), and they could not free them.
    pub fn charged(&self) -> Vec<MailboxId> {
        vec![self.uploader]
    }

    /// Whether `mailbox` may download it now.
    pub fn may_download(&self, mailbox: &MailboxId) -> bool {
        self.complete && self.remaining.contains(mailbox)
    }

    /// Removes `mailbox` from the remaining recipients.
    pub fn release(mut self, mailbox: &MailboxId) -> Release {
        let before = self.charged();
        let Some(at) = self.remaining.iter().position(|m| m == mailbox) else {
            return Release::NotHeld;
        };
        self.remaining.remove(at);
        if self.remaining.is_empty() {
            return Release::Deleted { uncharge: before };
        }
        let after = self.charged();
        let uncharge = before.into_iter().filter(|m| !after.contains(m)).collect();
        Release::Kept {
            record: self,
            uncharge,
        }
    }
}

/// Checks that a new blob of `size` bytes fits every charged mailbox's blob quota. `usage`
/// holds each charged mailbox (see [`BlobRecord::charged`]) with the bytes it holds now.
pub fn check_quota(
    uploader: &MailboxId,
    size: u64,
    quota_bytes: u64,
    usage: &[(MailboxId, u64)],
) -> Result<(), QuotaHolder> {
    // The sender hears about its own quota first: that is the one it can do something about.
    let mut ordered: Vec<_> = usage.iter().collect();
    ordered.sort_by_key(|(m, _)| m != uploader);
    for (mailbox, used) in ordered {
        if used.saturating_add(size) > quota_bytes {
            return Err(if mailbox == uploader {
                QuotaHolder::Sender
            } else {
                QuotaHolder::Recipient
            });
        }
    }
    Ok(())
}

/// How many whole chunks, from the first, a file of `len` bytes holds of a blob of `size`.
pub fn chunks_in_file(size: u64, len: u64) -> u32 {
    let chunks = if len >= size {
        blob_chunk_count(size)
    } else {
        len / BLOB_CHUNK_LEN as u64
    };
    u32::try_from(chunks).unwrap_or(u32::MAX)
}

/// The file length that holds exactly the first `chunks` chunks of a blob of `size`.
pub fn file_len_for_chunks(size: u64, chunks: u32) -> u64 {
    (u64::from(chunks) * BLOB_CHUNK_LEN as u64).min(size)
}

/// One upload stream's position: which chunk comes next and how long it must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadCursor {
    size: u64,
    next: u32,
    count: u32,
}

impl UploadCursor {
    /// An upload of a blob of `size` that holds `chunks_stored` chunks durably, resuming at
    /// `first_chunk`.
    pub fn start(size: u64, chunks_stored: u32, first_chunk: u32) -> Result<Self, RelayError> {
        if first_chunk > chunks_stored {
            return Err(RelayError::InvalidRequest(format!(
                "upload starts at chunk {first_chunk}, but the relay holds only {chunks_stored}"
            )));
        }
        let count = u32::try_from(blob_chunk_count(size)).unwrap_or(u32::MAX);
        Ok(Self {
            size,
            next: first_chunk.min(count),
            count,
        })
    }

    /// Byte offset of the next chunk in the file.
    pub fn offset(&self) -> u64 {
        file_len_for_chunks(self.size, self.next)
    }

    /// Whole chunks from the first that the file holds (once written).
    pub fn chunks(&self) -> u32 {
        self.next
    }

    /// Every chunk has been received.
    pub fn is_complete(&self) -> bool {
        self.next >= self.count
    }

    /// Accepts the next chunk if it has the right length.
    pub fn accept(&mut self, len: usize) -> Result<(), RelayError> {
        match blob_chunk_len(self.size, u64::from(self.next)) {
            None => Err(RelayError::InvalidRequest(
                "a chunk past the end of the blob".into(),
            )),
            Some(expected) if expected != len => Err(RelayError::InvalidRequest(format!(
                "chunk {} must be {expected} bytes, not {len}",
                self.next
            ))),
            Some(_) => {
                self.next += 1;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: u64 = BLOB_CHUNK_LEN as u64;

    fn m(n: u8) -> MailboxId {
        MailboxId::from_bytes([n; 16])
    }

    fn rules() -> BlobRules {
        BlobRules {
            max_blob_bytes: 10 * FULL,
            max_recipients: 3,
            default_ttl_secs: 100,
            max_ttl_secs: 200,
            quota_bytes: 20 * FULL,
        }
    }

    fn new(size: u64, recipients: &[MailboxId], ttl: u32) -> Result<NewBlob, RelayError> {
        rules().new_blob(
            1000,
            m(1),
            BlobId::from_bytes([7; 16]),
            size,
            recipients.to_vec(),
            ttl,
        )
    }

    #[test]
    fn create_checks_size_recipients_and_ttl() {
        assert!(matches!(new(0, &[m(2)], 0), Err(RelayError::TooLarge(_))));
        assert!(matches!(
            new(10 * FULL + 1, &[m(2)], 0),
            Err(RelayError::TooLarge(_))
        ));
        assert!(new(10 * FULL, &[m(2)], 0).is_ok());
        assert!(matches!(new(5, &[], 0), Err(RelayError::InvalidRequest(_))));
        assert!(matches!(
            new(5, &[m(2), m(3), m(4), m(5)], 0),
            Err(RelayError::InvalidRequest(_))
        ));
        assert!(matches!(
            new(5, &[m(2), m(2)], 0),
            Err(RelayError::InvalidRequest(_))
        ));
        assert_eq!(new(5, &[m(2)], 0).unwrap().record.expires_at, 1100);
        assert_eq!(new(5, &[m(2)], 50).unwrap().record.expires_at, 1050);
        assert_eq!(new(5, &[m(2)], 9999).unwrap().record.expires_at, 1200);
        let blob = new(5, &[m(2), m(3)], 0).unwrap();
        assert_eq!(blob.record.remaining, vec![m(2), m(3)]);
        assert!(!blob.record.complete);
    }

    #[test]
    fn claims_tell_resume_conflict_and_foreign_apart() {
        let stored = new(5, &[m(2)], 0).unwrap().record;
        assert_eq!(stored.claim(&stored.clone()), Claim::Same);
        let mut later = stored.clone();
        later.created_at += 50;
        later.expires_at += 50;
        assert_eq!(stored.claim(&later), Claim::Same, "times do not matter");
        let mut bigger = stored.clone();
        bigger.size = 6;
        assert_eq!(stored.claim(&bigger), Claim::Conflict);
        let mut others = stored.clone();
        others.recipients = vec![m(3)];
        assert_eq!(stored.claim(&others), Claim::Conflict);
        let mut ttl = stored.clone();
        ttl.ttl_secs = 9;
        assert_eq!(stored.claim(&ttl), Claim::Conflict);
        let mut foreign = stored.clone();
        foreign.uploader = m(9);
        assert_eq!(stored.claim(&foreign), Claim::Foreign);
    }

    #[test]
    fn quota_names_the_sender_first_then_recipients() {
        let limit = 100;
        let me = m(1);
        assert_eq!(check_quota(&me, 50, limit, &[(me, 50), (m(2), 50)]), Ok(()));
        assert_eq!(
            check_quota(&me, 51, limit, &[(m(2), 50), (me, 50)]),
            Err(QuotaHolder::Sender)
        );
        assert_eq!(
            check_quota(&me, 51, limit, &[(me, 0), (m(2), 50)]),
            Err(QuotaHolder::Recipient)
        );
        assert_eq!(
            check_quota(&me, u64::MAX, limit, &[(me, 1)]),
            Err(QuotaHolder::Sender),
            "no overflow"
        );
    }

    #[test]
    fn only_the_uploader_is_charged_until_deletion() {
        let record = new(5, &[m(2), m(1), m(3)], 0).unwrap().record;
        assert_eq!(record.charged(), vec![m(1)], "recipients are not charged");
        assert_eq!(record.clone().release(&m(9)), Release::NotHeld);
        let Release::Kept { record, uncharge } = record.release(&m(2)) else {
            panic!("kept")
        };
        assert!(uncharge.is_empty());
        // The uploader as a recipient: releasing does not uncharge it while others remain.
        let Release::Kept { record, uncharge } = record.release(&m(1)) else {
            panic!("kept")
        };
        assert!(uncharge.is_empty());
        assert_eq!(record.clone().release(&m(1)), Release::NotHeld, "twice");
        assert_eq!(
            record.release(&m(3)),
            Release::Deleted {
                uncharge: vec![m(1)]
            }
        );
    }

    #[test]
    fn only_remaining_recipients_download_complete_blobs() {
        let mut record = new(5, &[m(2)], 0).unwrap().record;
        assert!(!record.may_download(&m(2)), "incomplete");
        record.complete = true;
        assert!(record.may_download(&m(2)));
        assert!(
            !record.may_download(&m(1)),
            "the uploader is not a recipient"
        );
    }

    #[test]
    fn cursor_takes_exact_chunks_in_order() {
        let size = 2 * FULL + 7;
        assert!(matches!(
            UploadCursor::start(size, 1, 2),
            Err(RelayError::InvalidRequest(_))
        ));
        let mut cursor = UploadCursor::start(size, 1, 1).unwrap();
        assert_eq!(cursor.offset(), FULL);
        assert!(matches!(
            cursor.accept(7),
            Err(RelayError::InvalidRequest(_))
        ));
        cursor.accept(BLOB_CHUNK_LEN).unwrap();
        assert!(!cursor.is_complete());
        assert!(cursor.accept(BLOB_CHUNK_LEN).is_err(), "the last is short");
        cursor.accept(7).unwrap();
        assert!(cursor.is_complete());
        assert_eq!(cursor.chunks(), 3);
        assert!(cursor.accept(7).is_err(), "past the end");
        let done = UploadCursor::start(size, 3, 3).unwrap();
        assert!(done.is_complete());
        assert_eq!(done.offset(), size);
    }

    #[test]
    fn files_hold_whole_chunks() {
        let size = 2 * FULL + 7;
        assert_eq!(chunks_in_file(size, 0), 0);
        assert_eq!(chunks_in_file(size, FULL - 1), 0);
        assert_eq!(chunks_in_file(size, FULL + 5), 1);
        assert_eq!(chunks_in_file(size, 2 * FULL + 6), 2);
        assert_eq!(chunks_in_file(size, size), 3);
        assert_eq!(file_len_for_chunks(size, 1), FULL);
        assert_eq!(file_len_for_chunks(size, 3), size);
    }
}
