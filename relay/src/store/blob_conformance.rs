//! The blob metadata rules, checked against every store implementation.

use hush_protocol::{BlobId, MailboxId};

use super::{BlobStore, CreateBlobOutcome, RelayStore, ReleaseOutcome};
use crate::blob::{BlobRecord, NewBlob, QuotaHolder};

const QUOTA: u64 = 1000;

fn mailbox(store: &dyn RelayStore, n: u8) -> MailboxId {
    store
        .create_mailbox([n; 32], MailboxId::from_bytes([n; 16]), 0)
        .unwrap()
}

fn blob(
    n: u8,
    uploader: MailboxId,
    recipients: &[MailboxId],
    size: u64,
    expires_at: u64,
) -> NewBlob {
    NewBlob {
        id: BlobId::from_bytes([n; 16]),
        record: BlobRecord {
            uploader,
            size,
            recipients: recipients.to_vec(),
            ttl_secs: 0,
            remaining: recipients.to_vec(),
            created_at: 10,
            expires_at,
            complete: false,
        },
    }
}

pub(super) fn create_is_idempotent_and_guarded(store: &dyn RelayStore) {
    let (a, b, c) = (mailbox(store, 1), mailbox(store, 2), mailbox(store, 3));
    let new = blob(9, a, &[b], 100, 1000);
    assert_eq!(
        store.create_blob(&new, QUOTA).unwrap(),
        CreateBlobOutcome::Created
    );
    assert_eq!(store.blob_count(), 1);
    assert_eq!(store.blob(&new.id).unwrap(), Some(new.record.clone()));
    let mut retry = new.clone();
    retry.record.created_at = 20; // a later retry: times differ, values do not
    assert_eq!(
        store.create_blob(&retry, QUOTA).unwrap(),
        CreateBlobOutcome::Existing(new.record.clone())
    );
    let mut other = new.clone();
    other.record.size = 101;
    assert_eq!(
        store.create_blob(&other, QUOTA).unwrap(),
        CreateBlobOutcome::Conflict
    );
    let mut foreign = new.clone();
    foreign.record.uploader = c;
    assert_eq!(
        store.create_blob(&foreign, QUOTA).unwrap(),
        CreateBlobOutcome::Foreign
    );
    assert_eq!(store.blob_count(), 1);
    assert_eq!(store.blob_usage(&a).unwrap(), 100, "charged once");
    let ghost = blob(8, a, &[MailboxId::from_bytes([0xee; 16])], 10, 1000);
    assert_eq!(
        store.create_blob(&ghost, QUOTA).unwrap(),
        CreateBlobOutcome::UnknownMailbox
    );
    assert_eq!(store.blob(&ghost.id).unwrap(), None);
    assert_eq!(store.blob_usage(&a).unwrap(), 100);
}

pub(super) fn quota_counts_the_uploader_only(store: &dyn RelayStore) {
    let (a, b, c) = (mailbox(store, 1), mailbox(store, 2), mailbox(store, 3));
    store
        .create_blob(&blob(1, a, &[b], 600, 1000), QUOTA)
        .unwrap();
    assert_eq!(store.blob_usage(&a).unwrap(), 600);
    assert_eq!(
        store.blob_usage(&b).unwrap(),
        0,
        "recipients are not charged"
    );
    assert_eq!(store.blob_usage(&c).unwrap(), 0);
    // c uploading 500 to b fits (c's own quota), however much waits for b.
    assert_eq!(
        store
            .create_blob(&blob(2, c, &[b], 500, 1000), QUOTA)
            .unwrap(),
        CreateBlobOutcome::Created
    );
    // a uploading to c: a's own quota is full.
    assert_eq!(
        store
            .create_blob(&blob(3, a, &[c], 500, 1000), QUOTA)
            .unwrap(),
        CreateBlobOutcome::QuotaExceeded(QuotaHolder::Sender)
    );
    assert_eq!(
        store.blob_usage(&a).unwrap(),
        600,
        "nothing charged on refusal"
    );
    assert_eq!(store.blob_count(), 2);
    // Exactly at the limit fits.
    assert_eq!(
        store
            .create_blob(&blob(4, a, &[b], 400, 1000), QUOTA)
            .unwrap(),
        CreateBlobOutcome::Created
    );
    assert_eq!(store.blob_usage(&a).unwrap(), 1000);
}

