//! Storage: what the relay keeps, behind three small traits.
//!
//! [`EnvelopeStore`] holds envelopes and the per-mailbox queues that point at them;
//! [`Directory`] holds mailboxes, prekey bundles and usernames; [`BlobStore`] holds blob
//! metadata and per-mailbox blob usage (the blob bytes are files, see
//! [`crate::blob_files`]). Each has a durable implementation on sled ([`SledStore`]) and an
//! in-memory one ([`MemoryStore`]) for tests; both pass the same conformance tests.
//!
//! The store applies the storage rules atomically (the quota check and the insert are one step;
//! an ack and, for the last recipient, the delete are one step), so the rules hold under any
//! interleaving of requests. Durability is separate: [`EnvelopeStore::flush`] is the barrier the
//! group committer calls before the relay answers `Stored`.

mod memory;
mod sled_store;

#[cfg(test)]
mod blob_conformance;
#[cfg(test)]
mod conformance;

use hush_protocol::{
    BlobId, Delivery, EnvelopeId, MailboxId, PrekeyBundle, PrekeyUpload, UsernameRecord,
};

use crate::blob::{BlobRecord, NewBlob, QuotaHolder};

pub use memory::MemoryStore;
pub use sled_store::SledStore;

/// A storage failure. Rule outcomes (quota, conflicts) are not errors: they are the `Outcome`
/// enums below.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The storage engine failed (I/O error, disk full, …).
    #[error("storage failure: {0}")]
    Backend(String),
    /// Stored bytes could not be decoded: the data dir is damaged or from another version.
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
}

/// Per-mailbox limits, checked atomically with each insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Most envelopes waiting in one mailbox.
    pub max_envelopes: u64,
    /// Most payload bytes waiting in one mailbox.
    pub max_bytes: u64,
}

/// An envelope the relay has accepted for storage.
#[derive(Clone, PartialEq, Eq)]
pub struct NewEnvelope {
    /// Sender-chosen id.
    pub id: EnvelopeId,
    /// Distinct recipient mailboxes.
    pub recipients: Vec<MailboxId>,
    /// Opaque payload.
    pub payload: Vec<u8>,
    /// Unix seconds when stored.
    pub stored_at: u64,
    /// Unix seconds after which it is deleted even if not every recipient acknowledged it.
    pub expires_at: u64,
}

