//! A tiny explicit byte codec: big-endian integers, fixed arrays, length-checked reads.
//!
//! Every wire message and pickle in this crate is written with [`Writer`] and parsed with
//! [`Reader`]; parsing never panics and rejects trailing bytes.

use zeroize::Zeroizing;

/// Why bytes could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DecodeError {
    /// The input ended before a field was complete.
    #[error("input is truncated")]
    Truncated,
    /// A version, kind tag or flag had a value this build does not know.
    #[error("unknown version, tag or flag")]
    Unknown,
    /// A length or count is beyond its limit.
    #[error("a length is out of range")]
    OutOfRange,
    /// Bytes were left over after the last field.
    #[error("trailing bytes after the last field")]
    Trailing,
}

/// Appends fields to a buffer that is wiped when dropped (pickles carry secrets).
pub(crate) struct Writer {
    buf: Zeroizing<Vec<u8>>,
}

impl Writer {
    /// A writer with room for `capacity` bytes, so secret-bearing buffers rarely reallocate.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Zeroizing::new(Vec::with_capacity(capacity)),
        }
    }

    pub(crate) fn u8(&mut self, value: u8) -> &mut Self {
        self.buf.push(value);
        self
    }

    pub(crate) fn u32(&mut self, value: u32) -> &mut Self {
        self.buf.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub(crate) fn u64(&mut self, value: u64) -> &mut Self {
        self.buf.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub(crate) fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(value);
        self
    }

    /// The bytes written so far, still wiped on drop.
    pub(crate) fn finish_secret(self) -> Zeroizing<Vec<u8>> {
        self.buf
    }

    /// The bytes written so far, for public data.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        core::mem::take(&mut *self.buf)
    }
}

/// Reads fields from untrusted bytes; every read checks the remaining length.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (head, tail) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(DecodeError::Truncated)?;
        self.rest = tail;
        Ok(*head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array::<1>()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array::<4>()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array::<8>()?))
    }

    /// A flag byte that must be 0 or 1.
    pub(crate) fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Unknown),
        }
    }

    /// A `u32` element count, at most `max`.
    pub(crate) fn count(&mut self, max: usize) -> Result<usize, DecodeError> {
        let count = usize::try_from(self.u32()?).map_err(|_| DecodeError::OutOfRange)?;
        if count > max {
            return Err(DecodeError::OutOfRange);
        }
        Ok(count)
    }

    /// Everything that is left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }

    /// Fails unless every byte was read.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing)
        }
    }
}

/// Writes a count as `u32` (counts in this crate are bounded far below `u32::MAX`).
pub(crate) fn count_u32(count: usize) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_truncation_and_trailing_bytes() {
        let mut w = Writer::with_capacity(32);
        w.u8(7).u32(0xdead_beef).u64(42).bytes(&[1, 2]);
        let bytes = w.finish();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.u32(), Ok(0xdead_beef));
        assert_eq!(r.u64(), Ok(42));
        assert_eq!(r.array::<2>(), Ok([1, 2]));
        assert_eq!(r.finish(), Ok(()));

        for cut in 0..bytes.len() {
            let mut r = Reader::new(&bytes[..cut]);
            let parsed = (|| {
                r.u8()?;
                r.u32()?;
                r.u64()?;
                r.array::<2>()
            })();
            assert_eq!(parsed, Err(DecodeError::Truncated));
        }
        let mut r = Reader::new(&bytes[..5]);
        r.u8().unwrap();
        assert_eq!(r.finish(), Err(DecodeError::Trailing));
    }

    #[test]
    fn count_respects_its_maximum() {
        let mut w = Writer::with_capacity(8);
        w.u32(4);
        let bytes = w.finish();
        assert_eq!(Reader::new(&bytes).count(3), Err(DecodeError::OutOfRange));
        assert_eq!(Reader::new(&bytes).count(4), Ok(4));
    }
}
