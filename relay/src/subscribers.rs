//! Which connection receives each mailbox's deliveries right now.
//!
//! At most one connection per mailbox is subscribed; a newer subscription replaces the older,
//! which is told so. The registry only routes wake-ups and ephemeral envelopes; it keeps no
//! record of who talked to whom.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use hush_protocol::{Delivery, MailboxId};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// Ephemeral envelopes queued per connection before newer ones are dropped (they are
/// best-effort by definition: a typing indicator that cannot be delivered now is worthless
/// later).
pub const EPHEMERAL_QUEUE: usize = 64;

struct Entry {
    connection: u64,
    wake: Arc<Notify>,
    ephemeral: mpsc::Sender<Delivery>,
    replaced: CancellationToken,
}

/// The live subscriptions.
#[derive(Default)]
pub struct Subscribers {
    entries: Mutex<HashMap<MailboxId, Entry>>,
}

/// A connection's end of its subscription.
pub struct Subscription {
    /// Notified whenever the mailbox's queue may have new entries.
    pub wake: Arc<Notify>,
    /// Ephemeral envelopes for the mailbox.
    pub ephemeral: mpsc::Receiver<Delivery>,
    /// Cancelled when another connection subscribes the same mailbox.
    pub replaced: CancellationToken,
}

impl Subscribers {
    fn lock(&self) -> MutexGuard<'_, HashMap<MailboxId, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Subscribes `connection` to `mailbox`, replacing any other subscription of it.
    pub fn subscribe(&self, mailbox: MailboxId, connection: u64) -> Subscription {
        let wake = Arc::new(Notify::new());
        let (tx, rx) = mpsc::channel(EPHEMERAL_QUEUE);
        let replaced = CancellationToken::new();
        let entry = Entry {
            connection,
            wake: wake.clone(),
            ephemeral: tx,
            replaced: replaced.clone(),
        };
        if let Some(old) = self.lock().insert(mailbox, entry) {
            old.replaced.cancel();
        }
        // The first pump happens right away anyway; the permit makes that explicit.
        wake.notify_one();
        Subscription {
            wake,
            ephemeral: rx,
            replaced,
        }
    }

    /// Ends `connection`'s subscription of `mailbox` (if it still has it).
    pub fn unsubscribe(&self, mailbox: &MailboxId, connection: u64) {
        let mut entries = self.lock();
        if entries
            .get(mailbox)
            .is_some_and(|e| e.connection == connection)
        {
            entries.remove(mailbox);
        }
    }

    /// Wakes the subscribers of these mailboxes (their queues grew).
    pub fn wake(&self, mailboxes: &[MailboxId]) {
        let entries = self.lock();
        for mailbox in mailboxes {
            if let Some(entry) = entries.get(mailbox) {
                entry.wake.notify_one();
            }
        }
    }

    /// Pushes an ephemeral envelope to whichever of these mailboxes are subscribed; returns
    /// how many got it.
    pub fn push_ephemeral(&self, mailboxes: &[MailboxId], delivery: &Delivery) -> usize {
        let entries = self.lock();
        mailboxes
            .iter()
            .filter_map(|m| entries.get(m))
            .filter(|entry| entry.ephemeral.try_send(delivery.clone()).is_ok())
            .count()
    }

    /// Subscribed mailboxes.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nobody is subscribed.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hush_protocol::EnvelopeId;

    #[tokio::test]
    async fn a_newer_subscription_replaces_the_older() {
        let subscribers = Subscribers::default();
        let mailbox = MailboxId::from_bytes([1; 16]);
        let first = subscribers.subscribe(mailbox, 1);
        let mut second = subscribers.subscribe(mailbox, 2);
        assert!(first.replaced.is_cancelled());
        assert!(!second.replaced.is_cancelled());
        // The old connection leaving does not remove the new subscription.
        subscribers.unsubscribe(&mailbox, 1);
        assert_eq!(subscribers.len(), 1);
        let delivery = Delivery {
            id: EnvelopeId::from_bytes([2; 16]),
            stored_at: 0,
            payload: vec![],
        };
        assert_eq!(
            subscribers.push_ephemeral(&[mailbox, MailboxId::from_bytes([9; 16])], &delivery),
            1
        );
        assert_eq!(second.ephemeral.recv().await.unwrap(), delivery);
        subscribers.unsubscribe(&mailbox, 2);
        assert!(subscribers.is_empty());
    }
}
