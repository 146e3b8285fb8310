//! The store-and-forward rules, without I/O: what to do with a send, an ack, a sweep.
//!
//! [`Mailroom`] takes the current time as an argument and returns what happened as data; the
//! async shell ([`crate::connection`]) only carries frames in and out, waits for durability and
//! wakes subscribers. That makes every rule testable in memory and deterministically.

use std::collections::HashSet;
use std::sync::Arc;

use hush_protocol::{Delivery, Envelope, EnvelopeId, MailboxId};

use crate::config::Config;
use crate::error::RelayError;
use crate::store::{AckOutcome, InsertOutcome, NewEnvelope, Quota, RelayStore, SweepOutcome};

/// The rules' parameters, taken from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Largest payload.
    pub max_envelope_bytes: usize,
    /// Most recipients.
    pub max_recipients: usize,
    /// TTL when the sender asks for none.
    pub default_ttl_secs: u64,
    /// Longest TTL.
    pub max_ttl_secs: u64,
    /// How long fully delivered ids are remembered.
    pub remember_delivered_secs: u64,
    /// Per-mailbox quota.
    pub quota: Quota,
}

impl Rules {
    /// The rules a configuration sets.
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_envelope_bytes: config.limits.max_envelope_bytes,
            max_recipients: config.limits.max_recipients,
            default_ttl_secs: config.retention.default_ttl_secs,
            max_ttl_secs: config.retention.max_ttl_secs,
            remember_delivered_secs: config.retention.remember_delivered_secs,
            quota: Quota {
                max_envelopes: config.limits.mailbox_max_envelopes,
                max_bytes: config.limits.mailbox_max_bytes,
            },
        }
    }
}

/// What the relay must do with an accepted envelope.
#[derive(Debug)]
pub enum Accepted {
    /// Store it; answer `Stored` once durable, then wake these recipients.
    Stored {
        /// Recipients to wake (their queues have a new entry).
        recipients: Vec<MailboxId>,
        /// Whether this call stored it (false: a retry of a stored envelope).
        newly_stored: bool,
    },
    /// Push it to whichever of these recipients are connected; store nothing.
    Ephemeral {
        /// Who to push to.
        recipients: Vec<MailboxId>,
        /// What to push.
        delivery: Delivery,
    },
}

/// The rules, over a store.
#[derive(Clone)]
pub struct Mailroom {
    store: Arc<dyn RelayStore>,
    rules: Rules,
}

