//! A bounded store of message keys skipped over, so late messages can still be decrypted.
//!
//! Keys are kept in arrival order; when the store is full the oldest are deleted first. A key
//! is deleted as soon as it decrypts its message, which is what rejects replays.

use std::collections::VecDeque;

use crate::codec::{DecodeError, Reader, Writer};
use crate::secret::Secret32;

/// One skipped key: the chain it belongs to, its index, the key.
#[derive(Clone, Debug, PartialEq)]
struct Entry<C> {
    chain: C,
    index: u32,
    key: Secret32,
}

/// Skipped message keys, identified by chain id `C` and index.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SkippedKeys<C> {
    entries: VecDeque<Entry<C>>,
    capacity: usize,
}

impl<C: PartialEq + Copy> SkippedKeys<C> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            capacity,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn position(&self, chain: &C, index: u32) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.chain == *chain && e.index == index)
    }

    pub(crate) fn get(&self, chain: &C, index: u32) -> Option<&Secret32> {
        self.position(chain, index)
            .and_then(|at| self.entries.get(at))
            .map(|e| &e.key)
    }

    pub(crate) fn remove(&mut self, chain: &C, index: u32) {
        if let Some(at) = self.position(chain, index) {
            self.entries.remove(at);
        }
    }

    /// Adds keys of `chain`, deleting the oldest entries beyond capacity.
    pub(crate) fn extend(&mut self, chain: C, keys: Vec<(u32, Secret32)>) {
        for (index, key) in keys {
            self.entries.push_back(Entry { chain, index, key });
        }
        while self.entries.len() > self.capacity {
            self.entries.pop_front();
        }
    }

    /// Writes a count, then each entry with `write_chain` for its chain id.
    pub(crate) fn encode(&self, w: &mut Writer, write_chain: impl Fn(&mut Writer, &C)) {
        w.u32(crate::codec::count_u32(self.entries.len()));
        for entry in &self.entries {
            write_chain(w, &entry.chain);
            w.u32(entry.index).bytes(entry.key.as_bytes());
        }
    }

    /// Reads what [`SkippedKeys::encode`] wrote.
    pub(crate) fn decode(
        r: &mut Reader<'_>,
        capacity: usize,
        read_chain: impl Fn(&mut Reader<'_>) -> Result<C, DecodeError>,
    ) -> Result<Self, DecodeError> {
        let count = r.count(capacity)?;
        let mut entries = VecDeque::with_capacity(count);
        for _ in 0..count {
            let chain = read_chain(r)?;
            let index = r.u32()?;
            let key = Secret32::from_bytes(r.array()?);
            entries.push_back(Entry { chain, index, key });
        }
        Ok(Self { entries, capacity })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_oldest_and_removes_used() {
        let mut store = SkippedKeys::new(3);
        let key = |b| Secret32::from_bytes([b; 32]);
        store.extend(1u8, vec![(0, key(0)), (1, key(1))]);
        store.extend(2u8, vec![(0, key(2)), (1, key(3))]);
        assert_eq!(store.len(), 3);
        assert!(store.get(&1, 0).is_none());
        assert_eq!(store.get(&1, 1), Some(&key(1)));
        store.remove(&1, 1);
        assert!(store.get(&1, 1).is_none());
        assert_eq!(store.get(&2, 1), Some(&key(3)));
    }
}
