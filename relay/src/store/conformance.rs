//! The storage rules, checked against every store implementation.

use hush_protocol::{
    EnvelopeId, IdentityKeys, MailboxId, OneTimePrekey, PrekeyUpload, Signature, SignedPrekey,
};

use super::{
    AckOutcome, ClaimOutcome, Directory, EnvelopeStore, InsertOutcome, MailboxUsage, NewEnvelope,
    PendingTotals, Quota, RelayStore,
};

const QUOTA: Quota = Quota {
    max_envelopes: 100,
    max_bytes: 1 << 20,
};

fn mailbox(store: &dyn RelayStore, n: u8) -> MailboxId {
    store
        .create_mailbox([n; 32], MailboxId::from_bytes([n; 16]), 0)
        .unwrap()
}

fn envelope(n: u8, recipients: &[MailboxId], len: usize, expires_at: u64) -> NewEnvelope {
    NewEnvelope {
        id: EnvelopeId::from_bytes([n; 16]),
        recipients: recipients.to_vec(),
        payload: vec![n; len],
        stored_at: 10,
        expires_at,
    }
}

fn queued_ids(store: &dyn RelayStore, mailbox: &MailboxId) -> Vec<EnvelopeId> {
    store
        .queue(mailbox, 1000)
        .unwrap()
        .into_iter()
        .map(|q| q.delivery.id)
        .collect()
}

pub(super) fn last_ack_deletes(store: &dyn RelayStore) {
    let (a, b, c) = (mailbox(store, 1), mailbox(store, 2), mailbox(store, 3));
    let env = envelope(9, &[a, b, c], 100, 1000);
    let id = env.id;
    assert_eq!(store.insert(env, QUOTA).unwrap(), InsertOutcome::Stored);
    assert_eq!(
        store.pending(),
        PendingTotals {
            envelopes: 1,
            bytes: 100
        },
        "one copy for three"
    );
    for m in [a, b, c] {
        assert_eq!(queued_ids(store, &m), vec![id]);
        assert_eq!(
            store.usage(&m).unwrap(),
            MailboxUsage {
                envelopes: 1,
                bytes: 100
            }
        );
    }
    assert_eq!(
        store.ack(&a, &id, 50).unwrap(),
        AckOutcome::Removed { deleted: false }
    );
    assert!(store.contains(&id).unwrap());
    assert!(queued_ids(store, &a).is_empty());
    assert_eq!(
        store.ack(&b, &id, 50).unwrap(),
        AckOutcome::Removed { deleted: false }
    );
    assert!(store.contains(&id).unwrap());
    assert_eq!(
        store.ack(&c, &id, 50).unwrap(),
        AckOutcome::Removed { deleted: true }
    );
    assert!(!store.contains(&id).unwrap());
    assert_eq!(store.pending(), PendingTotals::default());
    for m in [a, b, c] {
        assert_eq!(store.usage(&m).unwrap(), MailboxUsage::default());
    }
}

pub(super) fn ack_of_unknown_or_foreign_is_refused(store: &dyn RelayStore) {
    let (a, b, outsider) = (mailbox(store, 1), mailbox(store, 2), mailbox(store, 3));
    let env = envelope(9, &[a, b], 10, 1000);
    let id = env.id;
    store.insert(env, QUOTA).unwrap();
    assert_eq!(
        store.ack(&outsider, &id, 50).unwrap(),
        AckOutcome::NotQueued,
        "foreign"
    );
    let unknown = EnvelopeId::from_bytes([0xee; 16]);
    assert_eq!(
        store.ack(&a, &unknown, 50).unwrap(),
        AckOutcome::NotQueued,
        "unknown"
    );
    assert_eq!(
        store.ack(&a, &id, 50).unwrap(),
        AckOutcome::Removed { deleted: false }
    );
    assert_eq!(
        store.ack(&a, &id, 50).unwrap(),
        AckOutcome::NotQueued,
        "twice"
    );
    assert!(store.contains(&id).unwrap(), "b still needs it");
}

