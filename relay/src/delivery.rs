//! Flow control for one subscribed connection, without I/O.
//!
//! The mailbox's queue in the store is the single source of truth. A [`DeliveryWindow`] only
//! remembers which queued envelopes it has sent and not yet seen acknowledged (at most
//! `capacity`), and decides what to read from the queue next ([`DeliveryWindow::fetch`]) and
//! what to send from it ([`DeliveryWindow::pump`]).
//! A reconnect starts with an empty window: whatever was in flight is sent again
//! (at-least-once; clients drop duplicates by envelope id).
//!
//! Reading is cheap on purpose: the window reads queue entries (sequence numbers and ids,
//! no payloads), and only when something changed — new arrivals ([`DeliveryWindow::woken`])
//! or acknowledgements ([`DeliveryWindow::acked`]). After new arrivals it reads the queue from
//! its head (an envelope stored concurrently may have a lower sequence number than one already
//! sent); after acknowledgements alone it reads only past the newest entry it sent, as many as
//! it has room for. The caller loads the payloads of the entries it is told to send.

use std::collections::HashSet;

use hush_protocol::EnvelopeId;

use crate::store::QueueEntry;

/// The deliveries in flight on one connection.
#[derive(Debug)]
pub struct DeliveryWindow {
    capacity: usize,
    in_flight: HashSet<EnvelopeId>,
    /// Highest sequence number sent on this connection.
    last_sent: Option<u64>,
    /// New envelopes may have arrived: read from the head of the queue.
    rescan: bool,
    /// Something changed since the last pump.
    dirty: bool,
    drained_reported: bool,
}

/// Which queue entries to read for the next pump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetch {
    /// Read entries after this sequence number (`None`: from the head).
    pub after: Option<u64>,
    /// At most this many.
    pub limit: usize,
}

/// What one pump should do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pump {
    /// Send these, in this order.
    pub deliveries: Vec<QueueEntry>,
    /// Tell the client that everything queued has been delivered and acknowledged.
    pub drained: bool,
}