impl Mailroom {
    /// Rules over a store.
    pub fn new(store: Arc<dyn RelayStore>, rules: Rules) -> Self {
        Self { store, rules }
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn RelayStore> {
        &self.store
    }

    /// The rules in force.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Checks an envelope and stores it (or, if ephemeral, says whom to push it to).
    pub fn send(&self, now: u64, envelope: Envelope) -> Result<Accepted, RelayError> {
        if envelope.payload.len() > self.rules.max_envelope_bytes {
            return Err(RelayError::TooLarge(format!(
                "envelope payload of {} bytes is over this relay's {}-byte limit; send it as an attachment",
                envelope.payload.len(),
                self.rules.max_envelope_bytes
            )));
        }
        if envelope.recipients.is_empty() {
            return Err(RelayError::InvalidRequest(
                "an envelope needs a recipient".into(),
            ));
        }
        if envelope.recipients.len() > self.rules.max_recipients {
            return Err(RelayError::InvalidRequest(format!(
                "at most {} recipients per envelope",
                self.rules.max_recipients
            )));
        }
        let mut seen = HashSet::with_capacity(envelope.recipients.len());
        if !envelope.recipients.iter().all(|r| seen.insert(*r)) {
            return Err(RelayError::InvalidRequest(
                "a recipient is named twice".into(),
            ));
        }
        if envelope.ephemeral {
            for recipient in &envelope.recipients {
                if self.store.mailbox_key(recipient)?.is_none() {
                    return Err(RelayError::UnknownMailbox);
                }
            }
            return Ok(Accepted::Ephemeral {
                recipients: envelope.recipients,
                delivery: Delivery {
                    id: envelope.id,
                    stored_at: now,
                    payload: envelope.payload,
                },
            });
        }
        let ttl = match u64::from(envelope.ttl_secs) {
            0 => self.rules.default_ttl_secs,
            asked => asked.min(self.rules.max_ttl_secs),
        };
        let recipients = envelope.recipients.clone();
        let new = NewEnvelope {
            id: envelope.id,
            recipients: envelope.recipients,
            payload: envelope.payload,
            stored_at: now,
            expires_at: now.saturating_add(ttl),
        };
        match self.store.insert(new, self.rules.quota)? {
            InsertOutcome::Stored => Ok(Accepted::Stored {
                recipients,
                newly_stored: true,
            }),
            InsertOutcome::AlreadyStored => Ok(Accepted::Stored {
                recipients,
                newly_stored: false,
            }),
            InsertOutcome::Conflict => Err(RelayError::Conflict),
            InsertOutcome::UnknownMailbox => Err(RelayError::UnknownMailbox),
            InsertOutcome::QuotaExceeded => Err(RelayError::QuotaExceeded),
        }
    }

    /// Acknowledges one delivery for `mailbox`; returns whether the envelope was deleted.
    pub fn ack(&self, now: u64, mailbox: &MailboxId, id: &EnvelopeId) -> Result<bool, RelayError> {
        let remember_until = now.saturating_add(self.rules.remember_delivered_secs);
        match self.store.ack(mailbox, id, remember_until)? {
            AckOutcome::Removed { deleted } => Ok(deleted),
            AckOutcome::NotQueued => Err(RelayError::UnknownEnvelope),
        }
    }

    /// Deletes what expired at or before `now`, in batches of `batch`.
    pub fn sweep(&self, now: u64, batch: usize) -> Result<SweepOutcome, RelayError> {
        let mut total = SweepOutcome::default();
        loop {
            let outcome = self.store.sweep(now, batch)?;
            total.expired += outcome.expired;
            total.forgotten += outcome.forgotten;
            if outcome.expired + outcome.forgotten < batch as u64 {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Directory, EnvelopeStore, MemoryStore, PendingTotals};

    const NOW: u64 = 1_000_000;

    fn rules() -> Rules {
        Rules {
            max_envelope_bytes: 1000,
            max_recipients: 10,
            default_ttl_secs: 3600,
            max_ttl_secs: 7200,
            remember_delivered_secs: 600,
            quota: Quota {
                max_envelopes: 3,
                max_bytes: 10_000,
            },
        }
    }

    fn setup() -> (Mailroom, Arc<MemoryStore>, Vec<MailboxId>) {
        let store = Arc::new(MemoryStore::new());
        let mailboxes = (1..=4u8)
            .map(|n| {
                store
                    .create_mailbox([n; 32], MailboxId::from_bytes([n; 16]), 0)
                    .unwrap()
            })
            .collect();
        (Mailroom::new(store.clone(), rules()), store, mailboxes)
    }

    fn envelope(n: u8, recipients: &[MailboxId]) -> Envelope {
        Envelope {
            id: EnvelopeId::from_bytes([n; 16]),
            recipients: recipients.to_vec(),
            ttl_secs: 0,
            ephemeral: false,
            payload: vec![n; 100],
        }
    }

    #[test]
    fn multi_recipient_envelope_is_deleted_by_the_last_ack() {
        let (room, store, m) = setup();
        let env = envelope(1, &m[..3]);
        let id = env.id;
        room.send(NOW, env).unwrap();
        assert_eq!(
            store.pending(),
            PendingTotals {
                envelopes: 1,
                bytes: 100
            }
        );
        assert!(!room.ack(NOW, &m[0], &id).unwrap());
        assert!(!room.ack(NOW, &m[1], &id).unwrap());
        assert!(store.contains(&id).unwrap());
        assert!(room.ack(NOW, &m[2], &id).unwrap(), "the third ack deletes");
        assert!(!store.contains(&id).unwrap());
    }

    #[test]
    fn ttl_defaults_caps_and_expires() {
        let (room, store, m) = setup();
        let mut long = envelope(1, &m[..1]);
        long.ttl_secs = 1_000_000; // capped at 7200
        room.send(NOW, long).unwrap();
        room.send(NOW, envelope(2, &m[..1])).unwrap(); // default 3600
        assert_eq!(room.sweep(NOW + 3599, 10).unwrap().expired, 0);
        assert_eq!(room.sweep(NOW + 3600, 10).unwrap().expired, 1);
        assert!(store.contains(&EnvelopeId::from_bytes([1; 16])).unwrap());
        assert_eq!(room.sweep(NOW + 7200, 10).unwrap().expired, 1);
        assert_eq!(store.pending(), PendingTotals::default());
    }

    #[test]
    fn sweep_works_through_more_than_one_batch() {
        let (room, store, m) = setup();
        for n in 0..3 {
            room.send(NOW, envelope(n, &m[..1])).unwrap();
        }
        assert_eq!(room.sweep(NOW + 3600, 2).unwrap().expired, 3);
        assert_eq!(store.pending().envelopes, 0);
    }

    #[test]
    fn quota_refuses_with_a_typed_error() {
        let (room, _, m) = setup();
        for n in 0..3 {
            room.send(NOW, envelope(n, &m[..1])).unwrap();
        }
        let err = room.send(NOW, envelope(9, &m[..2])).unwrap_err();
        assert!(matches!(err, RelayError::QuotaExceeded));
        assert_eq!(err.code(), hush_protocol::ErrorCode::QuotaExceeded);
    }

    #[test]
    fn a_retry_is_stored_once() {
        let (room, store, m) = setup();
        let first = room.send(NOW, envelope(1, &m[..2])).unwrap();
        assert!(matches!(
            first,
            Accepted::Stored {
                newly_stored: true,
                ..
            }
        ));
        let retry = room.send(NOW + 5, envelope(1, &m[..2])).unwrap();
        assert!(matches!(
            retry,
            Accepted::Stored {
                newly_stored: false,
                ..
            }
        ));
        assert_eq!(store.pending().envelopes, 1);
        assert_eq!(store.queue(&m[0], 10).unwrap().len(), 1);
    }

    #[test]
    fn ephemeral_envelopes_are_never_stored() {
        let (room, store, m) = setup();
        let mut env = envelope(1, &m[..2]);
        env.ephemeral = true;
        let accepted = room.send(NOW, env).unwrap();
        let Accepted::Ephemeral {
            recipients,
            delivery,
        } = accepted
        else {
            panic!("expected ephemeral");
        };
        assert_eq!(recipients, m[..2].to_vec());
        assert_eq!(delivery.stored_at, NOW);
        assert_eq!(store.pending(), PendingTotals::default());
        assert!(store.queue(&m[0], 10).unwrap().is_empty());
    }

    #[test]
    fn ack_of_unknown_or_foreign_envelope_is_refused() {
        let (room, _, m) = setup();
        let env = envelope(1, &m[..1]);
        let id = env.id;
        room.send(NOW, env).unwrap();
        assert!(matches!(
            room.ack(NOW, &m[1], &id),
            Err(RelayError::UnknownEnvelope)
        ));
        let unknown = EnvelopeId::from_bytes([0xaa; 16]);
        assert!(matches!(
            room.ack(NOW, &m[0], &unknown),
            Err(RelayError::UnknownEnvelope)
        ));
    }

    #[test]
    fn bad_envelopes_are_refused_before_storage() {
        let (room, store, m) = setup();
        let mut big = envelope(1, &m[..1]);
        big.payload = vec![0; 1001];
        assert!(matches!(room.send(NOW, big), Err(RelayError::TooLarge(_))));
        assert!(matches!(
            room.send(NOW, envelope(2, &[])),
            Err(RelayError::InvalidRequest(_))
        ));
        let twice = envelope(3, &[m[0], m[0]]);
        assert!(matches!(
            room.send(NOW, twice),
            Err(RelayError::InvalidRequest(_))
        ));
        let ghost = envelope(4, &[MailboxId::from_bytes([0xee; 16])]);
        assert!(matches!(
            room.send(NOW, ghost),
            Err(RelayError::UnknownMailbox)
        ));
        let mut ghost_ephemeral = envelope(5, &[MailboxId::from_bytes([0xee; 16])]);
        ghost_ephemeral.ephemeral = true;
        assert!(matches!(
            room.send(NOW, ghost_ephemeral),
            Err(RelayError::UnknownMailbox)
        ));
        assert_eq!(store.pending(), PendingTotals::default());
    }
}