impl std::fmt::Debug for NewEnvelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewEnvelope")
            .field("recipients", &self.recipients.len())
            .field("payload_len", &self.payload.len())
            .field("stored_at", &self.stored_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What [`EnvelopeStore::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored now, one copy for all recipients.
    Stored,
    /// The same envelope was stored before (or was stored and already fully delivered):
    /// nothing changed.
    AlreadyStored,
    /// An envelope with this id but other contents exists; nothing changed.
    Conflict,
    /// A recipient has no mailbox here; nothing changed.
    UnknownMailbox,
    /// A recipient's quota would be exceeded; nothing changed.
    QuotaExceeded,
}

/// What [`EnvelopeStore::ack`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// Removed from the mailbox's queue; `deleted` when that was the last recipient and the
    /// envelope itself is gone.
    Removed {
        /// The envelope was deleted with this ack.
        deleted: bool,
    },
    /// The envelope is not in this mailbox's queue (unknown, foreign, or already acked).
    NotQueued,
}

/// An envelope waiting in a mailbox's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEnvelope {
    /// Arrival order within the relay.
    pub seq: u64,
    /// What to deliver.
    pub delivery: Delivery,
}

/// A queue entry without its payload: enough to decide what to deliver next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueEntry {
    /// Arrival order within the relay.
    pub seq: u64,
    /// The envelope.
    pub id: EnvelopeId,
}

/// Totals over everything stored (for the pending gauges).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PendingTotals {
    /// Envelopes stored and not yet deleted.
    pub envelopes: u64,
    /// Their payload bytes (one copy each).
    pub bytes: u64,
}

/// One mailbox's waiting envelopes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailboxUsage {
    /// Envelopes in the queue.
    pub envelopes: u64,
    /// Their payload bytes.
    pub bytes: u64,
}

/// What one sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepOutcome {
    /// Envelopes deleted because their TTL ran out.
    pub expired: u64,
    /// Records of fully delivered ids that were kept for retry detection and are now forgotten.
    pub forgotten: u64,
}

/// The first queue sequence number after the cursor `after` of
/// [`EnvelopeStore::queue_entries`] (`None` when nothing can follow it).
fn first_seq_after(after: Option<u64>) -> Option<u64> {
    match after {
        None => Some(0),
        Some(seq) => seq.checked_add(1),
    }
}

/// Envelopes and per-mailbox queues.
pub trait EnvelopeStore: Send + Sync + 'static {
    /// Stores an envelope once for all its recipients, checking that every recipient exists and
    /// has room under `quota` — all in one atomic step. An id that was fully delivered and is still remembered
    /// (see [`EnvelopeStore::ack`]) is answered [`InsertOutcome::AlreadyStored`].
    fn insert(&self, envelope: NewEnvelope, quota: Quota) -> Result<InsertOutcome, StoreError>;

    /// The first `limit` envelopes in a mailbox's queue, oldest first.
    fn queue(&self, mailbox: &MailboxId, limit: usize) -> Result<Vec<QueuedEnvelope>, StoreError>;

    /// Up to `limit` entries of a mailbox's queue, oldest first, with a sequence number above
    /// `after` (from the head when `None`) — ids only, no payloads, so a delivery window can
    /// look at its queue cheaply on every ack.
    fn queue_entries(
        &self,
        mailbox: &MailboxId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<QueueEntry>, StoreError>;

    /// What to deliver for a stored envelope; `None` once it is deleted.
    fn delivery(&self, id: &EnvelopeId) -> Result<Option<Delivery>, StoreError>;

    /// Removes an envelope from a mailbox's queue; the last recipient's ack deletes it. The
    /// id is remembered until `remember_until` so that a late retry by the sender is not
    /// stored again.
    fn ack(
        &self,
        mailbox: &MailboxId,
        id: &EnvelopeId,
        remember_until: u64,
    ) -> Result<AckOutcome, StoreError>;

    /// Deletes up to `limit` envelopes whose TTL ended at or before `now`, and forgets
    /// remembered ids whose time is up.
    fn sweep(&self, now: u64, limit: usize) -> Result<SweepOutcome, StoreError>;

    /// A mailbox's waiting envelopes.
    fn usage(&self, mailbox: &MailboxId) -> Result<MailboxUsage, StoreError>;

    /// Whether the envelope is still stored (for any recipient).
    fn contains(&self, id: &EnvelopeId) -> Result<bool, StoreError>;

    /// Totals over everything stored.
    fn pending(&self) -> PendingTotals;

    /// Durability barrier: when it returns `Ok`, everything written before the call survives
    /// a crash of the process or the machine.
    fn flush(&self) -> Result<(), StoreError>;
}

/// What [`Directory::claim_username`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The mailbox now owns the name (any name it had before is released).
    Claimed,
    /// Another mailbox owns it.
    Taken,
}

/// Mailboxes, prekey bundles and usernames.
pub trait Directory: Send + Sync + 'static {
    /// Creates a mailbox owned by `key` with id `new_id`, or returns the mailbox `key`
    /// already owns.
    fn create_mailbox(
        &self,
        key: [u8; 32],
        new_id: MailboxId,
        now: u64,
    ) -> Result<MailboxId, StoreError>;

    /// The Ed25519 key that owns a mailbox, or `None` if it does not exist.
    fn mailbox_key(&self, mailbox: &MailboxId) -> Result<Option<[u8; 32]>, StoreError>;

    /// Replaces the identity and signed prekey, adds one-time prekeys (keeping at most
    /// `max_stored`, dropping the oldest), and returns how many one-time prekeys remain.
    fn publish_prekeys(
        &self,
        mailbox: &MailboxId,
        upload: PrekeyUpload,
        max_stored: usize,
    ) -> Result<u32, StoreError>;

    /// One-time prekeys left for a mailbox.
    fn prekey_count(&self, mailbox: &MailboxId) -> Result<u32, StoreError>;

    /// A mailbox's bundle, removing the one-time prekey it contains (each is handed out once).
    /// `None` if the mailbox has published nothing.
    fn take_prekey_bundle(&self, mailbox: &MailboxId) -> Result<Option<PrekeyBundle>, StoreError>;

    /// Claims a normalised username for a mailbox.
    fn claim_username(
        &self,
        mailbox: &MailboxId,
        username: &str,
        identity_key: [u8; 32],
    ) -> Result<ClaimOutcome, StoreError>;

    /// Resolves a normalised username.
    fn lookup_username(&self, username: &str) -> Result<Option<UsernameRecord>, StoreError>;
}

/// What [`BlobStore::create_blob`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateBlobOutcome {
    /// Created now; every charged mailbox's usage grew by its size.
    Created,
    /// The same uploader created it before with the same values: this is it, unchanged.
    Existing(BlobRecord),
    /// The same uploader created it before with other values; nothing changed.
    Conflict,
    /// Another mailbox created a blob with this id; nothing changed.
    Foreign,
    /// A recipient has no mailbox here; nothing changed.
    UnknownMailbox,
    /// A blob quota would be exceeded; nothing changed.
    QuotaExceeded(QuotaHolder),
}

/// What [`BlobStore::release_blob`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// The mailbox is no longer a recipient; `deleted` when it was the last and the metadata
    /// is gone (the caller deletes the file).
    Released {
        /// The blob's metadata was deleted with this release.
        deleted: bool,
    },
    /// No such blob, or this mailbox is not (or no longer) one of its recipients.
    NotHeld,
}

/// Blob metadata and per-mailbox blob usage. The bytes live in files, not here.
pub trait BlobStore: Send + Sync + 'static {
    /// Creates a blob's metadata, checking that every recipient exists and that the blob fits
    /// the blob quota (`quota_bytes`) of every mailbox it is charged to (see
    /// [`BlobRecord::charged`]) — or, if the id exists, compares with it
    /// ([`BlobRecord::claim`]). One atomic step.
    fn create_blob(
        &self,
        blob: &NewBlob,
        quota_bytes: u64,
    ) -> Result<CreateBlobOutcome, StoreError>;

    /// A blob's metadata.
    fn blob(&self, id: &BlobId) -> Result<Option<BlobRecord>, StoreError>;

    /// Marks a blob complete; `false` if it no longer exists.
    fn complete_blob(&self, id: &BlobId) -> Result<bool, StoreError>;

    /// Removes `mailbox` from a blob's remaining recipients, uncharging it; the last one
    /// deletes the metadata and uncharges everyone. One atomic step.
    fn release_blob(&self, id: &BlobId, mailbox: &MailboxId) -> Result<ReleaseOutcome, StoreError>;

    /// Deletes a blob's metadata (expiry, or a file lost on disk) and uncharges everyone;
    /// `false` if it did not exist.
    fn remove_blob(&self, id: &BlobId) -> Result<bool, StoreError>;

    /// Up to `limit` blobs whose TTL ended at or before `now`, soonest first.
    fn expired_blobs(&self, now: u64, limit: usize) -> Result<Vec<BlobId>, StoreError>;

    /// Every blob's id (for reconciling with the files at start-up).
    fn blob_ids(&self) -> Result<Vec<BlobId>, StoreError>;

    /// Bytes of blobs charged to a mailbox.
    fn blob_usage(&self, mailbox: &MailboxId) -> Result<u64, StoreError>;

    /// How many blobs there are.
    fn blob_count(&self) -> u64;
}

/// Everything the relay needs from storage.
pub trait RelayStore: EnvelopeStore + Directory + BlobStore {}

impl<T: EnvelopeStore + Directory + BlobStore> RelayStore for T {}
