//! The payload of a benchmark envelope: who sent it, its number, and when it was sent.
//!
//! Layout (little-endian): sender `u32` ‖ sequence `u64` ‖ send time `u64` (nanoseconds since
//! the run's [`Clock`] epoch) ‖ filler up to the requested size. Payloads are built before the
//! clock starts; only the 8 time bytes are written at send time.

use std::time::Instant;

/// Bytes of the header; smaller `--size` values are raised to this.
pub(crate) const HEADER_LEN: usize = 20;
const TIME_AT: usize = 12;

/// The run's time base, shared by senders and receivers (one process, one monotonic clock).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub(crate) fn start() -> Self {
        Self {
            epoch: Instant::now(),
        }
    }

    /// Nanoseconds since the epoch.
    pub(crate) fn now_ns(&self) -> u64 {
        self.ns_at(Instant::now())
    }

    /// Nanoseconds from the epoch to `at` (0 if before).
    pub(crate) fn ns_at(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }
}

/// What a payload says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Probe {
    /// Sender index.
    pub(crate) sender: u32,
    /// Sequence number within the sender.
    pub(crate) seq: u64,
    /// Send time, nanoseconds since the clock's epoch.
    pub(crate) sent_ns: u64,
}

/// A payload of `size` bytes (at least [`HEADER_LEN`]) for message `seq` of `sender`, not yet
/// stamped. The filler is pseudo-random, like ciphertext, so nothing compresses it.
pub(crate) fn payload(size: usize, sender: u32, seq: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; size.max(HEADER_LEN)];
    bytes[..4].copy_from_slice(&sender.to_le_bytes());
    bytes[4..TIME_AT].copy_from_slice(&seq.to_le_bytes());
    let mut state = ((u64::from(sender) << 32) ^ seq).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for byte in &mut bytes[HEADER_LEN..] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    bytes
}

/// Writes the send time into a payload made by [`payload`].
pub(crate) fn stamp(payload: &mut [u8], sent_ns: u64) {
    if let Some(slot) = payload.get_mut(TIME_AT..HEADER_LEN) {
        slot.copy_from_slice(&sent_ns.to_le_bytes());
    }
}

/// Reads a payload's header; `None` if it is too short to be one of ours.
pub(crate) fn parse(payload: &[u8]) -> Option<Probe> {
    let sender = u32::from_le_bytes(payload.get(..4)?.try_into().ok()?);
    let seq = u64::from_le_bytes(payload.get(4..TIME_AT)?.try_into().ok()?);
    let sent_ns = u64::from_le_bytes(payload.get(TIME_AT..HEADER_LEN)?.try_into().ok()?);
    Some(Probe {
        sender,
        seq,
        sent_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamped_payload_reads_back() {
        let mut bytes = payload(64, 7, 42);
        assert_eq!(bytes.len(), 64);
        stamp(&mut bytes, 123_456);
        assert_eq!(
            parse(&bytes),
            Some(Probe {
                sender: 7,
                seq: 42,
                sent_ns: 123_456
            })
        );
        assert_eq!(payload(3, 0, 0).len(), HEADER_LEN);
        assert_eq!(parse(&[1, 2, 3]), None);
    }
}