impl DeliveryWindow {
    /// A window of `capacity` deliveries. Its first pump reads the queue from the head.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            in_flight: HashSet::new(),
            last_sent: None,
            rescan: true,
            dirty: true,
            drained_reported: false,
        }
    }

    /// Whether there is room to send more.
    pub fn has_room(&self) -> bool {
        self.in_flight.len() < self.capacity
    }

    /// Deliveries in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The mailbox's queue may have new entries.
    pub fn woken(&mut self) {
        self.rescan = true;
        self.dirty = true;
    }

    /// Records an acknowledgement (or a refused one: the queue may have changed either way);
    /// returns whether it was in flight here.
    pub fn acked(&mut self, id: &EnvelopeId) -> bool {
        self.dirty = true;
        self.in_flight.remove(id)
    }

    /// An entry the window chose vanished before its payload was read (acked on another
    /// connection, or expired): it is not in flight.
    pub fn vanished(&mut self, id: &EnvelopeId) {
        self.in_flight.remove(id);
        self.dirty = true;
    }

    /// What to read for the next pump; `None` when nothing changed since the last one.
    pub fn fetch(&self) -> Option<Fetch> {
        if !self.dirty {
            return None;
        }
        let room = self.capacity.saturating_sub(self.in_flight.len());
        Some(if self.rescan {
            // Everything in flight is at the head of the queue, then the room.
            Fetch {
                after: None,
                limit: self.capacity + self.in_flight.len(),
            }
        } else {
            Fetch {
                after: self.last_sent,
                limit: room,
            }
        })
    }

    /// Given the entries [`fetch`](Self::fetch) asked for (oldest first), picks what to send
    /// and whether to report the queue drained.
    pub fn pump(&mut self, fetch: Fetch, entries: Vec<QueueEntry>) -> Pump {
        let reached_end = entries.len() < fetch.limit;
        if fetch.after.is_none() {
            if reached_end {
                // Entries that left the queue without an ack from us (expired) are not in
                // flight.
                let present: HashSet<EnvelopeId> = entries.iter().map(|e| e.id).collect();
                self.in_flight.retain(|id| present.contains(id));
            }
            self.rescan = false;
        }
        self.dirty = false;
        let mut pump = Pump::default();
        for entry in entries {
            if !self.has_room() {
                break;
            }
            if self.in_flight.insert(entry.id) {
                self.last_sent = Some(self.last_sent.map_or(entry.seq, |s| s.max(entry.seq)));
                pump.deliveries.push(entry);
            }
        }
        let drained = reached_end && self.in_flight.is_empty();
        pump.drained = drained && !self.drained_reported;
        self.drained_reported = drained;
        pump
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8) -> QueueEntry {
        QueueEntry {
            seq: u64::from(n),
            id: EnvelopeId::from_bytes([n; 16]),
        }
    }

    fn id(n: u8) -> EnvelopeId {
        EnvelopeId::from_bytes([n; 16])
    }

    /// Reads what the window asks for from `queue` (entries by seq) and pumps; `None` when the
    /// window asks for nothing.
    fn run(window: &mut DeliveryWindow, queue: &[u8]) -> Option<(Fetch, Pump)> {
        let fetch = window.fetch()?;
        let entries: Vec<QueueEntry> = queue
            .iter()
            .map(|n| entry(*n))
            .filter(|e| fetch.after.is_none_or(|after| e.seq > after))
            .take(fetch.limit)
            .collect();
        Some((fetch, window.pump(fetch, entries)))
    }

    fn sent(pump: &Pump) -> Vec<u8> {
        pump.deliveries.iter().map(|e| e.seq as u8).collect()
    }

    #[test]
    fn sends_in_order_up_to_capacity_then_waits_for_acks() {
        let mut window = DeliveryWindow::new(2);
        let (_, first) = run(&mut window, &[1, 2, 3, 4]).unwrap();
        assert_eq!(sent(&first), vec![1, 2]);
        assert!(!first.drained);
        assert!(!window.has_room());
        // Nothing new while full, even when woken.
        window.woken();
        let (_, full) = run(&mut window, &[1, 2, 3, 4]).unwrap();
        assert!(full.deliveries.is_empty());
        assert!(window.acked(&id(1)));
        let (fetch, next) = run(&mut window, &[2, 3, 4]).unwrap();
        assert_eq!(
            fetch,
            Fetch {
                after: Some(2),
                limit: 1
            },
            "only past the last sent"
        );
        assert_eq!(sent(&next), vec![3]);
    }

    #[test]
    fn reads_nothing_when_nothing_changed() {
        let mut window = DeliveryWindow::new(4);
        assert!(run(&mut window, &[1]).is_some());
        assert_eq!(window.fetch(), None);
        window.woken();
        assert!(window.fetch().is_some());
    }

    #[test]
    fn reports_drained_once_per_emptying() {
        let mut window = DeliveryWindow::new(4);
        let (_, pump) = run(&mut window, &[]).unwrap();
        assert!(pump.drained, "an empty mailbox is drained at once");
        window.woken();
        let (_, pump) = run(&mut window, &[]).unwrap();
        assert!(!pump.drained, "reported once");
        window.woken();
        let (_, pump) = run(&mut window, &[1]).unwrap();
        assert!(!pump.drained);
        window.acked(&id(1));
        let (_, pump) = run(&mut window, &[]).unwrap();
        assert!(pump.drained, "drained again after the ack");
    }

    #[test]
    fn an_envelope_stored_late_with_a_lower_seq_is_sent_after_its_wake() {
        let mut window = DeliveryWindow::new(4);
        let (_, pump) = run(&mut window, &[2]).unwrap();
        assert_eq!(sent(&pump), vec![2]);
        window.woken();
        let (fetch, pump) = run(&mut window, &[1, 2]).unwrap();
        assert_eq!(fetch.after, None, "a wake reads from the head");
        assert_eq!(sent(&pump), vec![1]);
    }

    #[test]
    fn entries_that_expired_in_flight_are_forgotten() {
        let mut window = DeliveryWindow::new(4);
        run(&mut window, &[1, 2]);
        assert_eq!(window.in_flight(), 2);
        window.woken();
        let (_, pump) = run(&mut window, &[2]).unwrap();
        assert_eq!(window.in_flight(), 1);
        assert!(pump.deliveries.is_empty());
        window.vanished(&id(2));
        assert_eq!(window.in_flight(), 0);
    }

    #[test]
    fn unknown_acks_are_not_in_flight() {
        let mut window = DeliveryWindow::new(4);
        assert!(!window.acked(&id(9)));
    }
}
