//! Flow control for one subscribed connection, without I/O.
//!
//! The mailbox's queue in the store is the single source of truth. A [`DeliveryWindow`] only
//! remembers which queued envelopes it has sent and not yet seen acknowledged (at most
//! `capacity`), so that each pump sends the oldest queued envelopes that are not in flight.
//! A reconnect starts with an empty window: whatever was in flight is sent again
//! (at-least-once; clients drop duplicates by envelope id).

use std::collections::HashSet;

use hush_protocol::{Delivery, EnvelopeId};

use crate::store::QueuedEnvelope;

/// The deliveries in flight on one connection.
#[derive(Debug)]
pub struct DeliveryWindow {
    capacity: usize,
    in_flight: HashSet<EnvelopeId>,
    drained_reported: bool,
}

/// What one pump should do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pump {
    /// Send these, in this order.
    pub deliveries: Vec<Delivery>,
    /// Tell the client that everything queued has been delivered and acknowledged.
    pub drained: bool,
}

impl DeliveryWindow {
    /// A window of `capacity` deliveries.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            in_flight: HashSet::new(),
            drained_reported: false,
        }
    }

    /// How many queue entries to read for the next pump: everything in flight (which is at
    /// the head of the queue) plus the free room.
    pub fn fetch_limit(&self) -> usize {
        self.capacity + self.in_flight.len()
    }

    /// Whether there is room to send more.
    pub fn has_room(&self) -> bool {
        self.in_flight.len() < self.capacity
    }

    /// Deliveries in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Given the head of the queue (`fetch_limit()` entries at most, oldest first), picks what
    /// to send and whether to report the queue drained.
    pub fn pump(&mut self, head: Vec<QueuedEnvelope>) -> Pump {
        let whole_queue = head.len() < self.fetch_limit();
        if whole_queue {
            // Entries that left the queue without an ack from us (expired) are not in flight.
            let present: HashSet<EnvelopeId> = head.iter().map(|q| q.delivery.id).collect();
            self.in_flight.retain(|id| present.contains(id));
        }
        let mut pump = Pump::default();
        for queued in head {
            if !self.has_room() {
                break;
            }
            if self.in_flight.insert(queued.delivery.id) {
                pump.deliveries.push(queued.delivery);
            }
        }
        let drained = whole_queue && self.in_flight.is_empty();
        pump.drained = drained && !self.drained_reported;
        self.drained_reported = drained;
        pump
    }

    /// Records an acknowledgement; returns whether it was in flight here.
    pub fn acked(&mut self, id: &EnvelopeId) -> bool {
        self.in_flight.remove(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(ids: &[u8]) -> Vec<QueuedEnvelope> {
        ids.iter()
            .map(|n| QueuedEnvelope {
                seq: u64::from(*n),
                delivery: Delivery {
                    id: EnvelopeId::from_bytes([*n; 16]),
                    stored_at: 0,
                    payload: vec![],
                },
            })
            .collect()
    }

    fn sent(pump: &Pump) -> Vec<u8> {
        pump.deliveries.iter().map(|d| d.id.as_bytes()[0]).collect()
    }

    #[test]
    fn sends_in_order_up_to_capacity_then_waits_for_acks() {
        let mut window = DeliveryWindow::new(2);
        assert_eq!(window.fetch_limit(), 2);
        let first = window.pump(queued(&[1, 2]));
        assert_eq!(sent(&first), vec![1, 2]);
        assert!(!first.drained);
        assert!(!window.has_room());
        assert_eq!(window.fetch_limit(), 4);
        // Nothing new while full.
        assert!(window.pump(queued(&[1, 2, 3, 4])).deliveries.is_empty());
        assert!(window.acked(&EnvelopeId::from_bytes([1; 16])));
        assert_eq!(sent(&window.pump(queued(&[2, 3, 4]))), vec![3]);
    }

    #[test]
    fn reports_drained_once_per_emptying() {
        let mut window = DeliveryWindow::new(4);
        assert!(
            window.pump(vec![]).drained,
            "an empty mailbox is drained at once"
        );
        assert!(!window.pump(vec![]).drained, "reported once");
        let pump = window.pump(queued(&[1]));
        assert!(!pump.drained);
        window.acked(&EnvelopeId::from_bytes([1; 16]));
        assert!(window.pump(vec![]).drained, "drained again after the ack");
    }

    #[test]
    fn entries_that_expired_in_flight_are_forgotten() {
        let mut window = DeliveryWindow::new(4);
        window.pump(queued(&[1, 2]));
        assert_eq!(window.in_flight(), 2);
        let pump = window.pump(queued(&[2]));
        assert_eq!(window.in_flight(), 1);
        assert!(pump.deliveries.is_empty());
    }

    #[test]
    fn unknown_acks_are_not_in_flight() {
        let mut window = DeliveryWindow::new(4);
        assert!(!window.acked(&EnvelopeId::from_bytes([9; 16])));
    }
}