pub(super) fn retries_are_idempotent(store: &dyn RelayStore) {
    let a = mailbox(store, 1);
    let env = envelope(9, &[a], 10, 1000);
    let id = env.id;
    assert_eq!(
        store.insert(env.clone(), QUOTA).unwrap(),
        InsertOutcome::Stored
    );
    assert_eq!(
        store.insert(env.clone(), QUOTA).unwrap(),
        InsertOutcome::AlreadyStored
    );
    assert_eq!(queued_ids(store, &a), vec![id], "stored once");
    let mut other = env.clone();
    other.payload = b"different".to_vec();
    assert_eq!(store.insert(other, QUOTA).unwrap(), InsertOutcome::Conflict);
    // After full delivery a late retry is still recognised, until the id is forgotten.
    store.ack(&a, &id, 500).unwrap();
    assert_eq!(
        store.insert(env.clone(), QUOTA).unwrap(),
        InsertOutcome::AlreadyStored
    );
    assert!(queued_ids(store, &a).is_empty());
    assert_eq!(store.sweep(499, 100).unwrap().forgotten, 0);
    assert_eq!(store.sweep(500, 100).unwrap().forgotten, 1);
    assert_eq!(store.insert(env, QUOTA).unwrap(), InsertOutcome::Stored);
}

pub(super) fn quota_counts_and_bytes(store: &dyn RelayStore) {
    let (a, b) = (mailbox(store, 1), mailbox(store, 2));
    let quota = Quota {
        max_envelopes: 2,
        max_bytes: 250,
    };
    assert_eq!(
        store
            .insert(envelope(1, &[a, b], 100, 1000), quota)
            .unwrap(),
        InsertOutcome::Stored
    );
    assert_eq!(
        store.insert(envelope(2, &[a], 100, 1000), quota).unwrap(),
        InsertOutcome::Stored
    );
    // a is at 2 envelopes: refused for everyone, nothing stored for b either.
    assert_eq!(
        store.insert(envelope(3, &[b, a], 10, 1000), quota).unwrap(),
        InsertOutcome::QuotaExceeded
    );
    assert_eq!(queued_ids(store, &b).len(), 1);
    // b has room by count but not by bytes.
    assert_eq!(
        store.insert(envelope(4, &[b], 151, 1000), quota).unwrap(),
        InsertOutcome::QuotaExceeded
    );
    assert_eq!(
        store.insert(envelope(5, &[b], 150, 1000), quota).unwrap(),
        InsertOutcome::Stored
    );
    // Acks free the quota.
    store.ack(&a, &EnvelopeId::from_bytes([2; 16]), 50).unwrap();
    assert_eq!(
        store.insert(envelope(6, &[a], 10, 1000), quota).unwrap(),
        InsertOutcome::Stored
    );
}

pub(super) fn unknown_recipient_stores_nothing(store: &dyn RelayStore) {
    let a = mailbox(store, 1);
    let ghost = MailboxId::from_bytes([0x77; 16]);
    let env = envelope(9, &[a, ghost], 10, 1000);
    assert_eq!(
        store.insert(env, QUOTA).unwrap(),
        InsertOutcome::UnknownMailbox
    );
    assert!(queued_ids(store, &a).is_empty());
    assert_eq!(store.pending(), PendingTotals::default());
}

