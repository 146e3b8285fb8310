//! A symmetric-key chain (the Double Ratchet's sending/receiving chain, and a sender-key chain).
//!
//! Each step is `message key = HMAC(ck, 0x01)`, `next ck = HMAC(ck, 0x02)`; old chain keys are
//! overwritten, so a chain only ever moves forward.

use crate::kdf;
use crate::secret::Secret32;

/// A chain key and the index of the next message key it yields.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Chain {
    key: Secret32,
    index: u32,
}

/// The result of moving a copy of a chain forward to a target index.
pub(crate) struct Advance {
    /// The chain positioned just after the target.
    pub(crate) chain: Chain,
    /// Message keys for the indices that were skipped on the way.
    pub(crate) skipped: Vec<(u32, Secret32)>,
    /// The message key for the target index.
    pub(crate) key: Secret32,
}

impl Chain {
    pub(crate) fn new(key: Secret32, index: u32) -> Self {
        Self { key, index }
    }

    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    pub(crate) fn key(&self) -> &Secret32 {
        &self.key
    }

    /// Yields the next message key and its index; `None` once the index space is used up.
    pub(crate) fn next_key(&mut self) -> Option<(u32, Secret32)> {
        let index = self.index;
        let after = index.checked_add(1)?;
        let (next, message) = kdf::chain_step(&self.key);
        self.key = next;
        self.index = after;
        Some((index, message))
    }

    /// Moves a copy forward to `target`, deriving at most `max_skip` skipped keys. `None` if
    /// `target` is behind the chain (already used) or too far ahead. `self` is untouched, so a
    /// failed decryption changes nothing.
    pub(crate) fn advance_to(&self, target: u32, max_skip: u32) -> Option<Advance> {
        let gap = target.checked_sub(self.index)?;
        if gap > max_skip {
            return None;
        }
        let mut chain = self.clone();
        let mut skipped = Vec::with_capacity(usize::try_from(gap).unwrap_or(0));
        loop {
            let (index, key) = chain.next_key()?;
            if index == target {
                return Some(Advance {
                    chain,
                    skipped,
                    key,
                });
            }
            skipped.push((index, key));
        }
    }

    /// The keys for every index from the chain's position up to `end` (exclusive), at most
    /// `max_skip` of them; `None` if more would be needed.
    pub(crate) fn keys_until(&self, end: u32, max_skip: u32) -> Option<Vec<(u32, Secret32)>> {
        let gap = end.saturating_sub(self.index);
        if gap > max_skip {
            return None;
        }
        let mut chain = self.clone();
        let mut keys = Vec::with_capacity(usize::try_from(gap).unwrap_or(0));
        while chain.index < end {
            keys.push(chain.next_key()?);
        }
        Some(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_matches_stepping_and_respects_bounds() {
        let start = Chain::new(Secret32::from_bytes([3; 32]), 0);
        let mut stepped = start.clone();
        let keys: Vec<_> = (0..5).map(|_| stepped.next_key().unwrap()).collect();
        let adv = start.advance_to(4, 10).unwrap();
        assert_eq!(adv.key, keys[4].1);
        assert_eq!(adv.skipped.len(), 4);
        assert_eq!(adv.chain, stepped);
        assert!(start.advance_to(11, 10).is_none());
        assert!(adv.chain.advance_to(3, 10).is_none());
        assert_eq!(start.keys_until(3, 10).unwrap().len(), 3);
        assert!(start.keys_until(11, 10).is_none());
        let mut last = Chain::new(Secret32::from_bytes([3; 32]), u32::MAX);
        assert!(last.next_key().is_none());
    }
}
