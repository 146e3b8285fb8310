//! Pickles: the byte form of secret-bearing state, for the app's encrypted store.
//!
//! The crate never stores anything itself. Each stateful type (`IdentityKeyPair`,
//! `LocalPreKeys`, `Session`, `OutboundSenderKey`, `InboundSenderKey`, `GroupSession`) has
//! `pickle()` and `from_pickle()`; restoring a pickle gives back exactly the state it was taken
//! from. A pickle holds raw secret keys: the app must only keep it in its encrypted store.
//!
//! Format: `PICKLE_VERSION (u8) || kind (u8) || fields`, big-endian integers, no padding; the
//! exact field order of each kind is in `docs/crypto.md`.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::codec::{DecodeError, Reader, Writer};

/// The pickle format version this build writes and reads.
pub const PICKLE_VERSION: u8 = 1;

/// Why a pickle could not be restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PickleError {
    /// The pickle was written by an unknown format version.
    #[error("unknown pickle version")]
    UnknownVersion,
    /// The pickle holds a different kind of state than was asked for.
    #[error("pickle holds a different kind of state")]
    WrongKind,
    /// The pickle is truncated, has trailing bytes, or holds an invalid value.
    #[error("pickle is malformed")]
    Malformed,
}

impl From<DecodeError> for PickleError {
    fn from(_: DecodeError) -> Self {
        Self::Malformed
    }
}

/// Which state a pickle holds (its second byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PickleKind {
    Identity = 1,
    PreKeys = 2,
    Session = 3,
    OutboundSenderKey = 4,
    InboundSenderKey = 5,
    GroupSession = 6,
}

/// Serialised secret state. Wiped on drop; `Debug` shows only its length; `==` compares in
/// constant time (for equal lengths).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Pickle {
    bytes: Vec<u8>,
}

impl Pickle {
    /// Wraps bytes read back from the app's store.
    #[must_use]
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self { bytes }
    }

    /// The bytes to put in the app's store.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn from_secret(mut bytes: Zeroizing<Vec<u8>>) -> Self {
        Self {
            bytes: core::mem::take(&mut *bytes),
        }
    }
}

impl PartialEq for Pickle {
    fn eq(&self, other: &Self) -> bool {
        // Lengths are public (they follow from the state's shape); the bytes are secret.
        self.bytes.ct_eq(&other.bytes).into()
    }
}

impl Eq for Pickle {}

impl fmt::Debug for Pickle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pickle({} bytes, <redacted>)", self.bytes.len())
    }
}

/// Starts a pickle of `kind`.
pub(crate) fn writer(kind: PickleKind, capacity: usize) -> Writer {
    let mut w = Writer::with_capacity(capacity + 2);
    w.u8(PICKLE_VERSION).u8(kind as u8);
    w
}

/// Checks the version and kind of a pickle and returns a reader over its fields.
pub(crate) fn reader(pickle: &Pickle, kind: PickleKind) -> Result<Reader<'_>, PickleError> {
    let mut r = Reader::new(pickle.as_bytes());
    if r.u8()? != PICKLE_VERSION {
        return Err(PickleError::UnknownVersion);
    }
    if r.u8()? != kind as u8 {
        return Err(PickleError::WrongKind);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_compares_every_byte_and_the_length() {
        let a = Pickle::from_bytes(vec![1, 2, 3, 4]);
        assert_eq!(a, Pickle::from_bytes(vec![1, 2, 3, 4]));
        assert_ne!(a, Pickle::from_bytes(vec![1, 2, 3, 5]));
        assert_ne!(a, Pickle::from_bytes(vec![0, 2, 3, 4]));
        assert_ne!(a, Pickle::from_bytes(vec![1, 2, 3]));
        assert_ne!(a, Pickle::from_bytes(Vec::new()));
        assert_eq!(
            Pickle::from_bytes(Vec::new()),
            Pickle::from_bytes(Vec::new())
        );
    }
}