pub(super) fn queue_is_in_arrival_order(store: &dyn RelayStore) {
    let a = mailbox(store, 1);
    let order = [5u8, 3, 9, 1, 7];
    for n in order {
        store.insert(envelope(n, &[a], 10, 1000), QUOTA).unwrap();
    }
    let expected: Vec<_> = order
        .iter()
        .map(|n| EnvelopeId::from_bytes([*n; 16]))
        .collect();
    assert_eq!(queued_ids(store, &a), expected);
    assert_eq!(store.queue(&a, 2).unwrap().len(), 2, "limit");
    let seqs: Vec<u64> = store.queue(&a, 10).unwrap().iter().map(|q| q.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}

pub(super) fn queue_entries_page_without_payloads(store: &dyn RelayStore) {
    let (a, b) = (mailbox(store, 1), mailbox(store, 2));
    for n in [4u8, 2, 6] {
        store.insert(envelope(n, &[a], 10, 1000), QUOTA).unwrap();
    }
    store.insert(envelope(8, &[b], 10, 1000), QUOTA).unwrap();
    let all = store.queue_entries(&a, None, 10).unwrap();
    let ids: Vec<_> = all.iter().map(|e| e.id).collect();
    assert_eq!(ids, queued_ids(store, &a), "same order as the full queue");
    let seqs: Vec<u64> = store.queue(&a, 10).unwrap().iter().map(|q| q.seq).collect();
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs);
    let after_first = store.queue_entries(&a, Some(all[0].seq), 10).unwrap();
    assert_eq!(after_first, all[1..].to_vec(), "after a sequence number");
    assert_eq!(
        store.queue_entries(&a, None, 2).unwrap(),
        all[..2].to_vec(),
        "limit"
    );
    assert!(
        store
            .queue_entries(&a, Some(all[2].seq), 10)
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .queue_entries(&a, Some(u64::MAX), 10)
            .unwrap()
            .is_empty()
    );
    let delivery = store.delivery(&all[0].id).unwrap().unwrap();
    assert_eq!((delivery.id, delivery.stored_at), (all[0].id, 10));
    assert_eq!(delivery.payload, vec![4u8; 10]);
    store.ack(&a, &all[0].id, 50).unwrap();
    assert_eq!(
        store.delivery(&all[0].id).unwrap(),
        None,
        "deleted by the last ack"
    );
}

pub(super) fn ttl_expiry(store: &dyn RelayStore) {
    let (a, b) = (mailbox(store, 1), mailbox(store, 2));
    store.insert(envelope(1, &[a, b], 10, 100), QUOTA).unwrap();
    store.insert(envelope(2, &[a], 20, 200), QUOTA).unwrap();
    store.ack(&a, &EnvelopeId::from_bytes([1; 16]), 50).unwrap();
    assert_eq!(store.sweep(99, 100).unwrap().expired, 0);
    assert_eq!(store.sweep(100, 100).unwrap().expired, 1);
    assert!(!store.contains(&EnvelopeId::from_bytes([1; 16])).unwrap());
    assert!(queued_ids(store, &b).is_empty());
    assert_eq!(store.usage(&b).unwrap(), MailboxUsage::default());
    assert_eq!(
        store.pending(),
        PendingTotals {
            envelopes: 1,
            bytes: 20
        }
    );
    assert_eq!(
        store.ack(&b, &EnvelopeId::from_bytes([1; 16]), 50).unwrap(),
        AckOutcome::NotQueued
    );
    assert_eq!(store.sweep(1000, 100).unwrap().expired, 1);
    assert_eq!(store.pending(), PendingTotals::default());
    assert!(queued_ids(store, &a).is_empty());
}

pub(super) fn mailboxes_are_one_per_key(store: &dyn RelayStore) {
    let first = store
        .create_mailbox([1; 32], MailboxId::from_bytes([1; 16]), 0)
        .unwrap();
    let again = store
        .create_mailbox([1; 32], MailboxId::from_bytes([2; 16]), 0)
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(store.mailbox_key(&first).unwrap(), Some([1; 32]));
    assert_eq!(
        store.mailbox_key(&MailboxId::from_bytes([2; 16])).unwrap(),
        None
    );
}

fn upload(signed_id: u32, one_time: std::ops::Range<u32>) -> PrekeyUpload {
    PrekeyUpload {
        identity: IdentityKeys {
            signing: [1; 32],
            dh: [2; 32],
            dh_signature: Signature([3; 64]),
        },
        signed_prekey: SignedPrekey {
            id: signed_id,
            public: [4; 32],
            signature: Signature([5; 64]),
        },
        one_time: one_time
            .map(|id| OneTimePrekey {
                id,
                public: [6; 32],
            })
            .collect(),
    }
}