pub(super) fn last_release_deletes_and_uncharges(store: &dyn RelayStore) {
    let (a, b, c, d) = (
        mailbox(store, 1),
        mailbox(store, 2),
        mailbox(store, 3),
        mailbox(store, 4),
    );
    let new = blob(9, a, &[b, c], 100, 1000);
    let id = new.id;
    store.create_blob(&new, QUOTA).unwrap();
    assert!(store.complete_blob(&id).unwrap());
    assert!(store.blob(&id).unwrap().unwrap().complete);
    assert_eq!(
        store.release_blob(&id, &d).unwrap(),
        ReleaseOutcome::NotHeld
    );
    assert_eq!(
        store.release_blob(&id, &a).unwrap(),
        ReleaseOutcome::NotHeld,
        "uploader"
    );
    assert_eq!(
        store.release_blob(&id, &b).unwrap(),
        ReleaseOutcome::Released { deleted: false }
    );
    assert_eq!(store.blob_usage(&b).unwrap(), 0);
    assert_eq!(store.blob_usage(&a).unwrap(), 100, "charged until deleted");
    assert_eq!(
        store.release_blob(&id, &b).unwrap(),
        ReleaseOutcome::NotHeld,
        "twice"
    );
    assert_eq!(store.blob(&id).unwrap().unwrap().remaining, vec![c]);
    assert_eq!(
        store.release_blob(&id, &c).unwrap(),
        ReleaseOutcome::Released { deleted: true }
    );
    assert_eq!(store.blob(&id).unwrap(), None);
    assert_eq!(store.blob_count(), 0);
    for m in [a, b, c] {
        assert_eq!(store.blob_usage(&m).unwrap(), 0);
    }
    assert!(!store.complete_blob(&id).unwrap(), "gone");
    assert!(store.expired_blobs(u64::MAX, 10).unwrap().is_empty());
    assert_eq!(
        store
            .release_blob(&BlobId::from_bytes([0xee; 16]), &b)
            .unwrap(),
        ReleaseOutcome::NotHeld
    );
}

pub(super) fn expiry_lists_due_blobs_and_remove_uncharges(store: &dyn RelayStore) {
    let (a, b) = (mailbox(store, 1), mailbox(store, 2));
    store
        .create_blob(&blob(1, a, &[b], 10, 500), QUOTA)
        .unwrap();
    store
        .create_blob(&blob(2, a, &[b], 20, 300), QUOTA)
        .unwrap();
    store
        .create_blob(&blob(3, a, &[b], 30, 900), QUOTA)
        .unwrap();
    assert!(store.expired_blobs(299, 10).unwrap().is_empty());
    let ids = |n: &[u8]| {
        n.iter()
            .map(|n| BlobId::from_bytes([*n; 16]))
            .collect::<Vec<_>>()
    };
    assert_eq!(store.expired_blobs(500, 10).unwrap(), ids(&[2, 1]));
    assert_eq!(store.expired_blobs(500, 1).unwrap(), ids(&[2]));
    assert!(store.remove_blob(&ids(&[2])[0]).unwrap());
    assert!(!store.remove_blob(&ids(&[2])[0]).unwrap(), "twice");
    assert_eq!(store.expired_blobs(500, 10).unwrap(), ids(&[1]));
    assert_eq!(store.blob_usage(&a).unwrap(), 40);
    assert_eq!(store.blob_usage(&b).unwrap(), 0);
    let mut all = store.blob_ids().unwrap();
    all.sort();
    assert_eq!(all, ids(&[1, 3]));
    assert_eq!(store.blob_count(), 2);
}

macro_rules! blob_conformance_tests {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[test] fn $name() { super::$name(&crate::store::MemoryStore::new()); })*
        }
        mod sled {
            $(#[test] fn $name() {
                let dir = tempfile::tempdir().unwrap();
                super::$name(&crate::store::SledStore::open(dir.path()).unwrap());
            })*
        }
    };
}

blob_conformance_tests!(
    create_is_idempotent_and_guarded,
    quota_counts_the_uploader_only,
    last_release_deletes_and_uncharges,
    expiry_lists_due_blobs_and_remove_uncharges,
);

#[test]
fn sled_keeps_blobs_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let new = {
        let store = crate::store::SledStore::open(dir.path()).unwrap();
        let (a, b) = (mailbox(&store, 1), mailbox(&store, 2));
        let new = blob(9, a, &[b], 100, 1000);
        store.create_blob(&new, QUOTA).unwrap();
        store.complete_blob(&new.id).unwrap();
        crate::store::EnvelopeStore::flush(&store).unwrap();
        new
    };
    let store = crate::store::SledStore::open(dir.path()).unwrap();
    assert_eq!(store.blob_count(), 1);
    let record = store.blob(&new.id).unwrap().unwrap();
    assert!(record.complete);
    assert_eq!(store.blob_usage(&new.record.uploader).unwrap(), 100);
    assert_eq!(store.expired_blobs(1000, 10).unwrap(), vec![new.id]);
}