pub(super) fn prekeys_are_handed_out_once(store: &dyn RelayStore) {
    let a = mailbox(store, 1);
    assert_eq!(store.take_prekey_bundle(&a).unwrap(), None);
    assert_eq!(store.publish_prekeys(&a, upload(1, 0..3), 1000).unwrap(), 3);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let bundle = store.take_prekey_bundle(&a).unwrap().unwrap();
        seen.push(bundle.one_time.unwrap().id);
    }
    assert_eq!(seen, vec![0, 1, 2], "oldest first, each once");
    let empty = store.take_prekey_bundle(&a).unwrap().unwrap();
    assert_eq!(
        empty.one_time, None,
        "bundle without a one-time prekey once they run out"
    );
    assert_eq!(store.prekey_count(&a).unwrap(), 0);
    // Rotation replaces the signed prekey; the store keeps at most max_stored one-time keys.
    assert_eq!(store.publish_prekeys(&a, upload(2, 10..20), 5).unwrap(), 5);
    let bundle = store.take_prekey_bundle(&a).unwrap().unwrap();
    assert_eq!(bundle.signed_prekey.id, 2);
    assert_eq!(bundle.one_time.unwrap().id, 15, "the oldest were dropped");
    assert_eq!(store.prekey_count(&a).unwrap(), 4);
}

pub(super) fn usernames_are_unique(store: &dyn RelayStore) {
    let (a, b) = (mailbox(store, 1), mailbox(store, 2));
    assert_eq!(
        store.claim_username(&a, "alice", [1; 32]).unwrap(),
        ClaimOutcome::Claimed
    );
    assert_eq!(
        store.claim_username(&b, "alice", [2; 32]).unwrap(),
        ClaimOutcome::Taken
    );
    let found = store.lookup_username("alice").unwrap().unwrap();
    assert_eq!((found.mailbox, found.identity_key), (a, [1; 32]));
    // Renaming releases the old name.
    assert_eq!(
        store.claim_username(&a, "alice2", [1; 32]).unwrap(),
        ClaimOutcome::Claimed
    );
    assert_eq!(store.lookup_username("alice").unwrap(), None);
    assert_eq!(
        store.claim_username(&b, "alice", [2; 32]).unwrap(),
        ClaimOutcome::Claimed
    );
    assert_eq!(store.lookup_username("nobody").unwrap(), None);
}

macro_rules! conformance_tests {
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

conformance_tests!(
    last_ack_deletes,
    ack_of_unknown_or_foreign_is_refused,
    retries_are_idempotent,
    quota_counts_and_bytes,
    unknown_recipient_stores_nothing,
    queue_is_in_arrival_order,
    queue_entries_page_without_payloads,
    ttl_expiry,
    mailboxes_are_one_per_key,
    prekeys_are_handed_out_once,
    usernames_are_unique,
);

#[test]
fn sled_keeps_everything_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (a, id) = {
        let store = crate::store::SledStore::open(dir.path()).unwrap();
        let a = mailbox(&store, 1);
        let b = mailbox(&store, 2);
        let env = envelope(9, &[a, b], 100, 1000);
        let id = env.id;
        store.insert(env, QUOTA).unwrap();
        store.ack(&b, &id, 50).unwrap();
        store.flush().unwrap();
        (a, id)
    };
    let store = crate::store::SledStore::open(dir.path()).unwrap();
    assert_eq!(
        store.pending(),
        PendingTotals {
            envelopes: 1,
            bytes: 100
        }
    );
    assert_eq!(queued_ids(&store, &a), vec![id]);
    assert_eq!(store.mailbox_key(&a).unwrap(), Some([1; 32]));
    assert_eq!(
        store.ack(&a, &id, 50).unwrap(),
        AckOutcome::Removed { deleted: true }
    );
}
